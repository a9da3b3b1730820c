"""Run inside .venv-verl (scripts/setup_verl.sh) by tests/test_verl_smoke.py: our launch's Hydra
overrides composed onto veRL's own ppo_trainer config, our reward loaded by veRL's loader, and
responses scored by veRL's reward loop worker and naive reward manager, one call per step.

    python tests/verl_smoke.py MODEL_DIR DATA_DIR CHECKPOINTS RESPONSES_JSON  -> JSON on stdout
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import verl.trainer
from hydra import compose, initialize_config_dir
from transformers import AutoTokenizer
from verl import DataProto
from verl.experimental.reward_loop import RewardLoopWorker, migrate_legacy_reward_impl

from training.verl.launch import command


def step(tokenizer, rows: list[dict], responses: list[str]) -> DataProto:
    prompts = [
        tokenizer(tokenizer.apply_chat_template(r["prompt"], tokenize=False)).input_ids
        for r in rows
    ]
    answers = [tokenizer(text, add_special_tokens=False).input_ids for text in responses]
    p_len, r_len = max(map(len, prompts)), max(map(len, answers))
    pad = tokenizer.pad_token_id or 0
    prompt_ids = torch.tensor([[pad] * (p_len - len(p)) + p for p in prompts])
    response_ids = torch.tensor([a + [pad] * (r_len - len(a)) for a in answers])
    mask = torch.tensor(
        [
            [0] * (p_len - len(p)) + [1] * len(p) + [1] * len(a) + [0] * (r_len - len(a))
            for p, a in zip(prompts, answers, strict=True)
        ]
    )
    return DataProto.from_dict(
        tensors={"prompts": prompt_ids, "responses": response_ids, "attention_mask": mask},
        non_tensors={
            "data_source": np.array([r["data_source"] for r in rows], dtype=object),
            "reward_model": np.array([r["reward_model"] for r in rows], dtype=object),
            "extra_info": np.array([dict(r["extra_info"]) for r in rows], dtype=object),
        },
    )


def main() -> None:
    model, data, checkpoints, responses_file = sys.argv[1:5]
    steps = json.loads(Path(responses_file).read_text())  # [[{"row": {...}, "response": str}]]
    cmd = command(
        "grpo",
        model,
        data,
        checkpoints=checkpoints,
        extra=["reward.custom_reward_function.reward_kwargs.batch_size=2"],
    )
    assert cmd[1:3] == ["-m", "verl.trainer.main_ppo"]
    config_dir = Path(verl.trainer.__file__).parent / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        config = compose(config_name="ppo_trainer", overrides=cmd[3:])
    config = migrate_legacy_reward_impl(config)
    worker = RewardLoopWorker(config)
    tokenizer = AutoTokenizer.from_pretrained(model)
    out = {
        "reward_fn": config.reward.custom_reward_function.path,
        "manager": type(worker.reward_manager).__name__,
        "steps": [],
    }
    for batch in steps:
        data_proto = step(tokenizer, [b["row"] for b in batch], [b["response"] for b in batch])
        results = worker.loop.run_until_complete(worker.compute_score_batch(data_proto))
        out["steps"].append(
            [{"score": r["reward_score"], **r["reward_extra_info"]} for r in results]
        )
    print("RESULT " + json.dumps(out, default=str))


if __name__ == "__main__":
    main()
