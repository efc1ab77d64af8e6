// The page of `peercdn serve`. At `/` it lists the files of index.json; at `/p/<path>` it
// downloads that file with WebTorrent over WebRTC from the swarm (other browsers, and the
// origin's own peer, found through the server's WebSocket tracker) and shows how many bytes
// came from peers and how many from the origin. The origin counts as the web seed plus any
// connection to the origin's own peer id.
//
// The web seed is the fallback: it is added only when no peer has sent anything for
// FALLBACK_MS (or at once where the browser has no WebRTC), so that the origin's HTTP upload
// goes to visitors who cannot get the file from peers. The origin's peer declines pieces that
// a connected peer has, so a visitor who arrives while others share the file gets it from them.
//
// For scripts (the browser tests), the state is `window.peercdn`, and every change of it is
// also one console line: `peercdn {"event": "...", ...window.peercdn}`, with the events
// `started`, `progress` (at most every 250 ms; `firstByte` is the seconds from the start to
// the first payload byte), `tracker` (a tracker answered an announce:
// `trackerAnnounces` counts them), `wire` (a connection, with `wireType`, `peerId` and `at`
// seconds since the start), `fallback` (the web seed was added: `webSeed`), `warning` (with `message`), `done` (with `sha1`, the SHA-1
// of the downloaded bytes, where the page is a secure context) and `error` (with `error`).
import WebTorrent from './webtorrent.min.js'

// How long without a byte from any peer (counted from the start, the last new connection or
// the last byte) before the web seed is used. The origin's peer may decline pieces for up to
// 2 s while it counts on another visitor to send them (one that left without a word).
const FALLBACK_MS = 4000

const base = new URL(document.baseURI)
const main = document.getElementById('main')

const status = {
  state: 'loading',
  path: null,
  size: 0,
  infoHash: null,
  downloaded: 0,
  progress: 0,
  fromPeers: 0,
  fromOrigin: 0,
  peers: 0,
  seconds: 0,
  trackerAnnounces: 0,
  webSeed: false,
  firstByte: null,
  sha1: null,
  error: null
}
window.peercdn = status

function emit (event, extra = {}) {
  console.log('peercdn ' + JSON.stringify({ event, ...status, ...extra }))
}

function fail (err) {
  if (status.state === 'error') return
  status.state = 'error'
  status.error = String((err && err.message) || err)
  emit('error')
  const p = element('p', { className: 'error' }, `Error: ${status.error}`)
  main.append(p)
}

window.addEventListener('unhandledrejection', e => fail(e.reason))
window.addEventListener('error', e => fail(e.error || e.message))

const encodePath = path => path.split('/').map(encodeURIComponent).join('/')
const here = rel => new URL(rel, base).href

function element (tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props)
  e.append(...children)
  return e
}

function megabytes (n) {
  if (n < 1e3) return `${n} B`
  if (n < 1e6) return (n / 1e3).toFixed(1) + ' kB'
  return (n / 1e6).toFixed(n < 1e7 ? 2 : 1) + ' MB'
}

function hex (buffer) {
  return [...new Uint8Array(buffer)].map(b => b.toString(16).padStart(2, '0')).join('')
}

async function start () {
  const res = await fetch(here('index.json'), { cache: 'no-store' })
  if (!res.ok) throw new Error(`index.json: HTTP ${res.status}`)
  const index = await res.json()
  const path = location.pathname.startsWith(base.pathname)
    ? location.pathname.slice(base.pathname.length)
    : ''
  if (path.startsWith('p/')) {
    await download(index, decodeURIComponent(path.slice(2)))
  } else {
    list(index)
  }
}

function list (index) {
  status.state = 'listed'
  const rows = index.files.map(f => element('tr', {},
    element('td', {}, element('a', { href: here('p/' + encodePath(f.path)) }, f.path)),
    element('td', { className: 'size' }, megabytes(f.size)),
    element('td', {},
      element('a', { href: f.magnet }, 'magnet'), ' · ',
      element('a', { href: here('t/' + encodePath(f.path) + '.torrent') }, '.torrent'), ' · ',
      element('a', { href: here('f/' + encodePath(f.path)) }, 'direct'))))
  main.replaceChildren(
    element('p', {}, `${index.files.length} files. Open one to download it from peers, with this server as fallback.`),
    element('table', {}, element('tr', {},
      element('th', {}, 'file'), element('th', {}, 'size'), element('th', {}, 'links')), ...rows))
  emit('listed', { files: index.files.length })
}

