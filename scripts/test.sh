#!/usr/bin/env bash
# The one test command (README "Test it"). Installs what the suites need, then runs every suite.
# Safe to run on a fresh machine and again on a warm one.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
cargo --version
if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# Postgres- and NATS-backed suites read these; with MINOOTS_REQUIRE_SERVICES=1 a missing server
# fails the run instead of skipping.
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"

step "format"
cargo fmt --all --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "doc tests"
cargo test --workspace --doc --locked

step "rust tests"
cargo nextest run --workspace --locked --no-fail-fast

# The suites in other languages drive the binary the Rust tests just built.
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --locked -p minoots-gateway --bin minoots
export MINOOTS_BIN="$(cd "$TARGET_DIR/debug" && pwd)/minoots"

step "python tests (published standardwebhooks and mcp packages)"
VENV="$TARGET_DIR/test-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r gateway/tests/python/requirements.txt
"$VENV/bin/python" -m pytest -q gateway/tests/python

step "node tests (published standardwebhooks package)"
(cd gateway/tests/node && npm ci --no-audit --no-fund --silent && node --test)
