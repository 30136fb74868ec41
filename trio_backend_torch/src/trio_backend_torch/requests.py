"""The seam optimizers use to take part in one request of the torch backend.

A `RequestHook` sees each request three times, on the generation thread, every hook in the
order of its optimizer's stage:

1. ``before_encode``: nothing has run yet; a cache may answer for the media here (drop the
   pixels, pass a cache), so that no later hook encodes them;
2. ``before_generate``: change the inputs and ``generate`` arguments (encode the media
   differently, give fewer tokens and their positions, arm hooks inside the model);
3. ``after_generate``: look at what ``generate`` did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from trio_core.backends import GenerationStats
from trio_core.errors import IncompatibleOptimizerError

# Inputs only the vision encoder (and the mRoPE position computation) read.
PIXEL_INPUTS = ("pixel_values", "pixel_values_videos", "image_grid_thw", "video_grid_thw", "second_per_grid_ts")
# Inputs with one column per prompt token.
TOKEN_INPUTS = ("input_ids", "mm_token_type_ids", "attention_mask")


@dataclass
class Request:
    """One call of ``model.generate``: its inputs and arguments, and the request's stats."""

    inputs: dict[str, Any]
    kwargs: dict[str, Any]
    stats: GenerationStats
    frames: tuple = ()  # the media's frames in prompt order (trio_core.frames.Frame)
    state: dict[str, Any] = field(default_factory=dict)  # what a hook keeps from before to after
    # Set by a cache hook: the keys and values per layer of the cached prefix that kwargs["cache"]
    # starts with. Requests on the very same prefix can decode together, as one batch.
    prefix: tuple[tuple[torch.Tensor, torch.Tensor], ...] | None = None


def request_hooks(model, optimizer: str) -> list[RequestHook]:
    """The loaded model's list of request hooks, for ``optimizer`` to join; refused on a model without one."""
    hooks = getattr(model, "request_hooks", None)
    if hooks is None:
        raise IncompatibleOptimizerError(
            f"The optimizer '{optimizer}' needs the torch backend's request hooks, which {type(model).__name__} lacks."
        )
    return hooks


def prompt_positions(model, inputs: dict[str, Any]) -> torch.Tensor:
    """The prompt's mRoPE positions, ``(4, batch, length)``, kept in ``inputs["position_ids"]``.

    Computed once, by transformers' own code, while the media grids are still in ``inputs``;
    a hook that drops the pixels or keeps fewer tokens works from these, and generate uses
    them as given (it neither recomputes them nor reads the model's stale rope deltas).
    """
    if inputs.get("position_ids") is None:
        inputs["position_ids"] = model.model._prepare_position_ids_for_generation(inputs["input_ids"], dict(inputs))
    return inputs["position_ids"]


def keep_tokens(inputs: dict[str, Any], keep: torch.Tensor) -> None:
    """Keep only the prompt tokens where ``keep`` (length,) is true, in every per-token input.

    mRoPE positions (rows 1-3 of ``position_ids``) are kept as they were: a token keeps its
    place in the picture and in time. Row 0 counts the tokens given (transformers reads gaps
    there as separate packed sequences), so it is renumbered.
    """
    for name in TOKEN_INPUTS:
        if isinstance(inputs.get(name), torch.Tensor):
            inputs[name] = inputs[name][:, keep]
    if isinstance(inputs.get("position_ids"), torch.Tensor):
        inputs["position_ids"] = renumber(inputs["position_ids"][..., keep])


def renumber(positions: torch.Tensor) -> torch.Tensor:
    """``positions`` (4, batch, length) with row 0, the text positions, counted from 0 again."""
    positions = positions.clone()
    positions[0] = torch.arange(positions.shape[-1], device=positions.device)
    return positions


class RequestHook:
    """Base of an optimizer's per-request part; every method does nothing unless overridden."""

    # False for a hook that follows one request at a time inside the model (it arms layer hooks
    # for that request's shapes): questions then run one after another instead of as one batch.
    batchable = True

    def before_encode(self, model, request: Request) -> None:
        """Answer for the media from a cache, before anything encodes them (drop the pixels, pass a cache)."""

    def before_generate(self, model, request: Request) -> None:
        """Change ``request.inputs`` / ``request.kwargs`` before ``generate`` runs."""

    def after_generate(self, model, request: Request) -> None:
        """Look at what ``generate`` did (e.g. the cache in ``request.kwargs``)."""

    def close(self) -> None:
        """Release what the hook holds (the model is closing)."""
