#!/usr/bin/env node
// WebTorrent's BitTorrent wire protocol (npm `bittorrent-protocol`, pinned in ../package.json),
// driven with the conformance wire vectors, as JSON. Install with `npm ci` in conformance/.
//
//   node wire_protocol.mjs < request.json > response.json
//
// Reads ONE JSON object from stdin and prints ONE JSON object to stdout.
//
// Message shapes (byte strings are lowercase hex), the same as the Rust side's:
//   {"type":"handshake","reserved":"<16 hex>","info_hash":"<40 hex>","peer_id":"<40 hex>"}
//   {"type":"keep_alive"} {"type":"choke"} {"type":"unchoke"} {"type":"interested"}
//   {"type":"not_interested"} {"type":"have","piece":N} {"type":"bitfield","bits":"<hex>"}
//   {"type":"request","piece":N,"offset":N,"length":N} {"type":"cancel",...same...}
//   {"type":"piece","piece":N,"offset":N,"data":"<hex>"} {"type":"port","port":N}
//   {"type":"suggest","piece":N} {"type":"have_all"} {"type":"have_none"}
//   {"type":"reject","piece":N,"offset":N,"length":N} {"type":"allowed_fast","piece":N}
//   {"type":"extended","id":N,"payload":"<hex after the extended id byte>"}
//   {"type":"hash_request"|"hash_reject","pieces_root","base_layer","index","length","proof_layers"}
//   {"type":"hashes", ...same..., "hashes":"<hex>"}
// and, in decode output only, for ids bittorrent-protocol does not know (it emits
// 'unknownmessage' with the raw message):  {"type":"unknown","id":N,"payload":"<hex after id>"}
//
// Request → response:
//   {"mode":"decode","cases":[{"name","hex"}]}
//     → {"library":"bittorrent-protocol","version","mode":"decode",
//        "results":[{"name","messages":[...],"error":null|"...","notes":[...]}]}
//   {"mode":"encode","cases":[{"name","messages":[...]}]}
//     → {"library","version","mode":"encode","results":[{"name","hex","error":null|"...","notes":[...]}]}
//   A request that is not valid JSON or has no known mode → {"error":"..."} and exit status 2.
//   A bad case (bad hex, missing field, a throw) gives an error for that case only.
//
// DECODE. Each case's bytes (a handshake, then messages) are written into a fresh Wire twice:
// all at once, and one byte per write(). `messages` lists what the Wire's events reported, in
// order; if the two feedings disagree, `error` says so and `split` holds the byte-by-byte result.
// `error` is null, or "wire ended itself: <reason>" (bittorrent-protocol never emits 'error' for
// protocol faults: it calls this.end()/destroy(); the reason is its own debug line), "threw: ..."
// or "emitted error: ...". Events fired after the wire ended itself (by its own end() — it fires
// synthetic 'uninterested' and 'choke', index.js:221-222 — or by messages already buffered behind
// the fault) are not listed; `notes` counts the latter.
//   Setup, the minimum a real (accepting) peer does: on the peer's 'handshake' event the runner
//   answers with its own handshake for the same info hash with the fast bit (the library always
//   sets the extension-protocol bit), and unchokes the peer:
//   - without our fast bit, hasFast stays false and every BEP 6 message (suggest, have_all,
//     have_none, reject, allowed_fast) makes the wire destroy itself (index.js:735-790);
//   - while we choke the peer, an incoming request is not emitted at all: it is silently dropped,
//     or answered with an automatic reject when fast is on (index.js:691-696).
//   No request is issued before a piece: 5.0.9 emits 'piece' whether or not it was requested
//   (index.js:716-720), and 'reject'/'cancel' likewise. A case whose own handshake lacks the
//   fast bit therefore gets the library's real reaction to BEP 6 messages (it ends the wire).
//   How events map back to shapes, and where that is lossy:
//   - handshake: the event gives only the dht/fast/extended flags (index.js:1039-1043), so
//     `reserved` is rebuilt from them; every other reserved bit reads as 0.
//   - extended id 0: the event gives the bencode-decoded dict, not bytes (index.js:797-820), so
//     `payload` is that dict re-encoded as canonical bencode (sorted keys) by this script. An
//     id-0 payload that does not decode, or decodes to 0/"" (falsy), gives no event at all.
//     Its bencode decoder also drops bytes after the first value and turns a non-UTF-8 dict key
//     into the hex of its bytes (bencode 4.0.1 lib/decode.js), so such payloads do not round-trip.
//   - an extended message with no id byte (length 1) is reported with "id": null
//     (`buffer[1]` is undefined, index.js:1009).
//   - numbers: the library reads 32-bit fields as SIGNED (index.js:36-38), so values ≥ 2^31 come
//     out negative; they are reported as the library gives them. A length prefix ≥ 2^31 is thus
//     negative and read as a keep-alive (index.js:946-951), and the next 4 bytes as a new length.
//   Library behaviour the runner reports as is (no setup hides or restores it):
//   - 'have' for a piece the peer already has (a repeated have, a bit set in its bitfield, anything
//     after have_all) is dropped without an event (index.js:677).
//   - messages shorter than their fields read the missing bytes as 0 (a 1-byte have → piece 0),
//     and bytes beyond the fields are ignored (a choke with a payload is a choke); no error.
//   - an incomplete message at the end of the input gives nothing (a note counts the bytes).
//   - the wire keeps the received bitfield's bytes without copying (index.js:685) and sets bits in
//     them on later 'have's (index.js:680): it writes into the caller's buffer. Each run here gets
//     its own copy of the input.
//
// ENCODE. Each case gets a fresh Wire whose output is captured from its 'data' events; `hex` is
// every byte it wrote (also when `error` is set). Each message calls the public method
// (handshake, keepAlive, choke, unchoke, interested, uninterested, have, bitfield, request,
// piece, cancel, port, suggest, haveAll, haveNone, reject, allowedFast, extended).
//   Setup, before capture starts: a stand-in remote peer's handshake (reserved 00..04: fast bit,
//   NOT the extension bit, so the library does not add an extended handshake of its own to the
//   output, index.js:332-336) and an unchoke are written into the Wire. Without them the library
//   refuses BEP 6 messages ("fast extension is disabled", index.js:507-548: fast needs both
//   handshakes' bits, so the case's own handshake must still set it) and refuses requests
//   ("peer is choking", index.js:447-449: nothing is written).
//   Errors: "unsupported: <type>" for BEP 52 hash messages (no method) and for a handshake
//   reserved field the library cannot write (it always sets the extension bit and can set only
//   the DHT and fast bits, index.js:312-322); "not written: <type> (...)" when a call wrote
//   nothing (choke/unchoke/interested/uninterested only write on a state change, index.js:363,
//   391, 401, 411 — a new Wire is choking and not interested); "threw: ..."; "request refused: ...".
//   Several errors in one case are joined with "; "; later messages are still encoded.

