"""OpenAI-compatible server for interleaved-reasoning models.

    python -m server [--model DIR] [--adapter DIR] [--upstream URL] [--port 8000] ...

Modules, in the order a request meets them:
  config             settings: flags and INTERLEAVED_* environment variables
  __main__           start-up, graceful SIGTERM shutdown
  connections        uvicorn's HTTP protocol with a header read timeout
  api                the FastAPI app: routes, middleware, backend lifetime, /health, /metrics
  middleware         request id, API key, body and header limits, JSON access log, request counter
  request_body       the body read whole within a deadline; JSON and text checks before the engine
  errors             every error as OpenAI's {"error": {...}}
  schemas            pydantic models of every request and response
  chat_api           POST /v1/chat/completions
  responses_api      POST /v1/responses
  state, streams     shared route state, admission (429), streams that always clean up
  generation         one request's run: pieces -> shapers -> metrics, cleanup
  prompting          messages, the default system prompt, the enforce_format expression
  shaping            parser events -> ops -> chat.completion.chunk lines (the per-token path)
  responses_events   ops -> Responses API output items and events
  backend            the interface both backends implement
  engine             vLLM AsyncLLM in-process;  adapters: LoRA merge cache
  upstream           gateway to another OpenAI-compatible server
  metrics            Prometheus metrics (beside vLLM's own)
"""

from server.api import create_app
from server.config import Settings, parse_settings

__all__ = ["Settings", "create_app", "parse_settings"]
