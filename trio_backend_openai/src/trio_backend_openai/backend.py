"""The ``openai`` backend: connect to the endpoints, learn what each accepts, and hand back a model that asks them."""

from __future__ import annotations

import importlib.util
import logging
import time
from urllib.parse import urlsplit

from trio_core.backends import Backend
from trio_core.config import EngineConfig, checked_settings
from trio_core.credentials import masked
from trio_core.errors import ConfigError, ModelLoadError
from trio_core.families import ANY_MODEL_TYPE, ModelFamily

from .settings import RemoteSettings

log = logging.getLogger("trio.openai")

# One family for every model a server runs: the server's chat template and processor do the model's part.
REMOTE_FAMILY = ModelFamily("openai_chat", backend="openai", model_types=(ANY_MODEL_TYPE,), video=True, image=True)


class OpenAIBackend(Backend):
    """Any OpenAI-compatible chat-completions server: vLLM, SGLang, llama.cpp, Ollama, LM Studio, trio."""

    name = "openai"
    priority = 0
    local = False

    def is_available(self) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in ("httpx", "httpx_sse"))

    def unavailable_reason(self) -> str | None:
        return None if self.is_available() else "httpx-sse is not importable: run `pip install trio-backend-openai`"

    def devices(self) -> list[str]:
        return ["remote"]

    def settings(self, config: EngineConfig) -> RemoteSettings:
        return checked_settings(
            RemoteSettings, config.backend_settings.get(self.name, {}), flag="--backend-setting", name=self.name
        )

    def load(self, model_dir, family: ModelFamily, config: EngineConfig):
        from .capabilities import discover
        from .client import Connection, EndpointDown
        from .model import RemoteModel
        from .pool import Endpoint, EndpointPool

        settings = self.settings(config)
        urls = endpoint_urls(config.endpoints)
        key = config.api_key.get_secret_value() if config.api_key is not None else None
        pool = EndpointPool([Endpoint(Connection(url, key, connect_timeout_s=settings.connect_timeout_s,
                                                 read_timeout_s=settings.read_timeout_s), settings)
                             for url in urls])  # fmt: skip
        try:
            # Servers still loading their model (503) or busy (429) are waited for, up to queue_timeout_s: a
            # camera box and its GPU box often start together.
            deadline = time.monotonic() + settings.queue_timeout_s
            while True:
                busy = []
                for endpoint in pool.endpoints:
                    if endpoint.capabilities is not None:
                        continue
                    try:
                        endpoint.capabilities = discover(endpoint.connection, config.model, media=settings.media,
                                                         media_ids=settings.media_ids, probe=settings.probe)  # fmt: skip
                    except EndpointDown as down:  # asked again when it comes back; the others serve meanwhile
                        delay = endpoint.left_out(str(down), down.retry_after, busy=down.busy)
                        busy += [delay] if down.busy else []
                waiting = [endpoint for endpoint in pool.endpoints if endpoint.capabilities is None]
                if not waiting or len(busy) < len(waiting) or time.monotonic() + min(busy) > deadline:
                    break
                log.info("every endpoint is busy or loading its model; asking again in %.1f s", min(busy))
                time.sleep(min(busy))
            if all(endpoint.capabilities is None for endpoint in pool.endpoints):
                raise ModelLoadError(
                    f"No endpoint answered ({pool.failures()}): start the server, or check --endpoint."
                )
            for endpoint in pool.endpoints:
                if endpoint.capabilities is None:
                    log.warning("%s; the other endpoints serve until it is back", endpoint.last_error)
        except BaseException:
            pool.close()
            raise
        return RemoteModel(pool, family, config.model, settings)

    def describe(self) -> dict:
        return {
            **super().describe(),
            "remote": True,
            "settings": {name: field.default for name, field in RemoteSettings.model_fields.items()},
        }


def endpoint_urls(given: list[str]) -> list[str]:
    """The endpoints' base URLs, checked: http(s), a host, each once. None is a :class:`ConfigError`."""
    if not given:
        raise ConfigError(
            "The openai backend needs the server that runs the model: pass --endpoint URL (e.g. "
            "http://gpu-box:8000/v1), or set TRIO_ENDPOINTS."
        )
    urls = []
    for url in given:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"The endpoint {masked(url)!r} is not an http(s) URL like http://gpu-box:8000/v1.")
        if parts.username or parts.password:
            raise ConfigError(f"The endpoint {masked(url)!r} carries a password: give the key with --api-key instead.")
        urls.append(url.strip().rstrip("/"))
    return list(dict.fromkeys(urls))
