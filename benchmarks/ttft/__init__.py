"""`python -m benchmarks.ttft`: latency of OpenAI-compatible servers as their users feel it.

Modules, one job each: `client` (one timed streaming request), `classify` (think vs answer
tokens, answer completion times), `metrics` (per-request numbers and run distributions),
`load` (arrival process, concurrency, interleaving targets, sweeps), `prompts` (prompt
sources), `targets` (command-line target syntax), `launch` (start and stop servers),
`report` (console table, JSON), `plots` (PNG). Talks to servers over HTTP only.
"""
