#!/usr/bin/env bash
# Reproduce the models of the interleaved vs think-answer experiment from scratch: SFT warm
# start, RL, curves, held-out evaluation, model card (the default model: scripts/train_default.sh).
#
#   scripts/train.sh interleaved-ir   # interleaved + intermediate reward
#   scripts/train.sh interleaved      # interleaved, format + final reward only
#   scripts/train.sh think-answer     # the think-then-answer twin (modelprep/adapters/smollm2-135m-think-answer)
#
# Resumable: run it again after an interruption and each stage continues from its newest
# checkpoint; finished stages are not redone (the evaluation is redone only when its JSON is
# missing). Uses the GPU when there is one (same configs). Output: runs/rl-MODEL/adapter with
# its model card, runs/rl-MODEL/plots/*.png, results/accuracy/MODEL.json.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-}"
case "$model" in
  interleaved-ir | interleaved) sft=sft-interleaved ;;
  think-answer) sft=sft-think-answer ;;
  *) echo "usage: scripts/train.sh interleaved-ir|interleaved|think-answer" >&2; exit 2 ;;
esac
"$repo/scripts/setup.sh"
cd "$repo"
py="$repo/.venv/bin/python"
"$py" -m training sft --config "training/configs/$sft.yaml" --resume
"$py" -m training rl --config "training/configs/rl-$model.yaml" --resume
"$py" -m training plot "runs/rl-$model/log.jsonl"
"$repo/scripts/evaluate.sh" "$model"
