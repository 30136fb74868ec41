"""Tiny checkpoints load and run through the same transformers code as a downloaded model."""

from __future__ import annotations

import json
import os

import numpy as np
import PIL.Image
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may touch the network
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402

from trio_backend_torch.testing import FAMILIES, build_checkpoint, build_tokenizer  # noqa: E402

VIDEO_FAMILIES = ("qwen2_5_vl", "qwen2_vl", "qwen3_vl", "smolvlm")

# Visual tokens the tiny processors give a 224x224 image and 8 frames of 224x224 (see tiny.py).
IMAGE_TOKENS_224 = {"qwen2_5_vl": 64, "qwen2_vl": 64, "qwen3_vl": 49, "smolvlm": 80, "idefics3": 80, "llava": 64}
VIDEO_TOKENS_8x224 = {"qwen2_5_vl": 64, "qwen2_vl": 64, "qwen3_vl": 64, "smolvlm": 128}

# The placeholder each family repeats once per visual token.
PLACEHOLDER = {
    "qwen2_5_vl": ("<|image_pad|>", "<|video_pad|>"),
    "qwen2_vl": ("<|image_pad|>", "<|video_pad|>"),
    "qwen3_vl": ("<|image_pad|>", "<|video_pad|>"),
    "smolvlm": ("<image>", "<image>"),  # video frames are spelled as images
    "idefics3": ("<image>", None),
    "llava": ("<image>", None),
}

# What the real checkpoints stop on.
STOP_TOKENS = {
    "qwen2_5_vl": {"<|im_end|>", "<|endoftext|>"},
    "qwen2_vl": {"<|im_end|>", "<|endoftext|>"},
    "qwen3_vl": {"<|im_end|>", "<|endoftext|>"},
    "smolvlm": {"<end_of_utterance>", "<|im_end|>"},
    "idefics3": {"<end_of_utterance>", "<|end_of_text|>"},
    "llava": {"</s>"},
}

# Eight pre-sampled frames, as trio hands them over: 2 frames a second from a 4 s clip.
VIDEO_METADATA = {"fps": 2.0, "total_num_frames": 8, "frames_indices": list(range(8)), "duration": 4.0}


