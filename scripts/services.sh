# Sourced by scripts/test.sh: makes sure the Postgres and NATS (JetStream) servers the suites need
# are reachable. When TEST_DATABASE_URL / NATS_URL answer, they are used as they are; otherwise a
# throwaway server is started from the installed binaries (Debian's `postgresql` and `nats-server`
# packages, installed with apt-get when missing and possible) in a temporary directory on a free
# loopback port, and stopped when the test command exits. When neither works the run fails: the
# suites never skip. Sets SERVICES_SUMMARY for the closing summary.

SERVICES_DIR="$(mktemp -d "${TMPDIR:-/tmp}/minoots-services.XXXXXX")"
SERVICES_SUMMARY=""
SERVICES_PIDS=()

stop_services() {
  if [ -n "${THROWAWAY_PGDATA:-}" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$THROWAWAY_PGDATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  for pid in "${SERVICES_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$SERVICES_DIR"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# host:port reachable over TCP within 2 s.
reachable() {
  python3 - "$1" <<'PY'
import socket, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
try:
    port = url.port or {"postgres": 5432, "postgresql": 5432, "nats": 4222}.get(url.scheme)
    socket.create_connection((url.hostname or "127.0.0.1", port), timeout=2).close()
except (OSError, TypeError):
    sys.exit(1)
PY
}

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing $* with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    return 1
  fi
}

# initdb and postgres refuse to run as root: run them as the `postgres` account then.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -z "$PG_BIN" ]; then
    apt_install postgresql || return 1
    PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$PG_BIN" ] || return 1
  fi
  local port dir
  port="$(free_port)"
  dir="$SERVICES_DIR/postgres"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$SERVICES_DIR" "$dir"
  as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust >/dev/null || return 1
  THROWAWAY_PGDATA="$dir/data"
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off" start >/dev/null ||
    { cat "$dir/log"; return 1; }
  as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres test || return 1
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/test"
}

start_nats() {
  local bin
  bin="$(command -v nats-server || true)"
  if [ -z "$bin" ]; then
    apt_install nats-server || return 1
    bin="$(command -v nats-server)" || return 1
  fi
  local port
  port="$(free_port)"
  mkdir -p "$SERVICES_DIR/nats"
  "$bin" -js -a 127.0.0.1 -p "$port" -sd "$SERVICES_DIR/nats" >"$SERVICES_DIR/nats.log" 2>&1 &
  SERVICES_PIDS+=($!)
  export NATS_URL="nats://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    reachable "$NATS_URL" && return 0
    sleep 0.1
  done
  cat "$SERVICES_DIR/nats.log"
  return 1
}

if reachable "$TEST_DATABASE_URL"; then
  SERVICES_SUMMARY+="postgres: $TEST_DATABASE_URL (already running)"$'\n'
elif start_postgres; then
  SERVICES_SUMMARY+="postgres: $TEST_DATABASE_URL (throwaway, started by the test command)"$'\n'
else
  echo "error: Postgres at $TEST_DATABASE_URL is not reachable and no throwaway one could be started" >&2
  echo "       (needs Debian's postgresql package: apt-get install postgresql)" >&2
  exit 1
fi

if reachable "$NATS_URL"; then
  SERVICES_SUMMARY+="nats: $NATS_URL (already running)"$'\n'
elif start_nats; then
  SERVICES_SUMMARY+="nats: $NATS_URL (throwaway with JetStream, started by the test command)"$'\n'
else
  echo "error: NATS at $NATS_URL is not reachable and no throwaway nats-server could be started" >&2
  echo "       (needs Debian's nats-server package: apt-get install nats-server)" >&2
  exit 1
fi
