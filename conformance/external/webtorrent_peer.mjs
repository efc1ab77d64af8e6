#!/usr/bin/env node
// A real WebTorrent (3.x, in Node, over TCP) peer on loopback that talks to trackers, for the
// node interop tests and scripts/bench-swarm: it seeds or downloads a given .torrent file.
//
//     node webtorrent_peer.mjs --save DIR --torrent FILE [--seed] [--peer HOST:PORT ...]
//         [--timeout SECS] [--secure 0|1|2]
//
// - Nothing leaves the machine: DHT, LSD, UPnP, NAT-PMP, web seeds (BEP 19), uTP and ut_pex's
//   extra sources are off, no tracker is added to the torrent's own (a WebSocket tracker in it
//   would be used, with WebRTC; the tests give HTTP or UDP ones on 127.0.0.1). WebTorrent listens
//   on every interface (it has no option to bind one) on an OS-chosen port.
// - --secure is WebTorrent's protocol encryption level (Message Stream Encryption, MSE/PE):
//   0 off, 1 (its default) starts MSE when dialing, 2 MSE only. Level 1 does not fall back to
//   a plain handshake when the peer drops the MSE one, so a peer without MSE is reached only
//   when it dials WebTorrent, or with --secure 0. Incoming plaintext is accepted at 0 and 1.
// - With --seed the data must already be in DIR (WebTorrent checks it); without, it downloads
//   into DIR.
// - Prints JSON lines on stdout:
//       {"event": "ready", "port": N, "info_hash": hex}        listening, torrent added, for
//                                                              a seed checked complete, and a
//                                                              tracker answered (if it has any)
//       {"event": "finished", "seconds": S, "downloaded": N}   every piece verified
// - Logs peers, warnings and errors as JSON lines on stderr.
// - Exits 0 when stdin reaches EOF or after --timeout seconds (default 120); a leecher that did
//   not finish by then exits 4. Errors exit 1, usage errors 3.

import { parseArgs } from 'node:util'
import fs from 'node:fs'
import WebTorrent from 'webtorrent'

const started = performance.now()
const seconds = () => (performance.now() - started) / 1000
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const log = (obj) => process.stderr.write(JSON.stringify(obj) + '\n')
const fail = (code, message) => {
  process.stderr.write(`webtorrent_peer: error: ${message}\n`)
  process.exit(code)
}

let args
try {
  args = parseArgs({
    options: {
      save: { type: 'string' },
      torrent: { type: 'string' },
      seed: { type: 'boolean', default: false },
      peer: { type: 'string', multiple: true, default: [] },
      timeout: { type: 'string', default: '120' },
      secure: { type: 'string', default: '1' }
    }
  }).values
} catch (e) {
  fail(3, e.message)
}
if (!args.save || !args.torrent) fail(3, 'give --save DIR and --torrent FILE')

const client = new WebTorrent({
  dht: false,
  lsd: false,
  natUpnp: false,
  natPmp: false,
  webSeeds: false,
  utp: false,
  utPex: false,
  // Only the torrent's own announce list: no extra trackers, no WebRTC (Node has none unless
  // globalThis.WRTC is set, and the tests' trackers are HTTP/UDP).
  tracker: { announce: [] },
  secure: Number(args.secure)
})
client.on('error', (e) => fail(1, `client: ${e.message || e}`))
client.on('warning', (e) => log({ warning: String(e.message || e) }))

// WebTorrent's own piece strategy ('sequential'): 'rarest' took twice as long and twice the
// memory from one seed on loopback.
const torrent = client.add(fs.readFileSync(args.torrent), { path: args.save, announce: [] })
torrent.on('error', (e) => fail(1, `torrent: ${e.message || e}`))
torrent.on('warning', (e) => log({ warning: String(e.message || e) }))
torrent.on('wire', (wire, addr) => log({ wire: addr, peer_id: wire.peerId, type: wire.type }))
torrent.on('noPeers', (source) => log({ no_peers: source }))

let finished = false
const whenListening = new Promise((resolve) => {
  if (client.torrentPort) resolve()
  else client.once('listening', resolve)
})
const whenReady = new Promise((resolve) => torrent.once('ready', resolve))
const whenDone = new Promise((resolve) => torrent.once('done', resolve))
const whenAnnounced = new Promise((resolve) => torrent.once('trackerAnnounce', resolve))

await whenListening
await whenReady
for (const peer of args.peer) torrent.addPeer(peer)
if (args.seed) {
  // WebTorrent checks the data on add; a seed is one whose check found every piece.
  const limit = setTimeout(() => fail(1, 'the data did not check as complete'), 60_000)
  if (!torrent.done) await whenDone
  clearTimeout(limit)
  finished = true
}
// A tracker answered our first announce, so a peer started after "ready" finds us there.
if (torrent.announce.length > 0) {
  const limit = setTimeout(() => log({ warning: 'no tracker answered within 10 s' }), 10_000)
  await whenAnnounced
  clearTimeout(limit)
}
out({ event: 'ready', port: client.torrentPort, info_hash: torrent.infoHash })
if (!args.seed) {
  whenDone.then(() => {
    finished = true
    out({ event: 'finished', seconds: seconds(), downloaded: torrent.downloaded })
  })
}

const stop = (code) => {
  client.destroy(() => process.exit(code))
  // destroy can wait on trackers; do not let it hold the exit up.
  setTimeout(() => process.exit(code), 2000).unref()
}
process.stdin.on('data', () => {})
process.stdin.on('end', () => stop(finished ? 0 : 4))
process.stdin.on('error', () => stop(finished ? 0 : 4))
setTimeout(() => stop(finished ? 0 : 4), Number(args.timeout) * 1000).unref()
// Keep the process alive while stdin is open or the timeout runs.
setInterval(() => {}, 1 << 30)
