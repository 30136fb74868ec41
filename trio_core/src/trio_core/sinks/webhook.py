"""Webhooks: each alert POSTed as JSON to an ``http(s)://`` URL, signed with HMAC-SHA256.

Trio's own options ride in the URL's fragment (a fragment is never sent to the receiver, so
the receiver's own query string stays as it is)::

    https://hooks.example/trio#snapshot=url&secret_env=HOOK_SECRET&timeout=5

- ``snapshot``: ``base64`` (default: the JPEG in the body as ``snapshot_jpeg_b64``), ``url``
  (``snapshot_url``, the server's ``/v1/events/{id}/snapshot.jpg``; base64 where no server
  knows its address) or ``none``.
- ``secret_env`` names the environment variable holding the signing secret (default
  ``TRIO_WEBHOOK_SECRET``); ``secret=`` gives it inline (masked everywhere trio shows the URL).
  With a secret, ``X-Trio-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body.
  A webhook a server's client names is signed with its own ``secret=`` only: the server's
  environment is the admin's, and ``secret_env=`` there is refused with one sentence, set or not
  (an answer that differed would tell a client which variables the server has; signing with the
  admin's secret would hand a client signatures the admin's own receivers trust).
- ``timeout``: seconds for one attempt (default 10).

Headers say what it is: ``X-Trio-Event`` (alert or cleared) and ``X-Trio-Delivery`` (the same
id on every retry, so a receiver can drop a duplicate). A 2xx is delivered; a connection error,
a timeout, 408, 429 (after its Retry-After) and 5xx are retried with backoff by the outbox; any
other 4xx is the receiver's final word, and the delivery is given up (logged).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urldefrag, urlsplit

from ..credentials import masked
from ..errors import ConfigError
from ..outbound import AddressRefused
from .base import AlertSink, Delivery, SinkConnection, SinkError, SinkRejected, check_options

if TYPE_CHECKING:
    from ..outbound import Reach

SECRET_ENV = "TRIO_WEBHOOK_SECRET"
SNAPSHOT_MODES = ("base64", "url", "none")
OPTIONS = ("snapshot", "secret", "secret_env", "timeout")


def signature(secret: str, body: bytes) -> str:
    """The ``X-Trio-Signature`` header's value for ``body``: how a receiver checks it came from this trio."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSink(AlertSink):
    name = "webhook"
    schemes = ("http", "https")
    description = "POST each alert as signed JSON (HMAC-SHA256) to a URL."

    keeps_reach = True

    def connect(self, url: str, reach: Reach | None = None) -> SinkConnection:
        return WebhookConnection(url, reach)


class WebhookConnection(SinkConnection):
    def __init__(self, url: str, reach: Reach | None = None):
        import httpx

        self.label = masked(url)
        self.url, fragment = urldefrag(url)
        options = dict(parse_qsl(fragment, keep_blank_values=True))
        check_options(options, OPTIONS, f"The webhook {self.label}")
        self.snapshot_mode = options.get("snapshot", "base64")
        if self.snapshot_mode not in SNAPSHOT_MODES:
            raise ConfigError(f"The webhook's snapshot= is {', '.join(SNAPSHOT_MODES)}, not '{self.snapshot_mode}'.")
        if reach is not None:  # a request's webhook: the server's environment is not the client's to read
            if "secret_env" in options:
                raise ConfigError("A webhook a request names cannot take secret_env= (the server's environment is "
                                  "its admin's): give the signing secret with secret=.")  # fmt: skip
            self.secret = options.get("secret") or None
        else:
            self.secret = options.get("secret") or os.environ.get(options.get("secret_env", SECRET_ENV)) or None
            if "secret_env" in options and self.secret is None:
                raise ConfigError(f"The webhook's secret_env names {options['secret_env']}, which is not set.")
        try:
            timeout = float(options.get("timeout", 10))
        except ValueError:
            raise ConfigError(f"The webhook's timeout= is seconds, not '{options['timeout']}'.") from None
        parts = urlsplit(self.url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"The webhook {self.label} names no host: give http(s)://host/path.")
        if reach is None:
            self.client = httpx.Client(timeout=timeout, follow_redirects=False)
        else:  # checked now (a refused host is the request's 403), and every delivery pinned to a checked address
            try:
                port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
            except ValueError:
                raise ConfigError(f"The webhook {self.label} has a port that is not a number.") from None
            reach.resolve(parts.hostname, port, "webhook")
            self.client = reach.http_client(what="webhook", timeout=timeout, follow_redirects=False)

    def body(self, delivery: Delivery) -> bytes:
        event = dict(delivery.event)
        if self.snapshot_mode == "url" and delivery.snapshot_url:
            event["snapshot_url"] = delivery.snapshot_url
        elif self.snapshot_mode != "none" and delivery.snapshot is not None:
            event["snapshot_jpeg_b64"] = base64.b64encode(delivery.snapshot).decode()
        return json.dumps(event).encode()

    def deliver(self, delivery: Delivery) -> None:
        import httpx

        body = self.body(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "trio",
            "X-Trio-Event": delivery.kind,
            "X-Trio-Delivery": str(delivery.id),
        }
        if self.secret:
            headers["X-Trio-Signature"] = signature(self.secret, body)
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except AddressRefused as error:  # the host resolves elsewhere now: not this request's to reach
            raise SinkRejected(f"The webhook {self.label} was not sent: {error}") from None
        except ConfigError as error:  # the host no longer resolves: it may again
            raise SinkError(f"The webhook {self.label} did not answer: {error}") from None
        except httpx.HTTPError as error:
            raise SinkError(f"The webhook {self.label} did not answer: {type(error).__name__}.") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in (408, 429) or status >= 500:
            raise SinkError(f"The webhook {self.label} answered {status}.", retry_after_s=_retry_after(response))
        raise SinkRejected(f"The webhook {self.label} refused the alert with {status}.")

    def close(self) -> None:
        self.client.close()


def _retry_after(response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
