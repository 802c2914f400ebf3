'use strict'
// The /ato bot against a real `minoots serve --dev` (MINOOTS_BIN) and a stand-in for Slack's
// Web API on loopback: correctly and wrongly signed slash commands, ephemeral replies, and the
// channel message when a timer fires.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const http = require('node:http')
const { startMinoots } = require('../../../scripts/test-server.js')
const { createBot, parseCommand } = require('../bot')

const SECRET = 'test-signing-secret'
let server
let url
let bot
let botUrl
let slackApi
const posted = []
let onPosted = () => {}

before(async () => {
  ;({ url, process: server } = await startMinoots())
  // Slack's Web API, as far as the bot uses it.
  slackApi = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      posted.push({ path: req.url, auth: req.headers.authorization, body: JSON.parse(body) })
      onPosted()
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"ok":true}')
    })
  })
  await new Promise((r) => slackApi.listen(0, '127.0.0.1', r))
  bot = createBot({
    minootsUrl: url,
    apiKey: 'local-dev-key',
    tenant: 'slack',
    signingSecret: SECRET,
    botToken: 'xoxb-test',
    slackApiUrl: `http://127.0.0.1:${slackApi.address().port}/api`,
  })
  const address = await bot.listen(0)
  botUrl = `http://127.0.0.1:${address.port}/slack/commands`
})

after(async () => {
  await bot.close()
  slackApi.close()
  server.kill('SIGKILL')
})

function form(text) {
  return new URLSearchParams({ command: '/ato', text, channel_id: 'C123', user_id: 'U456', team_id: 'T1' }).toString()
}

async function slash(text, { secret = SECRET, timestamp = Math.floor(Date.now() / 1000) } = {}) {
  const body = form(text)
  const signature = 'v0=' + crypto.createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')
  const response = await fetch(botUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signature },
    body,
  })
  return { status: response.status, body: await response.json() }
}

test('parses the original flags, quotes and free text', () => {
  assert.deepEqual(parseCommand('--duration 15m --name "Stand up" bring notes'), { command: 'schedule', duration: '15m', name: 'Stand up', text: 'bring notes' })
  const short = parseCommand('-d 1h -n x -r bob --region eu --labels team=core,env=prod --metadata {"a":1} hi')
  assert.deepEqual(short, { command: 'schedule', duration: '1h', name: 'x', region: 'eu', requester: 'bob', labels: { team: 'core', env: 'prod' }, metadata: { a: 1 }, text: 'hi' })
  assert.equal(parseCommand('-d 1m --requester=alice').requester, 'alice')
  assert.equal(parseCommand('-f 2030-01-01T09:00:00Z later').fireAt, '2030-01-01T09:00:00Z')
  assert.deepEqual(parseCommand('cancel abc'), { command: 'cancel', id: 'abc' })
  assert.throws(() => parseCommand('--bogus 1'), /unknown flag --bogus/)
  assert.throws(() => parseCommand('no timing here'), /--duration/)
  assert.throws(() => parseCommand('-d 1h --labels team=core,oops'), (e) => e.code === 'INVALID_ARGUMENT' && /labels: "oops" is not key=value/.test(e.message))
})

test('a signed /ato schedules, lists and cancels with ephemeral replies; a fire posts to the channel', async () => {
  const fired = new Promise((resolve) => (onPosted = resolve))
  const scheduled = await slash('--duration 200ms --name "Stand up" bring the notes')
  assert.equal(scheduled.status, 200)
  assert.equal(scheduled.body.response_type, 'ephemeral')
  assert.match(scheduled.body.text, /Scheduled \*Stand up\* \(`[0-9a-f-]{36}`\)/)

  const later = await slash('-d 1h -n later')
  const laterId = /`([0-9a-f-]{36})`/.exec(later.body.text)[1]
  const listed = await slash('list')
  assert.match(listed.body.text, new RegExp(laterId))
  assert.equal(listed.body.response_type, 'ephemeral')
  const cancelled = await slash(`cancel ${laterId}`)
  assert.match(cancelled.body.text, /Cancelled \*later\*/)

  await Promise.race([fired, new Promise((_, reject) => setTimeout(() => reject(new Error('no channel message within 60 s')), 60_000))])
  const message = posted.find((p) => p.body.text.includes('Stand up'))
  assert.equal(message.path, '/api/chat.postMessage')
  assert.equal(message.auth, 'Bearer xoxb-test')
  assert.equal(message.body.channel, 'C123')
  assert.match(message.body.text, /<@U456> \*Stand up\*: bring the notes/)
  assert.ok(!posted.some((p) => p.body.text.includes('later')), 'the cancelled timer never posts')
})

test('wrongly signed, stale or unsigned requests are refused', async () => {
  assert.equal((await slash('list', { secret: 'not-the-secret' })).status, 401)
  assert.equal((await slash('list', { timestamp: Math.floor(Date.now() / 1000) - 600 })).status, 401)
  const unsigned = await fetch(botUrl, { method: 'POST', body: form('list') })
  assert.equal(unsigned.status, 401)
})

test('mistakes get an ephemeral explanation with the code', async () => {
  const bad = await slash('--duration soon --name x')
  assert.equal(bad.status, 200)
  assert.equal(bad.body.response_type, 'ephemeral')
  assert.match(bad.body.text, /INVALID_ARGUMENT/)
  assert.match((await slash('help')).body.text, /Usage/)
})

test('with a state file, fires while the bot was down are posted when it returns, none twice', async () => {
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const { Client } = require('minoots')
  const stateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ato-state-')), 'last-sequence')
  const options = { minootsUrl: url, apiKey: 'local-dev-key', tenant: 'slack-state', signingSecret: SECRET, botToken: 'xoxb-test', slackApiUrl: `http://127.0.0.1:${slackApi.address().port}/api`, stateFile }
  const client = await Client.connect(url, { apiKey: 'local-dev-key', tenant: 'slack-state' })
  const labels = { 'slack.channel': 'C777', 'slack.user': 'U1' }
  const postedFor = (name) => posted.filter((p) => p.body.channel === 'C777' && p.body.text.includes(name))
  const until = async (check) => {
    for (let i = 0; !check(); i++) {
      if (i > 1200) throw new Error('timed out')
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  const first = createBot(options)
  await first.listen(0)
  await client.waitFor((await client.schedule({ name: 'while-up', duration: '50ms', labels })).id, { timeoutMs: 60_000 })
  await until(() => postedFor('while-up').length === 1)
  await first.close()

  await client.waitFor((await client.schedule({ name: 'while-down', duration: '50ms', labels })).id, { timeoutMs: 60_000 })
  const second = createBot(options)
  await second.listen(0)
  await until(() => postedFor('while-down').length === 1)
  await second.close()
  assert.equal(postedFor('while-up').length, 1, 'nothing posted twice')
})
