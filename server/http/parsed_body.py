"""Routes whose request body FastAPI takes already parsed.

The middleware reads a generation request's body and parses it once, to check it
(`server.http.request_body.check_json`), and keeps the value in the request's scope.
`ParsedBodyRoute` gives FastAPI a request whose `json()` is that value, so FastAPI validates it
into the route's pydantic model as it would have validated its own parse of the same bytes:
the same OpenAPI schema, the same validation errors, one `json.loads` per request.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from server.http.request_body import PARSED_JSON


class _ParsedBodyRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            if PARSED_JSON not in self.scope:  # a body the middleware did not check
                return await super().json()
            self._json = self.scope[PARSED_JSON]
        return self._json


class ParsedBodyRoute(APIRoute):
    """An `APIRoute` whose JSON body is the value the middleware already parsed (FastAPI asks
    for it only when the request's Content-Type is JSON, as ever)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def with_parsed_body(request: Request) -> Response:
            return await handle(_ParsedBodyRequest(request.scope, request.receive))

        return with_parsed_body
