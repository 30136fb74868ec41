"""Keeping secrets out of what trio shows: camera passwords in URLs, API keys."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def masked(source: str) -> str:
    """``source`` with any ``user:password@`` replaced by ``***@``: for events, listings, logs and errors."""
    return _USERINFO.sub("***@", source)
