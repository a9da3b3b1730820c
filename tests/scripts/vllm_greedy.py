"""Greedy "What is 2+3?" through vLLM's offline engine; prints the completion on a marked line."""

import sys

from vllm import LLM, SamplingParams


def main(model_dir: str) -> None:
    llm = LLM(
        model=model_dir, max_model_len=1024, kv_cache_memory_bytes=1 << 30, enforce_eager=True
    )
    messages = [{"role": "user", "content": "What is 2+3?"}]
    outputs = llm.chat(messages, SamplingParams(temperature=0, max_tokens=16))
    # vLLM logs to stdout too: mark the line the test reads.
    print("COMPLETION:" + outputs[0].outputs[0].text.strip(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
