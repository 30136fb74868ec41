"""Model families the torch backend runs, and how each turns a conversation into model inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trio_core.chat import Message
from trio_core.chat_templates import media_of, to_chat
from trio_core.families import ANY_MODEL_TYPE, ModelFamily


@dataclass(frozen=True)
class TorchFamily(ModelFamily):
    """A family as transformers runs it: which tokens end a turn, and how media reach the processor."""

    backend: str = "torch"
    # Chat-template tokens that end the assistant's turn; generation stops on them too.
    end_tokens: tuple[str, ...] = ()
    # The token that closes the media in a prompt whose question follows its media (Qwen-VL's
    # <|vision_end|>): conversations that differ only after it share the media's processing.
    media_end: str | None = None

    def build_inputs(self, processor, messages: list[Message], *, add_generation_prompt: bool = True):
        """Processor outputs (``input_ids``, ``pixel_values``...) for ``messages``, ready for ``generate``.

        With ``add_generation_prompt=False`` the conversation is encoded as it stands, assistant
        turns included: what a training step feeds the model.
        """
        return self._built(processor, messages, add_generation_prompt)[1]

    def _built(self, processor, messages: list[Message], add_generation_prompt: bool = True) -> tuple[str, Any]:
        """``(the prompt's text, its processor outputs)`` for ``messages``."""
        chat, images, videos, metadata = self.to_chat(messages)
        text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=add_generation_prompt)
        kwargs: dict[str, Any] = {}
        if images:
            kwargs["images"] = images
        if videos:
            kwargs["videos"] = videos
            kwargs.update(self.video_kwargs(metadata))
        return text, processor(text=[text], return_tensors="pt", **kwargs)

    def build_inputs_each(self, processor, conversations: list[list[Message]]) -> list:
        """:meth:`build_inputs` for each conversation; those that share the first one's media and everything before
        its end (a watch's conditions about one frame) reuse its processed pixels and media tokens, and only the
        text after the media is tokenized again. The inputs are the same as :meth:`build_inputs` gives each."""
        text, first = self._built(processor, conversations[0])
        results = [first]
        shared = self._shared_media(processor, conversations[0], text, first)
        for messages in conversations[1:]:
            inputs = self._after_shared_media(processor, messages, first, shared) if shared else None
            results.append(inputs if inputs is not None else self.build_inputs(processor, messages))
        return results

    def _shared_media(self, processor, messages: list[Message], text: str, inputs) -> tuple | None:
        """``(media, text up to the media's end, tokens up to it)`` of a processed conversation (its prompt ``text``
        and processor ``inputs``), when it has media."""
        media = media_of(messages)
        if self.media_end is None or not media:
            return None
        end = text.rfind(self.media_end)
        ids = inputs["input_ids"][0]
        ends = (ids == processor.tokenizer.convert_tokens_to_ids(self.media_end)).nonzero()
        if end < 0 or not len(ends):
            return None
        return media, text[: end + len(self.media_end)], int(ends[-1]) + 1

    def _after_shared_media(self, processor, messages: list[Message], first, shared: tuple):
        """``messages``' inputs from ``first``'s, or None when they do not share its media and what precedes it."""
        import torch
        from transformers import BatchFeature

        media, head, cut = shared
        if media_of(messages) != media:
            return None
        text = processor.apply_chat_template(self.to_chat(messages)[0], tokenize=False, add_generation_prompt=True)
        if not text.startswith(head) or self.media_end in text[len(head) :]:
            return None
        tail = processor.tokenizer(text[len(head) :], add_special_tokens=False, return_tensors="pt")["input_ids"]
        inputs = dict(first)
        inputs["input_ids"] = torch.cat([first["input_ids"][:, :cut], tail], dim=1)
        if "attention_mask" in first:
            inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        if "mm_token_type_ids" in first:  # the tail is text: type 0
            inputs["mm_token_type_ids"] = torch.cat(
                [first["mm_token_type_ids"][:, :cut], torch.zeros_like(tail)], dim=1
            )
        return BatchFeature(inputs)

    def to_chat(self, messages: list[Message]):
        """Messages in transformers' chat format, with the media they reference collected in order."""
        return to_chat(messages, video=self.video)

    def video_kwargs(self, metadata: list[dict]) -> dict[str, Any]:
        """Processor arguments for videos: frames are already sampled, so the processor must not resample."""
        return {"video_metadata": metadata, "do_sample_frames": False}


QWEN_END = ("<|im_end|>",)
QWEN_MEDIA_END = "<|vision_end|>"

FAMILIES = (
    TorchFamily("qwen2_5_vl", model_types=("qwen2_5_vl",), video=True, end_tokens=QWEN_END, media_end=QWEN_MEDIA_END),
    TorchFamily("qwen2_vl", model_types=("qwen2_vl",), video=True, end_tokens=QWEN_END, media_end=QWEN_MEDIA_END),
    TorchFamily("qwen3_vl", model_types=("qwen3_vl",), video=True, end_tokens=QWEN_END, media_end=QWEN_MEDIA_END),
    TorchFamily("smolvlm", model_types=("smolvlm",), video=True, end_tokens=("<end_of_utterance>",)),
    TorchFamily("idefics3", model_types=("idefics3",), video=False, end_tokens=("<end_of_utterance>",)),
    # Any other image-text-to-text checkpoint: sampled frames are given as images.
    TorchFamily("generic", model_types=(ANY_MODEL_TYPE,), video=False),
)
