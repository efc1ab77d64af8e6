#!/usr/bin/env node
// A tracker that is not ours: bittorrent-tracker's server (the one WebTorrent's authors run),
// on 127.0.0.1 only, for the node interop tests.
//
//     node bittorrent_tracker.mjs [--udp] [--ws] [--interval SECS]
//
// - Serves HTTP announces (and, with --udp, BEP 15 over UDP; with --ws, WebTorrent's WebSocket
//   tracker on the HTTP port) on 127.0.0.1 with OS-chosen ports; no IPv6 socket, no stats page.
// - Prints JSON lines on stdout:
//       {"event": "listening", "http": URL, "udp": URL|null, "ws": URL|null}   once, when ready
//       {"event": "announce", "proto": "http"|"udp", "kind": "start"|"update"|"complete"|"stop",
//        "addr": "ip:port", "left": N, "info_hash": hex, "peer_id": hex}   each announce
// - Logs warnings (malformed requests and the like) as JSON lines on stderr.
// - Exits 0 when stdin reaches EOF. Errors exit 1.
//
// Quirk to keep in mind: it returns the announcing peer itself in its peer lists.

import dgram from 'node:dgram'
import { parseArgs } from 'node:util'
import { Server } from 'bittorrent-tracker'

const { values: args } = parseArgs({
  options: {
    udp: { type: 'boolean', default: false },
    ws: { type: 'boolean', default: false },
    interval: { type: 'string', default: '600' }
  }
})
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const log = (obj) => process.stderr.write(JSON.stringify(obj) + '\n')
const fail = (message) => {
  process.stderr.write(`bittorrent_tracker: error: ${message}\n`)
  process.exit(1)
}

const server = new Server({
  http: true,
  udp: false,
  ws: args.ws,
  stats: false,
  trustProxy: false,
  interval: Number(args.interval) * 1000
})
server.on('error', (e) => fail(e.message || String(e)))
server.on('warning', (e) => log({ warning: String(e.message || e) }))

// The server's own UDP option opens an IPv6 socket too; give it one IPv4 socket on 127.0.0.1
// instead, wired as its constructor would (listen() binds it).
let udp = null
if (args.udp) {
  udp = dgram.createSocket({ type: 'udp4' })
  udp.on('message', (msg, rinfo) => server.onUdpRequest(msg, rinfo))
  udp.on('error', (e) => fail(`udp: ${e.message}`))
  server.udp4 = server.udp = udp
}

for (const kind of ['start', 'update', 'complete', 'stop']) {
  server.on(kind, (addr, params) => {
    out({
      event: 'announce',
      proto: params.type,
      kind,
      addr,
      left: Number(params.left),
      info_hash: params.info_hash,
      peer_id: params.peer_id
    })
  })
}

const bound = [new Promise((resolve) => server.http.once('listening', resolve))]
if (udp) bound.push(new Promise((resolve) => udp.once('listening', resolve)))
server.listen({ http: 0, udp: 0 }, '127.0.0.1')
await Promise.all(bound)
out({
  event: 'listening',
  http: `http://127.0.0.1:${server.http.address().port}/announce`,
  udp: udp ? `udp://127.0.0.1:${udp.address().port}/announce` : null,
  ws: args.ws ? `ws://127.0.0.1:${server.http.address().port}` : null
})

process.stdin.on('data', () => {})
process.stdin.on('end', () => {
  server.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
})
