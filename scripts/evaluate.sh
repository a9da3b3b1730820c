#!/usr/bin/env bash
# Held-out evaluation of one model through our server, then its model card (trained models).
#
#   scripts/evaluate.sh base | base-think-answer | interleaved-ir | interleaved | think-answer
#   scripts/evaluate.sh estimator-gae | estimator-grpo | estimator-reinforce_plus_plus
#   scripts/evaluate.sh sft-interleaved | sft-think-answer      # the SFT warm starts alone
#   scripts/evaluate.sh tables-3  # runs/sft-kk-tables-3/lora-r64, the truth-table model
#                                 # (scripts/train_default.sh), on the training phrasing and on
#                                 # the held-out phrasing; `tables`, `tables-2`, `tables-4`:
#                                 # the other stages
#   scripts/evaluate.sh default early      # the shipped default; `early` (runs/sft-early/adapter,
#                                          # stage 5) and `rft-early` (runs/rft-early/adapter):
#                                          # K&K 2-5 people, multi-hop, word problems, chains
#                                          # typed as questions, everyday prompts (agreement
#                                          # with the base model), 1024 tokens
#                                          # -> results/accuracy/MODEL-early.json and
#                                          # MODEL-early-unseen.json (held-out phrasing),
#                                          # MODEL-early-novel.json (multi-hop written by
#                                          # hand on relations no generator makes);
#                                          # `twin`: runs/twin-rft/adapter, the think-answer
#                                          # twin (scripts/train_twin.sh), on the same sets;
#                                          # `twin-arith-2`: runs/twin-arith-2/adapter, its
#                                          # arithmetic stage;
#                                          # `rft-arith`, `twin-rft-arith`:
#                                          # runs/{,twin-}rft-arith/adapter, a rejection-
#                                          # sampling round after the arithmetic stage;
#                                          # `relations`: runs/sft-relations/adapter, multi-hop
#                                          # on the wider relation bank after the default;
#                                          # `local-hops`: runs/sft-local-hops/adapter, the
#                                          # same with traces that restate each hop locally;
#                                          # `rft-relations`: runs/rft-relations/adapter, a
#                                          # rejection-sampling round on the relation bank;
#                                          # `arith`, `arith-2`: runs/sft-arith{,-2}/adapter,
#                                          # the arithmetic stages after the RFT model
#                                          # (arith-2 is the default);
#                                          # `gpu` and `gpu-twin`: runs/sft-gpu{,-twin}/adapter
#                                          # (training/configs/sft-gpu.yaml on one GPU)
#   scripts/evaluate.sh MODEL paper        # the RL experiment's sets: 100 K&K (20 each of 2-6
#                                          # people), 100 multi-hop, 100 arithmetic, 1024 tokens
#                                          # -> results/accuracy/MODEL-paper.json
#   scripts/evaluate.sh MODEL paper-rerun  # the same requests again (-paper-rerun.json): the
#                                          # noise of re-evaluation, for `compare --baseline`
#
# base: SmolLM2-135M-Instruct with the interleaved instruction only (base-think-answer: with the
# think-answer one). The others: runs/rl-MODEL/adapter from scripts/train.sh, or
# runs/estimator-X/adapter from scripts/compare_estimators.sh. Questions: the
# generators' held-out test split (never trained on), K&K by people count, multi-hop, and the
# out-of-domain arithmetic set; greedy, one sample each (Pass@1).
# Output: results/accuracy/MODEL.json and .png. Skipped when the JSON exists (delete it to redo).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-}"
set_name="${2:-heldout}"
case "$set_name" in
  heldout | paper | paper-rerun | early) ;;
  *) echo "usage: scripts/evaluate.sh MODEL [heldout|paper|paper-rerun|early]" >&2; exit 2 ;;
esac
case "$model" in
  base) server=(--no-adapter) style=interleaved ;;
  base-think-answer) server=(--no-adapter) style=think_answer ;;
  interleaved-ir | interleaved) server=(--adapter "runs/rl-$model/adapter") style=interleaved ;;
  think-answer) server=(--adapter "runs/rl-$model/adapter") style=think_answer ;;
  estimator-gae | estimator-grpo | estimator-reinforce_plus_plus | sft-interleaved)
    server=(--adapter "runs/$model/adapter") style=interleaved ;;
  sft-think-answer) server=(--adapter "runs/$model/adapter") style=think_answer ;;
  tables) server=(--adapter runs/sft-kk-tables/lora-r64) style=interleaved ;;
  tables-2) server=(--adapter runs/sft-kk-tables-2/lora-r64) style=interleaved ;;
  tables-3) server=(--adapter runs/sft-kk-tables-3/lora-r64) style=interleaved ;;
  tables-4) server=(--adapter runs/sft-kk-tables-4/lora-r64) style=interleaved ;;
  default) server=() style=interleaved ;;
  early) server=(--adapter runs/sft-early/adapter) style=interleaved ;;
  rft-early) server=(--adapter runs/rft-early/adapter) style=interleaved ;;
  arith) server=(--adapter runs/sft-arith/adapter) style=interleaved ;;
  arith-2) server=(--adapter runs/sft-arith-2/adapter) style=interleaved ;;
  twin) server=(--adapter runs/twin-rft/adapter) style=think_answer ;;
  twin-arith-2) server=(--adapter runs/twin-arith-2/adapter) style=think_answer ;;
  rft-arith) server=(--adapter runs/rft-arith/adapter) style=interleaved ;;
  twin-rft-arith) server=(--adapter runs/twin-rft-arith/adapter) style=think_answer ;;
  relations) server=(--adapter runs/sft-relations/adapter) style=interleaved ;;
  local-hops) server=(--adapter runs/sft-local-hops/adapter) style=interleaved ;;
  rft-relations) server=(--adapter runs/rft-relations/adapter) style=interleaved ;;
  gpu) server=(--adapter runs/sft-gpu/adapter) style=interleaved ;;
  gpu-twin) server=(--adapter runs/sft-gpu-twin/adapter) style=think_answer ;;
  *) echo "usage: scripts/evaluate.sh base|base-think-answer|interleaved-ir|interleaved|think-answer|sft-{interleaved,think-answer}|estimator-{gae,grpo,reinforce_plus_plus}|tables|tables-2|tables-3|tables-4|default|early|rft-early|arith|arith-2|twin|twin-arith-2|rft-arith|twin-rft-arith|relations|local-hops|rft-relations|gpu|gpu-twin [heldout|paper|paper-rerun|early]" >&2
     exit 2 ;;
