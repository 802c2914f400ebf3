'use strict'
// The napi-rs binding against `minoots serve --dev` on https: a CA and server certificate made at
// test time with the openssl commands of docs/security.md, trusted through `caCertificate`; an
// untrusted server is a TRANSPORT error.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const { Client } = require('minoots')

const DEV_KEY = 'local-dev-key'
let server
let url
let ca
let dir

function makeCertificates(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '365',
    '-subj', '/CN=minoots dev CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', 'ca.key', '-out', 'ca.pem')
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr')
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '365', '-extfile', 'server.ext', '-out', 'server.pem')
  return fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8')
}

before(async () => {
  const binary = process.env.MINOOTS_BIN
  if (!binary) throw new Error('set MINOOTS_BIN to the minoots binary')
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minoots-js-tls-'))
  ca = makeCertificates(dir)
  server = spawn(binary, ['serve', '--dev', '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'data'),
    '--tls-cert', path.join(dir, 'server.pem'), '--tls-key', path.join(dir, 'server.key')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const first = await new Promise((resolve, reject) => {
    readline.createInterface({ input: server.stdout }).once('line', resolve)
    server.once('exit', (code) => reject(new Error(`minoots exited with ${code} before listening`)))
  })
  assert.ok(first.startsWith('minoots listening on https://'), first)
  url = first.replace('minoots listening on ', '').trim()
  // Ready when a client trusting the CA gets an answer.
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      await (await Client.connect(url, { apiKey: DEV_KEY, caCertificate: ca })).list({ limit: 1 })
      break
    } catch (e) {
      if (Date.now() > deadline) throw e
    }
    await new Promise((r) => setTimeout(r, 50))
  }
})

after(() => {
  server?.kill('SIGKILL')
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

test('over https with caCertificate: schedule, stream, waitFor', async () => {
  const client = await Client.connect(url, { apiKey: DEV_KEY, tenant: 'tls', caCertificate: ca })
  const stream = client.stream({ afterSequence: 0 })
  const timer = await client.schedule({ name: 'over-tls', duration: '20ms' })
  for await (const event of stream) {
    if (event.timerId === timer.id && event.eventType === 'timer.settled') break
  }
  const done = await client.waitFor(timer.id, { until: 'done', timeoutMs: 60_000 })
  assert.equal(done.status, 'settled')
})

test('a server whose CA is not trusted is a TRANSPORT error', async () => {
  await assert.rejects(Client.connect(url, { apiKey: DEV_KEY, connectTimeoutMs: 5000 }), { code: 'TRANSPORT' })
})
