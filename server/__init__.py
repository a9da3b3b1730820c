"""OpenAI-compatible server for interleaved-reasoning models.

    python -m server [--model DIR] [--adapter DIR] [--upstream URL] [--port 8000] ...

Packages, in the order a request meets them:
  config, __main__   settings (flags and INTERLEAVED_* variables); start-up, SIGTERM drain
  http/              connections, middleware (request id, API key, limits, access log), the
                     body read within a deadline and parsed once, error bodies,
                     admission and streams
  api                the FastAPI app: routes, middleware, backend lifetime, /health, /metrics
  chat/              POST /v1/chat/completions
  responses/         POST /v1/responses
  messages/          POST /v1/messages (Anthropic)
  schemas            the OpenAI wire models (chat, Responses, errors, models)
  tools/, structured/  function calling; response_format on the final answer
  state              shared route state: admission, runs, access records
  generation/        one request's run: preparation, prompt, pieces -> shapers -> ops, budgets
  backends/          the interface, vLLM in-process (engine), gateway (upstream)
  metrics            Prometheus metrics (beside vLLM's own)
"""

from server.api import create_app
from server.config import Settings, parse_settings

__all__ = ["Settings", "create_app", "parse_settings"]
