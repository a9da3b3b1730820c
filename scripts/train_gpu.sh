#!/usr/bin/env bash
# The default model's one-stage recipe and its think-answer twin on one GPU, side by side,
# each within the same wall-clock budget (training/configs/sft-gpu.yaml: a fresh rank-48 LoRA
# on ~90k examples in the wide phrasings; time_budget_s fits the cosine schedule into the
# budget after timing the first steps).
#
#   scripts/train_gpu.sh [SECONDS]        # default 420 of training each, after data and model
#
# Output: runs/sft-gpu/adapter (interleaved) and runs/sft-gpu-twin/adapter (think-answer); then
#   scripts/evaluate.sh gpu early && scripts/evaluate.sh gpu-twin early
# PYTHON=python3 skips the setup (a GPU host whose Python already has torch and the project's
# dependencies); otherwise scripts/setup.sh makes the .venv first.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
budget="${1:-420}"
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  "$repo/scripts/setup.sh"
  py="$repo/.venv/bin/python"
fi
cd "$repo"
mkdir -p runs
pids=()
for style in interleaved think_answer; do
  out=runs/sft-gpu
  [[ "$style" == think_answer ]] && out=runs/sft-gpu-twin
  "$py" -m training sft --config training/configs/sft-gpu.yaml \
    --set "time_budget_s=$budget" "style=$style" "out_dir=$out" progress=false \
    > "$out.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
tail -n 3 runs/sft-gpu.log runs/sft-gpu-twin.log
exit "$status"
