#!/usr/bin/env bash
# Serving speed of the default model, side by side with vLLM's own OpenAI server on the same
# weights (`python -m modelprep --merged`), the same engine settings and the same prompts,
# greedy; requests alternate in blocks so each server runs alone. Writes results/speed/:
#
#   ours-vs-vllm-c1.json    one request at a time (16 K&K prompts, 128 tokens)
#   ours-vs-vllm-c32.json   32 concurrent streams (96 prompts, 128 tokens)
#   gateway-vs-vllm-c64.json our server in gateway mode (--upstream) in front of vLLM's server,
#                           against that server direct, 64 concurrent streams
#   startup.json            launch to healthy, first start (empty compile cache) and second
#
# Each JSON has a CDF and a timeline plot beside it; the ratios are printed. About 25 minutes
# on 2 idle cores.
#
#   scripts/bench_speed.sh [c1|c32|gateway|startup ...]   (default: all four)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup.sh"
cd "$repo"
py="$repo/.venv/bin/python"
out=results/speed
mkdir -p "$out"
model="$("$py" -m modelprep --merged)"
name=smollm2-135m-interleaved-arith
# vLLM's server gets what our server sets on CPU by default (2 GiB of KV cache, no AOT compile
# cache, which cannot load on CPU); its executor stays vLLM's own default.
vllm="VLLM_CPU_KVCACHE_SPACE=2 VLLM_USE_AOT_COMPILE=0 python -m vllm.entrypoints.openai.api_server \
--model $model --served-model-name $name --max-model-len 2048"
ours="python -m server --max-model-len 2048"
common=(--dataset kk --max-tokens 128 --temperature 0 --warmups 2 --interleave block
        --launch-timeout 900 --save-detailed)
steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(c1 c32 gateway startup)
for step in "${steps[@]}"; do
  case "$step" in
    c1)
      "$py" -m benchmarks.ttft --compare vllm ours \
        --launch vllm="$vllm --port 8142" --launch ours="$ours --port 8141" \
        "${common[@]}" --num-prompts 16 --block-size 4 --max-concurrency 1 \
        --output "$out/ours-vs-vllm-c1.json" ;;
    c32)
      "$py" -m benchmarks.ttft --compare vllm ours \
        --launch vllm="$vllm --port 8142" --launch ours="$ours --port 8141" \
        "${common[@]}" --num-prompts 96 --block-size 32 --max-concurrency 32 \
        --output "$out/ours-vs-vllm-c32.json" ;;
    gateway)
      "$py" -m benchmarks.ttft --compare vllm gateway \
        --launch vllm="$vllm --port 8142" \
        --launch gateway="python -m server --upstream http://127.0.0.1:8142/v1 --port 8143" \
        "${common[@]}" --num-prompts 128 --block-size 64 --max-concurrency 64 \
        --output "$out/gateway-vs-vllm-c64.json" ;;
    startup)
      "$py" -m benchmarks.startup --launch "$ours --port 8144" --starts 2 \
        --output "$out/startup.json" ;;
    *) echo "unknown step $step (c1, c32, gateway, startup)" >&2; exit 2 ;;
  esac
done
