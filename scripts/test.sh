#!/usr/bin/env bash
# The whole test suite: set up (idempotent), lint, then every test, the real engine included.
# Extra arguments go to pytest, e.g. scripts/test.sh -k parsing.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh" --browser
cd "$repo"
"$repo/.venv/bin/ruff" check .
exec "$repo/.venv/bin/python" -m pytest "$@"
