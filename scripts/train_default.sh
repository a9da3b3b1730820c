#!/usr/bin/env bash
# Reproduce the server's default model from scratch: full-fine-tune SFT on truth-table K&K and
# fact-quoting multi-hop traces in three stages (stage 1: sft-kk-tables.yaml, 150 steps; stage 2:
# its fp32 weights on fresh puzzles, sft-kk-tables-2.yaml, 75 steps; stage 3: stage 2's weights
# on puzzles in the widened phrasing, sft-kk-tables-3.yaml, 100 steps), a rank-64 LoRA adapter
# extracted from the whole change, then the held-out evaluation (training phrasing and the
# held-out phrasing) and its model card; then stage 5 (sft-early.yaml, 70 steps of 140): that adapter
# trained on as a LoRA with early-answer traces, chained arithmetic and the everyday set
# (tasks/data/everyday.jsonl, from `python -m training.distill` when missing), evaluated on
# the early sets; then one round of rejection-sampling fine-tuning from stage 5
# (rft-early.yaml: 4 samples per prompt, the best correct kept); last, an arithmetic stage
# with replay of the other tasks (sft-arith-2.yaml, 60 steps of 95), each evaluated the same way.
#
#   scripts/train_default.sh            # about 4 hours of 2 CPU cores for the three SFT stages,
#                                       # 1.5 more for stage 5, 15 minutes for the RFT round,
#                                       # 75 for the arithmetic stage
#
# Resumable: run it again after an interruption and the SFT continues from its newest
# checkpoint; a finished stage is not redone, evaluations are redone only when their JSON is
# missing. Output: runs/sft-kk-tables-3/lora-r64 (the truth-table adapter), runs/sft-early/adapter
# (stage 5), runs/rft-early/adapter (modelprep/adapters/smollm2-135m-interleaved-rft in bf16),
# runs/sft-arith-2/adapter (the default, modelprep/adapters/smollm2-135m-interleaved-arith), and
# their evaluations in results/accuracy/. Like stage 5, the arithmetic stage starts from the
# shipped copy of the stage before it, which its config names.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh"
cd "$repo"
py="$repo/.venv/bin/python"
first=runs/sft-kk-tables
second=runs/sft-kk-tables-2
run=runs/sft-kk-tables-3
"$py" -m training sft --config training/configs/sft-kk-tables.yaml --resume
[[ -f "$first/full/model.safetensors" ]] ||
  "$py" -m training extract "$first" --as-model --out "$first/full"
"$py" -m training sft --config training/configs/sft-kk-tables-2.yaml --resume
[[ -f "$second/full/model.safetensors" ]] ||
  "$py" -m training extract "$second" --as-model --out "$second/full"
"$py" -m training sft --config training/configs/sft-kk-tables-3.yaml --resume
[[ -f "$run/lora-r64/adapter_model.safetensors" ]] ||
  "$py" -m training extract "$run" --rank 64 --out "$run/lora-r64"
"$repo/scripts/evaluate.sh" tables-3
# Stage 5 starts from the adapter stage 3 gives; the shipped copy of it is what it names.
[[ -f tasks/data/everyday.jsonl ]] || "$py" -m training.distill
"$py" -m training sft --config training/configs/sft-early.yaml --resume
"$repo/scripts/evaluate.sh" early early
[[ -f runs/rft-early/adapter/adapter_model.safetensors ]] ||
  "$py" -m training rft --config training/configs/rft-early.yaml
"$repo/scripts/evaluate.sh" rft-early early
"$py" -m training sft --config training/configs/sft-arith-2.yaml --resume
"$repo/scripts/evaluate.sh" arith-2 early