import fs from 'node:fs'
import util from 'node:util'
import Wire from 'bittorrent-protocol'

const LIBRARY = 'bittorrent-protocol'
const VERSION = (() => {
  try {
    const pkg = new URL('package.json', import.meta.resolve(LIBRARY))
    return JSON.parse(fs.readFileSync(pkg, 'utf8')).version
  } catch {
    return null
  }
})()

// Our own peer id in decode setup: "-CF0001-" + 12 bytes, any 20 bytes would do.
const OUR_PEER_ID = Buffer.concat([Buffer.from('-CF0001-'), Buffer.alloc(12, 0x61)]).toString('hex')
// The stand-in remote peer of encode setup: handshake with only the fast bit, then unchoke.
const STAND_IN_PEER = Buffer.concat([
  Buffer.from('\x13BitTorrent protocol', 'latin1'),
  Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x04]),
  Buffer.alloc(20, 0x11),
  Buffer.alloc(20, 0x22),
  Buffer.from([0, 0, 0, 1, 1])
])

// ---------------------------------------------------------------------------------------------
// helpers

function toHex (u8) {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('hex')
}

function fromHex (s, what) {
  if (typeof s !== 'string') throw new BadInput(`${what}: expected a hex string, got ${JSON.stringify(s)}`)
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new BadInput(`${what}: bad hex ${JSON.stringify(s.length > 80 ? s.slice(0, 80) + '…' : s)}`)
  return new Uint8Array(Buffer.from(s, 'hex'))
}

