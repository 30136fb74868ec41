"""For tests: random-weight checkpoints, written in the layout a Hugging Face download has.

A public testing API (plugin authors use it too, most easily through the ``trio_checkpoint``
pytest fixture that trio-core ships). Not to be confused with trio-tiny, the *trained* model
of trio-model-tiny.

Tests and benchmarks need a real model of each family we support, but nothing may be
downloaded. :func:`build_checkpoint` writes a directory that looks like a snapshot of the
real repository (``config.json``, ``generation_config.json``, ``model.safetensors``,
tokenizer files, ``preprocessor_config.json``, ``video_preprocessor_config.json``, a chat
template) so that ``AutoProcessor.from_pretrained(path)`` and
``AutoModelForImageTextToText.from_pretrained(path)`` load it through exactly the code a
user's download goes through. Only the sizes are small and the weights random:

- the tokenizer is a byte-level BPE trained here on a few paragraphs of English, with the
  family's special tokens, chat template and stop tokens, and its ids are the ones written
  into the model config;
- ``size="tiny"`` keeps every architectural feature (window attention, M-RoPE sections,
  deepstack, pixel shuffle, image splitting, ...) at widths of 32-64 so a generate call takes
  milliseconds on a CPU; the image/video processors keep the real algorithms with smaller
  size bounds;
- ``size="bench"`` (Qwen2.5-VL only) has the real Qwen2.5-VL-3B layer widths and the real
  processor bounds, but 4 LLM layers and 4 vision blocks, so per-token costs are real while
  the checkpoint stays around 1.7 GB.

Building is deterministic: the same ``seed`` gives the same weights, the same tokenizer and
byte-identical configs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = ["FAMILIES", "SIZES", "build_checkpoint", "build_tokenizer", "save_processor"]

FAMILIES = ("qwen2_5_vl", "qwen2_vl", "qwen3_vl", "smolvlm", "idefics3", "llava")
SIZES = ("tiny", "bench")

# A trained (not random) vocabulary makes prompts tokenize like real text: common words are
# single tokens, rare ones split. Enough text for ~1k merges; the words are the ones trio's
# prompts and a tiny model's outputs are made of.
_CORPUS = """\
A person walks across the parking lot and opens the door of a red car.
Two people are talking near the entrance of the building while a dog waits outside.
The camera shows a kitchen with a white table, four chairs and a window on the left.
Describe what happens in this video. What is the person holding in their hand?
Is there anyone in the room? Count the number of cars on the street.
The delivery truck stops in front of the house at seven in the morning.
A cat jumps onto the counter, looks around and then sits next to the coffee machine.
Nothing changes in the scene for several minutes; the lights are off and the hallway is empty.
The man in the blue jacket picks up a box from the floor and carries it to the van.
Children are playing football in the park; one of them kicks the ball over the fence.
It is raining. Water runs down the window and the street outside is wet and dark.
The woman checks her phone, waves at someone off screen and leaves through the back door.
Summarize the events of the last hour in three short sentences.
Answer with yes or no: is the gate open? Is the light on? Is someone at the door?
The image shows a bicycle leaning against a wall next to a green trash bin.
A forklift moves pallets in the warehouse; workers wear yellow vests and hard hats.
At night the security camera switches to infrared and the picture becomes black and white.
The front door opens at 8:15 and closes again at 8:16; no one enters the house.
There are three birds on the roof, a tree in the garden and clouds in the sky.
The video starts with an empty road. After ten seconds a bus passes from right to left.
Please list every object you can see on the desk: a laptop, a cup, a pen and a notebook.
The baby is sleeping in the crib. The room is quiet and the curtains are closed.
A small fire starts in the corner of the room and smoke rises toward the ceiling.
The package was left on the porch; later a neighbour picks it up and takes it inside.
The store is busy: customers wait in line at the cashier, and a child holds a balloon.
Motion detected near the garage. A fox crosses the driveway and disappears behind the fence.
Frame one shows the start of the event and frame eight shows how it ends.
The assistant answers the question about the picture clearly and briefly.
You are a helpful assistant. The user asks about images, videos and everyday scenes.
Where is the red ball? It is under the chair, next to a pair of shoes.
How many people are in the frame at the beginning, and how many at the end?
The elevator doors open on the fifth floor and an old man steps out with a suitcase.
In the first second a light turns green; cars start to move and a cyclist follows them.
The weather is sunny and warm; people sit outside the cafe drinking tea and reading.
Seconds, minutes, hours: the timestamps show when each thing happened in the recording.
The robot arm picks a part from the belt, rotates it and places it in the blue bin.
The office is dark except for one screen that is still on at the desk near the window.
The horse runs along the beach while waves break on the sand behind it.
The train arrives at the station, passengers get off, and the platform empties again.
User: What do you see in this picture? Assistant: I see a street with cars and a person.
USER: Is the door open? ASSISTANT: No, the door is closed.
system: The user and the assistant talk about the system camera and the user's questions.
A large truck is parked on the left side; a white van is parked on the right side.
"""

_QWEN_SPECIAL_TOKENS = (
    # Same names and relative order as in the real Qwen2 vocabulary (151643...151656).
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# The Idefics3 / SmolVLM processors name each crop of a split image <row_i_col_j> (up to 6x6).
_ROW_COL_TOKENS = tuple(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7))
_IDEFICS_IMAGE_TOKENS = ("<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>", *_ROW_COL_TOKENS)

# Chat templates, written in each family's real format (the same strings the real
# repositories ship, minus tool-calling branches).
_QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen3-VL: no default system prompt, and text content is rendered with `content.text`.
_QWEN3_VL_TEMPLATE = (
    "{%- set image_count = namespace(value=0) %}{%- set video_count = namespace(value=0) %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' }}"
    "{%- if message.content is string %}{{- message.content }}"
    "{%- else %}{%- for content in message.content %}"
    "{%- if content.type == 'image' or 'image' in content or 'image_url' in content %}"
    "{%- set image_count.value = image_count.value + 1 %}{%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif content.type == 'video' or 'video' in content %}"
    "{%- set video_count.value = video_count.value + 1 %}{%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif 'text' in content %}{{- content.text }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# SmolVLM2 (identical to transformers' SmolVLM DEFAULT_CHAT_TEMPLATE, which the processor
# substitutes for any prompt that contains a video).
_SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% elif line['type'] == 'video' %}{{ '<video>' }}{% endif %}"
    "{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

_IDEFICS3_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}"
    "{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# llava-1.5-hf: images first, then text; the tokenizer adds <s>.
_LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% if message['content'] is string %}{{ message['content'] + ' ' }}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' ' }}{% endfor %}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


@dataclass(frozen=True)
class _TokenizerSpec:
    """The special tokens and chat format of one family's tokenizer."""

    leading: tuple[str, ...]  # special tokens that take the first ids (before the BPE vocab)
    trailing: tuple[str, ...]  # special tokens appended after the BPE vocab, in id order
    eos: str
    pad: str
    chat_template: str
    stop: tuple[str, ...]  # every token generation_config.json stops on, first = eos_token_id[0]
    bos: str | None = None
    unk: str | None = None
    prepend_bos: bool = False  # the tokenizer itself adds `bos` (Llama style)


