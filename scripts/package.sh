#!/usr/bin/env bash
# Builds what users install, into $DIST (default: <cargo target dir>/dist):
#   minoots                                   the server binary, for glibc 2.17 and newer
#   minoots-<v>-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
#                                             the Python client, plus the server binary and the
#                                             `minoots` command
#   minoots-<v>.tgz                           the npm main package (client, `minoots` bin)
#   minoots-linux-x64-gnu-<v>.tgz             its platform package (native addon, server binary)
# Everything is built by zig against glibc 2.17 (manylinux2014), with maturin, cargo-zigbuild and
# ziglang from a tools virtualenv this script creates, so the artifacts run on any x86_64 Linux
# from 2014 on. Needs Rust, Python 3 with venv, Node and npm; safe to run again (cargo reuses
# CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

TARGET_DIR="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)"
DIST="$(mkdir -p "${DIST:-$TARGET_DIR/dist}" && cd "${DIST:-$TARGET_DIR/dist}" && pwd)"
# The zig builds get a target directory of their own: they link the host's build scripts with zig
# too, and sharing target/release with ordinary release builds (cargo install, npm run build,
# bench.sh) would make each rebuild everything the other built.
export CARGO_TARGET_DIR="$TARGET_DIR/manylinux"
TRIPLE=x86_64-unknown-linux-gnu
GLIBC=2.17
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"

step "tools: maturin, cargo-zigbuild, ziglang (virtualenv $TARGET_DIR/package-tools)"
TOOLS="$TARGET_DIR/package-tools"
[ -x "$TOOLS/bin/python" ] || python3 -m venv "$TOOLS"
"$TOOLS/bin/pip" install --quiet --disable-pip-version-check maturin==1.16.0 cargo-zigbuild==0.24.1 ziglang==0.17.1
# cargo-zigbuild finds zig through `python3 -m ziglang`, so this venv's python goes first.
export PATH="$TOOLS/bin:$PATH"

# The newest glibc symbol version a file links against (objdump is in binutils, next to the
# linker Rust uses; without it the check is skipped, not failed).
check_glibc() {
  if ! command -v objdump >/dev/null; then
    echo "objdump not found: not checking the glibc symbol versions of $1"
    return
  fi
  local newest
  newest="$(objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)"
  echo "$(basename "$1"): newest glibc symbol GLIBC_$newest"
  if [ "$(printf '%s\n%s\n' "$newest" "$GLIBC" | sort -V | tail -n1)" != "$GLIBC" ]; then
    echo "error: $1 needs glibc $newest, newer than $GLIBC" >&2
    exit 1
  fi
}

step "server binary: cargo zigbuild --release, glibc $GLIBC"
start=$SECONDS
cargo zigbuild --release --locked --target "$TRIPLE.$GLIBC" -p minoots-gateway --bin minoots
SERVER="$CARGO_TARGET_DIR/$TRIPLE/release/minoots"
check_glibc "$SERVER"
install -m 755 "$SERVER" "$DIST/minoots"
echo "built in $((SECONDS - start)) s: $(du -h "$DIST/minoots" | cut -f1) ($(stat -c %s "$DIST/minoots") bytes)"

step "Python wheel: maturin --zig, manylinux2014, abi3, with the server binary"
start=$SECONDS
PY_BIN_DIR=bindings/python/python/minoots/bin
cleanup_wheel() { rm -rf "$PY_BIN_DIR"; }
trap cleanup_wheel EXIT
mkdir -p "$PY_BIN_DIR"
install -m 755 "$SERVER" "$PY_BIN_DIR/minoots"
rm -f "$DIST"/minoots-*.whl
# maturin drives zig through its own copy of cargo-zigbuild, whose compiler wrappers differ from
# the CLI's: in a shared target directory each would rebuild what the other built.
CARGO_TARGET_DIR="$TARGET_DIR/manylinux-wheel" \
  maturin build --release --locked --zig --compatibility manylinux2014 --target "$TRIPLE" \
  -m bindings/python/Cargo.toml --out "$DIST"
cleanup_wheel
trap - EXIT
WHEEL="$(ls "$DIST"/minoots-"$VERSION"-*.whl)"
python3 - "$WHEEL" <<'EOF'
import stat, sys, zipfile
wheel = zipfile.ZipFile(sys.argv[1])
names = wheel.namelist()
binary = wheel.getinfo("minoots/bin/minoots")
mode = binary.external_attr >> 16
assert mode & stat.S_IXUSR, f"minoots/bin/minoots is not executable in the wheel (mode {oct(mode)})"
assert any(n.endswith("entry_points.txt") for n in names), "no entry_points.txt: the minoots command is missing"
print(f"{sys.argv[1].rsplit('/', 1)[-1]}: {len(names)} files, minoots/bin/minoots {binary.file_size} bytes, executable")
EOF
echo "built in $((SECONDS - start)) s: $(du -h "$WHEEL" | cut -f1)"

step "npm packages: napi build --cross-compile (zig, glibc $GLIBC), npm pack"
start=$SECONDS
NODE_DIR=bindings/node
PLATFORM_DIR="$NODE_DIR/npm/linux-x64-gnu"
(cd "$NODE_DIR" && npm ci --no-audit --no-fund --silent)
rm -f "$DIST"/minoots-"$VERSION".tgz "$DIST"/minoots-linux-x64-gnu-*.tgz
# prepack builds the addon (here through zig) and hands it to the platform package.
(cd "$NODE_DIR" && MINOOTS_NAPI_BUILD=build:manylinux npm pack --foreground-scripts --pack-destination "$DIST")
check_glibc "$PLATFORM_DIR/minoots.linux-x64-gnu.node"
mkdir -p "$PLATFORM_DIR/bin"
install -m 755 "$SERVER" "$PLATFORM_DIR/bin/minoots"
(cd "$PLATFORM_DIR" && npm pack --foreground-scripts --pack-destination "$DIST")
rm -rf "$PLATFORM_DIR/bin"
echo "built in $((SECONDS - start)) s"

step "built into $DIST"
ls -l "$DIST"
