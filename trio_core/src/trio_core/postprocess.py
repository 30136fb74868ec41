"""Turning generated text into the answer a user sees."""

from __future__ import annotations

import re

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
_THINK_BLOCK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)


def strip_thinking(text: str) -> str:
    """Remove ``<think>...</think>`` blocks (and an unclosed trailing one) from a finished answer."""
    return _THINK_BLOCK.sub("", text).strip()


class ThinkStripper:
    """Removes ``<think>...</think>`` from a stream of text deltas as they arrive.

    Text that could still be the start of a tag is held back until the next delta decides
    it, so a tag split across deltas is never shown.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._thinking = False
        self._started = False

    def feed(self, delta: str) -> str:
        self._pending += delta
        shown = []
        while self._pending:
            tag = THINK_CLOSE if self._thinking else THINK_OPEN
            at = self._pending.find(tag)
            if at >= 0:
                if not self._thinking:
                    shown.append(self._pending[:at])
                self._pending = self._pending[at + len(tag) :]
                self._thinking = not self._thinking
                continue
            keep = _partial_suffix(self._pending, tag)
            if not self._thinking:
                shown.append(self._pending[: len(self._pending) - keep])
            self._pending = self._pending[len(self._pending) - keep :]
            break
        return self._lstrip_start("".join(shown))

    def flush(self) -> str:
        rest = "" if self._thinking else self._pending
        self._pending = ""
        return self._lstrip_start(rest)

    def _lstrip_start(self, text: str) -> str:
        # The answer after a think block usually starts with blank lines; drop them once.
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        return text


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class StopScanner:
    """Cuts a stream of text deltas at the first of some stop strings (OpenAI's ``stop``).

    The text that could still be the start of a stop string is held back until the next
    delta decides it, so a stop string split across deltas is never shown.
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(stop for stop in stops if stop)
        self.hold = max((len(stop) for stop in self.stops), default=1) - 1
        self.pending = ""
        self.stopped = False

    def feed(self, delta: str) -> str:
        """The text that may be shown now; after a stop string, ``stopped`` is set and nothing more comes."""
        if self.stopped:
            return ""
        text = self.pending + delta
        cuts = [text.find(stop) for stop in self.stops if stop in text]
        if cuts:
            self.stopped, self.pending = True, ""
            return text[: min(cuts)]
        keep = min(self.hold, len(text))
        self.pending = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return text
