'use strict'
// The napi-rs binding, installed from its packed tarball, against a real `minoots serve --dev`
// (MINOOTS_BIN) on 127.0.0.1:0: promises, streamTimers, the async iterator, error codes,
// scheduleMany, dead letters (with a webhook receiver here that fails until told otherwise), the
// label parser and the agent tools.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const http = require('node:http')
const path = require('node:path')
const { startMinoots } = require('../../../scripts/test-server.js')
const { Webhook } = require('standardwebhooks')
const { Client, MinootsSDK, verifyWebhook, parseDuration, parseLabels, toolSpecs } = require('minoots')

const DEV_KEY = 'local-dev-key'
let server
let url

before(async () => {
  ;({ url, process: server } = await startMinoots(['--webhook-allow', '127.0.0.1']))
})

after(() => server.kill('SIGKILL'))

const connect = (tenant, apiKey = DEV_KEY) => Client.connect(url, { apiKey, tenant })

test('promises: schedule, get, list, cancel, waitFor', async () => {
  const client = await connect('promises')
  const timer = await client.schedule({ name: 'standup', duration: '150ms', labels: { team: 'core' }, metadata: { room: 4 } })
  assert.ok(['scheduled', 'armed'].includes(timer.status))
  assert.deepEqual(timer.labels, { team: 'core' })
  assert.deepEqual(timer.metadata, { room: 4 })
  assert.equal(timer.json.durationMs, 150)

  const fired = await client.waitFor(timer.id, { timeoutMs: 60_000 })
  assert.ok(fired.firedAt)
  const done = await client.waitFor(timer.id, { until: 'done', timeoutMs: 60_000 })
  assert.equal(done.status, 'settled')
  assert.equal((await client.get(timer.id)).status, 'settled')

  await Promise.all([0, 1, 2, 3, 4].map((i) => client.schedule({ name: `later-${i}`, duration: 3_600_000, labels: { batch: 'b' } })))
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
  await Promise.all([0, 1, 2].map((i) => client.schedule({ name: `cb-${i}`, duration: '10ms' })))
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
  const timer = await client.schedule({ name: 'iterate', duration: '10ms' })
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
  await assert.rejects(client.schedule({ name: 'x', duration: '15 parsecs' }), (e) => e.code === 'INVALID_ARGUMENT' && /duration/.test(e.message))
  await assert.rejects(client.schedule({ name: '', duration: '1m' }), (e) => e.code === 'INVALID_ARGUMENT' && /name/.test(e.message))
  await assert.rejects(client.get('0190c0de-0000-7000-8000-000000000000'), { code: 'NOT_FOUND' })
  await assert.rejects((await connect('errors', 'wrong-key')).list(), { code: 'UNAUTHENTICATED' })
  const far = await client.schedule({ name: 'far', duration: '1h' })
  await assert.rejects(client.waitFor(far.id, { timeoutMs: 200 }), { code: 'DEADLINE_EXCEEDED' })
  await assert.rejects(Client.connect('http://127.0.0.1:1', { apiKey: DEV_KEY, connectTimeoutMs: 2000 }), { code: 'TRANSPORT' })
  assert.throws(() => parseDuration('soon'), { code: 'INVALID_ARGUMENT' })
})

test('scheduleMany is one write, and one bad timer rejects all', async () => {
  const client = await connect('many')
  const timers = await client.scheduleMany([
    { name: 'a', duration: '1h', labels: { batch: 'many' } },
    { name: 'b', fireAt: '2030-01-01T09:00:00Z', labels: { batch: 'many' }, metadata: { n: 2 } },
  ])
  assert.deepEqual(timers.map((t) => t.name), ['a', 'b'])
  assert.deepEqual(timers[1].metadata, { n: 2 })
  await assert.rejects(
    client.scheduleMany([{ name: 'fine', duration: '1m', labels: { batch: 'many' } }, { name: 'x', duration: '15 parsecs' }]),
    (e) => e.code === 'INVALID_ARGUMENT' && /duration/.test(e.message),
  )
  assert.deepEqual((await client.list({ labelSelector: 'batch=many' })).map((t) => t.name).sort(), ['a', 'b'])
})