function int (m, field) {
  const v = m[field]
  if (!Number.isInteger(v)) throw new BadInput(`${m.type}.${field}: expected an integer, got ${JSON.stringify(v)}`)
  return v
}

class BadInput extends Error {}

function errText (e) {
  if (e instanceof BadInput) return `bad input: ${e.message}`
  return e && e.message !== undefined ? String(e.message) : String(e)
}

// Lets every queued streamx step run: streamx schedules its work with queueMicrotask, and all
// microtasks run before a setImmediate callback.
function settle () {
  return new Promise(resolve => setImmediate(() => setImmediate(resolve)))
}

// Canonical bencode, for re-encoding the dict that bittorrent-protocol decoded from an extended
// handshake (byte strings arrive as Uint8Array, keys as strings, integers as numbers).
function bencode (v) {
  const parts = []
  const enc = (x) => {
    if (x instanceof Uint8Array) {
      parts.push(Buffer.from(`${x.length}:`), Buffer.from(x.buffer, x.byteOffset, x.byteLength))
    } else if (typeof x === 'string') {
      const b = Buffer.from(x, 'utf8')
      parts.push(Buffer.from(`${b.length}:`), b)
    } else if (typeof x === 'number' || typeof x === 'bigint') {
      parts.push(Buffer.from(`i${BigInt(Math.trunc(Number(x)))}e`))
    } else if (Array.isArray(x)) {
      parts.push(Buffer.from('l')); x.forEach(enc); parts.push(Buffer.from('e'))
    } else if (x && typeof x === 'object') {
      parts.push(Buffer.from('d'))
      const keys = Object.keys(x).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      for (const k of keys) { enc(k); enc(x[k]) }
      parts.push(Buffer.from('e'))
    } else {
      throw new Error(`cannot bencode ${typeof x}`)
    }
  }
  enc(v)
  return Buffer.concat(parts)
}

// Exceptions that escape the library inside streamx's microtasks land here; they are charged to
// the case being run (cases run one at a time).
let activeErrors = null
function onStray (err) {
  if (activeErrors) {
    activeErrors.push(`threw: ${errText(err)}`)
  } else {
    process.stderr.write(`wire_protocol.mjs: uncaught: ${err && err.stack ? err.stack : err}\n`)
    process.exit(3)
  }
}
process.on('uncaughtException', onStray)
process.on('unhandledRejection', onStray)

// ---------------------------------------------------------------------------------------------
// decode

