"""The seam optimizers use to take part in one request of the torch backend.

A `RequestHook` sees each request twice, on the generation thread: before ``generate``, with
the inputs and ``generate`` arguments it may change (drop the pixels, pass a cache, give
positions), and after, with what ``generate`` left behind (the cache it filled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trio_core.backends import GenerationStats
from trio_core.errors import IncompatibleOptimizerError


@dataclass
class Request:
    """One call of ``model.generate``: its inputs and arguments, and the request's stats."""

    inputs: dict[str, Any]
    kwargs: dict[str, Any]
    stats: GenerationStats
    frames: tuple = ()  # the media's frames in prompt order (trio_core.frames.Frame)
    state: dict[str, Any] = field(default_factory=dict)  # what a hook keeps from before to after


def request_hooks(model, optimizer: str) -> list[RequestHook]:
    """The loaded model's list of request hooks, for ``optimizer`` to join; refused on a model without one."""
    hooks = getattr(model, "request_hooks", None)
    if hooks is None:
        raise IncompatibleOptimizerError(
            f"The optimizer '{optimizer}' needs the torch backend's request hooks, which {type(model).__name__} lacks."
        )
    return hooks


class RequestHook:
    """Base of an optimizer's per-request part; both methods do nothing unless overridden."""

    def before_generate(self, model, request: Request) -> None:
        """Change ``request.inputs`` / ``request.kwargs`` before ``generate`` runs."""

    def after_generate(self, model, request: Request) -> None:
        """Look at what ``generate`` did (e.g. the cache in ``request.kwargs``)."""

    def close(self) -> None:
        """Release what the hook holds (the model is closing)."""
