"""trio-tiny's training (trio_model_tiny.train): its training-only targets line up with the model's real inputs."""

import json

import numpy as np
import pytest
import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from trio_model_tiny.plugin import WEIGHTS
from trio_model_tiny.questions import make_sample
from trio_model_tiny.scenes import DIRECTIONS, SHAPES
from trio_model_tiny.train import (
    CODE_COLUMNS,
    Encoder,
    Grounding,
    Turn,
    batched_window_attention,
    build_config,
    build_processor,
    object_cells,
    sample_codes,
    train,
)


@pytest.fixture(scope="module")
def encode():
    return Encoder(build_processor())


def visual_tokens(encode, row) -> int:
    return sum(int(token) in encode.visual for token in row["input_ids"][0])


@pytest.mark.parametrize("task", ["count", "motion", "appearance"])
def test_every_visual_token_gets_a_code_and_every_object_its_own_tokens(encode, task):
    sample = make_sample(task, np.random.default_rng([7, 1]), image_size=224)
    row = encode(sample, Turn(sample.task, sample.question, sample.answer, sample.meta))
    codes = sample_codes(sample)
    assert len(codes) == visual_tokens(encode, row)
    for cells, shape, direction, _ in object_cells(sample):
        assert len(cells) and cells.max() < len(codes)
        assert (codes[cells, 1] == shape).any()  # the object's own shape is among the codes under it
        assert direction == -1 or task == "motion"
    if task == "motion":
        moved = {direction for _, _, direction, _ in object_cells(sample) if direction >= 0}
        assert moved == {DIRECTIONS.index(sample.answer)}


def test_pooled_loss_is_low_when_the_tokens_carry_the_right_codes(encode):
    model = Qwen2_5_VLForConditionalGeneration(build_config(encode.processor.tokenizer))
    grounding = Grounding(model)
    sample = make_sample("count", np.random.default_rng([7, 2]), image_size=224)
    codes = torch.from_numpy(sample_codes(sample))
    right, _ = grounding.targets(codes)
    wrong = right.clone()
    for cells, shape, _, _ in object_cells(sample):
        wrong[torch.from_numpy(cells)] += 2 * (grounding.shape[(shape + 1) % len(SHAPES)] - grounding.shape[shape])
    losses = [float(grounding.pooled_loss(tokens, [sample], [len(codes)])) for tokens in (right, wrong)]
    assert sample.meta["objects"] and losses[0] < 0.1 < losses[1]


def test_object_targets_look_at_the_marker_for_absent_things_and_spread_over_counted_centres():
    encode = Encoder(build_processor(), object_targets=True)
    seen = set()
    for index in range(40):
        sample = make_sample(("presence", "count")[index % 2], np.random.default_rng([7, 3, index]), image_size=224)
        row = encode(sample, Turn(sample.task, sample.question, sample.answer, sample.meta))
        ids = row["input_ids"][0]
        [(query, keys, spread)] = row["looks"] or [(None, None, None)]
        if sample.task == "presence" and sample.answer == "no":
            assert keys.tolist() == [int((ids == encode.sink).nonzero()[0, 0])] and not spread
        elif sample.task == "count":
            assert spread and len(keys) == int(sample.answer) + 1  # the marker and one centre per counted object
            assert int(ids[keys[0]]) == encode.sink and all(int(ids[key]) in encode.visual for key in keys[1:])
            assert query == encode.answer_start(ids.tolist()) - 1
        seen.add((sample.task, sample.answer if sample.task == "presence" else "n"))
    assert seen == {("presence", "yes"), ("presence", "no"), ("count", "n")}
    without = Encoder(encode.processor)
    sample = make_sample("count", np.random.default_rng([7, 4]), image_size=224)
    assert without(sample, Turn(sample.task, sample.question, sample.answer, sample.meta))["looks"] == []


def test_each_object_has_one_centre_token_and_its_colour_and_shape_code():
    sample = make_sample("description", np.random.default_rng([7, 5]), image_size=448)
    codes = sample_codes(sample)
    columns = {name: codes[:, i] for i, name in enumerate(CODE_COLUMNS)}
    objects = sample.meta["objects"]
    assert objects and (columns["centre"] == 0).sum() == len(objects)
    on = columns["colour"] >= 0
    assert (columns["thing"][on] == columns["colour"][on] * len(SHAPES) + columns["shape"][on]).all()


@pytest.mark.parametrize(
    "grids",
    [
        pytest.param([(1, 32, 32), (1, 32, 32)], id="two 448px images"),
        pytest.param([(1, 16, 16), (1, 24, 24)], id="224px and 336px images"),  # equal windows, unequal frames
        pytest.param([(4, 16, 16), (4, 16, 16)], id="two 8-frame 224px clips"),
        pytest.param([(2, 12, 18)], id="a 168x252px clip"),  # unequal windows: transformers' own path
    ],
)
@pytest.mark.skipif(not (WEIGHTS / "model.safetensors").is_file(), reason="trio-tiny is not trained yet")
def test_batched_window_attention_computes_what_the_stock_vision_tower_does(grids):
    # trio-tiny's own weights: random ones attend almost evenly, where a wrong window or scale hardly shows
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(WEIGHTS).train()
    torch.manual_seed(0)
    grid = torch.tensor(grids)  # (media, temporal patches, patch rows, patch columns)
    pixels = torch.randn(int(grid.prod(-1).sum()), 3 * 2 * 14 * 14)  # (patches, channels x time x 14 x 14)

    def tower() -> tuple[torch.Tensor, torch.Tensor]:
        given = pixels.clone().requires_grad_()
        features = model.model.visual(given, grid_thw=grid).pooler_output  # (visual tokens, LLM width)
        features.square().sum().backward()
        return features.detach(), given.grad

    stock_features, stock_grad = tower()
    batched_window_attention(model)
    features, grad = tower()
    torch.testing.assert_close(features, stock_features, rtol=0, atol=1e-5)
    torch.testing.assert_close(grad, stock_grad, rtol=0, atol=1e-5 * float(stock_grad.abs().max()))


def test_a_short_run_writes_a_checkpoint_transformers_loads(tmp_path):
    train(
        tmp_path, steps=2, batch_size=2, lr=1e-3, seed=0, threads=1, log_every=1, validate_every=0, object_targets=True
    )
    record = json.loads((tmp_path / "training.json").read_text())
    assert all(np.isfinite(value) for value in record["final_losses"].values())
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path)
    assert model.config.vision_config.fullatt_block_indexes == [1, 3]
