"""trio-tiny's training script: its training-only targets line up with the model's real inputs."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from trio_model_tiny.questions import make_sample
from trio_model_tiny.scenes import DIRECTIONS, SHAPES

SCRIPT = Path(__file__).parents[2] / "trio_model_tiny" / "train.py"


@pytest.fixture(scope="module")
def train():
    spec = importlib.util.spec_from_file_location("trio_tiny_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def encode(train):
    return train.Encoder(train.build_processor())


def visual_tokens(encode, row) -> int:
    return sum(int(token) in encode.visual for token in row["input_ids"][0])


@pytest.mark.parametrize("task", ["count", "motion", "appearance"])
def test_every_visual_token_gets_a_code_and_every_object_its_own_tokens(train, encode, task):
    sample = make_sample(task, np.random.default_rng([7, 1]), image_size=224)
    row = encode(sample, train.Turn(sample.task, sample.question, sample.answer, sample.meta))
    codes = train.sample_codes(sample)
    assert len(codes) == visual_tokens(encode, row)
    for cells, shape, direction in train.object_cells(sample):
        assert len(cells) and cells.max() < len(codes)
        assert (codes[cells, 1] == shape).any()  # the object's own shape is among the codes under it
        assert direction == -1 or task == "motion"
    if task == "motion":
        moved = {direction for _, _, direction in train.object_cells(sample) if direction >= 0}
        assert moved == {DIRECTIONS.index(sample.answer)}


def test_pooled_loss_is_low_when_the_tokens_carry_the_right_codes(train, encode):
    model = Qwen2_5_VLForConditionalGeneration(train.build_config(encode.processor.tokenizer))
    grounding = train.Grounding(model)
    sample = make_sample("count", np.random.default_rng([7, 2]), image_size=224)
    codes = torch.from_numpy(train.sample_codes(sample))
    right, _ = grounding.targets(codes)
    wrong = right.clone()
    for cells, shape, _ in train.object_cells(sample):
        wrong[torch.from_numpy(cells)] += 2 * (grounding.shape[(shape + 1) % len(SHAPES)] - grounding.shape[shape])
    losses = [float(grounding.pooled_loss(tokens, [sample], [len(codes)])) for tokens in (right, wrong)]
    assert sample.meta["objects"] and losses[0] < 0.1 < losses[1]


def test_a_short_run_writes_a_checkpoint_transformers_loads(train, tmp_path):
    train.train(tmp_path, steps=2, batch_size=2, lr=1e-3, seed=0, threads=1, log_every=1, validate_every=0)
    record = json.loads((tmp_path / "training.json").read_text())
    assert all(np.isfinite(value) for value in record["final_losses"].values())
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path)
    assert model.config.vision_config.fullatt_block_indexes == [1, 3]
