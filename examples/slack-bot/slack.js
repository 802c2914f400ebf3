'use strict'
// Posting to Slack's Web API so that a failed post is never taken for a delivered one: Slack
// answers most failures with HTTP 200 and `{"ok": false, "error": ...}`, so only `ok: true`
// counts. Transient failures (rate limits, Slack's own errors, the network) are retried with
// backoff; what still fails is reported to the caller, which then does not mark its event
// handled.

/** Slack errors worth trying again; anything else (channel_not_found, invalid_auth, ...) is not. */
const RETRYABLE = new Set(['ratelimited', 'rate_limited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout'])

class SlackError extends Error {
  constructor(message, { retryable = false, retryAfterMs } = {}) {
    super(message)
    this.name = 'SlackError'
    this.retryable = retryable
    this.retryAfterMs = retryAfterMs
  }
}

/** `chat.postMessage`; resolves with Slack's answer only when it says `ok: true`. */
async function postMessage({ slackApiUrl, botToken }, channel, text) {
  let response
  try {
    response = await fetch(`${slackApiUrl}/chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${botToken}` },
      body: JSON.stringify({ channel, text }),
    })
  } catch (error) {
    throw new SlackError(`chat.postMessage: ${error.message}`, { retryable: true })
  }
  const seconds = Number(response.headers.get('retry-after'))
  const retryAfterMs = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined
  let body
  try {
    body = await response.json()
  } catch {
    body = undefined
  }
  if (!response.ok) {
    const retryable = response.status === 429 || response.status >= 500
    throw new SlackError(`chat.postMessage: HTTP ${response.status}${body && body.error ? ` ${body.error}` : ''}`, { retryable, retryAfterMs })
  }
  if (!body || body.ok !== true) {
    const error = (body && body.error) || 'the answer does not say ok: true'
    throw new SlackError(`chat.postMessage: ${error}`, { retryable: RETRYABLE.has(error), retryAfterMs })
  }
  return body
}

/** Runs `post` until it succeeds, retrying retryable failures; throws the last failure. */
async function withRetries(post, { attempts = 5, baseDelayMs = 250, maxDelayMs = 30_000 } = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await post()
    } catch (error) {
      if (!error.retryable || attempt >= attempts) throw error
      const delay = Math.min(maxDelayMs, error.retryAfterMs ?? baseDelayMs * 2 ** (attempt - 1))
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
}

/**
 * Which event sequence may be remembered as handled: each one in order, until a post fails for
 * good. From then on nothing later is remembered either, so after a restart the bot resumes
 * before the failed event and posts it again (at least once, never lost).
 */
function createProgress(remember) {
  let failed
  return {
    handled(sequence) {
      if (failed === undefined) remember(sequence)
    },
    failed(sequence) {
      if (failed === undefined) failed = sequence
    },
    get firstFailed() {
      return failed
    },
  }
}

module.exports = { SlackError, postMessage, withRetries, createProgress, RETRYABLE }
