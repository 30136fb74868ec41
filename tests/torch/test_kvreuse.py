"""trio-opt-kvreuse: a second question about the same media reuses its prefix and answers as a cold run."""

import numpy as np
import pytest

from trio_core import TrioCore
from trio_core.errors import IncompatibleOptimizerError

FAMILIES = ["qwen2_5_vl", "qwen2_vl"]
QUESTIONS = ["What is happening in this clip?", "Is anyone at the door?", "Describe the colours."]


def media(seed, count=4, height=64, width=96):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def engine_for(path, **overrides):
    settings = {"max_tokens": 12, "dedup_threshold": 0.0, "fps": 2.0, "max_frames": 8, "min_frames": 1}
    return TrioCore(model=str(path), **{**settings, **overrides}).load()


def ask(engine, item, question):
    return engine.analyze_video(item, question) if isinstance(item, list) else engine.analyze_frame(item, question)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["image", "video"])
def test_later_questions_hit_the_prefix_and_answer_token_for_token_as_a_cold_run(family, kind, checkpoint):
    item = media(1)[0] if kind == "image" else media(1)
    cold = engine_for(checkpoint(family))
    warm = engine_for(checkpoint(family), optimizers=["kvreuse"])
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


def test_other_pixels_with_the_same_token_count_miss(checkpoint):
    warm = engine_for(checkpoint("qwen2_5_vl"), optimizers=["kvreuse"])
    first, second = media(1)[0], media(2)[0]
    assert ask(warm, first, QUESTIONS[0]).metrics.cache_hit == "none"
    other = ask(warm, second, QUESTIONS[1])
    cold = engine_for(checkpoint("qwen2_5_vl"))
    assert other.metrics.cache_hit == "none"
    assert other.token_ids == ask(cold, second, QUESTIONS[1]).token_ids
    assert ask(warm, first, QUESTIONS[2]).metrics.cache_hit == "prefix"  # both are kept while they fit


def test_entries_are_evicted_least_recently_used_beyond_max_mb(checkpoint):
    warm = engine_for(checkpoint("qwen2_5_vl"), optimizers=["kvreuse"])
    first, second = media(1)[0], media(2)[0]
    ask(warm, first, QUESTIONS[0])
    (store,) = warm.model.request_hooks
    one = store.entries.currsize
    assert one > 0
    # Room for one entry: the second image evicts the first.
    tight = engine_for(
        checkpoint("qwen2_5_vl"), optimizers=["kvreuse"], optimizer_settings={"kvreuse": {"max_mb": one * 1.5 / 2**20}}
    )
    assert [ask(tight, item, QUESTIONS[0]).metrics.cache_hit for item in (first, second, first)] == ["none"] * 3
    assert ask(tight, first, QUESTIONS[1]).metrics.cache_hit == "prefix"  # the last one stored stays
    (tight_store,) = tight.model.request_hooks
    assert tight_store.entries.currsize <= one * 1.5
    tight.close()
    assert tight.model is None and not tight_store.entries


def test_kvreuse_is_refused_for_other_families(checkpoint):
    with pytest.raises(IncompatibleOptimizerError, match="'kvreuse' does not support the smolvlm model family"):
        TrioCore(model=str(checkpoint("smolvlm")), optimizers=["kvreuse"]).load()


def test_bench_reports_side_by_side_figures_and_identical_output(checkpoint):
    from trio_opt_kvreuse.bench import measure

    report = measure(checkpoint("qwen2_5_vl"), runs=2, max_tokens=4, size=112, device="cpu")
    assert report["identical"] is True
    assert report["second_question_speedup"] > 0 and report["fan_out_cost"] > 0
    # The image's entry and one per fan-out frame, all within the default budget.
    assert report["cache_entries"] == 1 + 2 and report["cache_mb"] > 0
