"""trio-tiny's architecture and processor: Qwen2.5-VL at small widths, with a tokenizer of its own corpus."""

from __future__ import annotations

from transformers import Qwen2_5_VLConfig, Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

from trio_backend_torch.families import FAMILIES
from trio_backend_torch.testing import build_tokenizer
from trio_model_tiny.questions import corpus

# Default resolution: a 448x448 image is 32x32 patches of 14 px, merged 2x2 into 16x16 = 256
# visual tokens; a video frame is at most 224x224, 64 tokens per pair of frames.
IMAGE_PIXELS = 448 * 448
VIDEO_PIXELS = 224 * 224

FAMILY = next(family for family in FAMILIES if family.name == "qwen2_5_vl")


def build_processor() -> Qwen2_5_VLProcessor:
    tokenizer = build_tokenizer("qwen2_5_vl", corpus=corpus(), vocab_size=512)
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": 56 * 56, "longest_edge": IMAGE_PIXELS},
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
    )
    video_processor = Qwen2VLVideoProcessor(
        size={"shortest_edge": 56 * 56, "longest_edge": VIDEO_PIXELS},
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
        cap_pixels_per_frame=True,
    )
    return Qwen2_5_VLProcessor(image_processor, tokenizer, video_processor, chat_template=tokenizer.chat_template)


def build_config(tokenizer) -> Qwen2_5_VLConfig:
    """Qwen2.5-VL's architecture at small widths: windowed vision blocks with full-attention ones, mRoPE."""
    vocab = tokenizer.get_vocab()
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 128,
        "intermediate_size": 384,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
        "bos_token_id": vocab["<|endoftext|>"],
        "eos_token_id": vocab["<|im_end|>"],
        "pad_token_id": vocab["<|endoftext|>"],
        "tie_word_embeddings": True,
    }
    vision = {
        "depth": 4,
        "hidden_size": 96,
        "intermediate_size": 256,
        "num_heads": 4,
        "out_hidden_size": 128,
        "fullatt_block_indexes": [1, 3],
        "window_size": 112,
        "hidden_act": "silu",
        "in_channels": 3,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
    }
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=True,
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
    )