def _tokenizer_spec(family: str) -> _TokenizerSpec:
    if family in ("qwen2_5_vl", "qwen2_vl", "qwen3_vl"):
        return _TokenizerSpec(
            leading=(),
            trailing=_QWEN_SPECIAL_TOKENS,
            eos="<|im_end|>",
            pad="<|endoftext|>",
            chat_template=_QWEN3_VL_TEMPLATE if family == "qwen3_vl" else _QWEN2_VL_TEMPLATE,
            stop=("<|im_end|>", "<|endoftext|>"),
        )
    if family == "smolvlm":
        # SmolLM2 vocabulary: <|endoftext|>, <|im_start|>, <|im_end|> are ids 0, 1, 2.
        return _TokenizerSpec(
            leading=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
            trailing=_IDEFICS_IMAGE_TOKENS,
            bos="<|im_start|>",
            eos="<end_of_utterance>",
            pad="<|im_end|>",
            unk="<|endoftext|>",
            chat_template=_SMOLVLM_TEMPLATE,
            stop=("<end_of_utterance>", "<|im_end|>"),
        )
    if family == "idefics3":
        # Llama 3 vocabulary: the control tokens come after the BPE vocab.
        return _TokenizerSpec(
            leading=(),
            trailing=("<|begin_of_text|>", "<|end_of_text|>", *_IDEFICS_IMAGE_TOKENS),
            bos="<|begin_of_text|>",
            eos="<end_of_utterance>",
            pad="<|end_of_text|>",
            prepend_bos=True,
            chat_template=_IDEFICS3_TEMPLATE,
            stop=("<end_of_utterance>", "<|end_of_text|>"),
        )
    if family == "llava":
        # Llama 2 vocabulary: <unk>, <s>, </s> are ids 0, 1, 2; llava adds <image> and <pad>.
        return _TokenizerSpec(
            leading=("<unk>", "<s>", "</s>"),
            trailing=("<image>", "<pad>"),
            bos="<s>",
            eos="</s>",
            pad="<pad>",
            unk="<unk>",
            prepend_bos=True,
            chat_template=_LLAVA_TEMPLATE,
            stop=("</s>",),
        )
    raise ValueError(f"Unknown model family {family!r}; choose one of {', '.join(FAMILIES)}.")


