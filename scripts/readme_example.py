#!/usr/bin/env python3
"""Prints the README's example for a language: the code block after `<!-- example: LANG -->`.
The binding tests run exactly what the README shows."""

import pathlib
import re
import sys

readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
language = sys.argv[1]
match = re.search(rf"<!-- example: {re.escape(language)} -->\s*```\w*\n(.*?)```", readme, re.S)
if not match:
    sys.exit(f"README.md has no <!-- example: {language} --> block")
print(match.group(1), end="")
