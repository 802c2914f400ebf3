#!/usr/bin/env bash
# Installs what scripts/package.sh builds as a user installs it, on a PATH with no cargo or rustc,
# and uses it: the wheel in a fresh virtualenv, the two npm tarballs in fresh npm projects (with
# npm 11, and with npm 10). Each time `minoots serve --dev` is started from the installed package
# (`minoots` from the wheel, `npx minoots` from npm) on a free port, the installed client schedules
# a timer whose webhook goes to a receiver here, streams its events until it settled, and the
# delivery's Standard Webhooks signature is checked with the client's verify_webhook and with the
# published `standardwebhooks` package of that language. Prints a summary; exits non-zero on any
# failure.
#
#   scripts/test-packages.sh              build (scripts/package.sh, reusing CARGO_TARGET_DIR), test
#   scripts/test-packages.sh --no-build   test what is in $DIST already
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"

TARGET_DIR="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)"
export DIST="${DIST:-$TARGET_DIR/dist}"
if [ "${1:-}" != "--no-build" ]; then
  CARGO_TARGET_DIR="$TARGET_DIR" scripts/package.sh
fi
DIST="$(cd "$DIST" && pwd)"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
WHEEL="$(ls "$DIST"/minoots-"$VERSION"-cp310-abi3-manylinux*.whl)"
NPM_MAIN="$DIST/minoots-$VERSION.tgz"
NPM_PLATFORM="$DIST/minoots-linux-x64-gnu-$VERSION.tgz"
ls "$NPM_MAIN" "$NPM_PLATFORM" >/dev/null

step() { printf '\n==> %s\n' "$*"; }
RESULTS=()
pass() { RESULTS+=("ok    $*"); }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/minoots-packages.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# A user's PATH: the system directories plus node/npm/npx and python3 (wherever they live here),
# linked into a directory of their own so nothing else from their directories comes along.
TOOLS_BIN="$WORK/bin"
mkdir -p "$TOOLS_BIN"
ln -s "$(command -v node)" "$TOOLS_BIN/node"
ln -s "$(command -v npm)" "$TOOLS_BIN/npm"
ln -s "$(command -v npx)" "$TOOLS_BIN/npx"
ln -s "$(python3 -c 'import sys; print(sys.executable)')" "$TOOLS_BIN/python3"
CLEAN_PATH="$TOOLS_BIN:/usr/local/bin:/usr/bin:/bin"
# Temporary files (servers' data directories) stay under $WORK, which the trap removes.
mkdir -p "$WORK/tmp"
as_user() { env -u CARGO_HOME -u RUSTUP_HOME -u CARGO_TARGET_DIR -u RUSTC -u CARGO TMPDIR="$WORK/tmp" PATH="$CLEAN_PATH" "$@"; }
if as_user sh -c 'command -v cargo || command -v rustc'; then
  echo "error: cargo or rustc is on the clean PATH ($CLEAN_PATH); it must not be" >&2
  exit 1
fi
pass "no cargo or rustc on the PATH the packages are installed and run with"

# One webhook signing secret for every server started here.
SECRET="whsec_$(printf 'package-smoke-test-secret-0123456' | base64)"
export MINOOTS_SMOKE_SECRET="$SECRET"

step "Python: pip install the wheel into a fresh virtualenv"
VENV="$WORK/venv"
as_user python3 -m venv "$VENV"
as_user "$VENV/bin/pip" install --quiet --disable-pip-version-check "$WHEEL" 'standardwebhooks>=1.0.0,<2'
pass "pip install $(basename "$WHEEL") (+ standardwebhooks)"
# What `source venv/bin/activate` does to PATH.
in_venv() { as_user env PATH="$VENV/bin:$CLEAN_PATH" VIRTUAL_ENV="$VENV" "$@"; }
in_venv sh -c 'command -v minoots && ! command -v cargo'
pass "minoots --version (the wheel's console command): $(in_venv minoots --version)"

step "Python: minoots serve --dev from the wheel; schedule, stream, verify the webhook"
cat > "$WORK/smoke.py" <<'EOF'
"""The installed wheel: starts `minoots serve --dev` (the wheel's command) on a free port, waits
for /readyz, schedules a timer with a webhook to a receiver here, streams its events until it
settled, and checks the delivery with minoots.verify_webhook and with `standardwebhooks`."""

