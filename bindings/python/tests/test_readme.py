"""Runs the README's Python example as it is written."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_readme_example_runs(server):
    code = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_example.py"), "python"],
        check=True, capture_output=True, text=True,
    ).stdout
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "MINOOTS_URL": server},
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout.splitlines()
    assert out[1:] == ["settled", "settled", "not found: NOT_FOUND"], out
