"""Pydantic models of every wire format the server speaks.

Requests are validated with these models (unknown fields are rejected with 400, so nothing is
silently misread). Everything the server sends is built from them and serialized once: the
non-streaming bodies, every `chat.completion.chunk` (`server.generation.shaping`, dumped with
`exclude_unset`, so a chunk carries only the fields it sets) and every Responses event
(`server.responses.encoder`).

Extensions to OpenAI's shapes (all additive, so unmodified OpenAI clients keep working):
  - request `enforce_format` (bool): constrain generation to the interleaved format.
  - chunk `choices[].delta.answer_complete` (`AnswerInfo`): an answer segment just completed.
  - message `answers` (list of `AnswerInfo`) and choice `format_ok` (bool) when not streaming.
  - message / delta `reasoning` (vLLM's field name) and, with --reasoning-content-field,
    `reasoning_content`.
  - reasoning controls (`server.generation.reasoning_fields` maps them onto one budget):
    `reasoning_budget`, `reasoning_effort`, `reasoning`, `include_reasoning`,
    `chat_template_kwargs.enable_thinking`, `thinking_token_budget`; `AnswerInfo.forced`.
  - `timings` (`ChoiceTimings`): per choice in the non-streaming body and in the choice's
    finish chunk; on the Responses object.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from server.responses.protocol import (
    FunctionCallArgumentsDelta,
    FunctionCallArgumentsDone,
    FunctionCallInput,
    FunctionCallItem,
    FunctionCallOutputInput,
    ReasoningInput,
    ResponsesFunctionTool,
    ResponsesToolChoice,
)
from server.structured.protocol import ResponseFormat
from server.tools.protocol import (
    FunctionTool,
    MessageToolCall,
    SegmentRef,
    ToolCallChunk,
    ToolCallError,
    ToolChoice,
)

MAX_N = 16
MAX_STOP = 16
MAX_TOKENS_LIMIT = 1 << 20  # beyond any context length; the real bound is checked per model


class _Strict(BaseModel):
    """Request models: unknown fields are an error, never silently dropped, and values are not
    coerced across JSON types ("yes" is not a boolean, "5" is not a number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


# -- chat completions: request ------------------------------------------------------------------


class TextPart(_Strict):
    type: Literal["text", "input_text", "output_text"]
    text: str
    # An `output_text` part sent back from a Responses output item carries these; ignored.
    annotations: list[Any] | None = None
    logprobs: list[Any] | None = None


# Roles whose messages must carry content (as OpenAI requires); an assistant message may have
# none (OpenAI's tool-call turns), and an unknown role is reported as such by the route.
_CONTENT_REQUIRED = frozenset({"system", "developer", "user", "tool"})


class EchoedAnswer(BaseModel):
    """An element of `answers` sent back from an earlier response: only its text matters."""

    model_config = ConfigDict(extra="ignore")

    text: str


class ChatMessage(BaseModel):
    """A message of the conversation. An assistant message echoed back from an earlier response
    may carry its `reasoning` (or `reasoning_content`), `answers`, `segments` and `tool_calls`:
    they are replayed in the prompt in the order the model wrote them
    (`server.tools.history`). A `tool` message carries a call's result (`tool_call_id`). Other
    fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    role: str
    # validate_default: an omitted content is checked like an explicit null.
    content: str | list[TextPart] | None = Field(default=None, validate_default=True)
    name: str | None = None
    tool_calls: list[MessageToolCall] | None = None
    tool_call_id: str | None = None
    reasoning: str | None = None
    reasoning_content: str | None = None
    answers: list[EchoedAnswer] | None = None
    segments: list[SegmentRef] | None = None

    @field_validator("content")
    @classmethod
    def _content(
        cls, value: str | list[TextPart] | None, info: ValidationInfo
    ) -> str | list[TextPart] | None:
        role = info.data.get("role")
        if value is None and role in _CONTENT_REQUIRED:
            raise PydanticCustomError(
                "content_required",
                "a {role} message needs content (a string or a list of text parts); only "
                "assistant messages may omit it",
                {"role": role},
            )
        return value

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Strict):
    include_usage: bool = False


# -- reasoning controls (request) ---------------------------------------------------------------

Effort = Literal["none", "low", "medium", "high"]
_Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS_LIMIT)]


class ReasoningBudgetField(_Strict):
    """Our own reasoning limits, every one explicit (all optional; see
    `server.generation.budgets`)."""

    max_segment_tokens: _Tokens | None = None  # each think segment
    max_total_tokens: _Tokens | None = None  # all think segments together
    first_answer_tokens: _Tokens | None = None  # first answer starts by this many tokens
    first_answer_ms: Annotated[float, Field(ge=0.0, le=86_400_000.0)] | None = None


class OpenRouterReasoning(_Strict):
    """OpenRouter's unified `reasoning` object."""

    effort: Effort | None = None
    max_tokens: _Tokens | None = None
    exclude: bool | None = None
    enabled: bool | None = None


class ChatTemplateKwargs(_Strict):
    """vLLM's `chat_template_kwargs`: only `enable_thinking` means something to this server
    (the template is the model's own; other keys would be silently lost, so they are 400s)."""

    enable_thinking: bool | None = None


class ChatCompletionRequest(_Strict):
    """`POST /v1/chat/completions`. Supported: the fields below.

    Function calling: `tools`, `tool_choice`, `parallel_tool_calls` (`server.tools`);
    `response_format` constrains the final answer (`server.structured`).

    Accepted but without effect when left at their neutral value (so clients that always send
    them still work), rejected otherwise: `frequency_penalty`/`presence_penalty` (0),
    `logprobs` (false), `store` (false), `metadata`, `service_tier`.
    Everything else (logit_bias, ...) is rejected with 400.
    """

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_LIMIT)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_LIMIT)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=MAX_N)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-(1 << 63), lt=1 << 63)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    enforce_format: bool = False
    # Reasoning controls (`server.generation.reasoning_fields`).
    reasoning_budget: ReasoningBudgetField | None = None
    reasoning_effort: Effort | None = None
    reasoning: OpenRouterReasoning | None = None
    include_reasoning: bool | None = None
    chat_template_kwargs: ChatTemplateKwargs | None = None
    thinking_token_budget: _Tokens | None = None
    # Function calling and the final answer's format.
    tools: list[FunctionTool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: Annotated[ResponseFormat, Field(discriminator="type")] | None = None
    # Neutral-only fields (see the docstring).
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logprobs: Literal[False] | None = None
    store: Literal[False] | None = None
    metadata: dict[str, str] | None = None
    service_tier: str | None = None

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list):
            if len(value) > MAX_STOP:
                raise ValueError(f"at most {MAX_STOP} stop sequences")
            if any(not s for s in value):
                raise ValueError("stop sequences must be non-empty")
        elif value == "":
            raise ValueError("stop sequences must be non-empty")
        return value

    @field_validator("max_completion_tokens")
    @classmethod
    def _one_max_tokens(cls, value: int | None, info: ValidationInfo) -> int | None:
        # `max_tokens` is the older name of the same limit: both may be sent, but not with
        # two different values, which would leave the server to guess which one was meant.
        other = info.data.get("max_tokens")
        if value is not None and other is not None and value != other:
            raise PydanticCustomError(
                "conflicting_max_tokens",
                "conflicts with max_tokens ({other}); send one, or the same value in both",
                {"other": other},
            )
        return value

    @field_validator("stream_options")
    @classmethod
    def _stream_options(
        cls, value: StreamOptions | None, info: ValidationInfo
    ) -> StreamOptions | None:
        # As OpenAI: options for a stream in a request for none are a mistake, not a no-op.
        if value is not None and info.data.get("stream") is not True:
            raise PydanticCustomError(
                "stream_options_without_stream", "only allowed when stream is true"
            )
        return value

    @field_validator("frequency_penalty", "presence_penalty")
    @classmethod
    def _neutral(cls, value: float | None) -> float | None:
        if value:
            raise ValueError("not supported by this server; only 0 is accepted")
        return value

    def stop_list(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


# -- chat completions: response -----------------------------------------------------------------


class AnswerInfo(BaseModel):
    """One completed answer segment (our extension; `delta.answer_complete` when streaming,
    an element of `message.answers` otherwise)."""

    index: int  # 0-based among the answers of this choice
    text: str  # the whole answer, stripped
    elapsed_ms: float  # ms from the server receiving the request to the answer completing
    first_token_offset: int  # completion tokens generated before the answer's first text token
    token_offset: int  # completion tokens generated when the answer completed
    complete: bool  # False when the answer's closing tag never arrived
    forced: bool = False  # a reasoning budget closed the thinking before it and opened it


class SegmentTiming(BaseModel):
    kind: Literal["think", "answer"]
    tokens: int  # completion tokens of this segment (its tags included)


class ForcedClose(BaseModel):
    """One time a reasoning budget ended thinking: `reason` is the budget field that fired."""

    reason: Literal[
        "max_segment_tokens", "max_total_tokens", "first_answer_tokens", "first_answer_ms"
    ]
    token_offset: int  # completion tokens generated when it fired
    elapsed_ms: float  # since the request arrived
    # From the decision to the continuation's first output: what the forced close cost
    # (abort, prefill of the prompt plus the text so far, one decode step). None when the
    # response ended there (no tokens left).
    resume_ms: float | None


class ChoiceTimings(BaseModel):
    """Where one choice's time and tokens went (our extension). Times are ms since the
    server received the request; None when the event never happened."""

    index: int
    time_to_first_token_ms: float | None
    time_to_first_answer_ms: float | None  # first answer *text*
    answer_ms: list[float]  # each answer's completion, in order
    think_tokens: int
    answer_tokens: int
    segments: list[SegmentTiming]
    forced_closes: int
    forced: list[ForcedClose] = Field(default_factory=list)


class RequestMetrics(BaseModel):
    """vLLM's per-request `metrics` object, same field names and meanings (with
    --per-request-metrics; for n=1). time_to_first_token_ms: scheduling to the first token
    (from the request's arrival when the engine's own timestamps are not at hand, in gateway
    mode); generation_time_ms: first to last token; queue_time_ms: waiting to be scheduled
    (engine only); mean_itl_ms: the mean time between tokens after the first;
    tokens_per_second: completion tokens over scheduling to the last token. Fields that cannot
    be known are left out."""

    time_to_first_token_ms: float | None = None
    generation_time_ms: float | None = None
    queue_time_ms: float | None = None
    mean_itl_ms: float | None = None
    tokens_per_second: float | None = None


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: CompletionTokensDetails


class AssistantMessage(BaseModel):
    # Extra fields, present only when they apply: reasoning_content (when the flag asks for
    # it); with tools: tool_calls, tool_call_errors (our extension) and segments (ours).
    model_config = ConfigDict(extra="allow")

    role: Literal["assistant"] = "assistant"
    content: str | None  # None only for a turn of tool calls without answer text
    reasoning: str | None = None
    answers: list[AnswerInfo] = Field(default_factory=list)


class ChatChoice(BaseModel):
    # Extra, only when it applies: response_format_error (the final answer does not follow
    # the request's schema; `server.structured.final`).
    model_config = ConfigDict(extra="allow")

    index: int
    message: AssistantMessage
    logprobs: None = None
    finish_reason: str | None
    format_ok: bool
    timings: ChoiceTimings | None = None


class ChatCompletion(BaseModel):
    model_config = ConfigDict(extra="allow")  # metrics, with --per-request-metrics

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class ChunkDelta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning: str | None = None
    reasoning_content: str | None = None
    answer_complete: AnswerInfo | None = None
    tool_calls: list[ToolCallChunk] | None = None
    tool_call_error: ToolCallError | None = None  # our extension: a call that is not valid


class ChunkChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int
    delta: ChunkDelta
    logprobs: None = None
    finish_reason: str | None = None
    timings: ChoiceTimings | None = None  # on the chunk with the choice's finish_reason
    # On that chunk too: what is wrong with the final answer given `response_format` (ours).
    response_format_error: str | None = None


class ChatCompletionChunk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    metrics: RequestMetrics | None = None  # on the usage chunk, with --per-request-metrics


# -- models, errors -----------------------------------------------------------------------------


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "interleaved-reasoning"
    max_model_len: int | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


# -- responses API ------------------------------------------------------------------------------


class InputMessage(BaseModel):
    """An `input` item of the Responses API: a message (type "message" or omitted)."""

    model_config = ConfigDict(extra="ignore")  # id, status echoed back from output items

    type: Literal["message"] = "message"
    role: str
    content: str | list[TextPart]
    # Echoed from our output items: an earlier intermediate ("commentary") or final answer.
    # Replayed as text like any assistant message; a value outside the two is a 400.
    phase: Literal["commentary", "final_answer"] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


def _item_type(value: Any) -> str:
    kind = value.get("type", "message") if isinstance(value, dict) else getattr(value, "type", "")
    # Tags in brackets: `server.http.errors` leaves them out of the field path it reports.
    return f"item[{kind}]"


# An `input` item: a message (type "message" or omitted), a reasoning item, a function call
# sent back, or a call's output.
InputItem = Annotated[
    Annotated[InputMessage, Tag("item[message]")]
    | Annotated[ReasoningInput, Tag("item[reasoning]")]
    | Annotated[FunctionCallInput, Tag("item[function_call]")]
    | Annotated[FunctionCallOutputInput, Tag("item[function_call_output]")],
    Discriminator(_item_type),
]


class ResponsesReasoning(_Strict):
    """OpenAI's Responses `reasoning`: `effort` is honoured (a total think cap)."""

    effort: Effort | None = None
    summary: Literal["auto"] | None = None


class ResponsesRequest(_Strict):
    """`POST /v1/responses`. Supported: model, input (a string or a list of items: messages,
    reasoning items, function calls and their outputs), instructions (the system prompt),
    max_output_tokens, temperature, top_p, seed, stream, user, enforce_format, tools
    (`function` tools), tool_choice, parallel_tool_calls, reasoning.effort and reasoning_budget
    (see `server.generation.reasoning_fields`). Neutral-only: store (false), metadata, service_tier,
    reasoning.summary ("auto" or null: no summaries are written, the think text itself is the
    reasoning item), truncation ("disabled"). Anything else, e.g. previous_response_id, is
    rejected."""

    model: str | None = None
    input: str | Annotated[list[InputItem], Field(min_length=1)]
    instructions: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_LIMIT)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=-(1 << 63), lt=1 << 63)
    stream: bool = False
    user: str | None = None
    enforce_format: bool = False
    store: Literal[False] | None = None
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    tools: list[ResponsesFunctionTool] | None = None
    tool_choice: ResponsesToolChoice | None = None
    service_tier: str | None = None
    reasoning: ResponsesReasoning | None = None
    reasoning_budget: ReasoningBudgetField | None = None
    truncation: Literal["disabled"] | None = None


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