async function decodeOnce (bytes, split) {
  const errors = []
  const notes = []
  const messages = []
  let selfEnded = null
  let inEnd = false
  let cleanup = false
  let afterEnd = 0
  const debugLines = []
  activeErrors = errors

  const wire = new Wire()

  // Observe (not alter) the library: its debug lines carry the only reason it gives for ending a
  // wire, and its end() is how it gives up on a peer (destroy() calls end(), index.js:211-224).
  const origDebug = wire._debug
  wire._debug = function (...args) {
    debugLines.push(util.format(...args))
    return origDebug.apply(this, args)
  }
  const origEnd = wire.end
  wire.end = function (data) {
    if (!cleanup && !selfEnded && !this.destroyed && !this.destroying) {
      const reason = [...debugLines].reverse().find(l => l.startsWith('Error:'))
      selfEnded = reason ? reason.replace(/^Error: /, '') : 'end() called with no error logged'
    }
    inEnd = true
    try { return origEnd.call(this, data) } finally { inEnd = false }
  }

  const add = (msg) => {
    if (inEnd || cleanup) return // end()'s own synthetic 'uninterested'/'choke'
    if (selfEnded) { afterEnd++; return }
    messages.push(msg)
  }

  wire.on('data', () => {}) // our own output (handshake, unchoke, ...) is not part of the result
  wire.on('error', (err) => errors.push(`emitted error: ${errText(err)}`))

  wire.on('handshake', (infoHash, peerId, ext) => {
    const reserved = new Uint8Array(8)
    if (ext.extended) reserved[5] |= 0x10
    if (ext.dht) reserved[7] |= 0x01
    if (ext.fast) reserved[7] |= 0x04
    add({ type: 'handshake', reserved: toHex(reserved), info_hash: infoHash, peer_id: peerId })
    // Setup (see the header): answer like an accepting peer, with the fast bit, and unchoke.
    if (!cleanup && !selfEnded) {
      wire.handshake(infoHash, OUR_PEER_ID, { fast: true, dht: false })
      wire.unchoke()
    }
  })
  wire.on('keep-alive', () => add({ type: 'keep_alive' }))
  wire.on('choke', () => add({ type: 'choke' }))
  wire.on('unchoke', () => add({ type: 'unchoke' }))
  wire.on('interested', () => add({ type: 'interested' }))
  wire.on('uninterested', () => add({ type: 'not_interested' }))
  wire.on('have', (piece) => add({ type: 'have', piece }))
  wire.on('bitfield', (bf) => add({ type: 'bitfield', bits: toHex(bf.buffer) }))
  wire.on('request', (piece, offset, length) => add({ type: 'request', piece, offset, length }))
  wire.on('piece', (piece, offset, data) => add({ type: 'piece', piece, offset, data: toHex(data) }))
  wire.on('cancel', (piece, offset, length) => add({ type: 'cancel', piece, offset, length }))
  wire.on('port', (port) => add({ type: 'port', port }))
  wire.on('suggest', (piece) => add({ type: 'suggest', piece }))
  wire.on('have-all', () => add({ type: 'have_all' }))
  wire.on('have-none', () => add({ type: 'have_none' }))
  wire.on('reject', (piece, offset, length) => add({ type: 'reject', piece, offset, length }))
  wire.on('allowed-fast', (piece) => add({ type: 'allowed_fast', piece }))
  wire.on('extended', (ext, payload) => {
    if (ext === 'handshake') {
      let hex
      try {
        hex = toHex(bencode(payload))
      } catch (e) {
        errors.push(`cannot re-encode the decoded extended handshake: ${errText(e)}`)
        hex = null
      }
      notes.push('extended handshake payload re-encoded from the dict bittorrent-protocol decoded (it does not expose the bytes)')
      add({ type: 'extended', id: 0, payload: hex })
    } else {
      if (typeof ext !== 'number') notes.push(`extended message event gave id ${JSON.stringify(ext === undefined ? null : ext)}`)
      add({ type: 'extended', id: ext === undefined ? null : ext, payload: toHex(payload) })
    }
  })
  wire.on('unknownmessage', (buf) => add({ type: 'unknown', id: buf[0], payload: toHex(buf.subarray(1)) }))

  try {
    if (bytes.length > 0) {
      if (split) {
        for (let i = 0; i < bytes.length; i++) wire.write(bytes.subarray(i, i + 1))
      } else {
        wire.write(bytes)
      }
    }
    await settle()
  } catch (e) {
    errors.push(`threw: ${errText(e)}`)
  }

  if (selfEnded) {
    errors.unshift(`wire ended itself: ${selfEnded}`)
    if (afterEnd > 0) notes.push(`${afterEnd} more event(s) were emitted after the wire ended itself (bytes already buffered are still parsed until 'finish'), not listed`)
  } else if (wire._bufferSize > 0) {
    notes.push(`${wire._bufferSize} byte(s) left over, an incomplete ${messages.length ? 'message' : 'handshake'}: bittorrent-protocol waits for more and reports nothing`)
  }
  if (messages.length && messages[0].type === 'handshake') {
    notes.push('handshake reserved rebuilt from the only flags bittorrent-protocol reports (extension protocol, DHT, fast); other bits read as 0')
  }
  if (messages.some(m => Object.values(m).some(v => typeof v === 'number' && v < 0))) {
    notes.push('negative numbers: bittorrent-protocol reads 32-bit fields as signed (index.js getUint32)')
  }

  cleanup = true
  try { wire.destroy() } catch {}
  await settle()
  activeErrors = null
  return { messages, error: errors.length ? errors.join('; ') : null, notes }
}

