// Copies WebTorrent's browser build from conformance/node_modules into this folder and writes
// LICENSE.txt: WebTorrent's license, then the license of every package its bundle contains
// (read from the bundle's source map), verbatim from each package's LICENSE file, or from the
// "License" section of its README where it ships no such file.
//
//   node crates/node/assets/webtorrent/update.mjs [EXTRA_PACKAGES_DIR]
//
// EXTRA_PACKAGES_DIR: a folder of unpacked packages (`npm pack NAME@VERSION`, then untarred
// into NAME/) for bundled packages that conformance/node_modules lacks (webpack's build-time
// ones: events, path-esm).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const modules = path.resolve(here, '../../../../conformance/node_modules')
const extra = process.argv[2]
const webtorrent = path.join(modules, 'webtorrent')
const version = JSON.parse(fs.readFileSync(path.join(webtorrent, 'package.json'), 'utf8')).version

fs.copyFileSync(path.join(webtorrent, 'dist/webtorrent.min.js'), path.join(here, 'webtorrent.min.js'))

const map = JSON.parse(fs.readFileSync(path.join(webtorrent, 'dist/webtorrent.min.js.map'), 'utf8'))
const packages = new Set()
for (const source of map.sources) {
  const at = source.lastIndexOf('node_modules/')
  if (at < 0) continue
  const parts = source.slice(at + 'node_modules/'.length).split('/')
  packages.add(parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0])
}

function licenseText (dir) {
  const file = fs.readdirSync(dir).find(f => /^(licen[cs]e|copying)/i.test(f))
  if (file) return fs.readFileSync(path.join(dir, file), 'utf8').trim()
  const readme = fs.readdirSync(dir).find(f => /^readme/i.test(f))
  if (!readme) return null
  const text = fs.readFileSync(path.join(dir, readme), 'utf8')
  const m = text.match(/^#+\s*licen[cs]e\s*$([\s\S]*?)(?=^#+\s|$(?![\s\S]))/im)
  return m ? m[1].trim() : null
}

const out = [
  `WebTorrent ${version} browser build (npm package webtorrent, dist/webtorrent.min.js),`,
  'served by `peercdn serve` as /webtorrent.min.js.',
  '',
  fs.readFileSync(path.join(webtorrent, 'LICENSE'), 'utf8').trim(),
  '',
  'The bundle contains these packages, under these licenses:'
]
for (const name of [...packages].sort()) {
  let dir = path.join(modules, name)
  if (!fs.existsSync(path.join(dir, 'package.json')) && extra) dir = path.join(extra, name)
  if (!fs.existsSync(path.join(dir, 'package.json'))) throw new Error(`no package ${name}: pass a folder holding it`)
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  const text = licenseText(dir)
  const license = pkg.license || (text && text.startsWith('Copyright') ? 'MIT' : 'see below')
  out.push('', '-'.repeat(78), `${name} ${pkg.version} (${license})`, '')
  out.push(text || `${license} (the package ships no license text)`)
}
fs.writeFileSync(path.join(here, 'LICENSE.txt'), out.join('\n') + '\n')
console.log(`webtorrent ${version}: ${packages.size} bundled packages`)
