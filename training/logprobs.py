"""Per-token log-probabilities of responses under a causal LM, shared by fine-tuning and RL.

`forward` never builds the response's full-vocabulary logits in fp32 at once: the response
positions are taken `chunk` at a time, each chunk is cast to fp32, scaled by the temperature
and reduced to the sampled tokens' log-probs (and, when asked, the entropy), and under autograd
each chunk is recomputed in the backward pass instead of being kept. With Qwen's 152k-token
vocabulary that is the difference between gigabytes per micro-batch and a few hundred
megabytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

LOGPROB_CHUNK = 256  # response positions per fp32 chunk


@dataclass
class Batch:
    """Prompt (left-padded) + response (right-padded) token ids, as one [B, P+R] tensor.

    Response token j of row b sits at input position P + j; the logits predicting it sit at
    P + j - 1. `response_mask` [B, R] marks real response tokens.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor

    @property
    def response_len(self) -> int:
        return int(self.response_mask.shape[1])

    @property
    def responses(self) -> torch.Tensor:
        return self.input_ids[:, -self.response_len :]

    def to(self, device: torch.device) -> Batch:
        return Batch(
            *(t.to(device) for t in (self.input_ids, self.attention_mask, self.response_mask))
        )

    def rows(self, index: slice | list[int]) -> Batch:
        return Batch(self.input_ids[index], self.attention_mask[index], self.response_mask[index])


def make_batch(prompts: list[list[int]], responses: list[list[int]], pad_id: int) -> Batch:
    if any(not p for p in prompts):
        raise ValueError("every prompt needs at least one token")
    width_p = max(len(p) for p in prompts)
    width_r = max(1, max(len(r) for r in responses))
    ids, attn, rmask = [], [], []
    for p, r in zip(prompts, responses, strict=True):
        left, right = width_p - len(p), width_r - len(r)
        ids.append([pad_id] * left + p + r + [pad_id] * right)
        attn.append([0] * left + [1] * (len(p) + len(r)) + [0] * right)
        rmask.append([1] * len(r) + [0] * right)
    return Batch(torch.tensor(ids), torch.tensor(attn), torch.tensor(rmask))


@dataclass
class Forward:
    logprobs: torch.Tensor  # [B, R] log pi(token) at the sampling temperature
    entropy: torch.Tensor | None  # [B, R]
    values: torch.Tensor | None  # [B, R] V(state before each response token)


def forward(
    model: nn.Module,
    batch: Batch,
    temperature: float = 1.0,
    value_head: nn.Module | None = None,
    with_entropy: bool = False,
    entropy_grad: bool = False,
    chunk: int = LOGPROB_CHUNK,
    share_prefix: bool = False,
) -> Forward:
    """One forward pass over prompt+response; logits only for the response positions.

    The entropy is differentiated only when `entropy_grad` (it is part of the loss); otherwise
    it is measured without a graph. `share_prefix`: run the rows' common first tokens once
    (see `_response_states`)."""
    r = batch.response_len
    hidden, last_layer = _response_states(
        model, batch, with_hidden=value_head is not None, share_prefix=share_prefix
    )
    logits = model.get_output_embeddings()(hidden)
    tokens = batch.responses
    grad = torch.is_grad_enabled() and logits.requires_grad
    logprob_parts, entropy_parts = [], []
    for s in range(0, r, chunk):
        piece, picked = logits[:, s : s + chunk], tokens[:, s : s + chunk]
        if grad:
            lp = checkpoint(_chunk_logprobs, piece, picked, temperature, use_reentrant=False)
        else:
            lp = _chunk_logprobs(piece, picked, temperature)
        logprob_parts.append(lp)
        if with_entropy:
            if grad and entropy_grad:
                ent = checkpoint(_chunk_entropy, piece, temperature, use_reentrant=False)
            else:
                with torch.no_grad():
                    ent = _chunk_entropy(piece.detach(), temperature)
            entropy_parts.append(ent)
    values = value_head(last_layer) if value_head is not None else None
    return Forward(
        torch.cat(logprob_parts, dim=1),
        torch.cat(entropy_parts, dim=1) if with_entropy else None,
        values,
    )


