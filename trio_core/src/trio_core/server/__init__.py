"""``trio serve``: the HTTP API (OpenAI-compatible chat, video, frames, camera watches), secure by default."""

from __future__ import annotations

import json
import logging

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
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},  # trio logs each request
        },
    }


def serve(config: EngineConfig, settings: ServerSettings) -> None:
    import uvicorn

    check_bind(settings)
    app = create_app(config, settings)
    # An open dashboard streams for ever: shutting down waits 5 s for streams, then closes them.
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=configure_logging(settings.json_logs),
                timeout_graceful_shutdown=5)  # fmt: skip
