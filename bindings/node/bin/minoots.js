#!/usr/bin/env node
'use strict'
// `npx minoots ...`: runs the `minoots` server binary shipped in this platform's package
// (minoots-<platform>, an optional dependency, next to the native addon). The child shares our
// stdio; signals sent to this process are passed on, and its exit code or signal becomes ours.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

function platformPackage() {
  const abi = process.platform === 'linux' ? (process.report?.getReport().header.glibcVersionRuntime ? '-gnu' : '-musl') : ''
  return `minoots-${process.platform}-${process.arch}${abi}`
}

function serverBinary() {
  const name = platformPackage()
  let dir
  try {
    dir = path.dirname(require.resolve(`${name}/package.json`))
  } catch {
    fail(
      `the package ${name} is not installed, so there is no minoots server binary for this platform.\n` +
        `Install it together with minoots (npm install minoots-<version>.tgz ${name}-<version>.tgz),\n` +
        `or build the server from a MINOOTS checkout with cargo install --path gateway --locked.`,
    )
  }
  const binary = path.join(dir, 'bin', process.platform === 'win32' ? 'minoots.exe' : 'minoots')
  if (!fs.existsSync(binary)) fail(`${name} has no server binary at ${binary}.`)
  return binary
}

function fail(message) {
  process.stderr.write(`minoots: ${message}\n`)
  process.exit(1)
}

const child = spawn(serverBinary(), process.argv.slice(2), { stdio: 'inherit' })
child.on('error', (error) => fail(`could not start the server binary: ${error.message}`))
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']) {
  // A terminal's Ctrl-C reaches the whole process group, the child included; passing it on again
  // is harmless (the server shuts down once).
  process.on(signal, () => child.kill(signal))
}
child.on('exit', (code, signal) => {
  if (signal) {
    // Die of the same signal, so a shell sees 128+n as it would for the binary itself.
    process.removeAllListeners(signal)
    process.kill(process.pid, signal)
  } else {
    process.exit(code ?? 1)
  }
})
