"""trio-opt-fastv: drops the visual tokens the question attends to least, after LLM layer K."""

import pytest
import torch

from tests.torch.engines import ask, engine_for, noise_frames
from trio_core.errors import ConfigError
from trio_opt_fastv.ranking import attention_received, tokens_to_keep

QUESTION = "What is happening in this clip?"


def fastv(path, layer=0, drop=0.5):
    return engine_for(path, optimizers=["fastv"], optimizer_settings={"fastv": {"layer": layer, "drop": drop}})


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2_vl"])
@pytest.mark.parametrize("kind", ["image", "video"])
def test_dropping_nothing_answers_token_for_token_as_without_it(family, kind, checkpoint):
    item = noise_frames(seed=1)[0] if kind == "image" else noise_frames(seed=1)
    expected = ask(engine_for(checkpoint(family)), item, QUESTION)
    got = ask(fastv(checkpoint(family), drop=0.0), item, QUESTION)
    assert got.token_ids == expected.token_ids
    assert [(s.optimizer, s.before, s.after) for s in got.metrics.visual_token_steps] == [
        ("fastv", expected.metrics.visual_tokens, expected.metrics.visual_tokens)
    ]


@pytest.mark.parametrize("kind", ["image", "video"])
def test_half_the_visual_tokens_leave_the_prefill_and_the_cache(kind, checkpoint):
    item = noise_frames(seed=2)[0] if kind == "image" else noise_frames(seed=2)
    engine = fastv(checkpoint("qwen2_5_vl"), drop=0.5)
    lengths = []
    language = engine.model.model.model.language_model
    language.layers[-1].register_forward_pre_hook(lambda module, args: lengths.append(args[0].shape[1]))
    first, again = ask(engine, item, QUESTION), ask(engine, item, QUESTION)
    visual = first.metrics.visual_tokens
    assert first.metrics.visual_tokens_after == visual - visual // 2
    # The prefill's last layer sees the prompt less the dropped tokens; decoding then goes one token at a time.
    assert lengths[0] == first.metrics.prompt_tokens - visual // 2 and set(lengths[1 : len(first.token_ids)]) == {1}
    assert first.token_ids == again.token_ids and len(first.token_ids) == 12


def test_settings_are_checked_at_load(checkpoint):
    with pytest.raises(ConfigError, match="fastv.layer"):
        fastv(checkpoint("qwen2_5_vl"), layer=50)
    with pytest.raises(ConfigError, match="fastv.drop"):
        fastv(checkpoint("qwen2_5_vl"), drop=1.0)


def test_ranking_follows_the_attention_of_the_question_rows():
    torch.manual_seed(0)
    keys = torch.randn(1, 1, 6, 8) * 0.1
    keys[0, 0, 3] = torch.ones(8) * 2  # key 3 matches the query
    queries = torch.ones(1, 2, 1, 8)  # two query heads share the one key head
    received = attention_received(queries, keys, rows=torch.tensor([5]))[0]
    assert int(received.argmax()) == 3 and torch.isclose(received.sum(), torch.tensor(1.0))
    # A row never attends to a key after it.
    early = attention_received(queries, keys, rows=torch.tensor([2]))[0]
    assert torch.all(early[3:] == 0)
    visual = torch.tensor([1, 2, 3, 4])
    keep = tokens_to_keep(received, visual, drop=0.5)
    most = visual[received[visual].argsort(descending=True)[:2]].tolist()  # the two visual keys attended most
    assert 3 in most and keep.tolist() == sorted([0, 5, *most])
    assert tokens_to_keep(received, visual, drop=0.0).tolist() == list(range(6))


def test_bench_compares_each_setting_with_no_optimizer_in_one_run(checkpoint):
    from trio_backend_torch.bench import compare_optimizers, render_comparison

    configs = {"half": {"optimizers": ["fastv"], "optimizer_settings": {"fastv": {"layer": 0, "drop": 0.5}}}}
    report = compare_optimizers(
        checkpoint("qwen2_5_vl"), configs, runs=2, max_tokens=4, frame_count=1, size=112, device="cpu"
    )
    baseline, half = report["configs"]
    assert baseline["name"] == "baseline" and baseline["latency_ratio"] == 1.0 and baseline["same_answer"]
    assert half["visual_tokens_after"] == half["visual_tokens"] - half["visual_tokens"] // 2
    assert half["prefill_ratio"] > 0 and "speedup" in render_comparison(report)
