'use strict'
// Shared by the JavaScript suites (bindings/node, examples/*): starts the real
// `minoots serve --dev` (MINOOTS_BIN) on 127.0.0.1:0 with a fresh data dir and waits until
// /readyz answers. Returns { url, process }.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')

async function startMinoots(extraArgs = []) {
  const binary = process.env.MINOOTS_BIN
  if (!binary) throw new Error('set MINOOTS_BIN to the minoots binary')
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'minoots-js-'))
  const child = spawn(binary, ['serve', '--dev', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const first = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`minoots exited with ${code} before listening`)))
  })
  if (!first.startsWith('minoots listening on ')) throw new Error(`unexpected first line: ${first}`)
  const url = first.replace('minoots listening on ', '').trim()
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) break
    } catch {}
    if (Date.now() > deadline) throw new Error('minoots did not become ready within 60 s')
    await new Promise((r) => setTimeout(r, 50))
  }
  return { url, process: child }
}

module.exports = { startMinoots }
