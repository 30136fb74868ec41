"""The watch wing: watching sources for conditions, and everything that follows from an alert.

- :mod:`.engine`: :class:`Watch`, which reads a source, asks the model about each frame and
  paces itself on live sources;
- :mod:`.conditions`: what a watch asks and how it decides (yes/no, confirm, clear, cooldown);
- :mod:`.settings`: :class:`WatchSettings`, how it samples, decides and paces;
- :mod:`.events`: :class:`WatchEvent`, the one event shape everything consumes;
- :mod:`.alerts` and :mod:`.event_store`: every alert stored with its snapshot, then
  delivered to the sinks from the store's outbox;
- :mod:`.standing`: standing watches from a TOML file, kept running by a supervisor;
- :mod:`.calibration`: ``--max-side auto``, the frame size that fits a latency target;
- :mod:`.service`: the one front door that ``trio watch``, ``trio watch --config`` and the
  server's ``/v1/watch`` go through.

The CLI and the server are thin consumers of this wing; nothing here knows a terminal or HTTP.
"""

from __future__ import annotations

from .conditions import Condition, conditions_from
from .engine import Watch
from .events import EVENT_TYPES, WatchEvent
from .settings import WatchSettings

__all__ = ["EVENT_TYPES", "Condition", "Watch", "WatchEvent", "WatchSettings", "conditions_from"]
