#!/usr/bin/env bash
# The think-answer twin of the default model: the same stages on the same traces with the same
# configs and seeds, each run with `style: think_answer` (all the reasoning first, then every
# answer at the end), so accuracy and time to the first answer compare equal models.
#
#   stage 1-3  sft-kk-tables{,-2,-3}.yaml  full fine-tuning on truth-table K&K and multi-hop
#              -> runs/twin-kk-tables-3/lora-r64 (a rank-64 adapter extracted from the change)
#   stage 5    sft-early.yaml              the LoRA on early-answer traces, arithmetic, everyday
#              -> runs/twin-early/adapter
#   RFT        rft-early.yaml              one round of rejection-sampling fine-tuning
#              -> runs/twin-rft/adapter, evaluated like the default (scripts/evaluate.sh twin early)
#   arithmetic sft-arith-2.yaml            the arithmetic stage with replay, from the shipped copy
#              of the twin's RFT round (modelprep/adapters/smollm2-135m-think-answer-rft)
#              -> runs/twin-arith-2/adapter (scripts/evaluate.sh twin-arith-2 early), shipped
#              as modelprep/adapters/smollm2-135m-think-answer-arith, the default's twin
#
#   scripts/train_twin.sh      # as long as scripts/train_default.sh: about 7 hours of 2 CPU cores
#
# Resumable in the same way: each SFT continues from its newest checkpoint, finished stages are
# kept. The twin stops where the default's runs stopped (`stop_at_step`); where a default stage
# was resumed once with a shorter schedule (its config says so), the twin follows the final
# schedule from the start.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh"
cd "$repo"
py="$repo/.venv/bin/python"
twin=(style=think_answer)
one=runs/twin-kk-tables
two=runs/twin-kk-tables-2
three=runs/twin-kk-tables-3
"$py" -m training sft --config training/configs/sft-kk-tables.yaml --resume \
  --set "${twin[@]}" out_dir=$one
[[ -f "$one/full/model.safetensors" ]] ||
  "$py" -m training extract "$one" --as-model --out "$one/full"
"$py" -m training sft --config training/configs/sft-kk-tables-2.yaml --resume \
  --set "${twin[@]}" out_dir=$two model=$one/full
[[ -f "$two/full/model.safetensors" ]] ||
  "$py" -m training extract "$two" --as-model --out "$two/full"
"$py" -m training sft --config training/configs/sft-kk-tables-3.yaml --resume \
  --set "${twin[@]}" out_dir=$three model=$two/full
[[ -f "$three/lora-r64/adapter_model.safetensors" ]] ||
  "$py" -m training extract "$three" --rank 64 --out "$three/lora-r64"
[[ -f tasks/data/everyday.jsonl ]] || "$py" -m training.distill
"$py" -m training sft --config training/configs/sft-early.yaml --resume \
  --set "${twin[@]}" out_dir=runs/twin-early init_adapter=$three/lora-r64
[[ -f runs/twin-rft/adapter/adapter_model.safetensors ]] ||
  "$py" -m training rft --config training/configs/rft-early.yaml --resume \
    --set "${twin[@]}" out_dir=runs/twin-rft init_adapter=runs/twin-early/adapter
"$repo/scripts/evaluate.sh" twin early
"$py" -m training sft --config training/configs/sft-arith-2.yaml --resume \
  --set "${twin[@]}" out_dir=runs/twin-arith-2 init_adapter=modelprep/adapters/smollm2-135m-think-answer-rft
"$repo/scripts/evaluate.sh" twin-arith-2 early
