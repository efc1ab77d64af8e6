#!/usr/bin/env node
// WebTorrent's reading of .torrent files and magnet links (npm `parse-torrent`, pinned in
// ../package.json), as JSON, for the conformance runner. Install with `npm ci` in conformance/.
//
//   node parse_torrent.mjs DIR_OR_FILE...       # .torrent files
//   node parse_torrent.mjs --magnets FILE.json   # FILE.json: a JSON array of URIs
//
// Prints ONE JSON array to stdout.
//
// Torrents: one object per file, sorted by file name, in the schema of
// shared/corpus/libtorrent-test-torrents/EXPECTED.json. How parse-torrent's result maps to it:
// - verdict: "reject" when parseTorrent throws (bencode errors, a missing required field), with
//   the error's text as `message`; otherwise "accept".
// - v1: `infoHash` (SHA-1 of the *re-encoded* info dict, not of the bytes in the file).
// - v2: always null — parse-torrent 11 computes no v2 hash for .torrent files (`infoHashV2`
//   exists only for magnet links), and it rejects v2-only torrents (no `pieces`).
// - name, total_size, piece_length, num_pieces: `name`, `length`, `pieceLength`, `pieces.length`.
// - files: `files[].path` (parse-torrent joins the torrent name and the path list with
//   path.join, which also normalizes `..`), `files[].length`; `pad` from the raw info dict's
//   `attr` containing "p" (parse-torrent keeps the raw dict in `info` but does not interpret
//   `attr`; WebTorrent treats pad files as ordinary files).
// - trackers: `announce`, which parse-torrent flattens across tiers (and de-duplicates); given
//   as a flat list of URLs, the same shape as EXPECTED.json's `trackers`.
// - web_seeds: `urlList`. private: `private` (absent → false).
//
// Magnets: one object per URI, in input order: `uri`, `ok`, and either `message` or
// `info_hash_v1` (`infoHash`), `info_hash_v2` (`infoHashV2`, from `xt=urn:btmh:1220…`), `name`
// (`dn`), `trackers` (`announce`, flat), `web_seeds` (`urlList`: `ws` and `as`). A magnet
// without a v1 `btih` hash is rejected by parse-torrent ("Invalid torrent identifier").

import fs from 'node:fs'
import path from 'node:path'
import parseTorrent from 'parse-torrent'

function isPad (info, i) {
  const raw = Array.isArray(info.files) ? info.files[i] : info
  const attr = raw && raw.attr
  if (attr === undefined || attr === null) return false
  const text = ArrayBuffer.isView(attr) ? Buffer.from(attr.buffer, attr.byteOffset, attr.byteLength).toString('latin1') : String(attr)
  return text.includes('p')
}

async function parseFile (file) {
  const entry = { file: path.basename(file) }
  let t
  try {
    t = await parseTorrent(fs.readFileSync(file))
  } catch (err) {
    entry.verdict = 'reject'
    entry.message = String(err && err.message !== undefined ? err.message : err)
    return entry
  }
  return Object.assign(entry, {
    verdict: 'accept',
    v1: t.infoHash ?? null,
    v2: null,
    name: t.name,
    total_size: t.length,
    piece_length: t.pieceLength,
    num_pieces: t.pieces.length,
    files: t.files.map((f, i) => ({ path: f.path, size: f.length, pad: isPad(t.info, i) })),
    trackers: t.announce ?? [],
    web_seeds: t.urlList ?? [],
    private: !!t.private
  })
}

async function parseMagnet (uri) {
  const out = { uri }
  let m
  try {
    m = await parseTorrent(uri)
  } catch (err) {
    out.ok = false
    out.message = String(err && err.message !== undefined ? err.message : err)
    return out
  }
  return Object.assign(out, {
    ok: true,
    info_hash_v1: m.infoHash ?? null,
    info_hash_v2: m.infoHashV2 ?? null,
    name: m.name ?? null,
    trackers: m.announce ?? [],
    web_seeds: m.urlList ?? []
  })
}

function torrentPaths (args) {
  const paths = []
  for (const arg of args) {
    if (fs.statSync(arg).isDirectory()) {
      for (const name of fs.readdirSync(arg)) {
        if (name.endsWith('.torrent')) paths.push(path.join(arg, name))
      }
    } else {
      paths.push(arg)
    }
  }
  const key = p => path.basename(p)
  return paths.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
}

async function main (argv) {
  let result
  if (argv.length === 2 && argv[0] === '--magnets') {
    const uris = JSON.parse(fs.readFileSync(argv[1], 'utf8'))
    result = []
    for (const uri of uris) result.push(await parseMagnet(uri))
  } else if (argv.length > 0 && !argv[0].startsWith('--')) {
    result = []
    for (const file of torrentPaths(argv)) result.push(await parseFile(file))
  } else {
    process.stderr.write('usage: parse_torrent.mjs DIR_OR_FILE... | --magnets FILE.json\n')
    return 2
  }
  process.stdout.write(JSON.stringify(result, null, 1) + '\n')
  return 0
}

process.exitCode = await main(process.argv.slice(2))