esac
"$repo/scripts/setup.sh"
cd "$repo"
py="$repo/.venv/bin/python"
heldout=(--dataset kk:60:people=2,3,4,5 --dataset multihop:30:hops=2,3 --dataset arithmetic:30
         --max-tokens 640 --temperature 0 --concurrency 32)
card="runs/rl-$model/adapter"
if [[ "$model" == tables* ]]; then
  # The truth-table models: 25 puzzles per K&K size, 768 tokens; the held-out phrasing is
  # measured separately (tables-unseen.json).
  heldout=(--dataset kk:100:people=2,3,4,5 --dataset multihop:40:hops=2,3
           --dataset arithmetic:20 --max-tokens 768 --temperature 0 --concurrency 32)
  unseen=(--dataset kk:60:people=2,3,4:phrasing=unseen --dataset multihop:30:hops=2,3:phrasing=unseen
          --max-tokens 768 --temperature 0 --concurrency 32)
  card="${server[1]}"
fi
launch="$py -m server ${server[*]} --kv-cache-memory-bytes 1073741824 --enforce-eager"
if [[ "$set_name" == early ]]; then
  # The early-answer model's targets: each task's Pass@1, where its first answer starts and
  # when it arrives; everyday prompts judged by agreement with the base model's answers.
  early=(--dataset kk:80:people=2,3,4,5 --dataset multihop:40:hops=2,3 --dataset arithmetic:30
         --dataset chains:30 --dataset everyday:59 --max-tokens 1024 --temperature 0
         --concurrency 16)
  early_unseen=(--dataset kk:60:people=2,3,4:phrasing=unseen
                --dataset multihop:30:hops=2,3:phrasing=unseen --max-tokens 1024 --temperature 0
                --concurrency 16)
  out="results/accuracy/$model-early.json"
  [[ -f "$out" ]] || "$py" -m benchmarks.accuracy --launch "$launch" --style "$style" \
    "${early[@]}" --output "$out"
  out="results/accuracy/$model-early-unseen.json"
  [[ -f "$out" ]] || "$py" -m benchmarks.accuracy --launch "$launch" --style "$style" \
    "${early_unseen[@]}" --output "$out"
  # Multi-hop written by hand on relations no generator makes (tasks/data/multihop-novel.jsonl).
  out="results/accuracy/$model-early-novel.json"
  [[ -f "$out" ]] || "$py" -m benchmarks.accuracy --launch "$launch" --style "$style" \
    --data tasks/data/multihop-novel.jsonl --max-tokens 1024 --temperature 0 --concurrency 16 \
    --output "$out"
  exit 0
fi
if [[ "$set_name" != heldout ]]; then
  # The RL experiment's sets: at least 100 held-out items per dataset, K&K 2-6 people. Same
  # seed, so a rerun asks exactly the same questions; no model card (the card reports the
  # heldout sets).
  # 1024 tokens: a 4-person trace averages ~795 tokens and would be cut at 768 too often for
  # the by-difficulty curve to measure reasoning rather than length.
  paper=(--dataset kk:100:people=2,3,4,5,6 --dataset multihop:100:hops=2,3
         --dataset arithmetic:100 --max-tokens 1024 --temperature 0 --concurrency 32)
  out="results/accuracy/$model-$set_name.json"
  [[ -f "$out" ]] || "$py" -m benchmarks.accuracy --launch "$launch" --style "$style" \
    "${paper[@]}" --output "$out"
  exit 0
fi
evaluation="results/accuracy/$model.json"
if [[ ! -f "$evaluation" ]]; then
  # 1 GiB of KV cache holds 32 streams of 900 tokens and lets evaluations run beside training;
  # eager mode starts in ~25 s where compiling takes minutes on a busy CPU.
  "$py" -m benchmarks.accuracy --launch "$launch" --style "$style" \
    "${heldout[@]}" --output "$evaluation"
fi
if [[ "$model" == tables* && ! -f "results/accuracy/$model-unseen.json" ]]; then
  "$py" -m benchmarks.accuracy --launch "$launch" --style "$style" \
    "${unseen[@]}" --output "results/accuracy/$model-unseen.json"
fi
if [[ "$model" != base* && "$model" != estimator-* && "$model" != sft-* ]]; then
  "$py" -m training card "$card" --evaluation "$evaluation"
  if [[ "$model" == tables* ]]; then
    "$py" -m training card "$card" --evaluation "results/accuracy/$model-unseen.json" --unseen
  fi
fi