/** A webhook receiver on 127.0.0.1:0 answering every POST with `status`. */
async function receiver() {
  const r = { status: 500, hits: 0 }
  r.server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      r.hits += 1
      res.writeHead(r.status).end()
    })
  })
  await new Promise((resolve) => r.server.listen(0, '127.0.0.1', resolve))
  r.url = `http://127.0.0.1:${r.server.address().port}/hook`
  return r
}

test('dead letters: listed, read, replayed one and all', async () => {
  const hook = await receiver()
  try {
    const client = await connect('dlq')
    const actionBundle = {
      actions: [{ type: 'webhook', url: hook.url }],
      retryPolicy: { maxAttempts: 2, initialBackoffMs: 10, jitter: 0 },
    }
    const failedTimer = async () => {
      const timer = await client.schedule({ name: 'hook', duration: '10ms', actionBundle })
      assert.equal((await client.waitFor(timer.id, { until: 'done', timeoutMs: 60_000 })).status, 'failed')
      return timer
    }
    const timer = await failedTimer()
    assert.equal(hook.hits, 2)
    const letters = await client.deadLetters()
    assert.deepEqual(letters.map((l) => l.timerId), [timer.id])
    const letter = await client.deadLetter(letters[0].id)
    assert.equal(letter.attempts, 2)
    assert.equal(letter.idempotencyKey, `${timer.id}:0`)
    assert.equal(letter.action.type, 'webhook')
    assert.equal(letter.json.timerId, timer.id)
    assert.ok(!letter.resolvedAt)
    assert.deepEqual((await client.deadLetters({ since: '1h' })).map((l) => l.id), [letter.id])
    assert.deepEqual(await client.deadLetters({ since: '2100-01-01T00:00:00Z' }), [])
    assert.deepEqual(await (await connect('other')).deadLetters({ includeResolved: true }), [])

    // Still broken: the replay runs, fails again, and the letter stays.
    const again = await client.replayDeadLetter(letter.id)
    assert.equal(again.result.ok, false)
    assert.equal(again.timer.status, 'failed')
    hook.status = 200
    const fixed = await client.replayDeadLetter(letter.id)
    assert.equal(fixed.result.ok, true)
    assert.equal(fixed.timer.status, 'settled')
    assert.ok(fixed.deadLetter.resolvedAt)
    assert.deepEqual(await client.deadLetters(), [])
    assert.deepEqual((await client.deadLetters({ includeResolved: true })).map((l) => l.id), [letter.id])

    hook.status = 500
    const more = [(await failedTimer()).id, (await failedTimer()).id].sort()
    hook.status = 200
    const results = await client.replayDeadLetters({ since: '1h' })
    assert.deepEqual(results.map((r) => r.timer.id).sort(), more)
    assert.ok(results.every((r) => r.result.ok && r.timer.status === 'settled'))

    await assert.rejects(client.deadLetter('0190c0de-0000-7000-8000-000000000000'), { code: 'NOT_FOUND' })
    await assert.rejects(client.deadLetters({ since: 'yesterday' }), (e) => e.code === 'INVALID_ARGUMENT' && /since/.test(e.message))
  } finally {
    hook.server.close()
  }
})

test('parseLabels is the SDK parser', () => {
  assert.deepEqual(parseLabels('team=core, env=prod\nquery=a=b'), { team: 'core', env: 'prod', query: 'a=b' })
  assert.deepEqual(parseLabels('{"kind": "gate"}'), { kind: 'gate' })
  assert.throws(() => parseLabels('team=core,oops'), (e) => e.code === 'INVALID_ARGUMENT' && /labels: "oops" is not key=value/.test(e.message))
})

