"""trio-opt-kvreuse on the mlx backend: a later question about the same media skips the vision tower and the
prefix, and answers token for token as a cold run on mlx."""

import numpy as np
import pytest

from tests.torch.engines import ask, engine_for, noise_frames
from trio_core import TrioCore
from trio_model_tiny.plugin import DEMO

QUESTIONS = ["What is happening in this clip?", "Is anyone at the door?", "Describe the colours."]


def count_vision_tower_runs(engine) -> list:
    """Each run of the MLX vision tower appends to the list (the tower is swapped for a counting wrapper)."""
    vlm, runs = engine.model.model, []
    tower = vlm.vision_tower

    class Counted:
        def __getattr__(self, name):
            return getattr(tower, name)

        def __call__(self, *args, **kwargs):
            runs.append(1)
            return tower(*args, **kwargs)

    vlm.vision_tower = Counted()
    return runs


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2_vl"])
@pytest.mark.parametrize("kind", ["image", "video"])
def test_later_questions_hit_the_prefix_and_answer_token_for_token_as_a_cold_run(family, kind, trio_checkpoint):
    item = noise_frames(seed=1)[0] if kind == "image" else noise_frames(seed=1)
    cold = engine_for(trio_checkpoint(family), backend="mlx")
    warm = engine_for(trio_checkpoint(family), backend="mlx", optimizers=["kvreuse"])
    runs = count_vision_tower_runs(warm)
    hits = []
    for question in QUESTIONS:
        expected, got = ask(cold, item, question), ask(warm, item, question)
        assert got.token_ids == expected.token_ids, question
        assert got.metrics.prompt_tokens == expected.metrics.prompt_tokens
        hits.append(got.metrics.cache_hit)
    assert hits == ["none", "prefix", "prefix"]
    assert len(runs) == 1  # the vision tower ran for the first question only
    other = noise_frames(seed=2)[0] if kind == "image" else noise_frames(seed=2)
    assert ask(warm, other, QUESTIONS[0]).token_ids == ask(cold, other, QUESTIONS[0]).token_ids
    cold.close()
    warm.close()


def test_trio_tiny_answers_the_demo_clip_questions_with_kvreuse_as_without():
    """Several questions about one clip (a watch's conditions) share its cached prefix and answer as one by one."""
    settings = {"model": "trio-tiny", "backend": "mlx", "fps": 4, "dedup_threshold": 0.0, "max_tokens": 8}
    cold, warm = TrioCore(**settings).load(), TrioCore(**settings, optimizers=["kvreuse"]).load()
    clip = str(DEMO / "moving.mp4")
    questions = ["Is there an orange square?", "Which way does the orange square move?", "Is there a blue circle?"]
    runs = count_vision_tower_runs(warm)
    together = warm.analyze_video_each(clip, questions, yes_no=True)
    assert [result.metrics.cache_hit for result in together] == ["none", "prefix", "prefix"]
    assert len(runs) == 1
    for question, got in zip(questions, together, strict=True):
        expected = cold.analyze_video(clip, question, yes_no=True)
        assert got.text == expected.text and got.token_ids == expected.token_ids, question
        assert got.yes_probability == pytest.approx(expected.yes_probability, abs=1e-3)
    cold.close()
    warm.close()


def test_entries_are_evicted_least_recently_used_beyond_max_mb(trio_checkpoint):
    path = trio_checkpoint("qwen2_5_vl")
    warm = engine_for(path, backend="mlx", optimizers=["kvreuse"])
    first, second = noise_frames(seed=1)[0], noise_frames(seed=2)[0]
    ask(warm, first, QUESTIONS[0])
    (store,) = warm.model.request_hooks
    one = store.entries.currsize
    assert len(store.entries) == 1 and one == next(iter(store.entries.values())).nbytes > 0
    tight = engine_for(
        path, backend="mlx", optimizers=["kvreuse"], optimizer_settings={"kvreuse": {"max_mb": one * 1.5 / 2**20}}
    )
    assert [ask(tight, item, QUESTIONS[0]).metrics.cache_hit for item in (first, second, first)] == ["none"] * 3
    assert ask(tight, first, QUESTIONS[1]).metrics.cache_hit == "prefix"
    (tight_store,) = tight.model.request_hooks
    tight.close()
    assert not tight_store.entries
    warm.close()


def test_a_nearly_identical_stream_frame_reuses_the_anchor(trio_checkpoint):
    anchor = np.full((64, 96, 3), 120, dtype=np.uint8)
    anchor[20:40, 30:60] = (200, 30, 30)
    settings = {"kvreuse": {"similar_max_reuses": 2}}
    warm = engine_for(trio_checkpoint("qwen2_5_vl"), backend="mlx", optimizers=["kvreuse"], optimizer_settings=settings)
    first = ask(warm, anchor, QUESTIONS[1])
    rng = np.random.default_rng(0)
    stream = [np.clip(anchor + rng.integers(-2, 3, anchor.shape), 0, 255).astype(np.uint8) for _ in range(4)]
    hits = [ask(warm, frame, QUESTIONS[1]) for frame in stream]
    assert [hit.metrics.cache_hit for hit in hits] == ["similar", "similar", "none", "similar"]
    assert hits[0].token_ids == first.token_ids
    moved = np.full_like(anchor, 120)
    moved[20:40, 0:30] = (200, 30, 30)  # the object moved: never a similar hit
    assert ask(warm, moved, QUESTIONS[1]).metrics.cache_hit == "none"
    warm.close()
