#!/usr/bin/env bash
# The benchmark suite (docs/benchmarks.md): runs every `minoots-bench` bench on this machine, writes
# docs/bench/*.json, then draws docs/bench/*.png. Postgres benches use PG_URL (a server where the
# bench may create databases); without it they are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
# `memory` and `recovery` run the `minoots` binary beside `minoots-bench`, so build both.
cargo build --release -p minoots-gateway --bin minoots
cargo build --release -p minoots-bench
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET_DIR/release/minoots-bench"
OUT=docs/bench
mkdir -p "$OUT"
PG_URL="${PG_URL:-}"

run() { echo "+ minoots-bench $*" >&2; "$BIN" "$@"; }

for store in memory sqlite; do
  run schedule --store "$store" --timers 40000 --concurrency 32 --json "$OUT/schedule-unary-$store.json"
  run schedule --store "$store" --timers 200000 --concurrency 4 --batch 1000 --json "$OUT/schedule-batch-$store.json"
  run schedule --store "$store" --rest --timers 20000 --concurrency 32 --json "$OUT/schedule-rest-$store.json"
  run lateness --store "$store" --timers 100000 --json "$OUT/lateness-stream-$store.json"
done
run lateness --store memory --timers 30000 --window 3s --lead 10s --at webhook --json "$OUT/lateness-webhook-memory.json"
run fanout --store sqlite --subscribers 1000 --timers 1000 --json "$OUT/fanout-sqlite.json"
run memory --store sqlite --timers 1000000 --json "$OUT/memory-sqlite.json"
run recovery --store sqlite --timers 1000000 --json "$OUT/recovery-sqlite.json"
run recurring --schedules 100000 --minutes 5 --json "$OUT/recurring-sqlite.json"
if [ -n "$PG_URL" ]; then
  run schedule --store postgres --database-url "$PG_URL" --timers 40000 --concurrency 64 --json "$OUT/schedule-unary-postgres.json"
  run schedule --store postgres --database-url "$PG_URL" --timers 200000 --concurrency 4 --batch 1000 --json "$OUT/schedule-batch-postgres.json"
  run schedule --store postgres --database-url "$PG_URL" --rest --timers 20000 --concurrency 32 --json "$OUT/schedule-rest-postgres.json"
  run lateness --store postgres --database-url "$PG_URL" --timers 100000 --json "$OUT/lateness-stream-postgres.json"
  run memory --store postgres --database-url "$PG_URL" --timers 1000000 --json "$OUT/memory-postgres.json"
  run recovery --store postgres --database-url "$PG_URL" --timers 1000000 --json "$OUT/recovery-postgres.json"
fi

VENV="$TARGET_DIR/bench-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check matplotlib grpcio grpcio-reflection

# As users run it: the release server in a process of its own (SQLite, synchronous=full, auth on),
# driven over loopback by minoots-bench (its webhook receiver a third process) and by clients that
# are not our SDK: Python grpcio and REST (scripts/bench_clients.py, one JSON line per figure).
serve() {
  DATA="$(mktemp -d)"
  "$TARGET_DIR/release/minoots" serve --dev --listen 127.0.0.1:0 --quota-active-timers 0 \
    --quota-daily-timers 0 --webhook-allow 127.0.0.1 --data-dir "$DATA" >"$DATA/stdout" 2>/dev/null &
  SERVER=$!
  URL=""
  until [ -n "$URL" ]; do
    kill -0 "$SERVER" || { echo "minoots serve exited" >&2; exit 1; }
    sleep 0.1
    URL="$(sed -n 's/^minoots listening on //p' "$DATA/stdout")"
  done
}
stop() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"; }
serve
run lateness --target "$URL" --api-key local-dev-key --tenant tenant-local --timers 100000 --at webhook --lead 20s --json "$OUT/lateness-webhook-sqlite.json"
stop
serve
echo "+ scripts/bench_clients.py --url $URL" >&2
"$VENV/bin/python" scripts/bench_clients.py --url "$URL" | tee "$OUT/clients-sqlite.jsonl"
stop

"$VENV/bin/python" scripts/bench_plots.py "$OUT"
