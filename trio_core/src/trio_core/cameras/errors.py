"""The two ways a camera says no that callers tell apart: wrong credentials, and no ONVIF."""

from __future__ import annotations

from trio_core.errors import TrioError


class CredentialsRefusedError(TrioError):
    """The camera refused the user name and password (or wants some): trying other URLs would not help.

    ``where`` is ``host[:port]``; ``protocol`` is ``"ONVIF"`` or ``"RTSP"``. The password is
    never part of the message.
    """

    def __init__(self, where: str, protocol: str, *, had_user: bool):
        self.where, self.protocol = where, protocol
        if had_user:
            super().__init__(f"The camera at {where} refused the user name or password ({protocol}).")
        else:
            super().__init__(f"The camera at {where} needs a user name and password ({protocol}).")


class OnvifUnavailableError(TrioError):
    """ONVIF gave no stream URI: the extra is missing, nothing answers, it is not ONVIF, no profile...

    :func:`trio_core.cameras.resolve` falls back to the brands' RTSP URLs on this error and
    quotes ``reason`` (a few words, no password) in its own message if those fail too.
    """

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason
