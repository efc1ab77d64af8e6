#!/usr/bin/env node
// A real WebTorrent (3.x, in Node) peer that connects ONLY over WebRTC, found through WebSocket
// trackers on loopback, for the WebRTC interop tests and scripts' benchmarks: it seeds or
// downloads a given .torrent file.
//
//     node webtorrent_rtc.mjs --save DIR --torrent FILE [--seed]
//         --announce ws://127.0.0.1:PORT [--announce ...] [--timeout SECS]
//         [--fast-signal] [--log-sdp] [--rtc-config JSON] [--sctp JSON] [--rtc-log LEVEL]
//
// - WebRTC in Node is WebTorrent's own stack: bittorrent-tracker's WebSocket client →
//   @thaunknown/simple-peer (lite) → webrtc-polyfill → node-datachannel (libdatachannel). The
//   one knob that reaches node-datachannel is WebTorrent's `tracker.rtcConfig`: webrtc-polyfill's
//   RTCPeerConnection spreads its whole init object into node-datachannel's PeerConnection
//   config. We pass `{ iceServers: [], bindAddress: '127.0.0.1' }` (no STUN; gather only a
//   127.0.0.1 host candidate), plus whatever --rtc-config adds (e.g. '{"mtu":1500}').
//   The tracker's `wrtc` option is dead here (simple-peer lite ignores opts.wrtc).
// - Only the --announce trackers are used (ws:// or wss:// only; the torrent's own announce list
//   and web seeds are dropped). DHT, LSD, UPnP, NAT-PMP, uTP, web seeds and ut_pex are off.
//   WebTorrent has no option to stop its TCP listener (it listens on an OS-chosen port on every
//   interface), but no one is told that port and no TCP peer is ever added; any wire that is not
//   'webrtc' is logged as an error and destroyed, so every byte counted came over WebRTC.
// - --fast-signal: stock WebTorrent in Node sends each offer/answer only after simple-peer's
//   5 s iceCompleteTimeout, because webrtc-polyfill never fires the end-of-candidates (null)
//   icecandidate event, and bittorrent-tracker offers no option to change that timeout (it builds
//   its peers with only { trickle: false, config: rtcConfig, wrtc }). This flag hooks simple-peer
//   in this process (no file is changed) so a peer signals as soon as node-datachannel reports
//   gathering 'complete'. Off by default: the default is stock WebTorrent behaviour.
//   Fast signalling exposes a libdatachannel race (the answerer's DTLS ClientHello reaches the
//   offerer before the answer does): about half the connections wait 1 s for a DTLS
//   retransmit, and about 1 in 10 fails the fingerprint check, leaving the leecher to wait for
//   the next announce (give the tracker a short --interval).
// - --rtc-config JSON is merged into the rtcConfig above (e.g. '{"mtu":1500}'; 9000 stalls: the
//   wire opens but no piece arrives); --sctp JSON is
//   passed to node-datachannel's process-wide setSctpSettings() (not a WebTorrent option);
//   --rtc-log LEVEL (Verbose|Debug|Info|Warning|Error|Fatal) logs node-datachannel on stderr.
// - --log-sdp logs every offer/answer WebTorrent emits (and the data channel label) on stderr.
// - With --seed the data must already be in DIR (WebTorrent checks it); without, it downloads
//   into DIR.
// - Prints JSON lines on stdout (seconds are since the torrent was added, which starts the
//   announce):
//       {"event":"ready","info_hash":hex,"peer_id":hex,"seconds":S}   torrent added (a seed: also
//                                                     checked complete and a tracker answered)
//       {"event":"announced","seconds":S}             first tracker answer
//       {"event":"wire","peer_id":hex,"type":"webrtc","seconds":S}   each peer connection
//       {"event":"first_byte","seconds":S}            first piece data received
//       {"event":"finished","seconds":S,"downloaded":N,"by_peer":{peer_id_hex:bytes}}
// - Logs warnings and errors as JSON lines on stderr.
// - Exits 0 when stdin reaches EOF or after --timeout seconds (default 120); a leecher that did
//   not finish by then exits 4. Errors exit 1, usage errors 3.

import { parseArgs } from 'node:util'
import fs from 'node:fs'
import WebTorrent from 'webtorrent'
import parseTorrent from 'parse-torrent'
import Peer from '@thaunknown/simple-peer/lite.js'
import { initLogger, setSctpSettings } from 'node-datachannel'

let started = performance.now()
const seconds = () => (performance.now() - started) / 1000
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const log = (obj) => process.stderr.write(JSON.stringify(obj) + '\n')
const fail = (code, message) => {
  log({ error: message })
  process.exit(code)
}

let args
try {
  args = parseArgs({
    options: {
      save: { type: 'string' },
      torrent: { type: 'string' },
      seed: { type: 'boolean', default: false },
      announce: { type: 'string', multiple: true, default: [] },
      timeout: { type: 'string', default: '120' },
      'fast-signal': { type: 'boolean', default: false },
      'log-sdp': { type: 'boolean', default: false },
      'rtc-config': { type: 'string', default: '{}' },
      sctp: { type: 'string' },
      'rtc-log': { type: 'string' }
    }
  }).values
} catch (e) {
  fail(3, e.message)
}
if (!args.save || !args.torrent) fail(3, 'give --save DIR and --torrent FILE')
if (args.announce.length === 0) fail(3, 'give at least one --announce ws://HOST:PORT')
for (const url of args.announce) {
  if (!/^wss?:\/\//.test(url)) fail(3, `not a WebSocket tracker: ${url}`)
}
const timeout = Number(args.timeout)
if (!(timeout > 0)) fail(3, `bad --timeout ${args.timeout}`)
let extraRtc
try {
  extraRtc = JSON.parse(args['rtc-config'])
  if (typeof extraRtc !== 'object' || extraRtc === null) throw new Error('not an object')
} catch (e) {
  fail(3, `bad --rtc-config: ${e.message}`)
}

let sctp = null
if (args.sctp !== undefined) {
  try {
    sctp = JSON.parse(args.sctp)
    if (typeof sctp !== 'object' || sctp === null) throw new Error('not an object')
  } catch (e) {
    fail(3, `bad --sctp: ${e.message}`)
  }
}
const logLevels = ['Verbose', 'Debug', 'Info', 'Warning', 'Error', 'Fatal']
if (args['rtc-log'] !== undefined && !logLevels.includes(args['rtc-log'])) {
  fail(3, `bad --rtc-log, one of ${logLevels.join(' ')}`)
}

process.on('uncaughtException', (e) => fail(1, `uncaught: ${e.stack || e}`))
process.on('unhandledRejection', (e) => fail(1, `unhandled rejection: ${e?.stack || e}`))

if (args['fast-signal']) {
  // simple-peer waits for a null icecandidate (never fired by webrtc-polyfill) or 5 s. Treat
  // node-datachannel's gathering 'complete' as that event. It fires before the polyfill
  // dispatches the candidates themselves, but the local description read when signalling
  // already holds them (checked below). setImmediate lets the candidate events run first.
  const onIceStateChange = Peer.prototype._onIceStateChange
  Peer.prototype._onIceStateChange = function () {
    onIceStateChange.call(this)
    if (this.destroyed || this._iceComplete || !this._pc) return
    if (this._pc.iceGatheringState !== 'complete') return
    setImmediate(() => {
      if (this.destroyed || this._iceComplete) return
      this._iceComplete = true
      this.emit('_iceComplete')
    })
  }
}
if (args['log-sdp']) {
  const emit = Peer.prototype.emit
  Peer.prototype.emit = function (event, ...rest) {
    if (event === 'signal') {
      log({
        sdp: rest[0],
        initiator: this.initiator,
        channel_label: this.channelName,
        channel_config: this.channelConfig,
        seconds: seconds()
      })
      if (!/a=candidate:/.test(rest[0]?.sdp || '')) {
        log({ warning: 'signalled an SDP without candidates' })
      }
    }
    return emit.call(this, event, ...rest)
  }
}

// node-datachannel's own log (libdatachannel, libjuice, usrsctp), as JSON lines on stderr.
if (args['rtc-log']) {
  initLogger(args['rtc-log'], (level, message) => log({ rtc_log: level, message, seconds: seconds() }))
}
// Process-wide SCTP settings of node-datachannel (not reachable through WebTorrent's options).
if (sctp) setSctpSettings(sctp)

const rtcConfig = { iceServers: [], bindAddress: '127.0.0.1', ...extraRtc }
const client = new WebTorrent({
  dht: false,
  lsd: false,
  natUpnp: false,
  natPmp: false,
  webSeeds: false,
  utp: false,
  utPex: false,
  tracker: { rtcConfig },
  secure: 0
})
client.on('error', (e) => fail(1, `client: ${e.message || e}`))
client.on('warning', (e) => log({ warning: String(e.message || e) }))

// The torrent's own trackers and web seeds are dropped: WebTorrent only adds to them.
let parsed
try {
  parsed = await parseTorrent(fs.readFileSync(args.torrent))
} catch (e) {
  fail(1, `cannot read ${args.torrent}: ${e.message}`)
}
parsed.announce = [...args.announce]
parsed.urlList = []

started = performance.now()
const torrent = client.add(parsed, { path: args.save })
torrent.on('error', (e) => fail(1, `torrent: ${e.message || e}`))
torrent.on('warning', (e) => log({ warning: String(e.message || e) }))
torrent.on('noPeers', (source) => log({ no_peers: source }))

const byPeer = {}
let firstByte = false
torrent.on('wire', (wire) => {
  const peerId = wire.peerId
  if (wire.type !== 'webrtc') {
    log({ error: 'non-WebRTC wire dropped', peer_id: peerId, type: wire.type })
    wire.destroy()
    return
  }
  out({ event: 'wire', peer_id: peerId, type: wire.type, seconds: seconds() })
  byPeer[peerId] ??= 0
  // A wire's 'download' is piece data only (the torrent's counts every byte of the connection).
  wire.on('download', (n) => {
    if (!firstByte) {
      firstByte = true
      out({ event: 'first_byte', seconds: seconds() })
    }
    byPeer[peerId] += n
  })
  wire.once('close', () => log({ wire_closed: peerId, seconds: seconds() }))
})

let finished = false
const whenReady = new Promise((resolve) => torrent.once('ready', resolve))
const whenDone = new Promise((resolve) => torrent.once('done', resolve))
const whenAnnounced = new Promise((resolve) => torrent.once('trackerAnnounce', resolve))
whenAnnounced.then(() => out({ event: 'announced', seconds: seconds() }))

await whenReady
if (args.seed) {
  // WebTorrent checks the data on add; a seed is one whose check found every piece.
  const limit = setTimeout(() => fail(1, 'the data did not check as complete'), 600_000)
  if (!torrent.done) await whenDone
  clearTimeout(limit)
  finished = true
  // A tracker answered, so a leecher started after "ready" is sent to us.
  const slow = setTimeout(() => log({ warning: 'no tracker answered within 15 s' }), 15_000)
  await whenAnnounced
  clearTimeout(slow)
}
out({ event: 'ready', info_hash: torrent.infoHash, peer_id: client.peerId, seconds: seconds() })
if (!args.seed) {
  whenDone.then(() => {
    finished = true
    out({
      event: 'finished',
      seconds: seconds(),
      downloaded: torrent.downloaded,
      by_peer: byPeer
    })
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
setTimeout(() => stop(finished ? 0 : 4), timeout * 1000).unref()
// Keep the process alive while stdin is open or the timeout runs.
setInterval(() => {}, 1 << 30)
