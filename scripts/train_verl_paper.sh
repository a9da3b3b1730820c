#!/usr/bin/env bash
# The veRL route at paper scale on one node of GPUs (docs/training-gpu.md):
# export -> GRPO with veRL (Qwen2.5-1.5B-Instruct, 16 prompts x 8 samples, 2548 response tokens)
# -> merge the last FSDP checkpoint into a Hugging Face folder -> serve it and measure accuracy.
# Needs .venv-verl made with the CUDA torch and vLLM: TORCH_SPEC=torch scripts/setup_verl.sh,
# then `.venv-verl/bin/pip install vllm` (the version veRL's docs name for your CUDA).
# Env: MODEL (Qwen/Qwen2.5-1.5B-Instruct), GPUS (8), ESTIMATOR (grpo), OUT (runs/verl-paper).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
MODEL="${MODEL:-Qwen/Qwen2.5-1.5B-Instruct}"
GPUS="${GPUS:-8}"
ESTIMATOR="${ESTIMATOR:-grpo}"
OUT="${OUT:-runs/verl-paper}"
py="$repo/.venv-verl/bin/python"

"$py" -m training.verl export --config training/configs/rl-interleaved-ir.yaml --out "$OUT/data" \
  --val-n 200 --set "data=[{dataset: kk, n: 4800, people: [3, 4, 5, 6, 7]}, {dataset: multihop, n: 2400, hops: [2, 3, 4]}]"
"$py" -m training.verl launch --estimator "$ESTIMATOR" --model "$MODEL" --data "$OUT/data" \
  --checkpoints "$OUT/checkpoints" --experiment "$(basename "$OUT")" -- \
  "trainer.n_gpus_per_node=$GPUS" "$@"

step="$(cat "$OUT/checkpoints/latest_checkpointed_iteration.txt")"
"$py" -m verl.model_merger merge --backend fsdp \
  --local_dir "$OUT/checkpoints/global_step_$step/actor" --target_dir "$OUT/hf"
echo "served folder: $OUT/hf"
"$repo/.venv/bin/python" -m benchmarks.accuracy --launch "$repo/.venv/bin/python -m server --model $OUT/hf" \
  --dataset kk:100:people=3,4,5,6,7 --dataset multihop:100 --max-tokens 2548 --temperature 0 \
  --output "$OUT/accuracy.json"
