"""trio-opt-tome: token merging inside the vision tower; and the three optimizers together."""

import pytest
import torch

from tests.torch.engines import ask, engine_for, noise_frames
from trio_backend_torch.attention import segments
from trio_core.chat import question_about
from trio_core.errors import ConfigError
from trio_core.pipeline import media_part
from trio_opt_tome.schedule import Schedule
from trio_opt_tome.torch.merging import bipartite_matching, merge_weighted, units_to_remove
from trio_opt_tome.torch.tower import encode

FAMILIES = ["qwen2_5_vl", "qwen2_vl"]
QUESTION = "What is happening in this clip?"


def prompt_for(engine, item, question=QUESTION):
    """The prepared prompt the engine makes of an image (one frame) or a clip (a list of frames)."""
    clip = engine.read_video(item) if isinstance(item, list) else engine.read_frame(item)
    plan = engine.video_plan() if isinstance(item, list) else engine.frame_plan()
    return engine.model.prepare(question_about(media_part(list(clip.frames), plan), question))


def tower_inputs(engine, item):
    """The pixels and grids the processor makes of an image or clip, as the tower gets them."""
    inputs = prompt_for(engine, item).inputs
    if "pixel_values" in inputs:
        return inputs["pixel_values"], inputs["image_grid_thw"]
    return inputs["pixel_values_videos"], inputs["video_grid_thw"]


@pytest.mark.parametrize("family", FAMILIES)
def test_with_nothing_to_merge_the_loop_computes_the_stock_tower(family, trio_checkpoint):
    engine = engine_for(trio_checkpoint(family))
    visual = engine.model.model.model.visual
    frames = noise_frames(count=4, height=112, width=168, seed=3)
    for item in (frames[0], frames):
        pixels, grid = tower_inputs(engine, item)
        with torch.inference_mode():
            stock = visual(pixels, grid_thw=grid).pooler_output
            ours = encode(visual, pixels, grid, Schedule(blocks=()))
        assert ours.total == len(stock) and ours.units.tolist() == list(range(len(stock)))
        torch.testing.assert_close(ours.features, stock, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["image", "video"])
def test_merging_halves_the_visual_tokens_and_generates(family, kind, trio_checkpoint):
    item = noise_frames(seed=4)[0] if kind == "image" else noise_frames(seed=4)
    baseline = ask(engine_for(trio_checkpoint(family)), item, QUESTION)
    engine = engine_for(trio_checkpoint(family), optimizers=["tome"])
    seen = []
    engine.model.model.model.language_model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["inputs_embeds"].shape[1]), with_kwargs=True
    )
    merged, again = ask(engine, item, QUESTION), ask(engine, item, QUESTION)
    visual = baseline.metrics.visual_tokens
    (step,) = merged.metrics.visual_token_steps
    assert (step.optimizer, step.before) == ("tome", visual)
    assert visual // 2 - 2 <= step.after <= visual // 2 + 2  # keep 0.5, rounded per window
    assert seen[0] == baseline.metrics.prompt_tokens - (visual - step.after)  # the LLM's prefill is that much shorter
    assert merged.token_ids == again.token_ids and len(merged.token_ids) == 12


def test_merged_tokens_keep_the_positions_of_their_units(trio_checkpoint):
    engine = engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=["tome"])
    captured = {}
    generate = engine.model.model.generate

    def spy(**kwargs):
        captured.update(kwargs)
        return generate(**kwargs)

    engine.model.model.generate = spy
    frame = noise_frames(seed=5)[0]
    ask(engine, frame, QUESTION)
    plain = prompt_for(engine, frame)
    full = engine.model.model._prepare_position_ids_for_generation(plain.inputs["input_ids"], dict(plain.inputs))
    ids, kept = plain.inputs["input_ids"][0], captured["input_ids"][0]
    image = engine.model.model.config.image_token_id
    placeholders = (ids == image).nonzero()[:, 0]
    # The text is untouched; the image's run is shorter; every kept token's mRoPE position is its unit's.
    assert (
        kept.tolist()
        == [t for t in ids.tolist() if t != image][: placeholders[0]]
        + [image] * int((kept == image).sum())
        + ids[placeholders[-1] + 1 :].tolist()
    )
    positions = captured["position_ids"]
    assert positions[0, 0].tolist() == list(range(len(kept)))  # text row: counted again
    assert positions[1:, 0, -5:].tolist() == full[1:, 0, -5:].tolist()  # the question keeps its positions
    full_image = {tuple(column) for column in full[1:, 0, placeholders].T.tolist()}
    kept_image = [tuple(column) for column in positions[1:, 0, kept == image].T.tolist()]
    assert set(kept_image) <= full_image and len(set(kept_image)) == len(kept_image)


