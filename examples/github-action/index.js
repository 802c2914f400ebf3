'use strict'
// The MINOOTS GitHub Action: inputs from INPUT_* variables, outputs to the GITHUB_OUTPUT file,
// as a runner provides them. All timer logic is the Node binding's (the Rust SDK).

const fs = require('node:fs')
const crypto = require('node:crypto')
const { Client, parseLabels } = require('minoots')

function input(name, { required = false } = {}) {
  const value = (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] || '').trim()
  if (required && !value) throw new Error(`Input required and not supplied: ${name}`)
  return value
}

function json(name) {
  const text = input(name)
  if (!text) return undefined
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new Error(`${name}: not valid JSON (${error.message})`)
  }
}

/** A JSON object, or `k=v` pairs separated by commas or newlines (the SDK's parser). */
function labels() {
  const text = input('labels')
  return text ? parseLabels(text) : undefined
}

/** One timer per step execution: a retried call inside this step returns the same timer. */
function idempotencyKey() {
  const { GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT, GITHUB_JOB, GITHUB_ACTION } = process.env
  if (!GITHUB_RUN_ID) return undefined
  return `gh-${GITHUB_RUN_ID}-${GITHUB_RUN_ATTEMPT || 1}-${GITHUB_JOB || ''}-${GITHUB_ACTION || ''}`
}

function setOutput(name, value) {
  const file = process.env.GITHUB_OUTPUT
  const text = String(value ?? '')
  if (!file) {
    console.log(`${name}=${text}`)
    return
  }
  const delimiter = `minoots_${crypto.randomUUID()}`
  fs.appendFileSync(file, `${name}<<${delimiter}\n${text}\n${delimiter}\n`)
}

async function run() {
  const url = input('api-base-url', { required: true })
  const wait = /^(true|yes|1)$/i.test(input('wait'))
  const timeoutSeconds = Number(input('timeout-seconds') || '900')
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new Error('timeout-seconds: must be a positive number')
  const region = input('region') || undefined
  const client = await Client.connect(url, {
    apiKey: input('api-key', { required: true }),
    tenant: input('tenant-id') || undefined,
    region,
  })
  let timer = await client.schedule({
    name: input('name', { required: true }),
    duration: input('duration') || undefined,
    fireAt: input('fire-at') || undefined,
    labels: labels(),
    metadata: json('metadata'),
    actionBundle: json('action-bundle'),
    requestedBy: input('requested-by') || 'github-actions',
    idempotencyKey: idempotencyKey(),
  })
  console.log(`scheduled ${timer.id} (${timer.name}), fires at ${timer.fireAt}`)
  if (wait) {
    timer = await client.waitFor(timer.id, { until: 'fired', timeoutMs: Math.round(timeoutSeconds * 1000) })
    console.log(`${timer.id} is ${timer.status}`)
  }
  setOutput('timer-id', timer.id)
  setOutput('fire-at', timer.fireAt)
  setOutput('region', timer.labels.region || region || '')
  setOutput('status', timer.status)
  setOutput('response-json', JSON.stringify(timer.json))
}

run().catch((error) => {
  const code = error.code ? `${error.code}: ` : ''
  console.log(`::error::${code}${error.message}`)
  process.exitCode = 1
})
