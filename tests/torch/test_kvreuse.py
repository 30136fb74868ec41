"""trio-opt-kvreuse: a second question about the same media reuses its prefix and answers as a cold run."""

import statistics

import numpy as np
import pytest

from tests.torch.engines import ask, engine_for, noise_frames
from trio_core import TrioCore
from trio_core.errors import IncompatibleOptimizerError

FAMILIES = ["qwen2_5_vl", "qwen2_vl"]
QUESTIONS = ["What is happening in this clip?", "Is anyone at the door?", "Describe the colours."]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["image", "video"])
def test_later_questions_hit_the_prefix_and_answer_token_for_token_as_a_cold_run(family, kind, trio_checkpoint):
    item = noise_frames(seed=1)[0] if kind == "image" else noise_frames(seed=1)
    cold = engine_for(trio_checkpoint(family))
    warm = engine_for(trio_checkpoint(family), optimizers=["kvreuse"])
    encoded = []
    warm.model.model.model.visual.register_forward_hook(lambda *args: encoded.append(1))
    hits = []
    for question in QUESTIONS:
        expected, got = ask(cold, item, question), ask(warm, item, question)
        assert got.token_ids == expected.token_ids, question
        hits.append(got.metrics.cache_hit)
    assert hits == ["none", "prefix", "prefix"]
    assert len(encoded) == 1  # the vision encoder ran for the first question only
    assert warm.optimizers[0].name == "kvreuse"


def test_other_pixels_with_the_same_token_count_miss(trio_checkpoint):
    warm = engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=["kvreuse"])
    first, second = noise_frames(seed=1)[0], noise_frames(seed=2)[0]
    assert ask(warm, first, QUESTIONS[0]).metrics.cache_hit == "none"
    other = ask(warm, second, QUESTIONS[1])
    cold = engine_for(trio_checkpoint("qwen2_5_vl"))
    assert other.metrics.cache_hit == "none"
    assert other.token_ids == ask(cold, second, QUESTIONS[1]).token_ids
    assert ask(warm, first, QUESTIONS[2]).metrics.cache_hit == "prefix"  # both are kept while they fit


def test_entries_are_evicted_least_recently_used_beyond_max_mb(trio_checkpoint):
    warm = engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=["kvreuse"])
    first, second = noise_frames(seed=1)[0], noise_frames(seed=2)[0]
    ask(warm, first, QUESTIONS[0])
    (store,) = warm.model.request_hooks
    one = store.entries.currsize
    assert len(store.entries) == 1 and one == next(iter(store.entries.values())).nbytes
    # Room for one entry: the second image evicts the first.
    tight = engine_for(
        trio_checkpoint("qwen2_5_vl"),
        optimizers=["kvreuse"],
        optimizer_settings={"kvreuse": {"max_mb": one * 1.5 / 2**20}},
    )
    assert [ask(tight, item, QUESTIONS[0]).metrics.cache_hit for item in (first, second, first)] == ["none"] * 3
    assert ask(tight, first, QUESTIONS[1]).metrics.cache_hit == "prefix"  # the last one stored stays
    (tight_store,) = tight.model.request_hooks
    assert tight_store.entries.currsize <= one * 1.5
    tight.close()
    assert tight.model is None and not tight_store.entries


def test_kvreuse_is_refused_for_other_families(trio_checkpoint):
    with pytest.raises(IncompatibleOptimizerError, match="'kvreuse' does not support the smolvlm model family"):
        TrioCore(model=str(trio_checkpoint("smolvlm")), optimizers=["kvreuse"]).load()


def test_bench_reports_side_by_side_figures_and_identical_output(trio_checkpoint):
    from trio_opt_kvreuse.bench import measure

    report = measure(trio_checkpoint("qwen2_5_vl"), runs=3, max_tokens=4, size=112, device="cpu")
    assert report["identical"] is True
    # The conditions about a new frame: one miss computes its prefix, the others sit on it (one batch).
    assert report["fan_out_hits"] == ["none", "prefix", "prefix", "prefix"]
    # Every figure is a median over the same paired rounds.
    rounds = report["rounds"]
    assert all(len(values) == 3 for values in rounds.values())
    pairs = zip(rounds["cold_ms"], rounds["reused_ms"], strict=True)
    assert report["second_question_speedup"] == statistics.median(cold / reused for cold, reused in pairs)
    assert report["fan_out_cost"] == statistics.median(rounds["fan_out_cost"])
    assert report["one_by_one_cost"] == statistics.median(rounds["one_by_one_cost"])
    # The image's entry, two per round (conditions together, then one by one) and the still camera's anchor.
    assert report["cache_entries"] == 1 + 2 * 3 + 1
    assert report["stream_similar_hits"] == report["stream_frames"] - 1
    assert report["stream_speedup"] == report["stream_cold_ms"] / report["stream_reused_ms"]


