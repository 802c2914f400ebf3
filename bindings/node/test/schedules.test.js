'use strict'
// Recurring schedules from Node against a real `minoots serve --dev` (MINOOTS_BIN) on
// 127.0.0.1:0: create with a cron in a time zone, preview its occurrences (09:00 Paris wall time),
// pause, resume, update, list, delete, and an invalid cron named in the error.

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

/** Weekday and wall time of an instant in Europe/Paris, e.g. `Mon 09:00`. */
const parisWallTime = (instant) =>
  new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Paris',
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  })
    .format(new Date(instant))
    .replace(',', '')

test('a cron schedule in Europe/Paris: preview, pause, resume, update, list, delete', async () => {
  const client = await connect('schedules')
  const schedule = await client.createSchedule({
    name: 'standup',
    cron: '0 9 * * MON-FRI',
    timeZone: 'Europe/Paris',
    jitter: '0s',
    overlapPolicy: 'skip',
    catchUpPolicy: 'none',
    catchUpWindow: 3_600_000,
    labels: { team: 'core' },
    metadata: { room: 4 },
    webhook: 'https://example.com/standup',
    idempotencyKey: 'standup-paris',
  })
  assert.equal(schedule.state, 'active')
  assert.equal(schedule.name, 'standup')
  assert.equal(schedule.cron, '0 9 * * MON-FRI')
  assert.equal(schedule.timeZone, 'Europe/Paris')
  assert.equal(schedule.overlapPolicy, 'skip')
  assert.equal(schedule.catchUpPolicy, 'none')
  assert.equal(schedule.catchUpWindowMs, 3_600_000)
  assert.deepEqual(schedule.labels, { team: 'core' })
  assert.deepEqual(schedule.metadata, { room: 4 })
  assert.equal(schedule.json.actionBundle.actions[0].url, 'https://example.com/standup')
  assert.ok(schedule.nextFireAt, 'an active schedule has a next slot')
  assert.match(parisWallTime(schedule.nextFireAt), /^(Mon|Tue|Wed|Thu|Fri) 09:00$/)
  assert.equal((await client.getSchedule(schedule.id)).id, schedule.id)
  assert.equal((await client.getScheduleByKey('standup-paris')).id, schedule.id)
  // The same key again returns the schedule created first.
  const again = await client.createSchedule({ name: 'standup', cron: '0 9 * * MON-FRI', timeZone: 'Europe/Paris', webhook: 'https://example.com/standup', idempotencyKey: 'standup-paris', jitter: '0s', overlapPolicy: 'skip', catchUpPolicy: 'none', catchUpWindow: 3_600_000, labels: { team: 'core' }, metadata: { room: 4 } })
  assert.equal(again.id, schedule.id)

  const preview = await client.previewSchedule(schedule.id, { count: 5 })
  assert.equal(preview.fireAt.length, 5)
  assert.equal(preview.localTimes.length, 5)
  for (const [i, instant] of preview.fireAt.entries()) {
    assert.match(parisWallTime(instant), /^(Mon|Tue|Wed|Thu|Fri) 09:00$/, instant)
    assert.match(preview.localTimes[i], /T09:00:00[+-]0[12]:00\[Europe\/Paris\]$/)
    if (i > 0) assert.ok(Date.parse(instant) > Date.parse(preview.fireAt[i - 1]), 'in order')
  }
  // A spec not yet created, from a given instant: Paris moves to summer time on Sunday 28 March
  // 2027, so 09:00 is 08:00Z on the Friday before and 07:00Z from the Monday.
  const fromSpec = await client.previewSchedule(
    { name: 'standup', cron: '0 9 * * MON-FRI', timeZone: 'Europe/Paris' },
    { count: 3, after: '2027-03-26T00:00:00Z' },
  )
  assert.deepEqual(fromSpec.fireAt, ['2027-03-26T08:00:00Z', '2027-03-29T07:00:00Z', '2027-03-30T07:00:00Z'])

  const paused = await client.pauseSchedule(schedule.id, 'holidays')
  assert.equal(paused.state, 'paused')
  assert.equal(paused.pauseReason, 'holidays')
  assert.ok(paused.version > schedule.version)
  assert.deepEqual((await client.listSchedules({ states: ['paused'] })).schedules.map((s) => s.id), [schedule.id])
  const resumed = await client.resumeSchedule(schedule.id)
  assert.equal(resumed.state, 'active')

  const moved = await client.updateSchedule({ id: schedule.id, timeZone: 'America/New_York', expectedVersion: resumed.version })
  assert.equal(moved.timeZone, 'America/New_York')
  assert.equal(moved.cron, '0 9 * * MON-FRI', 'a time zone alone keeps the cron')
  await assert.rejects(
    client.updateSchedule({ id: schedule.id, name: 'lost', expectedVersion: resumed.version }),
    { code: 'ABORTED' },
  )
  const listed = await client.listSchedules({ labelSelector: 'team=core' })
  assert.deepEqual(listed.schedules.map((s) => s.id), [schedule.id])
  assert.equal(listed.nextPageToken, '')

  const deleted = await client.deleteSchedule(schedule.id)
  assert.equal(deleted.state, 'deleted')
  assert.equal((await client.getSchedule(schedule.id)).state, 'deleted')
  assert.deepEqual((await client.listSchedules()).schedules, [], 'deleted schedules are not listed by default')
  assert.deepEqual((await client.listSchedules({ states: ['deleted'] })).schedules.map((s) => s.id), [schedule.id])
})