def test_matching_stays_inside_segments_and_merges_weighted_by_size():
    # Two segments of 4 units; in the first, units 0 and 1 are alike, in the second 6 and 7 are.
    metric = torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1], [-1, 0], [0, 1], [1, 0], [0.5, 0.5], [0.6, 0.4]])
    segment = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    table = segments(segment)
    assert table.counts.tolist() == [4, 4] and table.index.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    chosen = bipartite_matching(metric, table, remove=torch.tensor([1, 1]))
    assert sorted(zip(chosen.source.tolist(), chosen.target.tolist(), strict=True)) == [(0, 1), (6, 7)]
    values = torch.arange(8.0)[:, None]
    size = torch.tensor([3, 1, 1, 1, 1, 1, 1, 1])
    merged, sizes = merge_weighted(values, size, chosen)
    assert sizes.tolist() == [4, 1, 1, 1, 1, 2]
    assert merged[0].item() == pytest.approx((0 * 3 + 1 * 1) / 4) and merged[-1].item() == pytest.approx(6.5)
    # Each segment keeps about the share asked of its original count, and always one unit.
    assert units_to_remove(torch.tensor([16, 3, 1]), torch.tensor([16, 4, 1]), 0.5).tolist() == [8, 1, 0]


def test_settings_are_checked_at_load(trio_checkpoint):
    with pytest.raises(ConfigError, match="tome.layers"):
        engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=["tome"], optimizer_settings={"tome": {"layers": [9]}})
    with pytest.raises(ConfigError, match="tome.keep"):
        engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=["tome"], optimizer_settings={"tome": {"keep": 0}})


@pytest.mark.parametrize("kind", ["image", "video"])
def test_tome_fastv_and_kvreuse_compose_and_answer_consistently(kind, trio_checkpoint):
    item = noise_frames(seed=6)[0] if kind == "image" else noise_frames(seed=6)
    settings = {"fastv": {"layer": 0}}
    all_three = engine_for(
        trio_checkpoint("qwen2_5_vl"), optimizers=["tome", "fastv", "kvreuse"], optimizer_settings=settings
    )
    assert [optimizer.name for optimizer in all_three.optimizers] == ["tome", "fastv", "kvreuse"]
    questions = [QUESTION, "Is anyone at the door?", QUESTION]
    results = [ask(all_three, item, question) for question in questions]
    assert [result.metrics.cache_hit for result in results] == ["none", "prefix", "prefix"]
    assert results[0].token_ids == results[2].token_ids  # the same question: the same answer, cached or not
    # The first question merges; a later one reuses the merged prefix; FastV prunes each question's view of it.
    first = [(s.optimizer, s.before, s.after) for s in results[0].metrics.visual_token_steps]
    later = [(s.optimizer, s.before, s.after) for s in results[1].metrics.visual_token_steps]
    assert [step[0] for step in first] == ["tome", "fastv"] and first[0][1] == results[0].metrics.visual_tokens
    assert later == [("fastv", first[0][2], first[1][2])]
    # Without FastV, ToMe + kvreuse answer a later question exactly as ToMe alone does.
    tome = engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=["tome"])
    cached = engine_for(trio_checkpoint("qwen2_5_vl"), optimizers=["tome", "kvreuse"])
    ask(cached, item, questions[0])
    again = ask(cached, item, questions[1])
    assert again.metrics.cache_hit == "prefix" and again.token_ids == ask(tome, item, questions[1]).token_ids
