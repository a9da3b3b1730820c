#!/usr/bin/env bash
# The TRL route at paper scale on one node (docs/training-gpu.md): export -> GRPOTrainer on
# Qwen2.5-1.5B-Instruct with training/trl/configs/paper-qwen2.5-1.5b.yaml through accelerate ->
# the saved folder is served as is (full fine-tuning writes a Hugging Face folder) -> accuracy.
# Needs .venv-verl with the CUDA torch and vLLM (see scripts/train_verl_paper.sh).
# Env: MODEL, GPUS (8), OUT (runs/trl-paper).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
MODEL="${MODEL:-Qwen/Qwen2.5-1.5B-Instruct}"
GPUS="${GPUS:-8}"
OUT="${OUT:-runs/trl-paper}"
venv="$repo/.venv-verl"

"$venv/bin/python" -m training.verl export --config training/configs/rl-interleaved-ir.yaml \
  --out "$OUT/data" --val-n 200 \
  --set "data=[{dataset: kk, n: 4800, people: [3, 4, 5, 6, 7]}, {dataset: multihop, n: 2400, hops: [2, 3, 4]}]"
"$venv/bin/accelerate" launch --num_processes "$GPUS" -m training.trl \
  --config training/trl/configs/paper-qwen2.5-1.5b.yaml --model "$MODEL" --data "$OUT/data" \
  --out "$OUT/model" "$@"
"$repo/.venv/bin/python" -m benchmarks.accuracy --launch "$repo/.venv/bin/python -m server --model $OUT/model" \
  --dataset kk:100:people=3,4,5,6,7 --dataset multihop:100 --max-tokens 2548 --temperature 0 \
  --output "$OUT/accuracy.json"