test('an interval schedule, created paused', async () => {
  const client = await connect('intervals')
  const schedule = await client.createSchedule({ name: 'poll', interval: '15m', maxRuns: 3, paused: true })
  assert.equal(schedule.state, 'paused')
  assert.equal(schedule.cron, '')
  assert.equal(schedule.intervalMs, 900_000)
  assert.equal(schedule.maxRuns, 3)
  const preview = await client.previewSchedule({ name: 'poll', interval: 900_000, startAt: '2030-01-01T00:00:00Z' }, { count: 2 })
  assert.deepEqual(preview.fireAt, ['2030-01-01T00:00:00Z', '2030-01-01T00:15:00Z'])
})

test('mistakes are INVALID_ARGUMENT naming the field', async () => {
  const client = await connect('schedule-errors')
  await assert.rejects(
    client.createSchedule({ name: 'bad', cron: '0 25 * * MON-FRI', timeZone: 'Europe/Paris' }),
    (e) => e.code === 'INVALID_ARGUMENT' && /cron/.test(e.message),
  )
  await assert.rejects(
    client.createSchedule({ name: 'bad', cron: '0 9 * * *', timeZone: 'Europe/Atlantis' }),
    (e) => e.code === 'INVALID_ARGUMENT' && /time_zone|timeZone/.test(e.message),
  )
  await assert.rejects(client.createSchedule({ name: 'bad', interval: '15 parsecs' }), (e) => e.code === 'INVALID_ARGUMENT' && /interval/.test(e.message))
  await assert.rejects(client.createSchedule({ name: 'bad', cron: '@daily', interval: '1h' }), (e) => e.code === 'INVALID_ARGUMENT' && /interval/.test(e.message))
  await assert.rejects(client.createSchedule({ name: 'bad', cron: '@daily', overlapPolicy: 'queue' }), (e) => e.code === 'INVALID_ARGUMENT' && /overlap_policy/.test(e.message))
  await assert.rejects(client.listSchedules({ states: ['sleeping'] }), (e) => e.code === 'INVALID_ARGUMENT' && /states/.test(e.message))
  await assert.rejects(client.getSchedule('0190c0de-0000-7000-8000-000000000000'), { code: 'NOT_FOUND' })
})