async function decodeCase (c) {
  const name = c && c.name !== undefined ? c.name : null
  let bytes
  try {
    bytes = fromHex(c && c.hex, 'hex')
  } catch (e) {
    return { name, messages: [], error: errText(e), notes: [] }
  }
  // Each run gets its own copy: bittorrent-protocol keeps the received bitfield's bytes without
  // copying (index.js:685) and later 'have' messages set bits in them (index.js:680), i.e. in the
  // buffer that was written into the wire.
  const whole = await decodeOnce(Uint8Array.from(bytes), false)
  const split = await decodeOnce(Uint8Array.from(bytes), true)
  const notes = [...new Set([...whole.notes, ...split.notes])]
  const result = { name, messages: whole.messages, error: whole.error, notes }
  if (JSON.stringify([whole.messages, whole.error]) !== JSON.stringify([split.messages, split.error])) {
    result.error = (whole.error ? whole.error + '; ' : '') + 'feeding one byte at a time gave a different result (see split)'
    result.split = { messages: split.messages, error: split.error }
  }
  return result
}

// ---------------------------------------------------------------------------------------------
// encode

const NOT_WRITTEN_WHY = {
  choke: 'bittorrent-protocol writes choke only when it was unchoking the peer (index.js:363 `if (this.amChoking) return`; a new Wire is choking)',
  unchoke: 'bittorrent-protocol writes unchoke only when it was choking the peer (index.js:391 `if (!this.amChoking) return`)',
  interested: 'bittorrent-protocol writes interested only when it was not interested (index.js:401 `if (this.amInterested) return`)',
  not_interested: 'bittorrent-protocol writes uninterested only when it was interested (index.js:411 `if (!this.amInterested) return`; a new Wire is not interested)'
}

// Calls the Wire method for one message. Returns an error string, or null.
function encodeMessage (wire, m) {
  if (!m || typeof m !== 'object') throw new BadInput(`message: expected an object, got ${JSON.stringify(m)}`)
  switch (m.type) {
    case 'handshake': {
      const reserved = fromHex(m.reserved, 'handshake.reserved')
      if (reserved.length !== 8) throw new BadInput(`handshake.reserved: expected 8 bytes, got ${reserved.length}`)
      const infoHash = fromHex(m.info_hash, 'handshake.info_hash')
      const peerId = fromHex(m.peer_id, 'handshake.peer_id')
      wire.handshake(infoHash, peerId, { dht: !!(reserved[7] & 0x01), fast: !!(reserved[7] & 0x04) })
      return null
    }
    case 'keep_alive': wire.keepAlive(); return null
    case 'choke': wire.choke(); return null
    case 'unchoke': wire.unchoke(); return null
    case 'interested': wire.interested(); return null
    case 'not_interested': wire.uninterested(); return null
    case 'have': wire.have(int(m, 'piece')); return null
    case 'bitfield': wire.bitfield(fromHex(m.bits, 'bitfield.bits')); return null
    case 'request': {
      const args = [int(m, 'piece'), int(m, 'offset'), int(m, 'length')]
      let sync = true
      let refused = null
      // The callback runs later with the block (or an error when cancelled/closed); only an
      // immediate error means the library refused to send the request.
      wire.request(...args, (err) => { if (sync && err) refused = err })
      sync = false
      return refused ? `request refused: ${errText(refused)}` : null
    }
    case 'piece': wire.piece(int(m, 'piece'), int(m, 'offset'), fromHex(m.data, 'piece.data')); return null
    case 'cancel': wire.cancel(int(m, 'piece'), int(m, 'offset'), int(m, 'length')); return null
    case 'port': wire.port(int(m, 'port')); return null
    case 'suggest': wire.suggest(int(m, 'piece')); return null
    case 'have_all': wire.haveAll(); return null
    case 'have_none': wire.haveNone(); return null
    case 'reject': wire.reject(int(m, 'piece'), int(m, 'offset'), int(m, 'length')); return null
    case 'allowed_fast': wire.allowedFast(int(m, 'piece')); return null
    case 'extended': wire.extended(int(m, 'id'), fromHex(m.payload, 'extended.payload')); return null
    default:
      return `unsupported: ${m.type}`
  }
}

