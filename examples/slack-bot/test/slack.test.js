'use strict'
// Posting to a stand-in for Slack's Web API that can answer `ok: false`: only `ok: true` is a
// delivered message, transient failures are retried, and an event whose message was not
// delivered is never remembered as handled. Needs no server or binding.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const { postMessage, withRetries, createProgress } = require('../slack')

// Each request takes the next scripted answer: [HTTP status, body, headers].
const answers = []
const received = []
let api
let slack

before(async () => {
  api = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ auth: req.headers.authorization, body: JSON.parse(body) })
      const [status, answer, headers = {}] = answers.shift() ?? [200, { ok: true }]
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(answer))
    })
  })
  await new Promise((r) => api.listen(0, '127.0.0.1', r))
  slack = { slackApiUrl: `http://127.0.0.1:${api.address().port}/api`, botToken: 'xoxb-test' }
})

after(() => api.close())

const quick = { attempts: 3, baseDelayMs: 1 }
const post = () => withRetries(() => postMessage(slack, 'C1', 'hello'), quick)

test('ok: true is delivered', async () => {
  received.length = 0
  answers.push([200, { ok: true, ts: '1.2' }])
  assert.equal((await post()).ts, '1.2')
  assert.deepEqual(received, [{ auth: 'Bearer xoxb-test', body: { channel: 'C1', text: 'hello' } }])
})

test('HTTP 200 with ok: false is a failure, not a delivery', async () => {
  received.length = 0
  answers.push([200, { ok: false, error: 'channel_not_found' }])
  await assert.rejects(post(), /channel_not_found/)
  assert.equal(received.length, 1, 'a permanent error is not retried')
})

test('rate limits and Slack errors are retried until ok: true', async () => {
  received.length = 0
  answers.push([429, { ok: false, error: 'ratelimited' }, { 'retry-after': '0' }])
  answers.push([200, { ok: false, error: 'internal_error' }])
  answers.push([200, { ok: true }])
  await post()
  assert.equal(received.length, 3)

  received.length = 0
  answers.push([503, {}], [503, {}], [503, {}])
  await assert.rejects(post(), /HTTP 503/)
  assert.equal(received.length, 3, 'gives up after its attempts')
})

test('an event whose post failed is not remembered, nor any after it', () => {
  const remembered = []
  const progress = createProgress((sequence) => remembered.push(sequence))
  progress.handled(1)
  progress.failed(2)
  progress.handled(3)
  assert.deepEqual(remembered, [1])
  assert.equal(progress.firstFailed, 2)
})
