"""Prompt text for a tokenizer, and SFT pairs, for the two output styles the paper compares.

The styles, their instructions, the chat messages and the targets are `tasks.prompts` (torch-
free, shared with the server and the benchmarks); what needs a tokenizer is here. Prompts go
through the tokenizer's own chat template, so the model sees the role markup it was
instruction-tuned with.
"""

from __future__ import annotations

from typing import Any, Protocol

from tasks.example import Example
from tasks.prompts import Style, build_messages, target


class ChatTokenizer(Protocol):
    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: Any) -> Any: ...


def apply_template(
    tokenizer: ChatTokenizer, ex: Example, style: Style | str = "interleaved"
) -> str:
    """The prompt text, ending where the assistant's reply starts.

    Chat templates without a system role (they raise on one) get the instruction at the top of
    the user turn instead.
    """
    messages = build_messages(ex, style)
    try:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except Exception as e:  # jinja2 TemplateError and friends; the type depends on the template
        if "system" not in str(e).lower():
            raise
        merged = [
            {"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"}
        ]
        text = tokenizer.apply_chat_template(merged, add_generation_prompt=True, tokenize=False)
    return str(text)


def sft_pair(
    tokenizer: ChatTokenizer, ex: Example, style: Style | str = "interleaved"
) -> tuple[str, str]:
    """(prompt, completion) for supervised warm start; the loss belongs on the completion."""
    # A recorded response (rejection-sampling fine-tuning keeps the model's own best sample)
    # is imitated as written; otherwise the target is laid out from the example's steps.
    completion = ex.meta.get("target") or target(ex, style)
    eos = getattr(tokenizer, "eos_token", None)
    return apply_template(tokenizer, ex, style), completion + (eos or "")
