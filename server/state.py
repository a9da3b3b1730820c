"""What the routes share: settings, the backend, admission control, the default prompt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.backend import Backend, GenerationParams, Message
from server.config import Settings
from server.errors import APIError
from server.generation import Run
from server.prompting import system_prompt_for
from server.streams import Admission


@dataclass
class AppState:
    settings: Settings
    backend: Backend
    admission: Admission = field(init=False)
    system_prompt: str | None = field(init=False)
    draining: bool = False  # set on SIGTERM: /health turns 503 so balancers stop sending

    def __post_init__(self) -> None:
        self.admission = Admission(self.settings.max_concurrent_requests)
        self.system_prompt = system_prompt_for(self.settings)

    async def start_run(
        self, messages: list[Message], params: GenerationParams, state: dict[str, Any]
    ) -> Run:
        """Admit (or 429) and submit a request; the returned run owns the admission slot."""
        self.admission.enter()
        try:
            generation = await self.backend.generate(messages, params, state["request_id"])
        except BaseException:
            self.admission.leave()
            raise
        return Run(generation, self.settings.format, params.n, state["t0"], self.admission, state)


def check_model(app: AppState, model: str | None) -> None:
    """404 unless the request names the served model (or names none)."""
    if model is not None and model != app.backend.model_name:
        raise APIError(
            404,
            f"model {model!r} does not exist; this server serves {app.backend.model_name!r}",
            param="model",
            code="model_not_found",
        )
