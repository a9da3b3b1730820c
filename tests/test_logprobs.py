"""Chunked log-probs: the same values, entropy and gradients as one full-vocabulary pass."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from training.logprobs import entropy_from_logits, forward, make_batch, token_logprobs


def test_chunked_forward_matches_the_full_pass() -> None:
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=300,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    )
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
    full_lp = token_logprobs(logits, batch.responses)
    full_ent = entropy_from_logits(logits)
    (full_lp.sum() - full_ent.sum()).backward()
    full_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    out = forward(model, batch, 0.8, with_entropy=True, entropy_grad=True, chunk=2)
    (out.logprobs.sum() - out.entropy.sum()).backward()
    torch.testing.assert_close(out.logprobs, full_lp.detach())
    torch.testing.assert_close(out.entropy, full_ent.detach())
    for p, g in zip(model.parameters(), full_grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)
    # Entropy outside the loss carries no graph.
    measured = forward(model, batch, 0.8, with_entropy=True, chunk=2)
    assert measured.logprobs.requires_grad and not measured.entropy.requires_grad
