#!/usr/bin/env bash
# The whole test suite: set up (idempotent), lint, format check, type check (parsing, tasks,
# server), the import contracts (pyproject.toml), the docs site in strict mode (broken links
# fail it), then every test, the real engine and veRL's reward loop included.
# Extra arguments go to pytest, e.g. scripts/test.sh -k parsing.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh" --browser
"$repo/scripts/setup_verl.sh"  # veRL's own code for tests/test_verl_smoke.py (about 2 minutes once)
cd "$repo"
"$repo/.venv/bin/ruff" check .
"$repo/.venv/bin/ruff" format --check .
"$repo/.venv/bin/mypy"  # the packages and settings in pyproject.toml's [tool.mypy]
"$repo/.venv/bin/lint-imports" --no-logo  # the contracts in pyproject.toml's [tool.importlinter]
site="$(mktemp -d)"
trap 'rm -rf "$site"' EXIT
NO_MKDOCS_2_WARNING=1 "$repo/.venv/bin/python" -m mkdocs build --strict --site-dir "$site"
rm -rf "$site"
trap - EXIT
exec "$repo/.venv/bin/python" -m pytest "$@"
