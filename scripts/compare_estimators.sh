#!/usr/bin/env bash
# Which RL estimator learns best within the budget: the interleaved + IR recipe
# (training/configs/rl-interleaved-ir.yaml, same SFT warm start, data, seed and steps) run once
# with each of gae, grpo and reinforce_plus_plus, then held-out evaluation of each.
#
#   scripts/compare_estimators.sh
#
# Needs runs/sft-interleaved/adapter (scripts/train.sh interleaved-ir makes it). The grpo run
# repeats rl-interleaved-ir's config in its own folder, so the two GRPO runs also show how far
# two runs of one config drift apart (vLLM's sampling on CPU is not bit-reproducible across
# runs, so same seed does not mean same rollouts). Resumable like scripts/train.sh.
# Output: runs/estimator-X/, results/accuracy/estimator-X.json, results/estimators.md and .json
# (the Table 2 layout), results/estimators-curves.png (training curves side by side).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh"
cd "$repo"
py="$repo/.venv/bin/python"
estimators=(gae grpo reinforce_plus_plus)
for e in "${estimators[@]}"; do
  "$py" -m training rl --config training/configs/rl-interleaved-ir.yaml --resume \
    --set "estimator=$e" "out_dir=runs/estimator-$e"
done
curves=() results=()
for e in "${estimators[@]}"; do
  "$repo/scripts/evaluate.sh" "estimator-$e"
  curves+=("$e=runs/estimator-$e/log.jsonl")
  results+=("$e=results/accuracy/estimator-$e.json")
done
"$py" -m training plot --compare "${curves[@]}" --out results/estimators-curves.png
"$py" -m benchmarks.accuracy.compare "${results[@]}" \
  --output results/estimators.md --plot results/estimators-kk-difficulty.png