def build_tokenizer(family: str, corpus: list[str] | None = None, vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained offline, carrying ``family``'s special tokens and chat template.

    The vocabulary (``vocab_size`` BPE tokens) is trained on ``corpus`` (lines of text;
    default: a built-in English corpus), so every call with the same corpus gives the same ids. Special tokens sit where the family's real vocabulary puts them
    relative to the BPE tokens (first for SmolLM2 and Llama 2, after it for Qwen and Llama 3).
    Qwen families get a ``Qwen2Tokenizer`` (Qwen's pre-tokenizer: NFC, one token per digit),
    which is the class transformers picks when it loads a real Qwen-VL checkpoint; the others
    get the generic tokenizers backend, which is what transformers 5 loads for SmolVLM, Llama 3
    and llava checkpoints.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    spec = _tokenizer_spec(family)
    qwen = family.startswith("qwen")
    backend = Tokenizer(models.BPE())
    backend.decoder = decoders.ByteLevel()
    if qwen:
        from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

        backend.normalizer = normalizers.NFC()
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    else:
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(spec.leading),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus if corpus is not None else _CORPUS.splitlines(), trainer=trainer)
    trailing = [AddedToken(t, special=True, normalized=False) for t in spec.trailing]

    if qwen:
        from transformers import Qwen2Tokenizer

        bpe = json.loads(backend.to_str())["model"]
        tokenizer = Qwen2Tokenizer(
            vocab=bpe["vocab"],
            merges=[tuple(pair) for pair in bpe["merges"]],
            unk_token=None,
            bos_token=None,
            eos_token=None,  # set below, once the special tokens have their ids in the real order
            pad_token=None,
            model_max_length=32768,
            clean_up_tokenization_spaces=False,
        )
        tokenizer.add_tokens(trailing, special_tokens=True)
        tokenizer.eos_token = spec.eos
        tokenizer.pad_token = spec.pad
    else:
        backend.add_special_tokens(trailing)
        if spec.prepend_bos:
            bos_id = backend.token_to_id(spec.bos)
            backend.post_processor = processors.TemplateProcessing(
                single=f"{spec.bos} $A", pair=f"{spec.bos} $A {spec.bos} $B:1", special_tokens=[(spec.bos, bos_id)]
            )
        else:
            backend.post_processor = processors.ByteLevel(trim_offsets=False)
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend,
            bos_token=spec.bos,
            eos_token=spec.eos,
            pad_token=spec.pad,
            unk_token=spec.unk,
            model_max_length=32768,
            clean_up_tokenization_spaces=False,
        )
    tokenizer.chat_template = spec.chat_template
    return tokenizer


def _ids(tokenizer, *tokens: str) -> list[int]:
    vocab = tokenizer.get_vocab()
    if missing := [t for t in tokens if t not in vocab]:
        raise AssertionError(f"tokens {missing} are missing from the tokenizer")
    return [vocab[t] for t in tokens]


# --- model configs -----------------------------------------------------------------------------


def _qwen_text(vocab_size: int, tokenizer, *, size: str, mrope_interleaved: bool = False) -> dict:
    bos, eos, pad = _ids(tokenizer, "<|endoftext|>", "<|im_end|>", "<|endoftext|>")
    common = {
        "vocab_size": vocab_size,
        "hidden_act": "silu",
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
    }
    if size == "bench":  # Qwen2.5-VL-3B-Instruct, 4 of its 36 layers
        return {
            **common,
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 4,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "max_position_embeddings": 128000,
            "rms_norm_eps": 1e-6,
            "use_sliding_window": False,
            "sliding_window": 32768,
            "max_window_layers": 70,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        }
    if mrope_interleaved:  # Qwen3-VL: explicit head_dim, interleaved T/H/W frequencies
        return {
            **common,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 32,
            "max_position_embeddings": 262144,
            "rms_norm_eps": 1e-6,
            # Real: head_dim 128 -> 64 frequencies split [24, 20, 20]; here 16 split the same way.
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5000000.0,
                "mrope_section": [6, 5, 5],
                "mrope_interleaved": True,
            },
        }
    return {
        **common,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "use_sliding_window": False,
        "sliding_window": 32768,
        "max_window_layers": 70,
        # head_dim 16 -> 8 frequencies, split T/H/W in the real 16:24:24 proportion.
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
    }


