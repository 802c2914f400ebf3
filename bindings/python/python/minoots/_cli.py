"""The ``minoots`` command a wheel installs: the MINOOTS server and CLI (``minoots serve --dev``,
``minoots keys``, ``minoots timers``, ...).

Wheels carry the server binary inside the package (``minoots/bin/minoots``); this replaces the
Python process with it, so signals, stdio and the exit code are the binary's own. A source build
(``pip install ./bindings/python``) compiles only the client and carries no binary: then a
``minoots`` binary on PATH (``cargo install --path gateway --locked``) is used instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_NAME = "minoots.exe" if os.name == "nt" else "minoots"


def bundled_binary() -> Path | None:
    """The server binary shipped in this package, if this is a wheel that carries one."""
    path = Path(__file__).resolve().parent / "bin" / _NAME
    return path if path.is_file() else None


def _binary_on_path() -> str | None:
    # Skips scripts: the first `minoots` on PATH is often this launcher itself (or another
    # environment's), and exec'ing it would loop.
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(directory or ".", _NAME)
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        try:
            with open(candidate, "rb") as f:
                if f.read(2) == b"#!":
                    continue
        except OSError:
            continue
        return candidate
    return None


def main() -> None:
    bundled = bundled_binary()
    binary = str(bundled) if bundled else _binary_on_path()
    if binary is None:
        sys.stderr.write(
            "minoots: this installation of the minoots package carries no server binary "
            "(a source build compiles only the client; the platform wheels bundle it),\n"
            "and there is no minoots binary on PATH. Install a minoots wheel, or build the server "
            "from a MINOOTS checkout with: cargo install --path gateway --locked\n"
        )
        sys.exit(1)
    if bundled and not os.access(binary, os.X_OK):
        # Some installers drop the executable bit of package data.
        os.chmod(binary, 0o755)
    args = [binary, *sys.argv[1:]]
    if os.name == "nt":
        sys.exit(subprocess.call(args))
    os.execv(binary, args)


if __name__ == "__main__":
    main()
