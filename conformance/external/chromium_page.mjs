// Opens pages of `peercdn serve` in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) and reports what each page reports, for the browser tests
// (crates/node/tests/serve_browser.rs):
//
//   node chromium_page.mjs [--timeout SECS] [--parallel] [--keep-open] [--close-done] URL...
//
// - Each URL opens in a browser context of its own (its own storage: a separate WebTorrent
//   peer). By default page N+1 opens once page N is done, so that earlier pages seed to later
//   ones; --parallel opens them all at once; --close-done closes each page's context once it is
//   done (a visitor who leaves), before the next opens.
// - Chromium runs with the flags that make its WebRTC work on loopback inside a network
//   namespace (../shared/INTEROP-NOTES.md, "Running WebRTC on loopback"): no mDNS hiding of
//   host addresses, loopback allowed in peer connections, no name resolution but 127.0.0.1 and
//   localhost, no QUIC, no background networking.
// - Prints JSON lines on stdout:
//     {"event": "browser", "version"}
//     {"event": "opened", "page": N, "url"}
//     {"event": "<page event>", "page": N, ...}  each `peercdn {...}` console line of the page
//                                               (started, progress, warning, done, error)
//     {"event": "console", "page": N, "type", "text"}  its other console errors and warnings
//     {"event": "finished"}                         every page done
//     {"event": "failed", "page": N?, "message"}    a page error, a crash or the deadline
// - Exits 0 once every page is done (with --keep-open: when stdin closes after that, so that
//   the pages keep seeding), 1 on a failure, 2 on bad arguments. The deadline (--timeout,
//   default 120 s) counts from the start.
import { chromium } from 'playwright-core'

const CHROMIUM_ARGS = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'
]

function print (value) {
  process.stdout.write(JSON.stringify(value) + '\n')
}

function usage (message) {
  process.stderr.write(`chromium_page: ${message}\nusage: node chromium_page.mjs [--timeout SECS] [--parallel] [--keep-open] [--close-done] URL...\n`)
  process.exit(2)
}

const urls = []
let timeout = 120
let parallel = false
let keepOpen = false
let closeDone = false
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  if (a === '--timeout') {
    timeout = Number(argv[++i])
    if (!(timeout > 0)) usage('--timeout needs a positive number of seconds')
  } else if (a === '--parallel') {
    parallel = true
  } else if (a === '--keep-open') {
    keepOpen = true
  } else if (a === '--close-done') {
    closeDone = true
  } else if (a.startsWith('--')) {
    usage(`unknown option ${a}`)
  } else {
    urls.push(a)
  }
}
if (urls.length === 0) usage('no URL')

let browser = null
async function fail (message, page) {
  print({ event: 'failed', ...(page === undefined ? {} : { page }), message })
  if (browser) await browser.close().catch(() => {})
  process.exit(1)
}

const deadline = setTimeout(
  () => fail(`not every page was done within ${timeout} s`),
  timeout * 1000
)

browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
  timeout: timeout * 1000
}).catch(e => fail(`cannot start Chromium: ${e.message}`))
print({ event: 'browser', version: browser.version() })

/** Opens page `n` at `url`; resolves when the page reports `done` (and, with --close-done, is closed). */
async function open (n, url) {
  const context = await browser.newContext()
  const page = await context.newPage()
  let done
  const finished = new Promise(resolve => { done = resolve })
  page.on('console', msg => {
    const text = msg.text()
    if (text.startsWith('peercdn ')) {
      let report
      try {
        report = JSON.parse(text.slice('peercdn '.length))
      } catch {
        return
      }
      print({ ...report, page: n })
      if (report.event === 'done') done()
      if (report.event === 'error') fail(`page ${n}: ${report.error}`, n)
    } else if (msg.type() === 'error' || msg.type() === 'warning') {
      print({ event: 'console', page: n, type: msg.type(), text })
    }
  })
  page.on('pageerror', e => fail(`page ${n}: ${e.message}`, n))
  page.on('crash', () => fail(`page ${n} crashed`, n))
  await page.goto(url).catch(e => fail(`page ${n}: cannot open ${url}: ${e.message}`, n))
  print({ event: 'opened', page: n, url })
  await finished
  if (closeDone) {
    await context.close()
    print({ event: 'closed', page: n })
  }
}

if (parallel) {
  await Promise.all(urls.map((url, n) => open(n, url)))
} else {
  for (const [n, url] of urls.entries()) await open(n, url)
}
clearTimeout(deadline)
print({ event: 'finished' })
if (keepOpen) {
  process.stdin.resume()
  await new Promise(resolve => process.stdin.on('end', resolve).on('close', resolve))
}
await browser.close()
process.exit(0)
