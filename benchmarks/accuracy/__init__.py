"""`python -m benchmarks.accuracy`: Pass@1, format rate, intermediate-answer accuracy and the
paper's normalized time-to-first-answer, by dataset and by difficulty, for any served model.

    python -m benchmarks.accuracy --base-url http://127.0.0.1:8000 [--api-key KEY]
        [--dataset kk:50 --dataset multihop:50] [--data FILE.jsonl] [--style interleaved]
        [--max-tokens 1024] [--temperature 0] [--extra-body '{"enforce_format": true}']
        [--output results/accuracy.json] [--plot results/accuracy.png]
    python -m benchmarks.accuracy --launch "python -m server --adapter runs/rl/adapter" ...

Like every benchmark it talks to the model over HTTP (OpenAI chat completions), so it measures
our server, vLLM's own server or anything compatible; `--launch` starts a server (e.g. on a
trained checkpoint) for the run and stops it afterwards.

Besides HTTP it imports only `tasks` and `parsing`: the questions come from `tasks` (the
generators' held-out `test` split, or Example JSONL) and their judging from `tasks.judging` (the
exact-match rules training's rewards use too), so evaluation and training can never disagree on
what "correct" means. Nothing from `training` (no torch) is imported.

Metrics (each response judged against its example):
- pass_at_1: the final answer (last answer segment) is correct, one sample per question.
- format_rate: the response follows the format rule (`parsing`'s verdict).
- intermediate_accuracy: matched intermediate ground truths / all of them (pooled).
- normalized_ttft: the paper's TTFT (Xie et al. 2025, App. F.1), the position of the first
  answer token in the response as a share of its length (lower is earlier). From our server:
  completion tokens before the first answer's first text token
  (`answers[0].first_token_offset`) / completion tokens. From servers returning raw tagged
  text: characters before the first answer's text / all characters. Responses without an
  answer are left out of the mean.
"""
