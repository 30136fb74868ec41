"""trio-opt-fastv: drops the visual tokens the question attends to least, after LLM layer K."""

import pytest

from tests.torch.engines import ask, engine_for, noise_frames
from trio_core.errors import ConfigError

QUESTION = "What is happening in this clip?"


def fastv(path, layer=0, drop=0.5):
    return engine_for(path, optimizers=["fastv"], optimizer_settings={"fastv": {"layer": layer, "drop": drop}})


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2_vl"])
@pytest.mark.parametrize("kind", ["image", "video"])
def test_dropping_nothing_answers_token_for_token_as_without_it(family, kind, trio_checkpoint):
    item = noise_frames(seed=1)[0] if kind == "image" else noise_frames(seed=1)
    expected = ask(engine_for(trio_checkpoint(family)), item, QUESTION)
    got = ask(fastv(trio_checkpoint(family), drop=0.0), item, QUESTION)
    assert got.token_ids == expected.token_ids
    assert [(s.optimizer, s.before, s.after) for s in got.metrics.visual_token_steps] == [
        ("fastv", expected.metrics.visual_tokens, expected.metrics.visual_tokens)
    ]


@pytest.mark.parametrize("kind", ["image", "video"])
def test_half_the_visual_tokens_leave_the_prefill_and_the_cache(kind, trio_checkpoint):
    item = noise_frames(seed=2)[0] if kind == "image" else noise_frames(seed=2)
    engine = fastv(trio_checkpoint("qwen2_5_vl"), drop=0.5)
    lengths = []
    language = engine.model.model.model.language_model
    language.layers[-1].register_forward_pre_hook(lambda module, args: lengths.append(args[0].shape[1]))
    first, again = ask(engine, item, QUESTION), ask(engine, item, QUESTION)
    visual = first.metrics.visual_tokens
    assert first.metrics.visual_tokens_after == visual - visual // 2
    # The prefill's last layer sees the prompt less the dropped tokens; decoding then goes one token at a time.
    assert lengths[0] == first.metrics.prompt_tokens - visual // 2 and set(lengths[1 : len(first.token_ids)]) == {1}
    assert first.token_ids == again.token_ids and len(first.token_ids) == 12


def test_settings_are_checked_at_load(trio_checkpoint):
    with pytest.raises(ConfigError, match="fastv.layer"):
        fastv(trio_checkpoint("qwen2_5_vl"), layer=50)
    with pytest.raises(ConfigError, match="fastv.drop"):
        fastv(trio_checkpoint("qwen2_5_vl"), drop=1.0)


def test_bench_compares_each_setting_with_no_optimizer_in_one_run(trio_checkpoint):
    import statistics

    from trio_core.bench import compare_optimizers, render_comparison

    configs = {
        "none": {"optimizers": ["fastv"], "optimizer_settings": {"fastv": {"layer": 0, "drop": 0.0}}},
        "half": {"optimizers": ["fastv"], "optimizer_settings": {"fastv": {"layer": 0, "drop": 0.5}}},
    }
    report = compare_optimizers(
        trio_checkpoint("qwen2_5_vl"), configs, runs=3, max_tokens=4, frame_count=1, size=112, device="cpu"
    )
    baseline = report["baseline"]
    none, half = report["configs"]
    assert [config["name"] for config in report["configs"]] == ["none", "half"]
    assert none["same_answer"] and none["visual_tokens_after"] == none["visual_tokens"] == baseline["visual_tokens"]
    assert half["visual_tokens_after"] == half["visual_tokens"] - half["visual_tokens"] // 2
    # Every figure comes from the same paired rounds: one time per configuration per round.
    for config in (baseline, none, half):
        assert len(config["rounds_latency_ms"]) == len(config["rounds_prefill_ms"]) == 3
    pairs = zip(half["rounds_latency_ms"], baseline["rounds_latency_ms"], strict=True)
    assert half["latency_ratio"] == statistics.median(a / b for a, b in pairs)
    assert half["latency_ms"] == statistics.median(half["rounds_latency_ms"])
    table = render_comparison(report).splitlines()
    assert table[2].split()[:4] == ["baseline", str(baseline["visual_tokens"]), "of", str(baseline["visual_tokens"])]
    assert table[4].split()[1:3] == [str(half["visual_tokens_after"]), "of"]
    assert table[4].split()[-2:] == [f"{1 / half['latency_ratio']:.2f}x", "no" if not half["same_answer"] else "yes"]
