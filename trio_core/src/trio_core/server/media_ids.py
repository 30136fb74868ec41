"""Media a client sent before, kept by the id it gave them (vLLM's ``uuid`` on a content part).

A watch asks several questions about each frame, and a clip's window shares most of its frames
with the previous one: with ids, a client sends a picture's bytes once and its id after that. A
part with a ``uuid`` and its media is read as usual and kept under that id; a part with the
``uuid`` alone is answered from here, or refused with ``code: media_not_found`` when it was never
sent or has been dropped, and the client sends the bytes again.

Entries are kept per caller (the API key it presents), so one caller's ids never reach another's
media, within a memory budget, least recently used out first.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from ..chat import ImagePart, VideoPart


class MediaById:
    """Parts already read (frames decoded and sampled), by (caller, id), within ``budget_mb`` of pixels."""

    def __init__(self, budget_mb: float):
        self.budget = int(budget_mb * 2**20)
        self.used = 0
        self._parts: OrderedDict[tuple[str, str], tuple[ImagePart | VideoPart, int]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, caller: str, media_id: str, part: ImagePart | VideoPart) -> None:
        frames = (part.frame,) if isinstance(part, ImagePart) else part.frames
        size = sum(frame.image.nbytes for frame in frames)
        if size > self.budget:
            return
        with self._lock:
            old = self._parts.pop((caller, media_id), None)
            self.used -= old[1] if old else 0
            self._parts[(caller, media_id)] = (part, size)
            self.used += size
            while self.used > self.budget:
                _, (_, dropped) = self._parts.popitem(last=False)
                self.used -= dropped

    def get(self, caller: str, media_id: str) -> ImagePart | VideoPart | None:
        with self._lock:
            found = self._parts.get((caller, media_id))
            if found is None:
                return None
            self._parts.move_to_end((caller, media_id))
            return found[0]


def caller_of(authorization: str | None) -> str:
    """Whose ids these are: a digest of the presented key (never the key itself), or "" without one."""
    return hashlib.sha256(authorization.encode()).hexdigest()[:16] if authorization else ""
