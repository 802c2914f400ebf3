'use strict'
// `npm pack` of this package without what it ships would publish a package that installs and
// then fails at require() or `npx minoots`: refuse instead. scripts/package.sh fills both in.
const fs = require('node:fs')

const missing = ['minoots.linux-x64-gnu.node', 'bin/minoots'].filter((file) => !fs.existsSync(file))
if (missing.length) {
  console.error(
    `minoots-linux-x64-gnu: missing ${missing.join(' and ')}; build with scripts/package.sh ` +
      '(or `npm pack` in bindings/node for the addon, then copy the server binary to bin/minoots).',
  )
  process.exit(1)
}
fs.chmodSync('bin/minoots', 0o755)