async function download (index, path) {
  const entry = index.files.find(f => f.path === path)
  if (!entry) throw new Error(`no such file: ${path}`)
  Object.assign(status, { path, size: entry.size, infoHash: entry.info_hash })
  document.title = `${path} · peercdn`

  const bar = element('progress', { max: 1, value: 0 })
  const numbers = element('p', { className: 'numbers' })
  const result = element('p')
  main.replaceChildren(element('h2', {}, path), bar, numbers, result)
  const render = () => {
    bar.value = status.progress
    numbers.textContent = `${megabytes(status.downloaded)} of ${megabytes(status.size)} ` +
      `(${(100 * status.progress).toFixed(1)}%) · from peers ${megabytes(status.fromPeers)} · ` +
      `from the origin ${megabytes(status.fromOrigin)} · ${status.peers} connections`
  }

  const res = await fetch(here('t/' + encodePath(path) + '.torrent'), { cache: 'no-store' })
  if (!res.ok) throw new Error(`${path}.torrent: HTTP ${res.status}`)
  const torrentFile = new Uint8Array(await res.arrayBuffer())

  // The tracker and the web seed on this page's own origin too (the torrent names the
  // server's --url, which may be another name for it).
  const ws = new URL('ws', base)
  ws.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:'
  // Web seeds are added by hand, as the fallback (below).
  const client = new WebTorrent({
    webSeeds: false,
    tracker: { rtcConfig: index.rtc_config || { iceServers: [] } }
  })
  client.on('error', fail)
  const started = performance.now()
  let lastReport = 0
  const update = (torrent, force) => {
    status.downloaded = torrent.downloaded
    status.progress = torrent.progress
    status.peers = torrent.numPeers
    status.seconds = (performance.now() - started) / 1000
    const now = performance.now()
    if (force || now - lastReport >= 250) {
      lastReport = now
      render()
      if (status.state === 'downloading') emit('progress')
    }
  }
  const torrent = client.add(torrentFile, { announce: [ws.href] })
  const webSeed = here('f/' + encodePath(path))
  let lastPeerByte = performance.now()
  const fallback = () => {
    if (status.webSeed || status.state !== 'downloading' || !torrent.ready) return
    status.webSeed = true
    torrent.addWebSeed(webSeed)
    emit('fallback')
  }
  torrent.on('ready', () => {
    if (!WebTorrent.WEBRTC_SUPPORT) fallback()
  })
  const watchdog = setInterval(() => {
    if (status.state !== 'downloading') return clearInterval(watchdog)
    if (performance.now() - lastPeerByte >= FALLBACK_MS) fallback()
  }, 250)
  status.state = 'downloading'
  emit('started')
  torrent.on('error', fail)
  torrent.on('warning', w => emit('warning', { message: String((w && w.message) || w) }))
  torrent.on('trackerAnnounce', () => {
    status.trackerAnnounces += 1
    emit('tracker')
  })
  torrent.on('wire', wire => {
    emit('wire', { wireType: wire.type, peerId: wire.peerId || null, at: (performance.now() - started) / 1000 })
    if (wire.type !== 'webSeed') lastPeerByte = performance.now()
    wire.on('download', n => {
      // A web seed's wire has the type 'webSeed'; a peer's wire knows its peer id (hex) from
      // the handshake.
      if (status.firstByte === null) status.firstByte = (performance.now() - started) / 1000
      if (wire.type !== 'webSeed') lastPeerByte = performance.now()
      if (wire.type === 'webSeed' || wire.peerId === index.origin_peer_id) {
        status.fromOrigin += n
      } else {
        status.fromPeers += n
      }
      update(torrent, false)
    })
  })
  torrent.on('done', async () => {
    update(torrent, true)
    const file = torrent.files[0]
    const bytes = await file.arrayBuffer()
    status.sha1 = globalThis.crypto && crypto.subtle
      ? hex(await crypto.subtle.digest('SHA-1', bytes))
      : null
    const link = element('a', {
      href: URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' })),
      download: file.name
    }, `Save ${file.name}`)
    result.replaceChildren(
      `Done in ${status.seconds.toFixed(1)} s. `, link,
      status.sha1 ? ` · SHA-1 ${status.sha1}` : '',
      '. This page now shares the file with other visitors while it stays open.')
    status.state = 'done'
    render()
    emit('done')
  })
}

start().catch(fail)