@pytest.fixture(scope="module")
def checkpoint_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {family: build_checkpoint(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="module")
def loaded(checkpoint_dirs):
    """(processor, model) per family, loaded the way a user loads a downloaded checkpoint."""
    cache = {}

    def load(family):
        if family not in cache:
            path = checkpoint_dirs[family]
            model = AutoModelForImageTextToText.from_pretrained(path).eval()
            cache[family] = (AutoProcessor.from_pretrained(path), model)
        return cache[family]

    return load


def frames(n=8, size=224, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def chat(part):
    return [{"role": "user", "content": [part, {"type": "text", "text": "Describe what happens."}]}]


def count(input_ids, tokenizer, token):
    return int((input_ids == tokenizer.convert_tokens_to_ids(token)).sum())


def image_tokens_from_processor_outputs(family, processor, inputs):
    """The number of visual tokens the processor's own outputs imply for one image."""
    if family.startswith("qwen"):
        return int(inputs["image_grid_thw"].prod()) // processor.image_processor.merge_size**2
    if family in ("smolvlm", "idefics3"):  # one image_seq_len block per crop (+ the global view)
        return inputs["pixel_values"].shape[1] * processor.image_seq_len
    side = inputs["pixel_values"].shape[-1] // processor.patch_size  # llava: CLS dropped by "default"
    return side * side + processor.num_additional_image_tokens - (processor.vision_feature_select_strategy == "default")


def video_tokens_from_processor_outputs(family, processor, inputs):
    if family.startswith("qwen"):
        return int(inputs["video_grid_thw"].prod()) // processor.video_processor.merge_size**2
    return inputs["pixel_values"].shape[1] * processor.image_seq_len  # smolvlm: one block per frame


@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_has_the_layout_of_a_hub_download(family, checkpoint_dirs):
    path = checkpoint_dirs[family]
    for name in (
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ):
        assert (path / name).is_file(), name
    assert (path / "preprocessor_config.json").is_file()
    assert (path / "video_preprocessor_config.json").is_file() == (family in VIDEO_FAMILIES)
    assert (path / "chat_template.jinja").is_file()
    assert json.loads((path / "config.json").read_text())["model_type"] == family


@pytest.mark.parametrize("family", FAMILIES)
def test_generation_config_stops_on_every_end_token_of_the_family(family, checkpoint_dirs):
    tokenizer = build_tokenizer(family)
    eos = json.loads((checkpoint_dirs[family] / "generation_config.json").read_text())["eos_token_id"]
    eos = eos if isinstance(eos, list) else [eos]
    assert set(tokenizer.convert_ids_to_tokens(eos)) == STOP_TOKENS[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_model_config_and_tokenizer_agree_on_special_token_ids(family, loaded):
    processor, model = loaded(family)
    tokenizer, config = processor.tokenizer, model.config
    assert config.get_text_config().vocab_size == len(tokenizer)
    image_token, video_token = PLACEHOLDER[family]
    image_token_id = config.image_token_id if family != "llava" else config.image_token_index
    assert image_token_id == tokenizer.convert_tokens_to_ids(image_token)
    if family.startswith("qwen"):
        assert config.video_token_id == tokenizer.convert_tokens_to_ids(video_token)
        assert config.vision_start_token_id == tokenizer.convert_tokens_to_ids("<|vision_start|>")
        assert config.vision_end_token_id == tokenizer.convert_tokens_to_ids("<|vision_end|>")
    for token in (image_token, tokenizer.eos_token, tokenizer.pad_token):
        assert len(tokenizer.tokenize(token)) == 1, token


@pytest.mark.parametrize("image_form", ["numpy", "pil"])
@pytest.mark.parametrize("family", FAMILIES)
def test_image_prompt_expands_to_the_processors_grid_and_generates(family, image_form, loaded):
    processor, model = loaded(family)
    image = frames(1)[0]
    image = PIL.Image.fromarray(image) if image_form == "pil" else image

    inputs = processor.apply_chat_template(
        chat({"type": "image", "image": image}),
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
    )

    placeholders = count(inputs["input_ids"], processor.tokenizer, PLACEHOLDER[family][0])
    assert placeholders == image_tokens_from_processor_outputs(family, processor, inputs)
    assert placeholders == IMAGE_TOKENS_224[family]
    output = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert 1 <= output.shape[1] - inputs["input_ids"].shape[1] <= 5


@pytest.mark.parametrize("video_form", ["frame_list", "array"])
@pytest.mark.parametrize("family", VIDEO_FAMILIES)
def test_video_prompt_expands_to_the_processors_grid_and_generates(family, video_form, loaded):
    processor, model = loaded(family)
    video = frames(8) if video_form == "frame_list" else np.stack(frames(8))

    inputs = processor.apply_chat_template(
        chat({"type": "video", "video": video}),
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
        # The frames are already sampled: keep all 8, and say when they were taken.
        processor_kwargs={"do_sample_frames": False, "video_metadata": VIDEO_METADATA},
    )

    placeholders = count(inputs["input_ids"], processor.tokenizer, PLACEHOLDER[family][1])
    assert placeholders == video_tokens_from_processor_outputs(family, processor, inputs)
    assert placeholders == VIDEO_TOKENS_8x224[family]
    output = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert 1 <= output.shape[1] - inputs["input_ids"].shape[1] <= 5


@pytest.mark.parametrize(
    ("family", "first_stamp"),
    [("qwen3_vl", "<0.2 seconds>"), ("smolvlm", "Frame from 00:00:")],
)
def test_timestamped_video_prompts_use_the_frame_times_from_metadata(family, first_stamp, loaded):
    processor, _ = loaded(family)
    inputs = processor.apply_chat_template(
        chat({"type": "video", "video": frames(8)}),
        tokenize=True,
        return_dict=True,
        return_tensors="pt",  # SmolVLM's video prompt needs tensors (transformers 5.23)
        add_generation_prompt=True,
        processor_kwargs={"do_sample_frames": False, "video_metadata": VIDEO_METADATA},
    )
    prompt = processor.tokenizer.decode(inputs["input_ids"][0])
    assert first_stamp in prompt
    if family == "qwen3_vl":  # one stamp per temporal patch of 2 frames, averaged
        assert [s in prompt for s in ("<1.2 seconds>", "<2.2 seconds>", "<3.2 seconds>")] == [True] * 3


def test_qwen2_5_vl_video_positions_follow_the_given_fps(loaded):
    processor, _ = loaded("qwen2_5_vl")
    inputs = processor.apply_chat_template(
        chat({"type": "video", "video": frames(8)}),
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
        processor_kwargs={"do_sample_frames": False, "video_metadata": VIDEO_METADATA},
    )
    # temporal_patch_size 2 / 2 frames a second = 1 s per temporal grid step
    assert inputs["second_per_grid_ts"].tolist() == [1.0]


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_gives_the_same_weights_and_another_seed_does_not(family, tmp_path):
    a = load_file(build_checkpoint(family, tmp_path / "a", seed=1) / "model.safetensors")
    b = load_file(build_checkpoint(family, tmp_path / "b", seed=1) / "model.safetensors")
    c = load_file(build_checkpoint(family, tmp_path / "c", seed=2) / "model.safetensors")

    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert not all(torch.equal(a[name], c[name]) for name in a)
    assert all(tensor.dtype == torch.float32 for tensor in a.values())


@pytest.mark.parametrize("family", FAMILIES)
def test_tokenizer_is_the_same_on_every_build(family):
    first, second = build_tokenizer(family), build_tokenizer(family)
    assert first.get_vocab() == second.get_vocab()
    assert first.chat_template == second.chat_template
    assert 1000 <= len(first) <= 2000


def test_unknown_family_or_size_is_refused_with_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="Unknown model family 'gpt5'"):
        build_checkpoint("gpt5", tmp_path)
    with pytest.raises(ValueError, match="only built for qwen2_5_vl"):
        build_checkpoint("llava", tmp_path, size="bench")
    with pytest.raises(ValueError, match="Unknown checkpoint size"):
        build_checkpoint("qwen2_5_vl", tmp_path, size="huge")


REAL_3B_TEXT = {"hidden_size": 2048, "intermediate_size": 11008, "num_attention_heads": 16, "num_key_value_heads": 2}
REAL_3B_VISION = {
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "out_hidden_size": 2048,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
}


@pytest.mark.slow
def test_bench_qwen2_5_vl_has_real_3b_widths_and_runs(tmp_path):
    path = build_checkpoint("qwen2_5_vl", tmp_path / "bench", size="bench")
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()

    text, vision = model.config.text_config, model.config.vision_config
    assert {k: getattr(text, k) for k in REAL_3B_TEXT} == REAL_3B_TEXT
    assert text.num_hidden_layers == 4
    assert text.rope_parameters["mrope_section"] == [16, 24, 24]
    assert {k: getattr(vision, k) for k in REAL_3B_VISION} == REAL_3B_VISION
    assert (vision.depth, vision.fullatt_block_indexes) == (4, [3])

    inputs = processor.apply_chat_template(
        chat({"type": "image", "image": frames(1, size=112)[0]}),
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
    )
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=2, do_sample=False)
    assert output.shape[1] > inputs["input_ids"].shape[1]
