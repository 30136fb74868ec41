"""What is installed and what this machine can run: ``trio plugins``' report and ``trio doctor``'s.

:func:`plugin_report` lists every loaded plugin (its distribution, version, hooks, what it
registered and any clash); :func:`diagnose` adds the backends with their devices, the choice
``auto`` makes, PyAV and the model cache, for users and bug reports. The plugin manager and
the registry they read are :mod:`trio_core.plugins`.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any


def plugin_report() -> list[dict[str, Any]]:
    """Every loaded plugin with its distribution, version, hooks and what it registered.

    A plugin whose registration clashes with another's (the same name of the same kind) has
    ``conflicts``: one sentence for each. A plugin that did not load has ``error``: why.
    """
    from .plugins import DEFAULT_PLUGINS, conflict_message, load_plugins, origin, pm, problems, registry

    load_plugins()
    reg = registry()
    clashes: dict[str, list[str]] = {}
    for first, clash in reg.conflicts():
        for item in (first, clash):
            clashes.setdefault(item.plugin, []).append(conflict_message(first, clash))
    report = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda pair: pair[0]):
        distribution, version = origin(name)
        callers = pm.get_hookcallers(plugin) or []
        registered: dict[str, list[dict[str, Any]]] = {}
        for item in reg.items:
            if item.plugin == name:
                registered.setdefault(item.kind, []).append(_describe(item))
        report.append(
            {
                "name": name,
                "distribution": distribution,
                "version": version,
                "default": name in DEFAULT_PLUGINS,
                "hooks": sorted(caller.name for caller in callers),
                "registers": registered,
                **({"conflicts": clashes[name]} if name in clashes else {}),
            }
        )
    for name, problem in sorted(problems.items()):
        report.append(
            {
                "name": name,
                "distribution": None,
                "version": None,
                "default": False,
                "hooks": [],
                "registers": {},
                "error": problem,
            }
        )
    return report


def _describe(item) -> dict[str, Any]:
    describe = getattr(item.obj, "describe", None)
    details = describe() if callable(describe) else {}
    if item.kind == "optimizer":
        from .optimizers import backend_extras

        details.update(backend_extras(item.obj, item.distribution))
    return {"name": item.name, **details}


def render_plugins(report: list[dict[str, Any]]) -> str:
    """``trio plugins``' table: a plugin a paragraph, with its origin, hooks, conflicts and registrations."""
    lines = []
    for plugin in report:
        if "error" in plugin:
            lines.append(f"{plugin['name']}  (not loaded: {plugin['error']})")
            continue
        origin = f"{plugin['distribution']} {plugin['version']}" if plugin["distribution"] else "registered at run time"
        lines.append(f"{plugin['name']}  ({origin})")
        lines.append(f"  hooks: {', '.join(plugin['hooks'])}")
        for conflict in plugin.get("conflicts", []):
            lines.append(f"  conflict: {conflict}")
        for kind, items in plugin["registers"].items():
            lines.append(f"  {kind}: {', '.join(brief(item) for item in items)}")
    return "\n".join(lines)


def brief(item: dict) -> str:
    """One registration in a line: its name, schemes or families, settings, conflicts, and where it runs."""
    extra = item.get("families") or item.get("schemes") or item.get("model_types")
    text = f"{item['name']} [{', '.join(extra)}]" if extra else item["name"]
    if item.get("settings"):
        text += " (" + ", ".join(f"{name}={value}" for name, value in item["settings"].items()) + ")"
    if item.get("conflicts"):
        text += f" not with {', '.join(item['conflicts'])}"
    if "extras" in item:  # an optimizer: where it runs, and what to install where it cannot yet
        places = []
        for backend in item["backends"]:
            extra = item["extras"].get(backend)
            ready = item["ready"].get(backend, True)
            if extra is None:
                places.append(backend)
            else:
                places.append(
                    f"{backend} ({extra} installed)" if ready else f"{backend} (needs `pip install '{extra}'`)"
                )
        text += f" on {', '.join(places) or 'no backend'}"
    return text


def diagnose(config=None) -> dict:
    """Versions, plugins, backends with their devices, the choice ``auto`` makes, PyAV, and disk; with endpoints
    in ``config`` (an :class:`~trio_core.config.EngineConfig`), what each of them serves and accepts."""
    import av

    from .plugins import registry

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