import http.server, json, os, signal, subprocess, sys, tempfile, threading, time, urllib.request

import minoots
from standardwebhooks.webhooks import Webhook

SECRET = os.environ["MINOOTS_SMOKE_SECRET"]
deliveries = []
arrived = threading.Event()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
        arrived.set()

    def log_message(self, *args):
        pass


receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"

data_dir = tempfile.mkdtemp(prefix="minoots-wheel-")
server = subprocess.Popen(
    ["minoots", "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", data_dir,
     "--webhook-allow", "127.0.0.1", "--signing-secrets", SECRET],
    stdout=subprocess.PIPE, text=True,
)


def give_up():
    # The stream and the waits below block; a broken package must fail the run, not hang it.
    print("smoke test timed out after 180 s", file=sys.stderr)
    server.kill()
    os._exit(1)


watchdog = threading.Timer(180, give_up)
watchdog.daemon = True
watchdog.start()
try:
    line = server.stdout.readline()
    assert line.startswith("minoots listening on "), f"unexpected first line: {line!r}"
    url = line.removeprefix("minoots listening on ").strip()
    threading.Thread(target=server.stdout.read, daemon=True).start()
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz") as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "minoots did not become ready within 60 s"
        time.sleep(0.05)
    print(f"server ready at {url}")

    client = minoots.Client(url, api_key="local-dev-key")
    timer = client.schedule("from-the-wheel", "100ms", webhook=hook)
    seen = []
    stream = client.stream(after_sequence=0)
    for event in stream:
        if event.timer_id == timer.id:
            seen.append(event.event_type)
            if event.event_type in ("timer.settled", "timer.failed"):
                break
    stream.close()
    print("events:", " ".join(seen))
    assert seen[-1] == "timer.settled", seen
    assert "timer.fired" in seen, seen

    assert arrived.wait(30), "no webhook delivery"
    headers, body = deliveries[0]
    minoots.verify_webhook(SECRET, headers, body)
    Webhook(SECRET).verify(body, headers)
    payload = json.loads(body)
    assert payload["type"] == "timer.fired" and payload["data"]["id"] == timer.id, body
    print("webhook signature verified by minoots.verify_webhook and standardwebhooks")
finally:
    # SIGTERM through the `minoots` command reaches the server itself (the command exec'd it),
    # which shuts down cleanly and exits 0.
    server.send_signal(signal.SIGTERM)
    code = server.wait(30)
watchdog.cancel()
receiver.shutdown()
assert code == 0, f"minoots serve exited with {code} after SIGTERM"
print("SIGTERM: the server shut down and exited 0")
usage = subprocess.run(["minoots", "no-such-command"], capture_output=True)
assert usage.returncode == 2, usage
print("a usage error's exit code (2) comes through the minoots command")
EOF
(cd "$WORK" && in_venv python smoke.py)
pass "wheel: minoots serve --dev, Python client schedules, streams, webhook verified (minoots + standardwebhooks), SIGTERM stops it cleanly, exit codes pass through"

cat > "$WORK/smoke.js" <<'EOF'
'use strict'
// The installed npm packages: starts `npx minoots serve --dev` on a free port, waits for /readyz,
// schedules a timer with a webhook to a receiver here, streams its events (streamTimers) until it
// settled, and checks the delivery with verifyWebhook and with the `standardwebhooks` package.
// Then stops it as Ctrl-C in a terminal does, and checks that the `minoots` bin passes on signals
// and exit codes.

const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const { Webhook } = require('standardwebhooks')
const { Client, verifyWebhook } = require('minoots')

const SECRET = process.env.MINOOTS_SMOKE_SECRET
const BIN = path.join('node_modules', '.bin', 'minoots')
const groups = []

