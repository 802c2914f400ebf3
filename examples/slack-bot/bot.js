'use strict'
// The `/ato` Slack slash command on the minoots Node binding: verifies Slack's v0 request
// signatures, schedules/lists/cancels timers with ephemeral replies, and posts to the channel
// when a timer it scheduled fires (from the event stream).

const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const { Client, parseLabels } = require('minoots')
const slack = require('./slack')

const USAGE = [
  'Usage: `/ato --duration 15m --name "Standup" free text` (or `--fire-at 2026-12-01T09:00:00Z`)',
  'Flags: -d/--duration, -f/--fire-at, -n/--name, -r/--requester, --metadata JSON, --region,',
  '--labels JSON or k=v,k=v, --action-bundle JSON. Also `/ato list` and `/ato cancel <id>`.',
].join('\n')

const FLAGS = {
  '-d': 'duration', '--duration': 'duration',
  '-f': 'fireAt', '--fire-at': 'fireAt',
  '-n': 'name', '--name': 'name',
  '-r': 'requester', '--requester': 'requester',
  '--region': 'region',
  '--metadata': 'metadata',
  '--labels': 'labels',
  '--action-bundle': 'actionBundle',
}

/** Splits like a shell: whitespace separates, "double" or 'single' quotes group. */
function tokenize(text) {
  const tokens = []
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g
  let m
  while ((m = re.exec(text))) tokens.push(m[1] ?? m[2] ?? m[3])
  return tokens
}

/** `/ato` text → { command: 'schedule'|'list'|'cancel'|'help', ... }; throws on bad flags. */
function parseCommand(text) {
  const tokens = tokenize(text.replace(/[“”]/g, '"'))
  const first = (tokens[0] || '').toLowerCase()
  if (first === 'list') return { command: 'list' }
  if (first === 'cancel') {
    if (!tokens[1]) throw new Error('cancel needs a timer id: `/ato cancel <id>`')
    return { command: 'cancel', id: tokens[1] }
  }
  if (first === '' || first === 'help') return { command: 'help' }
  const options = {}
  const words = []
  for (let i = 0; i < tokens.length; i++) {
    let token = tokens[i]
    let value
    const eq = token.startsWith('--') ? token.indexOf('=') : -1
    if (eq > 0) {
      value = token.slice(eq + 1)
      token = token.slice(0, eq)
    }
    const key = FLAGS[token]
    if (!key) {
      if (token.startsWith('-') && token.length > 1) throw new Error(`unknown flag ${token}`)
      words.push(token)
      continue
    }
    if (value === undefined) {
      value = tokens[++i]
      if (value === undefined) throw new Error(`${token} needs a value`)
    }
    options[key] = value
  }
  for (const key of ['metadata', 'actionBundle']) {
    if (options[key] !== undefined) {
      try {
        options[key] = JSON.parse(options[key])
      } catch {
        throw new Error(`--${key === 'actionBundle' ? 'action-bundle' : key} must be JSON`)
      }
    }
  }
  // JSON or k=v,k=v, with the SDK's parser (its error names the bad entry).
  if (options.labels !== undefined) options.labels = parseLabels(options.labels)
  if (!options.duration && !options.fireAt) throw new Error('give --duration (15m) or --fire-at (RFC 3339)')
  return { command: 'schedule', ...options, text: words.join(' ') }
}

/** Slack's v0 signature over `v0:{timestamp}:{raw body}`, within five minutes. */
function verifySlack(signingSecret, headers, rawBody, now = Date.now() / 1000) {
  const timestamp = headers['x-slack-request-timestamp']
  const signature = headers['x-slack-signature']
  if (!timestamp || !signature) return false
  if (!/^\d+$/.test(timestamp) || Math.abs(now - Number(timestamp)) > 300) return false
  const expected = 'v0=' + crypto.createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex')
  const a = Buffer.from(expected)
  const b = Buffer.from(String(signature))
  return a.length === b.length && crypto.timingSafeEqual(a, b)
}

