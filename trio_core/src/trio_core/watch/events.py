"""The event shape: one JSON form for the CLI's ``--json``, the server's SSE, the event store and the sinks.

Every event has ``type`` (one of :data:`EVENT_TYPES`), ``watch`` (its id) and ``t``
(wall-clock time, ISO 8601); where a frame is involved, ``pts`` (seconds into the source) and
``condition``, ``answer``, ``probability`` as they apply; then what its type says (an alert's
``question`` and ``frames``, an ending's counts, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..frames import jpeg_b64

if TYPE_CHECKING:
    import numpy as np

EVENT_TYPES = (
    "started",
    "result",
    "alert",
    "cleared",
    "gated",
    "reconnecting",
    "reconnected",
    "backend_unavailable",
    "backend_restored",
    "heartbeat",
    "error",
    "ended",
)


@dataclass
class WatchEvent:
    """One thing that happened in a watch. :meth:`to_dict` is its JSON form."""

    type: str
    watch: str
    t: str
    pts: float | None = None
    condition: str | None = None
    answer: str | None = None
    probability: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    image: np.ndarray | None = None  # an alert's frame (RGB), for a snapshot; not part of the JSON

    def to_dict(self, *, jpeg: bool = False) -> dict[str, Any]:
        """The event as JSON data; with ``jpeg``, an alert's frame as ``jpeg_b64`` (base64 JPEG)."""
        data: dict[str, Any] = {"type": self.type, "watch": self.watch, "t": self.t}
        for name in ("pts", "condition", "answer", "probability"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        data.update(self.details)
        if jpeg and self.image is not None:
            data["jpeg_b64"] = jpeg_b64(self.image)
        return data


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