class ReasoningText(BaseModel):
    type: Literal["reasoning_text"] = "reasoning_text"
    text: str


class MessageItem(BaseModel):
    """An answer segment as a Responses `message` output item. `answer` is our extension: the
    same data as `AnswerInfo` (set once the answer completed)."""

    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    status: Literal["in_progress", "completed", "incomplete"]
    phase: Literal["commentary", "final_answer"] | None = None
    content: list[OutputText]
    answer: AnswerInfo | None = None


class ReasoningItem(BaseModel):
    id: str
    type: Literal["reasoning"] = "reasoning"
    summary: list[Any] = Field(default_factory=list)
    status: Literal["in_progress", "completed", "incomplete"]
    content: list[ReasoningText]


class ResponsesUsage(BaseModel):
    input_tokens: int
    input_tokens_details: dict[str, int] = Field(
        default_factory=lambda: {"cached_tokens": 0, "cache_write_tokens": 0}
    )
    output_tokens: int
    output_tokens_details: dict[str, int]
    total_tokens: int


class ResponseObject(BaseModel):
    model_config = ConfigDict(extra="allow")  # metrics, on the final object

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["in_progress", "completed", "incomplete", "failed"]
    model: str
    output: list[MessageItem | ReasoningItem | FunctionCallItem]
    parallel_tool_calls: bool = False
    tool_choice: str | dict[str, Any] = "none"
    tools: list[Any] = Field(default_factory=list)
    incomplete_details: dict[str, str] | None = None
    error: dict[str, Any] | None = None
    usage: ResponsesUsage | None = None
    format_ok: bool | None = None  # our extension, as on chat choices
    timings: ChoiceTimings | None = None  # our extension, on the final response object
    # Echoed from the request.
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None