function createBot({ minootsUrl, apiKey, tenant, signingSecret, botToken, slackApiUrl = 'https://slack.com/api', stateFile, retries }) {
  if (!signingSecret) throw new Error('SLACK_SIGNING_SECRET is required')
  const clients = new Map()
  const client = (region) => {
    const key = region || ''
    if (!clients.has(key)) {
      const connecting = Client.connect(minootsUrl, { apiKey, tenant, region })
      // A failed connect is not cached: the next command tries again.
      connecting.catch(() => clients.delete(key))
      clients.set(key, connecting)
    }
    return clients.get(key)
  }

  // Retries transient failures; rejects unless Slack answered `ok: true`.
  const postMessage = (channel, text) =>
    slack.withRetries(() => slack.postMessage({ slackApiUrl, botToken }, channel, text), retries)

  async function handle(params) {
    const parsed = parseCommand(params.get('text') || '')
    const c = await client(parsed.region)
    switch (parsed.command) {
      case 'help':
        return USAGE
      case 'list': {
        const timers = await c.list({ labelSelector: `slack.channel=${params.get('channel_id')}`, statuses: ['scheduled', 'armed'], limit: 20 })
        if (!timers.length) return 'No pending timers in this channel.'
        return timers.map((t) => `• \`${t.id}\` *${t.name}* fires at ${t.fireAt}`).join('\n')
      }
      case 'cancel': {
        const timer = await c.cancel(parsed.id, `cancelled by <@${params.get('user_id')}> in Slack`)
        return `Cancelled *${timer.name}* (\`${timer.id}\`).`
      }
      default: {
        const channel = params.get('channel_id')
        const user = params.get('user_id')
        const timer = await c.schedule({
          name: parsed.name || parsed.text.slice(0, 60) || 'reminder',
          duration: parsed.duration,
          fireAt: parsed.fireAt,
          labels: { ...(parsed.labels || {}), 'slack.channel': channel, 'slack.user': user },
          metadata: { ...(parsed.metadata || {}), text: parsed.text, slack: { channel, user, team: params.get('team_id') } },
          actionBundle: parsed.actionBundle,
          requestedBy: parsed.requester || `slack:${user}`,
        })
        return `Scheduled *${timer.name}* (\`${timer.id}\`), fires at ${timer.fireAt}.`
      }
    }
  }

  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const reply = (status, body) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      if (req.method !== 'POST' || req.url !== '/slack/commands') return reply(404, { error: 'not found' })
      if (!verifySlack(signingSecret, req.headers, raw)) return reply(401, { error: 'invalid Slack signature' })
      let text
      try {
        text = await handle(new URLSearchParams(raw))
      } catch (error) {
        text = `:warning: ${error.code ? error.code + ': ' : ''}${error.message}\n${USAGE}`
      }
      reply(200, { response_type: 'ephemeral', text })
    })
  })

  // With a state file, the last event handled is remembered, so fires that happen while the bot
  // is down are posted when it comes back (resuming after that sequence), and none twice.
  const lastHandled = () => {
    if (!stateFile || !fs.existsSync(stateFile)) return undefined
    const n = Number(fs.readFileSync(stateFile, 'utf8').trim())
    return Number.isSafeInteger(n) && n >= 0 ? n : undefined
  }
  const remember = (sequence) => {
    if (!stateFile) return
    fs.writeFileSync(`${stateFile}.tmp`, String(sequence))
    fs.renameSync(`${stateFile}.tmp`, stateFile)
  }

  // Fired timers this bot scheduled (labelled with their channel) become channel messages.
  // An event is remembered as handled only once Slack accepted its message.
  let stream
  const progress = slack.createProgress(remember)
  async function watch() {
    stream = (await client()).streamTimers({
      afterSequence: lastHandled(),
      eventTypes: ['timer.fired'],
      labelSelector: 'slack.channel',
      onEvent: async (event) => {
        const t = event.timer
        const note = t.metadata && t.metadata.text ? `: ${t.metadata.text}` : ''
        // A Slack outage must not end the stream: log and go on, but do not mark this event
        // (or any later one) handled, so a restart posts it again instead of losing it.
        try {
          await postMessage(t.labels['slack.channel'], `:alarm_clock: <@${t.labels['slack.user']}> *${t.name}*${note}`)
          progress.handled(event.sequence)
        } catch (error) {
          console.error(`chat.postMessage failed for event ${event.sequence}: ${error.message}`)
          progress.failed(event.sequence)
        }
      },
      onError: (error) => console.error(`event stream ended: ${error.code} ${error.message}`),
    })
  }

  return {
    server,
    async listen(port = 3000, host = '127.0.0.1') {
      await watch()
      await new Promise((resolve) => server.listen(port, host, resolve))
      return server.address()
    },
    async close() {
      if (stream) stream.close()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

module.exports = { createBot, parseCommand, verifySlack, tokenize }