/** Starts `command args serve --dev ...` in a process group of its own; resolves once it is ready. */
async function start(command, args) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'minoots-npm-'))
  const child = spawn(command, [...args, 'serve', '--dev', '--listen', '127.0.0.1:0', '--data-dir', dataDir,
    '--webhook-allow', '127.0.0.1', '--signing-secrets', SECRET], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  groups.push(child.pid)
  let log = ''
  child.stderr.on('data', (chunk) => {
    log += chunk
    process.stderr.write(chunk)
  })
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, log: () => log })))
  const first = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve)
    exited.then(({ code }) => reject(new Error(`${command} exited with ${code} before listening`)))
  })
  assert.match(first, /^minoots listening on /)
  const url = first.replace('minoots listening on ', '').trim()
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) break
    } catch {}
    assert.ok(Date.now() < deadline, 'minoots did not become ready within 60 s')
    await new Promise((r) => setTimeout(r, 50))
  }
  return { child, url, exited }
}

/** Resolves when no process of the group is left (nothing orphaned); fails after 30 s. */
async function groupGone(pgid) {
  for (const deadline = Date.now() + 30_000; ; ) {
    try {
      process.kill(-pgid, 0)
    } catch {
      return
    }
    assert.ok(Date.now() < deadline, `processes of group ${pgid} are still running`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function killAll() {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL')
    } catch {}
  }
}

async function main() {
  // A broken package must fail the run, not hang it.
  setTimeout(() => {
    console.error('smoke test timed out after 180 s')
    killAll()
    process.exit(1)
  }, 180_000).unref()

  const deliveries = []
  let delivered
  const arrived = new Promise((resolve) => (delivered = resolve))
  const receiver = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) })
      res.writeHead(200).end()
      delivered()
    })
  })
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  const hook = `http://127.0.0.1:${receiver.address().port}/hook`

  const server = await start('npx', ['minoots'])
  console.log(`npx minoots serve --dev: ready at ${server.url}`)
  const client = await Client.connect(server.url, { apiKey: 'local-dev-key' })
  const timer = await client.schedule({ name: 'from-npm', duration: '100ms', webhook: hook })
  const seen = []
  let handle
  await new Promise((resolve, reject) => {
    handle = client.streamTimers({
      afterSequence: 0,
      onEvent: (event) => {
        if (event.timerId !== timer.id) return
        seen.push(event.eventType)
        if (event.eventType === 'timer.settled' || event.eventType === 'timer.failed') resolve()
      },
      onError: reject,
    })
  })
  handle.close()
  await handle.done
  console.log('events:', seen.join(' '))
  assert.equal(seen.at(-1), 'timer.settled')
  assert.ok(seen.includes('timer.fired'))

  await arrived
  const { headers, body } = deliveries[0]
  const wanted = {
    'webhook-id': headers['webhook-id'],
    'webhook-timestamp': headers['webhook-timestamp'],
    'webhook-signature': headers['webhook-signature'],
  }
  verifyWebhook(SECRET, wanted, body)
  new Webhook(SECRET).verify(body.toString('utf8'), wanted)
  const payload = JSON.parse(body)
  assert.equal(payload.type, 'timer.fired')
  assert.equal(payload.data.id, timer.id)
  console.log('webhook signature verified by verifyWebhook and standardwebhooks')
  receiver.close()

  // Ctrl-C: a terminal sends SIGINT to the whole foreground group (npx, npm's shell, the bin, the
  // server); the server drains and stops, and nothing is left behind.
  process.kill(-server.child.pid, 'SIGINT')
  const stopped = await server.exited
  assert.match(stopped.log(), /stopped/, 'the server did not shut down cleanly')
  await groupGone(server.child.pid)
  console.log('Ctrl-C (SIGINT to the group): the server shut down cleanly, no process left')

  // The bin alone: SIGTERM to it reaches the server, whose exit code (0 after a clean shutdown)
  // becomes the bin's; a usage error's code (2) comes through too.
  const direct = await start(BIN, [])
  direct.child.kill('SIGTERM')
  const { code, signal, log } = await direct.exited
  assert.equal(code, 0, `the minoots bin exited with ${code ?? signal} after SIGTERM`)
  assert.match(log(), /stopped/)
  await groupGone(direct.child.pid)
  assert.equal(spawnSync(BIN, ['no-such-command'], { stdio: 'ignore' }).status, 2)
  console.log('the minoots bin: SIGTERM passed on (exit 0 after a clean shutdown), a usage error\'s exit code 2 too')
}

