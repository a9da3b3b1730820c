#!/usr/bin/env bash
# Reproduce the server's default model from scratch: full-fine-tune SFT on truth-table K&K and
# fact-quoting multi-hop traces, a rank-64 LoRA adapter extracted from the change, then the
# held-out evaluation (training phrasing and the held-out phrasing) and its model card.
#
#   scripts/train_default.sh            # about 105 minutes of 2 CPU cores for the SFT
#
# Resumable: run it again after an interruption and the SFT continues from its newest
# checkpoint; a finished SFT is not redone, evaluations are redone only when their JSON is
# missing. Output: runs/sft-kk-tables/lora-r64 (what modelprep/adapters/ ships),
# results/accuracy/tables.json and tables-unseen.json.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh"
cd "$repo"
py="$repo/.venv/bin/python"
run=runs/sft-kk-tables
"$py" -m training sft --config training/configs/sft-kk-tables.yaml --resume
[[ -f "$run/lora-r64/adapter_model.safetensors" ]] ||
  "$py" -m training extract "$run" --rank 64 --out "$run/lora-r64"
"$repo/scripts/evaluate.sh" tables
