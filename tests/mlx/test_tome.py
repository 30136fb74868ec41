"""trio-opt-tome on the mlx backend: token merging inside mlx-vlm's Qwen-VL tower, the same merges and features
as torch's on the same weights and pixels, and fewer tokens for the LLM at their units' positions."""

import numpy as np
import pytest
import torch

from tests.mlx.test_fastv import ask, same_distribution
from tests.torch.engines import engine_for, noise_frames
from tests.torch.test_tome import tower_inputs
from trio_core import TrioCore
from trio_core.errors import ConfigError, IncompatibleOptimizerError
from trio_model_tiny.plugin import DEMO
from trio_opt_tome.schedule import Schedule
from trio_opt_tome.torch.tower import encode as encode_on_torch

FAMILIES = ["qwen2_5_vl", "qwen2_vl"]
QUESTION = "What is happening in this clip?"


def on_mlx_thread(engine, function, *args):
    """Run MLX code on the model's own thread (where its arrays are made and read), numpy out."""
    return engine.model._worker.submit(function, *args).result()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("blocks", [(), (0,)])
def test_the_tower_merges_and_encodes_as_on_torch(family, blocks, trio_checkpoint):
    """With nothing to merge the loop is mlx-vlm's stock tower; merging picks the same units as torch's and
    gives the same features (noise frames: no exact ties for the two frameworks' rounding to break apart)."""
    from trio_opt_tome.mlx.tower import encode

    on_torch, on_mlx = (engine_for(trio_checkpoint(family), backend=backend) for backend in ("torch", "mlx"))
    frames = noise_frames(count=4, height=112, width=168, seed=3)
    schedule = Schedule(blocks=blocks, keep=0.5)
    for item in (frames[0], frames):
        pixels, grid = tower_inputs(on_torch, item)
        with torch.inference_mode():
            expected = encode_on_torch(on_torch.model.model.model.visual, pixels, grid, schedule)
        mlx_pixels, mlx_grid = tower_inputs(on_mlx, item)

        def run(pixels=mlx_pixels, grid=mlx_grid):
            tower = on_mlx.model.model.vision_tower
            got = encode(tower, pixels, grid, schedule)
            stock = tower(pixels, grid) if not blocks else None
            return got.units, np.asarray(got.features), got.total, None if stock is None else np.asarray(stock)

        units, features, total, stock = on_mlx_thread(on_mlx, run)
        assert total == expected.total and units.tolist() == expected.units.tolist()
        assert len(units) == (expected.total if not blocks else pytest.approx(expected.total / 2, abs=len(grid) * 8))
        np.testing.assert_allclose(features, expected.features.numpy(), rtol=1e-3, atol=1e-3)  # two frameworks
        if stock is not None:
            np.testing.assert_allclose(features, stock, rtol=1e-5, atol=1e-5)
    on_torch.close()
    on_mlx.close()


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["image", "video"])
def test_merged_answers_are_torch_tome_answers(family, kind, trio_checkpoint):
    item = noise_frames(seed=4)[0] if kind == "image" else noise_frames(seed=4)
    settings = {"optimizers": ["tome"], "max_tokens": 12}
    on_torch = ask(engine_for(trio_checkpoint(family), backend="torch", **settings), item, QUESTION)
    engine = engine_for(trio_checkpoint(family), backend="mlx", **settings)
    merged, again = ask(engine, item, QUESTION), ask(engine, item, QUESTION)
    (step,) = merged.metrics.visual_token_steps
    assert step.optimizer == "tome" and step.after == on_torch.metrics.visual_tokens_after < step.before
    assert merged.token_ids == on_torch.token_ids and same_distribution(merged, on_torch)
    assert again.token_ids == merged.token_ids
    unmerged = ask(engine_for(trio_checkpoint(family), backend="mlx"), item, QUESTION)
    assert not same_distribution(merged, unmerged)


def test_keeping_everything_answers_as_without_it(trio_checkpoint):
    item = noise_frames(seed=5)
    expected = ask(engine_for(trio_checkpoint("qwen2_5_vl"), backend="mlx"), item, QUESTION)
    engine = engine_for(
        trio_checkpoint("qwen2_5_vl"), backend="mlx", optimizers=["tome"], optimizer_settings={"tome": {"keep": 1.0}}
    )
    got = ask(engine, item, QUESTION)
    assert got.token_ids == expected.token_ids and same_distribution(got, expected, tolerance=1e-5)


def test_trio_tiny_answers_the_demo_as_torch_tome_does():
    settings = {"model": "trio-tiny", "fps": 4, "dedup_threshold": 0.0, "max_tokens": 8, "optimizers": ["tome"]}
    engines = {backend: TrioCore(**settings, backend=backend).load() for backend in ("torch", "mlx")}
    questions = [
        (DEMO / "moving.mp4", "Is there an orange square?"),
        (DEMO / "moving.mp4", "Describe the video."),  # several tokens: decoding goes on at the right positions
        (DEMO / "shapes.png", "Describe"),
    ]
    for media, question in questions:
        on_torch, got = (engines[b].analyze_video(str(media), question) for b in ("torch", "mlx"))
        assert got.token_ids == on_torch.token_ids, question
        assert len(got.token_ids) > 2 or question.startswith("Is")
        assert got.metrics.visual_tokens_after == on_torch.metrics.visual_tokens_after
        assert got.metrics.visual_tokens_after == got.metrics.visual_tokens // 2
    for engine in engines.values():
        engine.close()


def test_bad_settings_and_kvreuse_are_refused_at_load(trio_checkpoint):
    path = trio_checkpoint("qwen2_5_vl")
    with pytest.raises(ConfigError, match="tome.layers"):
        engine_for(path, backend="mlx", optimizers=["tome"], optimizer_settings={"tome": {"layers": [40]}})
    with pytest.raises(IncompatibleOptimizerError, match="'tome' cannot run together with 'kvreuse' on the mlx"):
        engine_for(path, backend="mlx", optimizers=["tome", "kvreuse"])
