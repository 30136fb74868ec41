"""trio's torch path gives exactly what transformers gives, and reports what it did."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor
from transformers.video_utils import VideoMetadata

from tests.torch.engines import engine_for, noise_frames
from trio_core import AnalysisResult, TrioCore
from trio_core.errors import ConfigError, ModelLoadError

FAMILIES = ["qwen2_5_vl", "qwen2_vl", "qwen3_vl", "smolvlm", "idefics3", "llava"]
NATIVE_VIDEO = {"qwen2_5_vl", "qwen2_vl", "qwen3_vl", "smolvlm"}
QUESTION = "What is happening in this clip?"


def clip(count=4, height=64, width=96):
    return noise_frames(count, height, width)


def raw_generate(path, content, max_tokens, **processor_kwargs):
    """The plain transformers way, with no trio code: processor, then model.generate."""
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32).eval()
    inputs = processor.apply_chat_template(
        [{"role": "user", "content": content}],
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
        processor_kwargs=processor_kwargs,
    )
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False)
    return output[0, inputs["input_ids"].shape[1] :].tolist()


@pytest.mark.parametrize("family", FAMILIES)
def test_image_answer_is_token_for_token_identical_to_model_generate(family, trio_checkpoint):
    image = clip(1)[0]
    result = engine_for(trio_checkpoint(family)).analyze_frame(image, QUESTION)
    raw = raw_generate(
        trio_checkpoint(family), [{"type": "image", "image": image}, {"type": "text", "text": QUESTION}], 12
    )
    assert result.token_ids == raw
    assert result.metrics.visual_tokens > 0


@pytest.mark.parametrize("family", sorted(NATIVE_VIDEO))
def test_video_answer_is_token_for_token_identical_to_model_generate(family, trio_checkpoint):
    frames = clip(4)
    result = engine_for(trio_checkpoint(family)).analyze_video(frames, QUESTION)
    metadata = VideoMetadata(
        total_num_frames=4, fps=2.0, frames_indices=[0, 1, 2, 3], duration=2.0, width=96, height=64
    )
    raw = raw_generate(
        trio_checkpoint(family),
        [{"type": "video", "video": np.stack(frames)}, {"type": "text", "text": QUESTION}],
        12,
        video_metadata=[metadata],
        do_sample_frames=False,
    )
    assert result.token_ids == raw
    assert result.metrics.frames_used == 4


@pytest.mark.parametrize("family", ["idefics3", "llava"])
def test_families_without_video_see_every_sampled_frame_as_an_image(family, trio_checkpoint):
    one = engine_for(trio_checkpoint(family)).analyze_video(clip(1), QUESTION)
    three = engine_for(trio_checkpoint(family)).analyze_video(clip(3), QUESTION)
    assert three.metrics.visual_tokens == 3 * one.metrics.visual_tokens
    assert three.family in {"idefics3", "generic"}


def test_stream_yields_text_deltas_then_the_result(trio_checkpoint):
    engine = engine_for(trio_checkpoint("smolvlm"), max_tokens=10)
    items = list(engine.stream_video(clip(2), QUESTION))
    *deltas, result = items
    assert isinstance(result, AnalysisResult)
    assert all(isinstance(delta, str) for delta in deltas)
    assert "".join(deltas).strip() == result.text
    assert result.text


def test_metrics_are_filled(trio_checkpoint):
    result = engine_for(trio_checkpoint("smolvlm"), max_tokens=10).analyze_video(clip(3), QUESTION)
    m = result.metrics
    assert (m.frames_in, m.frame_filter_steps, m.frames_used) == (3, [], 3)  # engine_for turns dedup off
    assert m.visual_tokens == m.visual_tokens_after > 0
    assert m.prompt_tokens > m.visual_tokens
    assert m.completion_tokens == len(result.token_ids) > 0
    assert 0 < m.prefill_ms <= m.ttft_ms <= m.latency_ms
    assert m.preprocess_ms > 0 and m.decode_ms >= 0 and m.peak_memory_mb > 0
    assert m.cache_hit == "none"
    if m.completion_tokens > 1:
        assert m.decode_tokens_per_s > 0


def test_max_tokens_ends_with_finish_reason_length(trio_checkpoint):
    result = engine_for(trio_checkpoint("llava"), max_tokens=3).analyze_frame(clip(1)[0], QUESTION)
    assert len(result.token_ids) == 3
    assert result.finish_reason == "length"


def force_token(engine, token_id):
    """Make the model's next-token scores always prefer ``token_id`` (a real forward hook on lm_head)."""

    def prefer(module, args, output):
        output[..., token_id] = output.max() + 100.0
        return output

    return engine.model.model.lm_head.register_forward_hook(prefer)


def test_generation_stops_on_the_chat_end_token_even_when_the_config_omits_it(trio_checkpoint):
    engine = engine_for(trio_checkpoint("qwen2_5_vl"))
    im_end = engine.model.tokenizer.convert_tokens_to_ids("<|im_end|>")
    engine.model.model.generation_config.eos_token_id = [engine.model.tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    engine.load()  # stop ids are read at load: the family's end token is added to what the config lists
    engine.model.model.generation_config.eos_token_id = [engine.model.tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    hook = force_token(engine, im_end)
    try:
        result = engine.analyze_frame(clip(1)[0], QUESTION)
    finally:
        hook.remove()
    assert result.token_ids == [im_end]
    assert result.finish_reason == "stop"
    assert result.text == ""


def test_generation_stops_on_every_eos_id_of_the_generation_config(trio_checkpoint):
    engine = engine_for(trio_checkpoint("qwen2_5_vl"))
    eos_ids = engine.model.model.generation_config.eos_token_id
    assert len(eos_ids) >= 2
    for eos in eos_ids:
        hook = force_token(engine, eos)
        try:
            assert engine.analyze_frame(clip(1)[0], QUESTION).token_ids == [eos]
        finally:
            hook.remove()


def test_sampling_honours_temperature_top_p_and_seed(trio_checkpoint):
    engine = engine_for(trio_checkpoint("llava"), max_tokens=16)
    image = clip(1)[0]
    first = engine.analyze_frame(image, QUESTION, temperature=1.5, top_p=0.95, seed=3)
    again = engine.analyze_frame(image, QUESTION, temperature=1.5, top_p=0.95, seed=3)
    other = engine.analyze_frame(image, QUESTION, temperature=1.5, top_p=0.95, seed=4)
    greedy = engine.analyze_frame(image, QUESTION)
    assert first.token_ids == again.token_ids
    assert other.token_ids != first.token_ids or greedy.token_ids != first.token_ids


def test_cpu_defaults_to_float32_and_unknown_devices_are_refused(trio_checkpoint):
    engine = engine_for(trio_checkpoint("llava"))
    assert (engine.model.device, engine.model.dtype) == ("cpu", "float32")
    assert engine.model.model.dtype == torch.float32
    with pytest.raises(ConfigError, match="Device 'cuda' is not available"):
        engine_for(trio_checkpoint("llava"), device="cuda")
    assert engine_for(trio_checkpoint("llava"), dtype="bfloat16").model.model.dtype == torch.bfloat16


def test_model_reference_errors_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE"):
        TrioCore(model="nobody-here/no-such-model").load()
    with pytest.raises(ModelLoadError, match="neither a local directory nor a hub id"):
        TrioCore(model="./does/not/exist").load()
    (tmp_path / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    with pytest.raises(ModelLoadError, match="could not load the model"):
        TrioCore(model=str(tmp_path)).load()