main().catch((error) => {
  console.error(error)
  killAll()
  process.exit(1)
})
EOF

# $1: label, $2...: the npm command (npm 11 as installed, or npm 10 through npx).
npm_project() {
  local label="$1"
  shift
  local project="$WORK/npm-project-$label"
  step "Node ($label): npm install of the two tarballs into a fresh project"
  mkdir -p "$project"
  cp "$WORK/smoke.js" "$project/"
  in_project() { (cd "$project" && as_user "$@"); }
  in_project "$@" init -y >/dev/null
  in_project "$@" install --no-audit --no-fund "$NPM_MAIN" "$NPM_PLATFORM" standardwebhooks@1
  pass "$label: npm install $(basename "$NPM_MAIN") $(basename "$NPM_PLATFORM") (+ standardwebhooks) with npm $(in_project "$@" --version)"
  local version
  version="$(in_project npx minoots --version)"
  pass "$label: npx minoots --version: $version"
  step "Node ($label): npx minoots serve --dev; schedule, streamTimers, verify the webhook"
  in_project node smoke.js
  pass "$label: npx minoots serve --dev, Node client schedules, streamTimers, webhook verified (verifyWebhook + standardwebhooks), Ctrl-C stops it cleanly; the bin passes on SIGTERM and exit codes"
}
npm_project npm11 npm
npm_project npm10 npx -y npm@10

# The README's Install steps, run as written in a checkout-shaped directory (minoots/target/dist
# holds the artifacts, a project next to it). A `... serve --dev` line gets `--listen 127.0.0.1:0`
# and a data directory appended, so it takes a free port; it must answer /readyz and stop cleanly
# on Ctrl-C (SIGINT to its process group) with nothing left running.
cat > "$WORK/serve_line.py" <<'EOF'
import os, signal, subprocess, sys, tempfile, time, urllib.request

line = sys.argv[1] + f" --listen 127.0.0.1:0 --data-dir {tempfile.mkdtemp(prefix='minoots-readme-')}"
proc = subprocess.Popen(["sh", "-c", line], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        stdin=subprocess.DEVNULL, text=True, start_new_session=True)
try:
    first = proc.stdout.readline()
    assert first.startswith("minoots listening on "), f"{line}: first line {first!r}"
    url = first.removeprefix("minoots listening on ").strip()
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz") as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{line}: not ready within 60 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, log = proc.communicate(timeout=30)
    assert "stopped" in log, f"{line}: no clean shutdown after Ctrl-C:\n{log}"
    for _ in range(600):
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"{line}: processes left running after Ctrl-C")
    print(f"{line}: ready at {url}, stopped cleanly on Ctrl-C")
finally:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
EOF

# $1: the README example's label, $2: the directory to run it in.
readme_steps() {
  local script line
  script="$(python3 scripts/readme_example.py "$1")"
  while IFS= read -r line <&3; do
    [ -n "$line" ] || continue
    echo "\$ $line"
    case "$line" in
      *" serve --dev") (cd "$2" && as_user python3 "$WORK/serve_line.py" "$line") ;;
      *) (cd "$2" && as_user sh -c "$line" </dev/null) ;;
    esac
  done 3<<<"$script"
}

step "README Install steps, as written"
README_CHECKOUT="$WORK/readme/minoots"
mkdir -p "$README_CHECKOUT/target" "$WORK/readme/project"
ln -s "$DIST" "$README_CHECKOUT/target/dist"
readme_steps install-python "$README_CHECKOUT"
pass "README Install, Python: venv, pip install of the wheel, minoots serve --dev (ready, Ctrl-C)"
readme_steps install-node "$WORK/readme/project"
pass "README Install, Node: npm install of the two tarballs, npx minoots serve --dev (ready, Ctrl-C)"

step "summary"
printf '%s\n' "${RESULTS[@]}"
echo "artifacts tested (in $DIST):"
for f in "$WHEEL" "$NPM_MAIN" "$NPM_PLATFORM" "$DIST/minoots"; do
  printf '  %-70s %s\n' "$(basename "$f")" "$(du -h "$f" | cut -f1)"
done
