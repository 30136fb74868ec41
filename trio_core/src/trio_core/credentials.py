"""Keeping secrets out of what trio shows: camera passwords in URLs, API keys, sink secrets.

:func:`masked` is the one way any URL is shown (events, listings, logs, errors): its user
information becomes ``***@`` and the values of parameters that name a secret become ``***``.
A notification service's URL hides more (a bot token in its host, a topic in its path): its
sink says how, with :func:`trio_core.sinks.sink_label`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
# One parameter of a query or fragment; its value runs to the next parameter (spaces and all, in a URL on its own).
_PARAMETER = re.compile(r"([?&#])([^=&#?\s]+)=([^&#]*)")
_PARAMETER_IN_TEXT = re.compile(r"([?&#])([^=&#?\s]+)=([^&#\s]*)")
# Words that make a parameter's name a secret's: token, access_token, X-Api-Key, passwd, client_secret, sig, ...
_SECRET_WORDS = {
    "secret", "token", "password", "passwd", "pass", "pwd", "key", "apikey", "auth", "authorization", "signature",
    "sig", "credential", "credentials", "session", "cookie", "jwt", "bearer", "private", "passphrase", "pw",
    "streamid",  # SRT: a stream id often carries a user and a resource key
}  # fmt: skip
_SECRET_ENDINGS = ("token", "secret", "key", "password", "passwd", "pass", "pwd")


def masked(text: str) -> str:
    """``text`` with every URL's ``user:password@`` replaced by ``***@`` and the values of secret parameters
    (``password=``, ``token=``, ``access_token=``, ``key=``, ...) by ``***``: for events, listings, logs and errors.

    A text that is one URL is read as one, spaces and an unencoded ``@`` in its password included; in a sentence,
    each URL runs to the next space. Hiding too much is preferred to hiding too little."""
    stripped = text.strip()
    if _SCHEME.match(stripped):
        return _masked_url(text)
    return _masked_parameters(_URL_IN_TEXT.sub(lambda found: _masked_url(found.group()), text), _PARAMETER_IN_TEXT)


def _masked_url(url: str) -> str:
    head = _SCHEME.match(url.lstrip())
    start = len(url) - len(url.lstrip()) + head.end()
    rest = url[start:]
    authority = rest.split("/", 1)[0]
    query_at = min((index for index in (authority.find("?"), authority.find("#")) if index >= 0), default=None)
    before_query = authority if query_at is None else authority[:query_at]
    if "@" in before_query:
        userinfo_end = before_query.rindex("@")
    elif (
        query_at is not None and "@" in authority[query_at:] and "=" not in authority[query_at : authority.rindex("@")]
    ):
        userinfo_end = authority.rindex("@")  # a '?' or '#' in a password, not a query: user:pa#ss@host
    else:
        userinfo_end = None
    if userinfo_end is not None:
        rest = "***" + rest[userinfo_end:]
    return url[:start] + _masked_parameters(rest)


def _masked_parameters(text: str, parameter: re.Pattern = _PARAMETER) -> str:
    return parameter.sub(lambda found: found.group(1) + found.group(2) + "=" + ("***" if is_secret_name(
        found.group(2)) else found.group(3)), text)  # fmt: skip


def is_secret_name(name: str) -> bool:
    """Whether a parameter called ``name`` carries a secret (``token``, ``X-Api-Key``, ``client_secret``, ``+Auth``)."""
    words = [word for word in re.split(r"[^a-z0-9]+", unquote(name).lower()) if word]
    return any(word in _SECRET_WORDS or word.endswith(_SECRET_ENDINGS) for word in words)
