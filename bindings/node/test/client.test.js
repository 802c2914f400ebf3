'use strict'
// The napi-rs binding, installed from its packed tarball, against a real `minoots serve --dev`
// (MINOOTS_BIN) on 127.0.0.1:0: promises, streamTimers, the async iterator and error codes.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { startMinoots } = require('../../../scripts/test-server.js')
const { Webhook } = require('standardwebhooks')
const { Client, verifyWebhook, parseDuration } = require('minoots')

const DEV_KEY = 'local-dev-key'
let server
let url

before(async () => {
  ;({ url, process: server } = await startMinoots())
})

after(() => server.kill('SIGKILL'))

const connect = (tenant, apiKey = DEV_KEY) => Client.connect(url, { apiKey, tenant })

test('promises: schedule, get, list, cancel, waitFor', async () => {
  const client = await connect('promises')
  const timer = await client.schedule({ name: 'standup', after: '150ms', labels: { team: 'core' }, metadata: { room: 4 } })
  assert.ok(['scheduled', 'armed'].includes(timer.status))
  assert.deepEqual(timer.labels, { team: 'core' })
  assert.deepEqual(timer.metadata, { room: 4 })
  assert.equal(timer.json.durationMs, 150)

  const fired = await client.waitFor(timer.id, { timeoutMs: 60_000 })
  assert.ok(fired.firedAt)
  const done = await client.waitFor(timer.id, { until: 'done', timeoutMs: 60_000 })
  assert.equal(done.status, 'settled')
  assert.equal((await client.get(timer.id)).status, 'settled')

  await Promise.all([0, 1, 2, 3, 4].map((i) => client.schedule({ name: `later-${i}`, after: 3_600_000, labels: { batch: 'b' } })))
  const later = await client.list({ labelSelector: 'batch=b', pageSize: 2 })
  assert.deepEqual(later.map((t) => t.name).sort(), ['later-0', 'later-1', 'later-2', 'later-3', 'later-4'])
  assert.equal((await client.list({ statuses: ['armed', 'scheduled'], limit: 3 })).length, 3)
  const cancelled = await client.cancel(later[0].id, 'not needed')
  assert.equal(cancelled.status, 'cancelled')
  assert.equal(cancelled.cancelReason, 'not needed')
  const at = await client.schedule({ name: 'at', fireAt: '2030-01-01T09:00:00Z' })
  assert.equal(at.fireAt, '2030-01-01T09:00:00Z')
  assert.equal(parseDuration('1h30m'), 5_400_000)
})

test('streamTimers delivers events until closed, and stops on abort', async () => {
  const client = await connect('callbacks')
  const seen = []
  let handle
  const settled = new Promise((resolve) => {
    handle = client.streamTimers({
      afterSequence: 0,
      eventTypes: ['timer.settled'],
      onEvent: (event) => {
        seen.push(event)
        if (seen.length === 3) resolve()
      },
    })
  })
  await Promise.all([0, 1, 2].map((i) => client.schedule({ name: `cb-${i}`, after: '10ms' })))
  await settled
  handle.close()
  await handle.done
  assert.deepEqual(seen.map((e) => e.eventType), ['timer.settled', 'timer.settled', 'timer.settled'])
  assert.equal(seen[0].payload.type, 'timer.settled')
  assert.equal(seen[0].timer.status, 'settled')

  const controller = new AbortController()
  const aborted = client.streamTimers({ onEvent: () => {}, signal: controller.signal })
  controller.abort()
  await aborted.done

  const errors = []
  const denied = (await connect('callbacks', 'wrong-key')).streamTimers({ onEvent: () => {}, onError: (e) => errors.push(e) })
  await denied.done
  assert.equal(errors[0].code, 'UNAUTHENTICATED')
})

test('for await over client.stream()', async () => {
  const client = await connect('iterator')
  const timer = await client.schedule({ name: 'iterate', after: '10ms' })
  const types = []
  for await (const event of client.stream({ afterSequence: 0 })) {
    assert.equal(event.timerId, timer.id)
    types.push(event.eventType)
    if (event.eventType === 'timer.settled') break
  }
  assert.deepEqual(types, ['timer.scheduled', 'timer.armed', 'timer.fired', 'timer.settled'])
})

test('errors carry a code', async () => {
  const client = await connect('errors')
  await assert.rejects(client.schedule({ name: 'x', after: '15 parsecs' }), (e) => e.code === 'INVALID_ARGUMENT' && /duration/.test(e.message))
  await assert.rejects(client.schedule({ name: '', after: '1m' }), (e) => e.code === 'INVALID_ARGUMENT' && /name/.test(e.message))
  await assert.rejects(client.get('0190c0de-0000-7000-8000-000000000000'), { code: 'NOT_FOUND' })
  await assert.rejects((await connect('errors', 'wrong-key')).list(), { code: 'UNAUTHENTICATED' })
  const far = await client.schedule({ name: 'far', after: '1h' })
  await assert.rejects(client.waitFor(far.id, { timeoutMs: 200 }), { code: 'DEADLINE_EXCEEDED' })
  await assert.rejects(Client.connect('http://127.0.0.1:1', { apiKey: DEV_KEY, connectTimeoutMs: 2000 }), { code: 'TRANSPORT' })
  assert.throws(() => parseDuration('soon'), { code: 'INVALID_ARGUMENT' })
})

test('verifyWebhook accepts what the published standardwebhooks package signs', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
  const body = JSON.stringify({ type: 'timer.fired' })
  const now = new Date()
  const signature = new Webhook(secret).sign('msg_1', now, body)
  const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': signature }
  verifyWebhook([secret], headers, body)
  verifyWebhook(secret, headers, Buffer.from(body))
  assert.throws(() => verifyWebhook(secret, headers, body + ' '), (e) => e.code === 'INVALID_SIGNATURE' && /webhook-signature/.test(e.message))
  assert.throws(() => verifyWebhook(secret, { ...headers, 'webhook-timestamp': '1000' }, body), (e) => e.code === 'INVALID_SIGNATURE' && /webhook-timestamp/.test(e.message))
})

test("the README's example runs as written", () => {
  const root = path.join(__dirname, '..', '..', '..')
  const code = execFileSync('python3', [path.join(root, 'scripts', 'readme_example.py'), 'node'], { encoding: 'utf8' })
  const out = execFileSync(process.execPath, ['-'], {
    input: code,
    cwd: __dirname,
    env: { ...process.env, MINOOTS_URL: url },
    encoding: 'utf8',
    timeout: 120_000,
  })
  const lines = out.trim().split('\n')
  assert.match(lines[0], /^[0-9a-f-]{36} (scheduled|armed) 20/)
  assert.ok(lines.some((l) => l.endsWith('timer.settled ' + lines[0].split(' ')[0])), out)
  assert.equal(lines.at(-1), 'not found: NOT_FOUND')
})