test('agent tools: toolSpecs and callTool', async () => {
  const specs = toolSpecs()
  assert.deepEqual(specs.map((s) => s.name), [
    'schedule_timer',
    'get_timer',
    'list_timers',
    'cancel_timer',
    'update_timer',
    'pause_timer',
    'resume_timer',
    'cancel_timers',
    'wait_for_timer',
    'create_schedule',
    'get_schedule',
    'list_schedules',
    'pause_schedule',
    'resume_schedule',
    'delete_schedule',
    'preview_schedule',
  ])
  assert.ok(specs.every((s) => s.parameters.type === 'object' && s.description))
  const preview = await (await connect('tools')).callTool('preview_schedule', {
    cron: '0 9 * * MON-FRI',
    time_zone: 'Europe/Paris',
    count: 2,
    after: '2027-03-26T00:00:00Z',
  })
  assert.deepEqual(preview.occurrences.map((o) => o.fireAt), ['2027-03-26T08:00:00Z', '2027-03-29T07:00:00Z'])
  const client = await connect('tools')
  const timer = await client.callTool('schedule_timer', { name: 'tool', duration: '100ms', labels: { via: 'node' } })
  const done = await client.callTool('wait_for_timer', { id: timer.id, until: 'done', timeout_seconds: 60 })
  assert.equal(done.status, 'settled')
  const listed = await client.callTool('list_timers', { label_selector: 'via=node' })
  assert.deepEqual(listed.timers.map((t) => t.id), [timer.id])
  await assert.rejects(client.callTool('schedule_timer', { name: 'x', duraton: '1m' }), (e) => e.code === 'INVALID_ARGUMENT' && /duraton/.test(e.message))
  await assert.rejects(client.callTool('get_timer', { id: '0190c0de-0000-7000-8000-000000000000' }), { code: 'NOT_FOUND' })
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

test('one vocabulary: duration as in REST, the environment, and the original MinootsSDK', async () => {
  const names = ['MINOOTS_URL', 'MINOOTS_API_URL', 'MINOOTS_API_KEY', 'MINOOTS_TENANT']
  const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]))
  try {
    for (const name of names) delete process.env[name]
    // The original toolkit's names for the server and key.
    Object.assign(process.env, { MINOOTS_API_URL: url, MINOOTS_API_KEY: DEV_KEY, MINOOTS_TENANT: 'from-env' })
    const client = await Client.connect()
    const timer = await client.schedule({ name: 'env', duration: 3_600_000 })
    assert.equal(timer.tenantId, 'from-env')
    assert.equal(timer.json.durationMs, 3_600_000)
    assert.equal((await Client.connect({ tenant: 'argument' })).constructor, Client)
    await assert.rejects(Client.connect({ apiKey: 'wrong' }).then((c) => c.list({ limit: 1 })), { code: 'UNAUTHENTICATED' })
    await assert.rejects(client.schedule({ name: 'neither' }), (e) => e.code === 'INVALID_ARGUMENT' && /duration/.test(e.message))

    const sdk = new MinootsSDK({ baseURL: url, tenantId: 'original' })
    let subscription
    const fired = new Promise((resolve, reject) => {
      sdk
        .streamTimers({
          afterSequence: 0,
          eventTypes: ['timer.fired'],
          onEvent: ({ type, data }) => resolve([type, data.event.timer.id]),
          onError: reject,
        })
        .then((s) => (subscription = s), reject)
    })
    const scheduled = await sdk.scheduleTimer({ name: 'original', duration: '10ms' })
    assert.deepEqual(await fired, ['timer.fired', scheduled.id])
    subscription.close()
    assert.equal((await sdk.getTimer(scheduled.id)).tenantId, 'original')
    await assert.rejects(new MinootsSDK({ baseURL: 'ftp://nowhere' }).listTimers(), { code: 'INVALID_ARGUMENT' })
  } finally {
    for (const name of names) {
      if (saved[name] === undefined) delete process.env[name]
      else process.env[name] = saved[name]
    }
  }
})
