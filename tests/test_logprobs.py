"""Chunked log-probs: the same values, entropy and gradients as one full-vocabulary pass over
the left-padded batch with its padding mask (which `forward` does without), also when the rows'
shared prompt prefix runs once for the batch."""

from __future__ import annotations

import math

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from training.logprobs import (
    MIN_SHARED_PREFIX,
    _response_states,
    entropy_from_logits,
    forward,
    make_batch,
    token_logprobs,
)
from training.loop import clip_and_step


def tiny_llama(layers: int) -> LlamaForCausalLM:
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=300,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    )


def test_chunked_forward_matches_the_full_pass() -> None:
    torch.manual_seed(0)
    model = tiny_llama(layers=1)
    batch = make_batch([[5, 6, 7], [8, 9]], [[10, 11, 12, 13, 14], [15, 16]], pad_id=0)
    r = batch.response_len

    # The reference: the whole response's logits in fp32 at once.
    position_ids = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)
    logits = (
        model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=position_ids,
            logits_to_keep=r + 1,
        )
        .logits[:, :-1, :]
        .float()
        / 0.8
    )
    # Only real response tokens count (every loss masks the padding after a response).
    mask = batch.response_mask
    full_lp = token_logprobs(logits, batch.responses) * mask
    full_ent = entropy_from_logits(logits) * mask
    (full_lp.sum() - full_ent.sum()).backward()
    full_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    out = forward(model, batch, 0.8, with_entropy=True, entropy_grad=True, chunk=2)
    ((out.logprobs * mask).sum() - (out.entropy * mask).sum()).backward()
    torch.testing.assert_close(out.logprobs * mask, full_lp.detach())
    torch.testing.assert_close(out.entropy * mask, full_ent.detach())
    for p, g in zip(model.parameters(), full_grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)
    # Entropy outside the loss carries no graph.
    measured = forward(model, batch, 0.8, with_entropy=True, chunk=2)
    assert measured.logprobs.requires_grad and not measured.entropy.requires_grad


def test_value_head_states_match_the_padded_pass() -> None:
    torch.manual_seed(1)
    model = tiny_llama(layers=2)
    batch = make_batch([[5, 6, 7, 8, 9, 4], [8]], [[10, 11], [15, 16, 17]], pad_id=0)
    r = batch.response_len
    position_ids = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)
    reference = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=position_ids,
        output_hidden_states=True,
    ).hidden_states[-1][:, -r - 1 : -1, :]
    _, states = _response_states(model, batch, with_hidden=True)
    mask = batch.response_mask.unsqueeze(-1)
    torch.testing.assert_close(states * mask, reference * mask)


def test_a_shared_prompt_prefix_runs_once_with_the_same_results() -> None:
    torch.manual_seed(2)
    model = tiny_llama(layers=2)
    system = list(range(20, 20 + MIN_SHARED_PREFIX + 4))  # what every prompt starts with
    prompts = [[*system, 5, 6, 7], [*system, 8], [*system, 9, 4, 3, 2, 1]]
    batch = make_batch(prompts, [[10, 11], [15, 16, 17, 18], [12]], pad_id=0)
    r = batch.response_len
    reference = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=(batch.attention_mask.cumsum(-1) - 1).clamp(min=0),
        output_hidden_states=True,
    )
    mask = batch.response_mask
    full_lp = token_logprobs(reference.logits[:, -r - 1 : -1, :].float(), batch.responses) * mask
    full_lp.sum().backward()
    full_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    embedded: list[int] = []
    hook = model.get_input_embeddings().register_forward_hook(
        lambda _module, args, _out: embedded.append(args[0].numel())
    )
    out = forward(model, batch, chunk=2, share_prefix=True)
    hook.remove()
    (out.logprobs * mask).sum().backward()
    # The prefix once, then each row from the end of the prefix.
    width = batch.input_ids.shape[1]
    assert embedded == [len(system), 3 * (width - len(system))]
    torch.testing.assert_close(out.logprobs * mask, full_lp.detach())
    for p, g in zip(model.parameters(), full_grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)
    _, states = _response_states(model, batch, with_hidden=True, share_prefix=True)
    hidden = reference.hidden_states[-1][:, -r - 1 : -1, :]
    torch.testing.assert_close(states * mask.unsqueeze(-1), hidden * mask.unsqueeze(-1))


def test_a_prefix_too_short_to_share_runs_whole_rows() -> None:
    model = tiny_llama(layers=1)
    batch = make_batch([[1, 2, 5], [1, 2, 6]], [[7], [8]], pad_id=0)
    embedded: list[int] = []
    model.get_input_embeddings().register_forward_hook(
        lambda _module, args, _out: embedded.append(args[0].numel())
    )
    forward(model, batch, share_prefix=True)
    assert embedded == [batch.input_ids.numel()]
    # Switched off (the default), a long shared prefix runs in every row too.
    long = make_batch([[*range(30, 50), 5], [*range(30, 50), 6]], [[7], [8]], pad_id=0)
    embedded.clear()
    forward(model, long, share_prefix=False)
    assert embedded == [long.input_ids.numel()]


def test_a_non_finite_gradient_skips_the_update() -> None:
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.AdamW([weight], lr=0.1)
    weight.grad = torch.tensor([1.0, float("nan"), 0.0])
    assert math.isnan(clip_and_step(optimizer, 1.0))
    assert weight.tolist() == [1.0, 1.0, 1.0] and not optimizer.state and weight.grad is None
    weight.grad = torch.tensor([1.0, 0.0, 0.0])
    assert clip_and_step(optimizer, 1.0) == 1.0
    assert weight[0].item() < 1.0
