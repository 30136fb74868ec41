"""Model inputs: one row per question, built by trio's own torch family, and batches that encode each scene once."""

from __future__ import annotations

import torch

from trio_model_tiny.questions import Sample
from trio_model_tiny.train.conversations import Turn, conversation
from trio_model_tiny.train.model import FAMILY
from trio_model_tiny.train.targets import attention_cells, counted_cells


class Encoder:
    """Turns a sample and one question about it into model inputs, answer labels and attention targets."""

    def __init__(self, processor, object_targets: bool = False):
        self.processor = processor
        self.object_targets = object_targets
        tokenizer = processor.tokenizer
        self.sink = tokenizer.convert_tokens_to_ids("<|vision_start|>")
        self.header = tokenizer("<|im_start|>assistant\n")["input_ids"]
        self.end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.visual = {
            tokenizer.convert_tokens_to_ids("<|image_pad|>"),
            tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        }
        self.pad = tokenizer.pad_token_id

    def __call__(self, sample: Sample, turn: Turn) -> dict:
        inputs = FAMILY.build_inputs(self.processor, conversation(sample, turn), add_generation_prompt=False)
        ids = inputs["input_ids"][0]
        start = self.answer_start(ids.tolist())
        stop = start + int((ids[start:] == self.end).nonzero()[0]) + 1  # the answer and its <|im_end|>
        labels = torch.full_like(ids, -100)
        labels[start:stop] = ids[start:stop]
        return {**inputs, "labels": labels[None], "looks": self.looks(sample, turn, ids, start - 1)}

    def looks(self, sample: Sample, turn: Turn, ids: torch.Tensor, query: int) -> list[tuple]:
        """Where the guided heads should look from ``query`` (the position that predicts the answer).

        Each entry is (query, key positions, spread): the attention mass should fall on the
        keys, and with ``spread`` fall evenly on each of them. With ``object_targets``,
        questions about nothing look at the <|vision_start|> token (a place to look when
        nothing matches), and a count question spreads its attention evenly over that token
        and the centre token of each object it counts, so that the share of the attention
        off the marker says how many there are.
        """
        visual = torch.tensor([int(token) in self.visual for token in ids]).nonzero()[:, 0]
        cells = attention_cells(sample, turn)
        if cells is not None:
            return [(query, visual[torch.from_numpy(cells)], False)]
        if not self.object_targets:
            return []
        sink = (ids == self.sink).nonzero()[:1, 0]
        if turn.task == "presence" and turn.answer == "no":
            return [(query, sink, False)]
        if turn.task == "count" and sample.kind == "image":
            return [(query, torch.cat([sink, visual[torch.from_numpy(counted_cells(sample, turn))]]), True)]
        return []

    def answer_start(self, ids: list[int]) -> int:
        n = len(self.header)
        return next(i + n for i in range(len(ids) - n, -1, -1) if ids[i : i + n] == self.header)


def collate(rows: list[dict], owners: list[int], pad: int) -> dict:
    """One batch of single-question rows; ``owners[r]`` is the scene row r asks about.

    Text is padded on the right. The pixels go in once per scene (the first row of each
    scene carries them): `forward` encodes every scene once and shares it among its rows.
    """
    length = max(row["input_ids"].shape[1] for row in rows)
    batch = {
        "input_ids": torch.full((len(rows), length), pad, dtype=torch.long),
        "attention_mask": torch.zeros((len(rows), length), dtype=torch.long),
        "mm_token_type_ids": torch.zeros((len(rows), length), dtype=torch.long),  # what mRoPE positions are built from
        "labels": torch.full((len(rows), length), -100, dtype=torch.long),
    }
    for index, row in enumerate(rows):
        n = row["input_ids"].shape[1]
        for key in ("input_ids", "attention_mask", "mm_token_type_ids", "labels"):
            batch[key][index, :n] = row[key][0]
    firsts = [owners.index(scene) for scene in sorted(set(owners))]
    for pixels, grid in (("pixel_values", "image_grid_thw"), ("pixel_values_videos", "video_grid_thw")):
        if pixels in rows[0]:
            batch["scene_pixels"] = torch.cat([rows[i][pixels] for i in firsts])
            batch["scene_grid_thw"] = torch.cat([rows[i][grid] for i in firsts])
            batch[grid] = torch.cat([row[grid] for row in rows])
            batch["media"] = "image" if pixels == "pixel_values" else "video"
    if "second_per_grid_ts" in rows[0]:
        batch["second_per_grid_ts"] = torch.cat([torch.as_tensor(row["second_per_grid_ts"]) for row in rows])
    batch["owners"] = torch.tensor(owners)
    return batch


def forward(model, batch: dict, **kwargs):
    """The model on a batch, with each scene through the vision encoder once, however many rows ask about it."""
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    inputs = dict(batch)
    media, pixels, grid, owners = (inputs.pop(key) for key in ("media", "scene_pixels", "scene_grid_thw", "owners"))
    encode = model.model.get_image_features if media == "image" else model.model.get_video_features
    scenes = encode(pixels, grid, return_dict=True).pooler_output  # one (tokens, width) per scene
    shared = BaseModelOutputWithPooling(pooler_output=tuple(scenes[int(owner)] for owner in owners))
    return model(**inputs, mm_encoder_outputs={media: shared}, **kwargs)
