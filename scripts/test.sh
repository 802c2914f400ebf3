#!/usr/bin/env bash
# The one test command (README "Test it"). Installs what the suites need, then runs every suite.
# Safe to run on a fresh machine and again on a warm one.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every step that started, for the closing summary; the last one is the one that failed, if any.
STEPS=()
step() {
  STEPS+=("$*")
  printf '\n==> %s\n' "$*"
}

summary() {
  local status=$?
  printf '\n==> summary\n'
  printf '%s' "${SERVICES_SUMMARY:-}"
  local count=${#STEPS[@]} i
  for ((i = 0; i < count; i++)); do
    if ((status != 0 && i == count - 1)); then
      printf 'FAILED  %s\n' "${STEPS[$i]}"
    else
      printf 'passed  %s\n' "${STEPS[$i]}"
    fi
  done
  if ((status == 0)); then echo "all suites passed"; else echo "test command failed (exit $status)"; fi
  declare -F stop_services >/dev/null && stop_services
  [ -n "${INSTALL_ROOT:-}" ] && rm -rf "$INSTALL_ROOT"
  return $status
}
trap summary EXIT

step "toolchain"
cargo --version
if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# Postgres- and NATS-backed suites read these. When they do not answer, throwaway servers are
# started (scripts/services.sh); the suites then require them, so nothing is silently skipped.
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
step "services: Postgres and NATS (JetStream)"
source scripts/services.sh
printf '%s' "$SERVICES_SUMMARY"
export MINOOTS_REQUIRE_SERVICES=1

step "format"
cargo fmt --all --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "doc tests"
cargo test --workspace --doc --locked

step "rust tests"
cargo nextest run --workspace --locked --no-fail-fast

# The suites in other languages drive the binary the Rust tests just built.
TARGET_DIR="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)"
cargo build --locked -p minoots-gateway --bin minoots
export MINOOTS_BIN="$(cd "$TARGET_DIR/debug" && pwd)/minoots"

step "python tests (published standardwebhooks and mcp packages)"
VENV="$TARGET_DIR/test-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r gateway/tests/python/requirements.txt
"$VENV/bin/python" -m pytest -q gateway/tests/python

step "node tests (published standardwebhooks package)"
(cd gateway/tests/node && npm ci --no-audit --no-fund --silent && node --test)

# The bindings are installed as users install them, then tested in their own language.
# What users install (scripts/package.sh): the zig-built server (glibc 2.17), the manylinux wheel
# carrying it, the npm main and platform tarballs. The binding suites below test these artifacts.
step "packages: scripts/package.sh (server binary, manylinux wheel, npm tarballs)"
export DIST="$TARGET_DIR/dist"
scripts/package.sh
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
WHEEL="$(ls "$DIST"/minoots-"$VERSION"-cp310-abi3-manylinux*.whl)"

step "python binding: the wheel installed into a fresh venv, pytest"
BVENV="$TARGET_DIR/binding-venv"
rm -rf "$BVENV"
python3 -m venv "$BVENV"
"$BVENV/bin/pip" install --quiet --disable-pip-version-check "$WHEEL[langchain,llamaindex]" -r bindings/python/tests/requirements.txt
(cd bindings/python/tests && "$BVENV/bin/python" -m pytest -q .)

step "node binding: the packed tarball (and the platform package) npm installed, node:test"
(
  cd bindings/node
  npm ci --no-audit --no-fund --silent
  cp "$DIST/minoots-$VERSION.tgz" .
  cd test
  rm -rf node_modules package-lock.json
  npm install --no-audit --no-fund --silent --no-package-lock
  node --test
)

step "examples on the node binding: GitHub Action, Slack bot"
for example in examples/github-action examples/slack-bot; do
  [ -d "$example" ] || continue
  (cd "$example" && rm -rf node_modules && npm install --no-audit --no-fund --silent --no-package-lock && node --test)
done

step "web client: buf + protoc-gen-es, esbuild, playwright-core in headless Chromium"
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
(
  cd examples/web
  npm install --no-audit --no-fund --silent --no-package-lock
  npm run --silent build
  node --test
)

step "console: the committed bundle is what console/ builds; playwright-core in headless Chromium against /ui"
(
  cd console
  npm ci --no-audit --no-fund --silent
  npm run --silent check
  node --test
)

step "kotlin binding: uniffi-bindgen, kotlinc, run against a real server"
KOTLIN_VERSION=2.4.20
KOTLIN_HOME="$TARGET_DIR/kotlin-$KOTLIN_VERSION"
if [ ! -f "$KOTLIN_HOME/package/bin/kotlinc" ]; then
  # The JetBrains compiler distribution (kotlinc, stdlib, kotlinx-coroutines), as published to npm.
  mkdir -p "$KOTLIN_HOME"
  (cd "$KOTLIN_HOME" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null && tar xzf "kotlin-compiler-$KOTLIN_VERSION.tgz")
fi
JNA_JAR=/usr/share/java/jna.jar
if [ ! -f "$JNA_JAR" ]; then
  apt-get update -qq && apt-get install -y -qq libjna-java >/dev/null
fi
cargo build --locked -p minoots-uniffi
cargo build --locked -p minoots-uniffi --features cli --bin uniffi-bindgen
KT_OUT="$TARGET_DIR/kotlin-binding"
rm -rf "$KT_OUT" && mkdir -p "$KT_OUT"
"$TARGET_DIR/debug/uniffi-bindgen" generate "$TARGET_DIR/debug/libminoots_uniffi.so" \
  --language kotlin --language swift --no-format --out-dir "$KT_OUT/generated"
python3 scripts/readme_example.py kotlin > "$KT_OUT/ReadmeExample.kt"
KOTLIN_LIB="$KOTLIN_HOME/package/lib"
CLASSPATH_DEPS="$JNA_JAR:$KOTLIN_LIB/kotlinx-coroutines-core-jvm.jar"
bash "$KOTLIN_HOME/package/bin/kotlinc" -nowarn \
  "$KT_OUT/generated/uniffi/minoots/minoots.kt" "$KT_OUT/ReadmeExample.kt" bindings/uniffi/tests/kotlin/Main.kt \
  -cp "$CLASSPATH_DEPS" -d "$KT_OUT/test.jar"
# A test CA and server certificate (as docs/security.md makes them) for the binding over https.
TLS_DIR="$KT_OUT/tls"
mkdir -p "$TLS_DIR"
(
  cd "$TLS_DIR"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=minoots test CA" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
    -extfile server.ext -out server.pem 2>/dev/null
)
MINOOTS_TEST_TLS_DIR="$TLS_DIR" MINOOTS_API_KEY=local-dev-key java -Djna.library.path="$TARGET_DIR/debug" \
  -cp "$KT_OUT/test.jar:$CLASSPATH_DEPS:$KOTLIN_LIB/kotlin-stdlib.jar" MainKt

step "packages installed as users install them, without cargo on PATH: scripts/test-packages.sh"
scripts/test-packages.sh --no-build

step "cargo install --path gateway --locked (the documented Rust install)"
INSTALL_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/minoots-install.XXXXXX")"
cargo install --quiet --path gateway --locked --root "$INSTALL_ROOT"
"$INSTALL_ROOT/bin/minoots" --version
ls -l "$INSTALL_ROOT/bin/minoots"
rm -rf "$INSTALL_ROOT"
