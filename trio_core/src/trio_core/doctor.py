"""``trio doctor``: a report of what this machine can run, for users and bug reports."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import sys
from pathlib import Path


def diagnose(config=None) -> dict:
    """Versions, plugins, backends with their devices, the choice ``auto`` makes, PyAV, and disk; with endpoints
    in ``config`` (an :class:`~trio_core.config.EngineConfig`), what each of them serves and accepts."""
    import av

    from .plugins import plugin_report, registry

    reg = registry()
    backends = []
    for item in reg.listed("backend"):  # clashes included: the report is where a user sees them
        backend = item.obj
        available = backend.is_available()
        backends.append(
            {
                "name": backend.name,
                "plugin": item.plugin,
                "priority": backend.priority,
                "available": available,
                "reason": None if available else backend.unavailable_reason(),
                **({"devices": backend.devices(), **_versions(backend)} if available else {}),
            }
        )
    usable = sorted((b for b in backends if b["available"]), key=lambda b: -b["priority"])
    cache = _hf_cache_dir()
    probe = cache if cache.exists() else next((p for p in cache.parents if p.exists()), Path("/"))
    free = shutil.disk_usage(probe).free
    return {
        "trio_core": importlib.metadata.version("trio-core"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "plugins": [
            {"name": p["name"], "distribution": p["distribution"], "version": p["version"]} for p in plugin_report()
        ],
        "backends": backends,
        "would_use": {"backend": usable[0]["name"], "device": usable[0]["devices"][0]} if usable else None,
        "pyav": av.__version__,
        "ffmpeg": {name: ".".join(map(str, version)) for name, version in av.library_versions.items()},
        "model_cache": str(cache),
        "model_cache_free_gb": round(free / 1e9, 1),
        "hf_hub_offline": bool(os.environ.get("HF_HUB_OFFLINE")),
        **({"remote": remote_report(config)} if config is not None and config.endpoints else {}),
    }


def remote_report(config) -> dict:
    """The remote backend loaded on ``config``'s endpoints: each one's state and what it accepts, or the error."""
    from .errors import TrioError
    from .sdk import TrioCore

    try:
        engine = TrioCore(config).load()
    except TrioError as error:
        return {"model": config.model, "error": str(error)}
    try:
        report = getattr(engine.model, "endpoints_report", None)
        return {"model": config.model, "backend": engine.model.backend, "endpoints": report() if report else []}
    finally:
        engine.close()


def _versions(backend) -> dict:
    versions = getattr(backend, "versions", None)
    return {"versions": versions()} if callable(versions) else {}


def _hf_cache_dir() -> Path:
    from huggingface_hub.constants import HF_HUB_CACHE

    return Path(HF_HUB_CACHE)


def render(report: dict) -> str:
    lines = [
        f"trio-core {report['trio_core']}  (Python {report['python']}, {report['platform']})",
        "plugins:",
        *[f"  {p['name']:<24} {p['distribution'] or '(run-time)'} {p['version'] or ''}" for p in report["plugins"]],
        "backends:",
    ]
    for backend in report["backends"]:
        if backend["available"]:
            versions = ", ".join(f"{k} {v}" for k, v in backend.get("versions", {}).items())
            lines.append(f"  {backend['name']:<8} available  devices: {', '.join(backend['devices'])}  {versions}")
        else:
            lines.append(f"  {backend['name']:<8} unavailable: {backend['reason']}")
    if not report["backends"]:
        lines.append("  none installed: run `pip install trio-backend-torch`")
    choice = report["would_use"]
    lines.append(
        f"would use: {choice['backend']} on {choice['device']}" if choice else "would use: nothing (no usable backend)"
    )
    ffmpeg = ", ".join(f"{k} {v}" for k, v in report["ffmpeg"].items() if k in ("libavformat", "libavcodec"))
    lines.append(f"video: PyAV {report['pyav']} ({ffmpeg})")
    lines.append(f"model cache: {report['model_cache']} ({report['model_cache_free_gb']} GB free)")
    if report["hf_hub_offline"]:
        lines.append("HF_HUB_OFFLINE is set: models load only from the cache or local directories")
    if "remote" in report:
        lines += render_remote(report["remote"])
    return "\n".join(lines)


def render_remote(remote: dict) -> list[str]:
    if "error" in remote:
        return [f"endpoints for {remote['model']}: {remote['error']}"]
    lines = [f"endpoints for {remote['model']} ({remote['backend']} backend):"]
    for endpoint in remote["endpoints"]:
        found = endpoint["capabilities"]
        if endpoint["state"] != "up" or found is None:
            state = endpoint["state"] if endpoint["state"] != "up" else "not reached yet"
            lines.append(f"  {endpoint['url']}  {state}: {endpoint['error'] or 'never asked'}")
            continue
        ids = "media ids" if found["media_ids"] else "no media ids"
        lines.append(f"  {endpoint['url']}  up  {found['server']}, video as {found['video']}, {ids}, "
                     f"yes/no from {found['yes_no']} ({found['found_by']})")  # fmt: skip
    return lines
