"""trio-opt-fastv on the mlx backend: after LLM layer K the visual tokens the question attends to least leave the
prefill and the KV caches, and the answer is torch's FastV answer on the same weights, token for token."""

import pytest

from tests.torch.engines import engine_for, noise_frames
from trio_core import TrioCore
from trio_core.errors import ConfigError
from trio_model_tiny.plugin import DEMO

QUESTION = "What is happening in this clip?"


def ask(engine, item, question):
    """The answer with its first token's yes/no figures: a tiny random-weight model answers one token over and
    over whatever it sees, but P(yes) + P(no) moves with every hidden state, position and cached key."""
    ask_about = engine.analyze_video if isinstance(item, list) else engine.analyze_frame
    return ask_about(item, question, yes_no=True)


def same_distribution(got, expected, tolerance=1e-4) -> bool:
    return got.yes_no_mass == pytest.approx(expected.yes_no_mass, rel=tolerance) and (
        got.yes_probability == pytest.approx(expected.yes_probability, rel=tolerance)
    )


def fastv(path, backend="mlx", layer=0, drop=0.5, **overrides):
    settings = {"optimizer_settings": {"fastv": {"layer": layer, "drop": drop}}}
    overrides["optimizers"] = ["fastv", *overrides.get("optimizers", [])]
    return engine_for(path, backend=backend, **settings, **overrides)


def item_of(kind, seed):
    return noise_frames(seed=seed)[0] if kind == "image" else noise_frames(seed=seed)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2_vl"])
@pytest.mark.parametrize("kind", ["image", "video"])
def test_dropping_nothing_answers_token_for_token_as_without_it(family, kind, trio_checkpoint):
    item = item_of(kind, seed=1)
    expected = ask(engine_for(trio_checkpoint(family), backend="mlx"), item, QUESTION)
    got = ask(fastv(trio_checkpoint(family), drop=0.0), item, QUESTION)
    assert got.token_ids == expected.token_ids and same_distribution(got, expected, tolerance=1e-6)
    assert [(s.optimizer, s.before, s.after) for s in got.metrics.visual_token_steps] == [
        ("fastv", expected.metrics.visual_tokens, expected.metrics.visual_tokens)
    ]


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2_vl"])
@pytest.mark.parametrize("kind", ["image", "video"])
def test_pruned_answers_are_torch_fastv_answers(family, kind, trio_checkpoint):
    """The same tokens dropped (the shared ranking), every kept token at its own mRoPE position and decoding
    after them at the prompt's own positions: 12 tokens of a random-weight model stay the same only if all hold."""
    item = item_of(kind, seed=2)
    on_torch = ask(fastv(trio_checkpoint(family), backend="torch", layer=0, drop=0.5), item, QUESTION)
    engine = fastv(trio_checkpoint(family), layer=0, drop=0.5)
    first, again = ask(engine, item, QUESTION), ask(engine, item, QUESTION)
    visual = first.metrics.visual_tokens
    assert first.metrics.visual_tokens_after == on_torch.metrics.visual_tokens_after == visual - visual // 2
    assert first.token_ids == on_torch.token_ids and len(first.token_ids) == 12
    assert same_distribution(first, on_torch)
    assert not same_distribution(first, ask(engine_for(trio_checkpoint(family), backend="mlx"), item, QUESTION))
    assert again.token_ids == first.token_ids


@pytest.mark.parametrize("drop", [0.0, 0.5])
def test_with_kvreuse_a_cached_prefix_is_pruned_for_the_question_as_on_torch(drop, trio_checkpoint):
    path, item = trio_checkpoint("qwen2_5_vl"), item_of("video", seed=3)
    questions = [QUESTION, "Is anyone at the door?"]
    both = {
        backend: fastv(path, backend=backend, layer=0, drop=drop, optimizers=["kvreuse"])
        for backend in ("torch", "mlx")
    }
    plain = engine_for(path, backend="mlx", optimizers=["kvreuse"])
    for question in questions:
        on_torch, got = ask(both["torch"], item, question), ask(both["mlx"], item, question)
        assert got.token_ids == on_torch.token_ids and same_distribution(got, on_torch), question
        assert got.metrics.visual_tokens_after == on_torch.metrics.visual_tokens_after
        if drop == 0.0:
            without = ask(plain, item, question)
            assert got.token_ids == without.token_ids and same_distribution(got, without, tolerance=1e-6)
    assert got.metrics.cache_hit == "prefix"
    for engine in (*both.values(), plain):
        engine.close()


def test_trio_tiny_answers_the_demo_as_torch_fastv_does():
    settings = {"model": "trio-tiny", "fps": 4, "dedup_threshold": 0.0, "max_tokens": 8, "optimizers": ["fastv"]}
    engines = {backend: TrioCore(**settings, backend=backend).load() for backend in ("torch", "mlx")}
    for media, question in [(DEMO / "moving.mp4", "Is there an orange square?"), (DEMO / "shapes.png", "Describe")]:
        on_torch, got = (engines[b].analyze_video(str(media), question) for b in ("torch", "mlx"))
        assert got.text == on_torch.text and got.metrics.visual_tokens_after == on_torch.metrics.visual_tokens_after
        assert got.metrics.visual_tokens_after == got.metrics.visual_tokens // 2
    for engine in engines.values():
        engine.close()


def test_a_layer_out_of_range_is_refused_at_load(trio_checkpoint):
    with pytest.raises(ConfigError, match="fastv.layer"):
        fastv(trio_checkpoint("qwen2_5_vl"), layer=50)


def test_closing_puts_mlx_vlm_layers_back(trio_checkpoint):
    engine = fastv(trio_checkpoint("qwen2_5_vl"))
    layers = engine.model.model.language_model.model.layers
    wrapped = [type(layer).__name__ for layer in layers]
    engine.close()
    assert "Pruning" in wrapped and {type(layer).__name__ for layer in layers} == {"Qwen2VLDecoderLayer"}


def test_after_tome_it_prunes_the_merged_tokens_as_on_torch(trio_checkpoint):
    path, item = trio_checkpoint("qwen2_5_vl"), item_of("video", seed=6)
    settings = {"optimizers": ["tome"], "layer": 0, "drop": 0.5}
    on_torch = ask(fastv(path, backend="torch", **settings), item, QUESTION)
    got = ask(fastv(path, **settings), item, QUESTION)
    steps = [(step.optimizer, step.before, step.after) for step in got.metrics.visual_token_steps]
    assert steps == [(s.optimizer, s.before, s.after) for s in on_torch.metrics.visual_token_steps]
    (_, before, merged), (_, into_fastv, after) = sorted(steps, key=lambda step: step[0] != "tome")
    assert merged < before and into_fastv == merged and after == merged - merged // 2
    assert got.token_ids == on_torch.token_ids and same_distribution(got, on_torch)
