'use strict'
// Timer control through the napi-rs binding against a real `minoots serve --dev` (MINOOTS_BIN):
// update by id or idempotency key (with an optimistic stateVersion), pause and resume, key
// policies on schedule, bulk cancel/pause/resume by label selector (with a dry run), and the
// tenant's deliveries pause.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { startMinoots } = require('../../../scripts/test-server.js')
const { Client } = require('minoots')

const DEV_KEY = 'local-dev-key'
let server
let url

before(async () => {
  ;({ url, process: server } = await startMinoots())
})

after(() => server.kill('SIGKILL'))

const connect = (tenant) => Client.connect(url, { apiKey: DEV_KEY, tenant })
const HOUR = 3_600_000

test('update by key and by id, with an optimistic stateVersion', async () => {
  const client = await connect('control')
  const timer = await client.schedule({ name: 'invoice', duration: '1h', labels: { team: 'core' }, idempotencyKey: 'invoice-42' })
  assert.equal((await client.getByKey('invoice-42')).id, timer.id)

  const moved = await client.update({ idempotencyKey: 'invoice-42', duration: 2 * HOUR, labels: { team: 'billing', tier: 'gold' } })
  assert.equal(moved.id, timer.id)
  assert.deepEqual(moved.labels, { team: 'billing', tier: 'gold' })
  assert.ok(Date.parse(moved.fireAt) - Date.parse(timer.fireAt) >= HOUR - 60_000)
  assert.ok(moved.stateVersion > timer.stateVersion)

  const renamed = await client.update({
    id: timer.id,
    name: 'invoice (renamed)',
    metadata: { attempt: 2 },
    fireAt: '2030-01-01T09:00:00Z',
    expectedStateVersion: moved.stateVersion,
  })
  assert.deepEqual([renamed.name, renamed.metadata, renamed.fireAt], ['invoice (renamed)', { attempt: 2 }, '2030-01-01T09:00:00Z'])
  await assert.rejects(client.update({ id: timer.id, name: 'lost', expectedStateVersion: moved.stateVersion }), { code: 'ABORTED' })
  assert.equal((await client.get(timer.id)).name, 'invoice (renamed)')
  await assert.rejects(
    client.update({ id: timer.id, duration: '1h', fireAt: '2030-01-01T09:00:00Z' }),
    (e) => e.code === 'INVALID_ARGUMENT' && /fire_at/.test(e.message),
  )
  await assert.rejects(client.getByKey('no-such-key'), { code: 'NOT_FOUND' })

  const cancelled = await client.cancelByKey('invoice-42', 'paid')
  assert.deepEqual([cancelled.id, cancelled.status, cancelled.cancelReason], [timer.id, 'cancelled', 'paid'])
})

test('pause and resume one timer', async () => {
  const client = await connect('pause-one')
  const timer = await client.schedule({ name: 'reminder', duration: '1h' })
  assert.equal((await client.pause(timer.id, 'on hold')).status, 'paused')
  assert.equal((await client.get(timer.id)).status, 'paused')
  assert.deepEqual((await client.list({ statuses: ['paused'] })).map((t) => t.id), [timer.id])
  const resumed = await client.resume(timer.id)
  assert.equal(resumed.status, 'armed')
  assert.equal(resumed.fireAt, timer.fireAt)

  const types = []
  for await (const event of client.stream({ afterSequence: 0, eventTypes: ['timer.paused', 'timer.resumed'] })) {
    types.push(event.eventType)
    if (types.length === 2) break
  }
  assert.deepEqual(types, ['timer.paused', 'timer.resumed'])
})

test('key policies on schedule', async () => {
  const client = await connect('keys')
  const first = await client.schedule({ name: 'debounce', duration: '1h', idempotencyKey: 'debounce-1', keyPolicy: 'replace' })
  const replaced = await client.schedule({ name: 'debounce', duration: '3h', idempotencyKey: 'debounce-1', keyPolicy: 'replace' })
  assert.equal(replaced.id, first.id)
  assert.ok(Date.parse(replaced.fireAt) - Date.parse(first.fireAt) >= 2 * HOUR - 60_000)
  const kept = await client.schedule({ name: 'debounce', duration: '9h', idempotencyKey: 'debounce-1', keyPolicy: 'keep' })
  assert.deepEqual([kept.id, kept.fireAt], [first.id, replaced.fireAt])
  await assert.rejects(
    client.schedule({ name: 'x', duration: '1h', idempotencyKey: 'debounce-2', keyPolicy: 'sometimes' }),
    (e) => e.code === 'INVALID_ARGUMENT' && /key_policy/.test(e.message),
  )
  await assert.rejects(
    client.schedule({ name: 'late', fireAt: '2001-01-01T00:00:00Z', latePolicy: 'reject' }),
    (e) => e.code === 'INVALID_ARGUMENT' && /fire_at/.test(e.message),
  )
})

test('bulk cancel, pause and resume by label selector, with a dry run', async () => {
  const client = await connect('bulk')
  for (const i of [0, 1, 2]) await client.schedule({ name: `job-${i}`, duration: '1h', labels: { batch: 'nightly' } })
  await client.schedule({ name: 'other', duration: '1h', labels: { batch: 'daily' } })

  assert.deepEqual(await client.pauseTimers({ labelSelector: 'batch=nightly', dryRun: true }), { matched: 3, changed: 0 })
  assert.deepEqual(await client.pauseTimers({ labelSelector: 'batch=nightly', reason: 'maintenance' }), { matched: 3, changed: 3 })
  assert.deepEqual((await client.list({ statuses: ['paused'] })).map((t) => t.name).sort(), ['job-0', 'job-1', 'job-2'])
  assert.deepEqual(await client.resumeTimers({ labelSelector: 'batch=nightly' }), { matched: 3, changed: 3 })
  assert.deepEqual(await client.list({ statuses: ['paused'] }), [])

  assert.deepEqual(await client.cancelTimers({ labelSelector: 'batch=nightly', dryRun: true }), { matched: 3, changed: 0 })
  assert.equal((await client.list({ labelSelector: 'batch=nightly', statuses: ['armed', 'scheduled'] })).length, 3)
  assert.deepEqual(await client.cancelTimers({ labelSelector: 'batch=nightly', reason: 'retired' }), { matched: 3, changed: 3 })
  assert.deepEqual(new Set((await client.list({ labelSelector: 'batch=nightly' })).map((t) => t.status)), new Set(['cancelled']))
  assert.deepEqual((await client.list({ statuses: ['armed', 'scheduled'] })).map((t) => t.name), ['other'])
  assert.deepEqual(await client.cancelTimers({ all: true, dryRun: true }), { matched: 1, changed: 0 })
})

test("the tenant's deliveries pause", async () => {
  const client = await connect('paused-tenant')
  const early = await client.schedule({ name: 'before', duration: '1h' })
  assert.equal((await client.tenantPause()).paused, false)
  const state = await client.pauseTenant('incident')
  assert.deepEqual([state.tenantId, state.paused, state.reason, state.changed], ['paused-tenant', true, 'incident', 1])
  assert.ok(state.pausedAt)
  assert.equal((await client.get(early.id)).status, 'paused')
  const during = await client.schedule({ name: 'during', duration: '1h' })
  assert.equal(during.status, 'paused')
  assert.equal((await client.tenantPause()).paused, true)
  const lifted = await client.resumeTenant()
  assert.deepEqual([lifted.paused, lifted.changed], [false, 2])
  for (const t of [early, during]) assert.equal((await client.get(t.id)).status, 'armed')
})
