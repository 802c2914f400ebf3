'use strict'
// The built page (dist/) in headless Chromium driven by playwright-core, talking gRPC-web to a
// real `minoots serve --dev` (MINOOTS_BIN) from another origin: create a timer and watch it fire
// live, cancel another; a screenshot is saved to test-results/web.png.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const { startMinoots } = require('../../../scripts/test-server.js')
const { chromium } = require('playwright-core')

const DIST = path.join(__dirname, '..', 'dist')
let server
let url
let site
let browser

before(async () => {
  ;({ url, process: server } = await startMinoots())
  // The page from its own origin, so gRPC-web crosses origins as in production.
  const types = { '.html': 'text/html', '.js': 'text/javascript' }
  site = http.createServer((req, res) => {
    const file = path.join(DIST, path.normalize(new URL(req.url, 'http://x').pathname).replace(/^(\.\.[/\\])+/, ''))
    if (!file.startsWith(DIST) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' })
    fs.createReadStream(file).pipe(res)
  })
  await new Promise((r) => site.listen(0, '127.0.0.1', r))
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})

after(async () => {
  await browser?.close()
  site?.close()
  server?.kill('SIGKILL')
})

test('create a timer, watch it fire live, cancel another', async () => {
  const page = await browser.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(e.message))
  const query = new URLSearchParams({ server: url, key: 'local-dev-key', tenant: 'web' })
  await page.goto(`http://127.0.0.1:${site.address().port}/index.html?${query}`)
  await page.locator('#state', { hasText: 'live' }).waitFor({ timeout: 30_000 })

  await page.fill('#name', 'browser-timer')
  await page.fill('#seconds', '1')
  await page.click('#create-button')
  await page.fill('#name', 'not-needed')
  await page.fill('#seconds', '3600')
  await page.click('#create-button')

  // Live over the gRPC-web server stream: scheduled, armed, then fired.
  const fired = page.locator('#events li', { hasText: 'timer.fired browser-timer' })
  await fired.waitFor({ timeout: 60_000 })
  const row = page.locator('#timers tr', { hasText: 'browser-timer' })
  await row.locator('.status', { hasText: /fired|settled/ }).waitFor({ timeout: 60_000 })

  const other = page.locator('#timers tr', { hasText: 'not-needed' })
  await other.locator('button.cancel').click()
  await other.locator('.status', { hasText: 'cancelled' }).waitFor({ timeout: 30_000 })
  await page.locator('#events li', { hasText: 'timer.cancelled not-needed' }).waitFor({ timeout: 30_000 })

  // A wrong key is reported, not swallowed.
  const denied = await browser.newPage()
  await denied.goto(`http://127.0.0.1:${site.address().port}/index.html?${new URLSearchParams({ server: url, key: 'wrong' })}`)
  await denied.locator('#error', { hasText: 'Unauthenticated' }).waitFor({ timeout: 30_000 })

  fs.mkdirSync(path.join(__dirname, '..', 'test-results'), { recursive: true })
  await page.screenshot({ path: path.join(__dirname, '..', 'test-results', 'web.png'), fullPage: true })
  assert.deepEqual(errors, [])
})
