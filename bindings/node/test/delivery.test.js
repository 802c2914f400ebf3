'use strict'
// Delivery control from Node: flow control on a webhook and the bundle's onSuccess / onFailure
// callbacks, in the REST JSON form, against a real `minoots serve --dev` and receivers here.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const { startMinoots } = require('../../../scripts/test-server.js')
const { Client } = require('minoots')

const DEV_KEY = 'local-dev-key'
let server
let url

before(async () => {
  ;({ url, process: server } = await startMinoots(['--webhook-allow', '127.0.0.1']))
})

after(() => server.kill('SIGKILL'))

/** A receiver on 127.0.0.1:0 answering 200; `hits` holds each request's webhook-id. */
async function receiver() {
  const hits = []
  const httpServer = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      hits.push(req.headers['webhook-id'])
      res.writeHead(200).end()
    })
  })
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve))
  return { hits, url: `http://127.0.0.1:${httpServer.address().port}/hook`, close: () => httpServer.close() }
}

test('flowControl and onSuccess / onFailure are taken, and the callback is called', async () => {
  const client = await Client.connect(url, { apiKey: DEV_KEY, tenant: 'delivery' })
  const [hook, callbacks] = [await receiver(), await receiver()]
  try {
    const timer = await client.schedule({
      name: 'with-callbacks',
      duration: '10ms',
      actionBundle: {
        actions: [{ type: 'webhook', url: hook.url, flowControl: { key: 'hooks', maxConcurrent: 2, maxPerSecond: 20 } }],
        onSuccess: { id: 'done', type: 'webhook', url: callbacks.url },
        onFailure: { id: 'alarm', type: 'webhook', url: callbacks.url },
      },
    })
    assert.deepEqual(timer.json.actionBundle.actions[0].flowControl, { key: 'hooks', maxConcurrent: 2, maxPerSecond: 20 })
    assert.equal(timer.json.actionBundle.onFailure.id, 'alarm')
    const done = await client.waitFor(timer.id, { until: 'done', timeoutMs: 60_000 })
    assert.equal(done.status, 'settled')
    const results = done.json.actionResults
    assert.deepEqual(results.map((r) => r.callback), [undefined, 'on_success'])
    assert.deepEqual(callbacks.hits, [`${timer.id}:on_success`])
    assert.equal(hook.hits.length, 1)

    await assert.rejects(
      client.schedule({
        name: 'bad',
        duration: '1h',
        actionBundle: { actions: [{ type: 'webhook', url: hook.url, flowControl: { maxConcurrent: 5000 } }] },
      }),
      (error) => error.code === 'INVALID_ARGUMENT' && error.message.includes('action_bundle.actions[0].webhook.flow_control.max_concurrent'),
    )
  } finally {
    hook.close()
    callbacks.close()
  }
})