# -- responses API: stream events -----------------------------------------------------------------


class ResponseLifecycleEvent(BaseModel):
    """response.created / .in_progress / .completed / .incomplete: a snapshot of the response."""

    response: ResponseObject
    type: str
    sequence_number: int


class OutputItemEvent(BaseModel):
    """response.output_item.added / .done."""

    output_index: int
    item: MessageItem | ReasoningItem | FunctionCallItem
    type: str
    sequence_number: int


class ContentPartEvent(BaseModel):
    """response.content_part.added / .done."""

    item_id: str
    output_index: int
    content_index: int
    part: OutputText | ReasoningText
    type: str
    sequence_number: int


class OutputTextDelta(BaseModel):
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[Any] = Field(default_factory=list)
    type: str
    sequence_number: int


class ReasoningTextDelta(BaseModel):
    item_id: str
    output_index: int
    content_index: int
    delta: str
    type: str
    sequence_number: int


class OutputTextDone(BaseModel):
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[Any] = Field(default_factory=list)
    type: str
    sequence_number: int


class ReasoningTextDone(BaseModel):
    item_id: str
    output_index: int
    content_index: int
    text: str
    type: str
    sequence_number: int


class ErrorEvent(BaseModel):
    """The event that ends a Responses stream that failed after it started."""

    code: str
    message: str
    param: str | None = None
    type: str
    sequence_number: int


# Every Responses stream event: its own fields first, then `type` (also the SSE `event:` name)
# and `sequence_number`, the order the server has always sent.
ResponsesEvent = (
    ResponseLifecycleEvent
    | OutputItemEvent
    | ContentPartEvent
    | OutputTextDelta
    | ReasoningTextDelta
    | OutputTextDone
    | ReasoningTextDone
    | FunctionCallArgumentsDelta
    | FunctionCallArgumentsDone
    | ErrorEvent
)