def jittered(frame, seed, amount=2):
    """The frame with faint noise: a new stream frame that shows the same scene."""
    noise = np.random.default_rng(seed).integers(-amount, amount + 1, frame.shape)
    return np.clip(frame.astype(int) + noise, 0, 255).astype(np.uint8)


def test_a_nearly_identical_stream_frame_reuses_the_anchor_and_the_anchor_is_refreshed(trio_checkpoint):
    anchor = np.full((64, 96, 3), 120, dtype=np.uint8)
    anchor[20:40, 30:60] = (200, 30, 30)
    settings = {"kvreuse": {"similar_max_reuses": 2}}
    warm = engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=["kvreuse"], optimizer_settings=settings)
    cold = engine_for(trio_checkpoint("qwen2_5_vl"))
    question = QUESTIONS[1]
    first = ask(warm, anchor, question)
    stream = [jittered(anchor, seed) for seed in range(4)]
    hits = [ask(warm, frame, question) for frame in stream]
    # Two hits on the anchor (its answer, token for token), then a fresh anchor, then a hit on that one.
    assert [hit.metrics.cache_hit for hit in hits] == ["similar", "similar", "none", "similar"]
    assert hits[0].token_ids == first.token_ids == ask(cold, anchor, question).token_ids
    assert hits[2].token_ids == ask(cold, stream[2], question).token_ids
    moved = anchor.copy()
    moved[20:40, 30:60] = 120
    moved[20:40, 0:30] = (200, 30, 30)  # the object moved: a real change is never a similar hit
    assert ask(warm, moved, question).metrics.cache_hit == "none"
    # Nor is a colour change a grayscale thumbnail cannot see (this orange is as bright as the grey).
    recoloured = anchor.copy()
    recoloured[20:40, 30:60] = (200, 90, 40)
    recoloured[:20], recoloured[40:] = 117, 117
    plain = np.full_like(anchor, 117)
    ask(warm, plain, question)
    assert ask(warm, recoloured, question).metrics.cache_hit == "none"


def test_similar_frame_reuse_can_be_turned_off(trio_checkpoint):
    anchor = np.full((64, 96, 3), 120, dtype=np.uint8)
    settings = {"kvreuse": {"similar_threshold": 0}}
    warm = engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=["kvreuse"], optimizer_settings=settings)
    ask(warm, anchor, QUESTIONS[0])
    assert ask(warm, jittered(anchor, 1), QUESTIONS[0]).metrics.cache_hit == "none"


@pytest.mark.parametrize("optimizers", [["kvreuse"], ["tome", "kvreuse"], []])
def test_conditions_about_one_frame_decode_together_and_answer_as_one_by_one(optimizers, trio_checkpoint):
    engine = engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=optimizers)
    alone = engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=[name for name in optimizers if name != "kvreuse"])
    calls = []
    generate = engine.model.model.generate
    engine.model.model.generate = lambda **kwargs: calls.append(kwargs["input_ids"].shape[0]) or generate(**kwargs)
    frame = noise_frames(seed=8)[0]
    results = engine.analyze_frame_each(frame, QUESTIONS)
    expected = [ask(alone, frame, question) for question in QUESTIONS]
    assert [result.token_ids for result in results] == [result.token_ids for result in expected]
    assert [result.text for result in results] == [result.text for result in expected]
    if "kvreuse" in optimizers:  # the media prefix once, then one generate call for all three questions
        assert calls == [3]
        assert [result.metrics.cache_hit for result in results] == ["none", "prefix", "prefix"]
    else:
        assert calls == [1, 1, 1]
    assert all(result.metrics.prefill_ms > 0 and result.metrics.completion_tokens == 12 for result in results)


def test_fastv_questions_run_one_by_one(trio_checkpoint):
    settings = {"fastv": {"layer": 0}}
    engine = engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=["fastv", "kvreuse"], optimizer_settings=settings)
    clip = noise_frames(seed=9)
    results = engine.analyze_video_each(clip, QUESTIONS[:2])
    assert [result.metrics.cache_hit for result in results] == ["none", "prefix"]
    assert all([step.optimizer for step in result.metrics.visual_token_steps] == ["fastv"] for result in results)