def _qwen_vision_token_ids(tokenizer) -> dict:
    image, video, start, end = _ids(tokenizer, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    return {
        "image_token_id": image,
        "video_token_id": video,
        "vision_start_token_id": start,
        "vision_end_token_id": end,
    }


def _llama_text(vocab_size: int, tokenizer, spec: _TokenizerSpec) -> dict:
    bos, eos, pad = _ids(tokenizer, spec.bos, spec.eos, spec.pad)
    return {
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "hidden_act": "silu",
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5,
        "rope_parameters": {"rope_type": "default", "rope_theta": 100000.0},
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
    }


def _siglip_like_vision(image_size: int) -> dict:
    # SmolVLM / Idefics3 use a SigLIP encoder; 64px crops of 8px patches -> 8x8 patches,
    # pixel-shuffled by scale_factor 2 into 16 tokens per crop.
    return {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": image_size,
        "patch_size": 8,
        "hidden_act": "gelu_pytorch_tanh",
        "layer_norm_eps": 1e-6,
    }


def _model_config(family: str, tokenizer, size: str):
    import transformers as tf

    spec = _tokenizer_spec(family)
    vocab_size = len(tokenizer)
    if family == "qwen2_5_vl":
        if size == "bench":  # Qwen2.5-VL-3B vision tower, 4 of its 32 blocks (the last one global)
            widths = {"depth": 4, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16}
            vision = {**widths, "out_hidden_size": 2048, "fullatt_block_indexes": [3]}
        else:
            widths = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2}
            vision = {**widths, "out_hidden_size": 64, "fullatt_block_indexes": [1]}
        vision |= {
            "hidden_act": "silu",
            "in_channels": 3,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "tokens_per_second": 2,
        }
        return tf.Qwen2_5_VLConfig(
            text_config=_qwen_text(vocab_size, tokenizer, size=size),
            vision_config=vision,
            tie_word_embeddings=True,  # as in the 3B
            **_qwen_vision_token_ids(tokenizer),
        )
    if family == "qwen2_vl":
        vision = {
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 64,  # = text hidden size: the merger's output width
            "mlp_ratio": 4,
            "num_heads": 2,
            "hidden_act": "quick_gelu",
            "in_channels": 3,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        }
        return tf.Qwen2VLConfig(
            text_config=_qwen_text(vocab_size, tokenizer, size=size),
            vision_config=vision,
            tie_word_embeddings=True,  # as in the 2B
            **_qwen_vision_token_ids(tokenizer),
        )
    if family == "qwen3_vl":
        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "hidden_act": "gelu_pytorch_tanh",
            "in_channels": 3,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": 64,
            "num_position_embeddings": 256,  # a 16x16 grid, interpolated to the image's grid
            "deepstack_visual_indexes": [0],
        }
        return tf.Qwen3VLConfig(
            text_config=_qwen_text(vocab_size, tokenizer, size=size, mrope_interleaved=True),
            vision_config=vision,
            tie_word_embeddings=True,  # as in the 4B
            **_qwen_vision_token_ids(tokenizer),
        )
    if family in ("smolvlm", "idefics3"):
        config_class = tf.SmolVLMConfig if family == "smolvlm" else tf.Idefics3Config
        (image_token_id,) = _ids(tokenizer, "<image>")
        return config_class(
            text_config=_llama_text(vocab_size, tokenizer, spec),
            vision_config=_siglip_like_vision(image_size=_SIGLIP_CROP),
            scale_factor=2,
            image_token_id=image_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=False,
        )
    if family == "llava":
        (image_token_id,) = _ids(tokenizer, "<image>")
        vision = {
            "model_type": "clip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": _CLIP_IMAGE,
            "patch_size": 14,
            "projection_dim": 32,
            "hidden_act": "quick_gelu",
        }
        return tf.LlavaConfig(
            vision_config=vision,
            text_config=_llama_text(vocab_size, tokenizer, spec),
            image_token_index=image_token_id,
            image_seq_length=(_CLIP_IMAGE // 14) ** 2,
            vision_feature_select_strategy="default",
            vision_feature_layer=-2,
            projector_hidden_act="gelu",
            tie_word_embeddings=False,
        )
    raise ValueError(f"Unknown model family {family!r}; choose one of {', '.join(FAMILIES)}.")


# --- processors --------------------------------------------------------------------------------

_SIGLIP_CROP = 64  # SmolVLM / Idefics3 crop side (real: 384 / 512 / 364)
_CLIP_IMAGE = 112  # llava CLIP input side (real: 336)


def _processor(family: str, tokenizer, size: str):
    """The family's real processor classes, with size bounds scaled down for ``size="tiny"``."""
    import transformers as tf
    from transformers.image_utils import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD

    template = tokenizer.chat_template
    if family in ("qwen2_5_vl", "qwen2_vl"):
        if size == "bench":  # the real Qwen2.5-VL preprocessor_config.json bounds
            image_size = video_size = {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 16384}
        else:
            # A 224x224 image stays 224x224: 16x16 patches, 8x8 = 64 visual tokens; anything
            # larger is scaled down to that budget. Video frames go to at most 112x112
            # (16 tokens per pair of frames).
            image_size = {"shortest_edge": 56 * 56, "longest_edge": 224 * 224}
            video_size = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
        image_processor = tf.Qwen2VLImageProcessor(size=image_size, patch_size=14, temporal_patch_size=2, merge_size=2)
        # cap_pixels_per_frame=True is qwen-vl-utils' (the reference) behaviour and silences
        # transformers' deprecation warning about the uncapped default.
        video_processor = tf.Qwen2VLVideoProcessor(
            size=video_size, patch_size=14, temporal_patch_size=2, merge_size=2, cap_pixels_per_frame=True
        )
        processor_class = tf.Qwen2_5_VLProcessor if family == "qwen2_5_vl" else tf.Qwen2VLProcessor
        return processor_class(image_processor, tokenizer, video_processor, chat_template=template)
    if family == "qwen3_vl":
        # Qwen3-VL normalises with mean/std 0.5 and patches of 16 (factor 32). A 224x224
        # image: 14x14 patches, 49 tokens. Video `longest_edge` is a budget for the whole clip:
        # 8 frames of 224x224 come out at 128x128 (16 tokens per pair of frames).
        half = [0.5, 0.5, 0.5]
        image_processor = tf.Qwen2VLImageProcessor(
            size={"shortest_edge": 32 * 32 * 4, "longest_edge": 224 * 224},
            patch_size=16,
            temporal_patch_size=2,
            merge_size=2,
            image_mean=half,
            image_std=half,
        )
        video_processor = tf.Qwen3VLVideoProcessor(
            size={"shortest_edge": 32 * 32 * 4, "longest_edge": 8 * 20000},
            patch_size=16,
            temporal_patch_size=2,
            merge_size=2,
            image_mean=half,
            image_std=half,
            fps=2,
            min_frames=4,
            max_frames=768,
            do_sample_frames=True,
            cap_pixels_per_frame=True,
        )
        return tf.Qwen3VLProcessor(image_processor, tokenizer, video_processor, chat_template=template)
    if family in ("smolvlm", "idefics3"):
        # Images are resized so the long side is at most 2 crops, split into 64x64 crops plus
        # a global 64x64 view; each crop is 16 tokens. A 224x224 image: 2x2 crops + global = 80.
        image_kwargs = {
            "size": {"longest_edge": 2 * _SIGLIP_CROP},
            "max_image_size": {"longest_edge": _SIGLIP_CROP},
            "do_image_splitting": True,
            "image_mean": IMAGENET_STANDARD_MEAN,
            "image_std": IMAGENET_STANDARD_STD,
        }
        image_seq_len = (_SIGLIP_CROP // 8) ** 2 // 2**2
        if family == "idefics3":
            return tf.Idefics3Processor(
                tf.Idefics3ImageProcessor(**image_kwargs),
                tokenizer,
                image_seq_len=image_seq_len,
                chat_template=template,
            )
        # Video frames are never split: each is one 64x64 view, 16 tokens.
        video_processor = tf.SmolVLMVideoProcessor(
            video_sampling={"fps": 1, "max_frames": 64, "video_size": {"longest_edge": _SIGLIP_CROP}},
            size={"longest_edge": _SIGLIP_CROP},
            max_image_size={"longest_edge": _SIGLIP_CROP},
            image_mean=IMAGENET_STANDARD_MEAN,
            image_std=IMAGENET_STANDARD_STD,
        )
        return tf.SmolVLMProcessor(
            tf.SmolVLMImageProcessor(**image_kwargs),
            tokenizer,
            video_processor,
            image_seq_len=image_seq_len,
            chat_template=template,
        )
    if family == "llava":
        image_processor = tf.CLIPImageProcessor(
            size={"shortest_edge": _CLIP_IMAGE}, crop_size={"height": _CLIP_IMAGE, "width": _CLIP_IMAGE}
        )
        # CLIP adds a CLS token that the "default" strategy drops again: 8x8 = 64 tokens.
        return tf.LlavaProcessor(
            image_processor,
            tokenizer,
            patch_size=14,
            vision_feature_select_strategy="default",
            num_additional_image_tokens=1,
            chat_template=template,
        )
    raise ValueError(f"Unknown model family {family!r}; choose one of {', '.join(FAMILIES)}.")


def save_processor(processor, path: Path) -> None:
    """Write the processor the way Hub repositories lay it out, not as one processor_config.json.

    Real checkpoints keep each part in its own file (``preprocessor_config.json``,
    ``video_preprocessor_config.json``, tokenizer files, ``chat_template.jinja``) and a
    ``processor_config.json`` only for the processor's own arguments, so loading follows the
    same per-file path as a download does.
    """
    processor_class = type(processor).__name__
    own_args = {}
    for name, value in processor.to_dict().items():
        if name in ("image_processor", "video_processor", "tokenizer", "chat_template", "processor_class", "auto_map"):
            continue
        own_args[name] = value
    tokenizer = processor.tokenizer
    tokenizer._set_processor_class(processor_class)
    tokenizer.save_pretrained(path)
    for part in ("image_processor", "video_processor"):
        if (sub := getattr(processor, part, None)) is not None:
            sub.save_pretrained(path)
    (path / "chat_template.jinja").write_text(processor.chat_template, encoding="utf-8")
    if own_args:
        config = {**own_args, "processor_class": processor_class}
        (path / "processor_config.json").write_text(
            json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )


def build_checkpoint(
    family: str, path: str | Path, *, size: str = "tiny", seed: int = 0, depth: tuple[int, int] | None = None
) -> Path:
    """Write a random-weight checkpoint of ``family`` into ``path`` (created if needed) and return it.

    ``size="tiny"`` gives a model of a few hundred thousand parameters whose generate call
    takes milliseconds on a CPU; ``size="bench"`` (``qwen2_5_vl`` only) gives real
    Qwen2.5-VL-3B layer widths with 4 vision blocks and 4 LLM layers, or ``depth`` = (vision
    blocks, LLM layers); every 8th vision block and the last attend globally, as in the 3B.
    Weights are float32
    safetensors, initialised by the model's own ``_init_weights`` after
    ``torch.manual_seed(seed)``: the same seed gives the same weights.
    """
    if family not in FAMILIES:
        raise ValueError(f"Unknown model family {family!r}; choose one of {', '.join(FAMILIES)}.")
    if size not in SIZES:
        raise ValueError(f"Unknown checkpoint size {size!r}; choose 'tiny' or 'bench'.")
    if size == "bench" and family != "qwen2_5_vl":
        raise ValueError(f"size='bench' is only built for qwen2_5_vl, not {family!r}; use size='tiny'.")

    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(family)
    spec = _tokenizer_spec(family)

    config = _model_config(family, tokenizer, size)
    if depth is not None:
        if size != "bench":
            raise ValueError("depth is only for size='bench'.")
        blocks, layers = depth
        config.vision_config.depth = blocks
        config.vision_config.fullatt_block_indexes = sorted({*range(7, blocks, 8), blocks - 1})
        config.text_config.num_hidden_layers = layers
        config.text_config.layer_types = ["full_attention"] * layers
    config.dtype = torch.float32
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    model.eval()

    stop_ids = _ids(tokenizer, *spec.stop)
    model.generation_config = GenerationConfig(
        bos_token_id=config.get_text_config().bos_token_id,
        eos_token_id=stop_ids if len(stop_ids) > 1 else stop_ids[0],
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(path)
    save_processor(_processor(family, tokenizer, size), path)
    return path