def _response_states(
    model: nn.Module, batch: Batch, with_hidden: bool, share_prefix: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The decoder's final (normed) states at the positions predicting the response tokens,
    [B, R, D], and, when asked, its last `hidden_states` entry there (the value head's input).

    The decoder runs on each row rotated so that its tokens start at position 0 and every pad
    sits at the end: causal attention alone then keeps pads out of every real token's view,
    so no padding mask is passed. With one, left-padded rows have queries that may attend to
    nothing, and CUDA's attention kernels give NaN gradients for such rows (and fall back to
    slower kernels); without one they run their fused causal path. Positions are the same as
    with a mask (each row's first real token at 0), and so are the states.

    With `share_prefix`, the tokens every row starts with (the chat template and system
    instruction: ~140 tokens, a third of a short example) run once for the micro-batch rather
    than once per row; the rows continue from their cached keys and values, and gradients flow
    back through them.
    """
    width = batch.input_ids.shape[1]
    r = batch.response_len
    rotated, left = _rotated(batch)
    decoder = model.get_decoder()
    # Gradient checkpointing turns the decoder's cache off, so it always runs whole rows.
    checkpointed = getattr(decoder, "gradient_checkpointing", False)
    shared = shared_prefix_len(batch) if share_prefix and not checkpointed else 0
    if shared:
        prefix = decoder(input_ids=rotated[:1, :shared], use_cache=True)
        cache = prefix.past_key_values
        cache.batch_repeat_interleave(rotated.shape[0])
        positions = torch.arange(shared, width, device=rotated.device)
        out = decoder(
            input_ids=rotated[:, shared:],
            past_key_values=cache,
            position_ids=positions.unsqueeze(0),
            cache_position=positions,
            use_cache=True,
            output_hidden_states=with_hidden,
        )
    else:
        out = decoder(input_ids=rotated, output_hidden_states=with_hidden, use_cache=False)
    # Input column P + j - 1 predicts response token j; in the rotated row it sits `left`
    # columns earlier (never wrapping: every prompt has a token), and `shared` columns earlier
    # again in the decoder's output when the shared prefix ran apart.
    columns = torch.arange(width, device=batch.input_ids.device).unsqueeze(0)
    picked = (columns[:, width - r - 1 : width - 1] - left - shared).unsqueeze(-1)

    def take(states: torch.Tensor) -> torch.Tensor:
        return states.gather(1, picked.expand(-1, -1, states.shape[-1]))

    last_layer = take(out.hidden_states[-1]) if with_hidden else None
    return take(out.last_hidden_state), last_layer


# Below this many shared tokens a second decoder call costs more than it saves.
MIN_SHARED_PREFIX = 16


def _rotated(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's tokens moved to its start, its left pads to its end; and the pad counts
    [B, 1] (the columns each row moved)."""
    width = batch.input_ids.shape[1]
    left = (batch.attention_mask.cumsum(-1) == 0).sum(-1, keepdim=True)
    columns = torch.arange(width, device=batch.input_ids.device).unsqueeze(0)
    return batch.input_ids.gather(1, (columns + left) % width), left


def shared_prefix_len(batch: Batch) -> int:
    """How many first tokens all rows share, to run once (0: not worth it). Each row keeps at
    least its last prompt token, whose state predicts the first response token."""
    if batch.input_ids.shape[0] < 2:
        return 0
    rotated, left = _rotated(batch)
    shortest_prompt = batch.input_ids.shape[1] - batch.response_len - int(left.max())
    same = (rotated == rotated[:1]).all(0).int()  # [W] columns where every row agrees
    shared = min(int(same.cumprod(0).sum()), shortest_prompt - 1)
    return shared if shared >= MIN_SHARED_PREFIX else 0


def _chunk_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    # Temperature-scaled: the ratio must compare the distributions the samples came from.
    return token_logprobs(logits.float() / temperature, tokens)


def _chunk_entropy(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return entropy_from_logits(logits.float() / temperature)


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """H = logsumexp(l) - sum softmax(l) * l, per position."""
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)