async function encodeCase (c) {
  const name = c && c.name !== undefined ? c.name : null
  const errors = []
  const notes = []
  activeErrors = errors
  const wire = new Wire()
  const chunks = []
  let total = 0
  wire.on('data', (chunk) => { chunks.push(chunk); total += chunk.length })
  wire.on('error', (err) => errors.push(`emitted error: ${errText(err)}`))

  try {
    if (!c || !Array.isArray(c.messages)) throw new BadInput('case.messages: expected an array')
    // Setup (see the header): a stand-in peer with the fast bit has handshaken and unchoked us.
    wire.write(STAND_IN_PEER)
    await settle()
    if (total !== 0) notes.push(`setup wrote ${total} byte(s), not reported`)
    chunks.length = 0
    total = 0

    for (const m of c.messages) {
      const type = m && m.type
      const before = total
      let err = null
      try {
        err = encodeMessage(wire, m)
      } catch (e) {
        err = e instanceof BadInput ? errText(e) : `threw: ${errText(e)}` +
          (errText(e) === 'fast extension is disabled' ? ` (${type}: BEP 6 messages need the fast bit in both handshakes; the stand-in peer set it, the case's handshake did not or is missing)` : '')
      }
      await settle()
      const written = Buffer.concat(chunks).subarray(before, total)
      if (!err && type === 'handshake' && written.length === 68) {
        const want = m.reserved.toLowerCase()
        const got = toHex(written.subarray(20, 28))
        if (got !== want) err = `unsupported: handshake reserved ${want} (bittorrent-protocol always sets the extension-protocol bit and can set only the DHT and fast bits; it wrote ${got})`
      }
      if (!err && written.length === 0) err = `not written: ${type}` + (NOT_WRITTEN_WHY[type] ? ` (${NOT_WRITTEN_WHY[type]})` : '')
      if (err) errors.push(err)
    }
  } catch (e) {
    errors.push(e instanceof BadInput ? errText(e) : `threw: ${errText(e)}`)
  }

  const hex = toHex(Buffer.concat(chunks))
  try { wire.destroy() } catch {}
  await settle()
  activeErrors = null
  return { name, hex, error: errors.length ? errors.join('; ') : null, notes }
}

// ---------------------------------------------------------------------------------------------

async function main () {
  let req
  try {
    req = JSON.parse(fs.readFileSync(0, 'utf8'))
  } catch (e) {
    return fail(`stdin is not one JSON object: ${errText(e)}`)
  }
  if (!req || typeof req !== 'object' || !Array.isArray(req.cases)) return fail('expected {"mode":"decode"|"encode","cases":[...]}')
  const run = req.mode === 'decode' ? decodeCase : req.mode === 'encode' ? encodeCase : null
  if (!run) return fail(`unknown mode ${JSON.stringify(req.mode)} (decode or encode)`)
  const results = []
  for (const c of req.cases) {
    try {
      results.push(await run(c))
    } catch (e) {
      activeErrors = null
      const name = c && c.name !== undefined ? c.name : null
      const empty = req.mode === 'decode' ? { messages: [] } : { hex: '' }
      results.push({ name, ...empty, error: `runner: ${errText(e)}`, notes: [] })
    }
  }
  process.stdout.write(JSON.stringify({ library: LIBRARY, version: VERSION, mode: req.mode, results }) + '\n', () => process.exit(0))
}

function fail (msg) {
  process.stdout.write(JSON.stringify({ error: msg }) + '\n', () => process.exit(2))
}

main()
