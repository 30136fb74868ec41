"""The training-only loss terms: grounding of the visual tokens, and guidance of two attention heads.

None of them is part of the saved model: trio-tiny is a plain Qwen2.5-VL.
"""

from __future__ import annotations

import numpy as np
import torch

from trio_model_tiny.questions import Sample
from trio_model_tiny.scenes import COLOURS, DIRECTIONS, SHAPES
from trio_model_tiny.train.targets import CODE_COLUMNS, object_cells, sample_codes

GROUNDING_WEIGHT = 2.0
ATTENTION_WEIGHT = 0.5
# Heads (layer, heads) whose attention is guided; the other heads and layers learn freely.
GUIDED_LAYER = 1
GUIDED_HEADS = (0, 1)


class Grounding(torch.nn.Module):
    """Tells the vision encoder what each of its output tokens should look like to the LLM.

    Every visual token is pulled towards a fixed code: the sum of random vectors for the
    colour, shape, 3x3 region and motion of the object under it, or a background vector.
    Measured: with features like these handed in directly, the LLM learns to answer colour
    questions within 100 steps; with the encoder's own features and only the answer loss
    (or classifier heads on the features), it stayed at chance for 1,000 steps, because what
    tells the objects apart was a small part of large, mostly shared feature vectors.
    The codes are training-only: the saved model is a plain Qwen2.5-VL.
    """

    # The codes are the same for every run: a later stage (--init) must aim at the codes its
    # checkpoint learned, whatever --seed it draws its data with.
    CODE_SEED = 0

    def __init__(self, model, pooled_weight: float = 1.0, object_targets: bool = False):
        super().__init__()
        self.pooled_weight = pooled_weight
        self.object_targets = object_targets
        width = model.config.text_config.hidden_size
        generator = torch.Generator().manual_seed(self.CODE_SEED)
        sizes = (len(COLOURS), len(SHAPES), 9, len(DIRECTIONS))
        for name, size in zip(("colour", "shape", "region", "motion"), sizes, strict=True):
            self.register_buffer(name, torch.randn(size, width, generator=generator), persistent=False)
        self.register_buffer("background", torch.randn(width, generator=generator), persistent=False)
        # drawn after the others, so that a stage with them keeps the codes of one without
        for name, size in (("thing", len(COLOURS) * len(SHAPES)), ("centre", 1)):
            self.register_buffer(name, torch.randn(size, width, generator=generator), persistent=False)
        self.columns = CODE_COLUMNS if object_targets else CODE_COLUMNS[:4]
        self.captured: list[torch.Tensor] = []
        model.model.visual.register_forward_hook(self.capture)

    def capture(self, module, args, output) -> None:
        if module.training:  # validation's generate calls are not scored
            self.captured.append(output.pooler_output)

    def targets(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each token's code vector, and which tokens show an object."""
        on = codes >= 0
        target = self.background.expand(codes.shape[0], -1).clone()
        objects = on[:, 0]
        target[objects] = 0
        for column, name in enumerate(self.columns):
            table = getattr(self, name)
            target[on[:, column]] += table[codes[on[:, column], column]]
        return target, objects

    def loss(self, samples: list[Sample]) -> torch.Tensor:
        tokens = torch.cat(self.captured)  # (visual tokens of the batch, width)
        self.captured.clear()
        per_sample = [sample_codes(sample) for sample in samples]
        codes = torch.from_numpy(np.concatenate(per_sample))
        if codes.shape[0] != tokens.shape[0]:
            raise RuntimeError(f"grounding codes ({codes.shape[0]}) do not match visual tokens ({tokens.shape[0]})")
        target, objects = self.targets(codes)
        error = (tokens - target).pow(2).mean(-1)
        # objects cover a few tokens in a hundred; they weigh as much as the background
        matched = error[~objects].mean() + (error[objects].mean() if objects.any() else 0.0)
        if not self.pooled_weight:
            return matched
        return matched + self.pooled_weight * self.pooled_loss(tokens, samples, [len(c) for c in per_sample])

    def pooled_loss(self, tokens: torch.Tensor, samples: list[Sample], lengths: list[int]) -> torch.Tensor:
        """Cross-entropy of each object's shape (and a mover's direction) read from its tokens' mean.

        The logits are dot products with the same fixed codes, so this sharpens the
        direction the LLM reads instead of adding a second one. Measured with the encoder
        alone, 300 steps at 448: objects' shapes read back right 63% of the time with this
        term, 49% with the per-token pull alone (and not faster with a wider or deeper
        encoder, a higher learning rate or a heavier shape code).
        """
        scale = self.shape.shape[1] ** -0.5
        pooled, shapes, things, moving, directions = [], [], [], [], []
        offset = 0
        for sample, count in zip(samples, lengths, strict=True):
            for cells, shape, direction, thing in object_cells(sample):
                pooled.append(tokens[offset + torch.from_numpy(cells)].mean(0))
                shapes.append(shape)
                things.append(thing)
                if direction >= 0:
                    moving.append(len(pooled) - 1)
                    directions.append(direction)
            offset += count
        if not pooled:
            return tokens.new_zeros(())
        means = torch.stack(pooled) * scale
        loss = torch.nn.functional.cross_entropy(means @ self.shape.T, torch.tensor(shapes))
        if self.object_targets:
            loss = loss + torch.nn.functional.cross_entropy(means @ self.thing.T, torch.tensor(things))
        if moving:
            loss = loss + torch.nn.functional.cross_entropy(means[moving] @ self.motion.T, torch.tensor(directions))
        return loss


def attention_loss(attentions, items: list[dict]) -> torch.Tensor:
    """Mean over guided heads and questions of -log(attention mass on the tokens to look at).

    A spread look scores -log of each key's attention, averaged: least when the attention is
    shared evenly among its keys and nothing else.
    """
    weights = attentions[GUIDED_LAYER][:, list(GUIDED_HEADS)]  # (batch, guided heads, query, key)
    losses = [
        -torch.log(weights[row, :, query, keys] + 1e-6).mean()
        if spread
        else -torch.log(weights[row, :, query, keys].sum(-1) + 1e-6).mean()
        for row, item in enumerate(items)
        for query, keys, spread in item["looks"]
    ]
    return torch.stack(losses).mean() if losses else weights.new_zeros(())
