#!/usr/bin/env bash
# The main job: set up (idempotent) and start the server with the default model.
# Extra arguments go to the server, e.g. scripts/serve.sh --port 8080.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh"
cd "$repo"
exec "$repo/.venv/bin/python" -m server "$@"
