#!/usr/bin/env bash
# Makes .venv-verl/: a separate training environment with veRL and TRL (pinned), the CPU build of
# torch and this project without its serving engine, for tests/test_verl_smoke.py, the TRL smoke
# run and launching either route on a cluster (there, TORCH_SPEC=torch for the CUDA build).
#
# Separate because veRL pins transformers (<5.11 for 0.9.1) apart from the main environment's
# engine. The CPU torch comes from PyTorch's CPU index (PIP_EXTRA_INDEX_URL=
# https://download.pytorch.org/whl/cpu) or a local wheel folder pip is configured with.
# Idempotent: a second run with nothing changed only checks a stamp.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
VERL_VERSION="${VERL_VERSION:-0.9.1}"
TRL_VERSION="${TRL_VERSION:-1.16.0}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0+cpu}"
venv="${VERL_VENV:-$repo/.venv-verl}"
stamp="$venv/.setup-stamp"
want="verl==$VERL_VERSION trl==$TRL_VERSION $TORCH_SPEC $(sha1sum pyproject.toml | cut -c1-12)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "setup_verl: $venv is up to date ($want)"
  exit 0
fi

python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3
"$python_bin" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
quiet_pip() { "${pip[@]}" "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; }

quiet_pip install --upgrade pip
# torch first, so veRL's dependencies resolve against the CPU build instead of pulling CUDA's.
quiet_pip install "$TORCH_SPEC"
quiet_pip install "verl==$VERL_VERSION" "trl==$TRL_VERSION" "$TORCH_SPEC" pytest
# This project without its engine (pyproject.toml lists none); veRL's pins are already met, so
# pip keeps them.
quiet_pip install -e .
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
import verl, torch, transformers, hydra  # noqa: F401
import training.verl.reward  # noqa: F401
print("setup_verl: verl", md.version("verl"), "torch", torch.__version__,
      "transformers", transformers.__version__)
PY
echo "$want" > "$stamp"
