"""``trio serve``: the HTTP API (OpenAI-compatible chat, video, frames, camera watches), secure by default."""

from __future__ import annotations

import errno
import json
import logging
import socket

from ..config import EngineConfig
from ..errors import ConfigError
from .settings import ServerSettings


def create_app(config: EngineConfig, settings: ServerSettings, engine=None):
    from .app import create_app as build

    return build(config, settings, engine)


def check_bind(settings: ServerSettings) -> None:
    """Refuse to serve a non-loopback address with no API key, unless the user said so explicitly."""
    if not settings.loopback_only() and not settings.keys() and not settings.allow_public_without_key:
        raise ConfigError(
            f"Refusing to serve {settings.host} without an API key: anyone who can reach it could use the model. "
            "Set --api-key (or TRIO_API_KEYS), or pass --allow-public-without-key."
        )


class JsonLogs(logging.Formatter):
    """One JSON object per line; request ids included, secrets never (keys are not logged anywhere)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}  # fmt: skip
        for name in ("request_id", "status", "path"):
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(json_logs: bool) -> dict:
    """Logging for trio and uvicorn; the dict is uvicorn's log_config."""
    formatter = {"()": JsonLogs} if json_logs else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default"}},
        "loggers": {
            "trio": {"handlers": ["default"], "level": "INFO", "propagate": False},
            # uvicorn's start-up and shutdown chatter is left out: `serve` says itself where it listens.
            "uvicorn": {"handlers": ["default"], "level": "WARNING", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},  # trio logs each request
        },
    }


def serve(config: EngineConfig, settings: ServerSettings) -> None:
    """Listen on ``settings``' address and serve until stopped; say once where, when the model is ready.

    A port that is taken and a model that cannot load are one sentence each (a :class:`TrioError`).
    """
    import asyncio

    import uvicorn

    check_bind(settings)
    listening = bind(settings)  # before the model loads: a busy port is said at once
    app = create_app(config, settings)
    # An open dashboard streams for ever: shutting down waits 5 s for streams, then closes them.
    server = uvicorn.Server(uvicorn.Config(app, log_config=configure_logging(settings.json_logs),
                                           timeout_graceful_shutdown=5))  # fmt: skip
    host, port = listening.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"

    async def announce() -> None:
        while not server.started and not server.should_exit:
            await asyncio.sleep(0.05)
        if server.started:
            logging.getLogger("trio.server").info("trio serves %s at %s: the model is ready.", config.model, url)

    tasks = set()

    def loaded(model) -> None:
        if model.status == "failed":
            server.should_exit = True  # run() returns; the reason is raised below
        else:
            tasks.add(asyncio.get_running_loop().create_task(announce()))

    app.state.host.on_loaded = loaded
    server.run(sockets=[listening])
    if app.state.host.failure is not None:
        raise app.state.host.failure


def bind(settings: ServerSettings) -> socket.socket:
    """A socket bound to the server's address, or one sentence on why it cannot be."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    where = f"{settings.host} port {settings.port}"
    try:
        listening.bind((settings.host.strip("[]"), settings.port))
    except OSError as error:
        listening.close()
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(f"Something already listens on {where}: stop it, or pass another --port.") from None
        if error.errno == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
            raise ConfigError(
                f"This machine has no address {settings.host}: pass --host with one of its addresses "
                "(127.0.0.1 for this machine only, 0.0.0.0 for every address)."
            ) from None
        if error.errno == errno.EACCES:
            raise ConfigError(f"Listening on {where} needs privileges: pass a --port above 1023.") from None
        raise ConfigError(
            f"Cannot listen on {where} ({error.strerror or error}): pass another --host or --port."
        ) from None
    return listening
