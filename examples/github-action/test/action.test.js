'use strict'
// Runs the Action the way a runner does: `node index.js` with INPUT_* variables and a
// GITHUB_OUTPUT file, against a real `minoots serve --dev` (MINOOTS_BIN).

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { startMinoots } = require('../../../scripts/test-server.js')

let server
let url

before(async () => {
  ;({ url, process: server } = await startMinoots())
})

after(() => server.kill('SIGKILL'))

function runAction(inputs, runner = {}) {
  const outputFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gh-output-')), 'output')
  fs.writeFileSync(outputFile, '')
  const env = { ...process.env, ...runner, GITHUB_OUTPUT: outputFile }
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value
  const result = spawnSync(process.execPath, [path.join(__dirname, '..', 'index.js')], { env, encoding: 'utf8', timeout: 120_000 })
  // Parse `name<<DELIM ... DELIM` blocks.
  const outputs = {}
  const lines = fs.readFileSync(outputFile, 'utf8').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const m = /^([\w-]+)<<(.+)$/.exec(lines[i])
    if (!m) continue
    const value = []
    for (i++; lines[i] !== m[2]; i++) value.push(lines[i])
    outputs[m[1]] = value.join('\n')
  }
  return { status: result.status, stdout: result.stdout, outputs }
}

test('schedules a timer and sets every output', () => {
  const { status, stdout, outputs } = runAction({
    'api-base-url': url,
    'api-key': 'local-dev-key',
    'tenant-id': 'ci',
    name: 'deploy-check',
    duration: '15m',
    labels: 'team=core, env=staging',
    metadata: '{"sha": "abc123"}',
    'requested-by': 'octocat',
  })
  assert.equal(status, 0, stdout)
  assert.match(outputs['timer-id'], /^[0-9a-f-]{36}$/)
  assert.ok(['scheduled', 'armed'].includes(outputs.status))
  const timer = JSON.parse(outputs['response-json'])
  assert.equal(timer.id, outputs['timer-id'])
  assert.equal(timer.fireAt, outputs['fire-at'])
  assert.deepEqual(timer.labels, { team: 'core', env: 'staging' })
  assert.deepEqual(timer.metadata, { sha: 'abc123' })
  assert.equal(timer.requestedBy, 'octocat')
  assert.equal(timer.tenantId, 'ci')
})

test('the same step run twice (a retry) gives the same timer', () => {
  const inputs = { 'api-base-url': url, 'api-key': 'local-dev-key', name: 'once', duration: '1h' }
  const step = { GITHUB_RUN_ID: '1234', GITHUB_RUN_ATTEMPT: '1', GITHUB_JOB: 'build', GITHUB_ACTION: 'timer' }
  const first = runAction(inputs, step)
  const again = runAction(inputs, step)
  assert.equal(first.status, 0, first.stdout)
  assert.equal(again.outputs['timer-id'], first.outputs['timer-id'])
  const otherStep = runAction(inputs, { ...step, GITHUB_ACTION: 'timer-2' })
  assert.notEqual(otherStep.outputs['timer-id'], first.outputs['timer-id'])
})

test('wait blocks until the timer fires', () => {
  const { status, stdout, outputs } = runAction({
    'api-base-url': url,
    'api-key': 'local-dev-key',
    name: 'short',
    'fire-at': new Date(Date.now() + 300).toISOString(),
    labels: '{"kind": "gate"}',
    wait: 'true',
    'timeout-seconds': '60',
  })
  assert.equal(status, 0, stdout)
  assert.ok(['fired', 'settled'].includes(outputs.status), outputs.status)
  assert.ok(JSON.parse(outputs['response-json']).firedAt)
})

test('bad inputs fail the step with an ::error:: naming the problem', () => {
  const bad = runAction({ 'api-base-url': url, 'api-key': 'local-dev-key', name: 'x', duration: 'soon' })
  assert.equal(bad.status, 1)
  assert.match(bad.stdout, /::error::INVALID_ARGUMENT: .*duration/)
  const badLabels = runAction({ 'api-base-url': url, 'api-key': 'local-dev-key', name: 'x', duration: '1m', labels: 'team=core\noops' })
  assert.equal(badLabels.status, 1)
  assert.match(badLabels.stdout, /::error::INVALID_ARGUMENT: .*labels: "oops" is not key=value/)
  const missing = runAction({ 'api-base-url': url, 'api-key': 'local-dev-key', duration: '1m' })
  assert.equal(missing.status, 1)
  assert.match(missing.stdout, /::error::Input required and not supplied: name/)
  const denied = runAction({ 'api-base-url': url, 'api-key': 'wrong', name: 'x', duration: '1m' })
  assert.match(denied.stdout, /::error::UNAUTHENTICATED/)
  const timeout = runAction({ 'api-base-url': url, 'api-key': 'local-dev-key', name: 'x', duration: '1h', wait: 'true', 'timeout-seconds': '0.3' })
  assert.equal(timeout.status, 1)
  assert.match(timeout.stdout, /::error::DEADLINE_EXCEEDED/)
})
