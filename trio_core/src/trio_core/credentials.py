"""Keeping secrets out of what trio shows: camera passwords in URLs, API keys, sink secrets."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
# Query parameters that carry a secret (a webhook's signing secret, a notification service's token).
_SECRET_QUERY = re.compile(r"(?i)([?&#](?:secret|token|password|pass|apikey|api_key|key)=)[^&#\s]*")


def masked(source: str) -> str:
    """``source`` with any ``user:password@`` replaced by ``***@`` and secret query parameters by ``***``:
    for events, listings, logs and errors."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub("***@", source))
