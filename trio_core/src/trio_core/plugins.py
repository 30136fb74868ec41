"""The plugin manager: discovery, restriction and the registry of what plugins add.

Plugins are found through the ``trio`` entry-point group. ``TRIO_PLUGINS`` restricts which
of them load: a comma-separated list of entry-point names, or an empty string for none
(the core's default plugins always load, since built-in behaviour is itself a plugin).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginNotFoundError

ENTRY_POINT_GROUP = "trio"

# The core's own plugins: modules whose hookimpls register built-in sources and filters.
DEFAULT_PLUGINS = ("trio_core.sources", "trio_core.filters")

# Where a missing capability lives, so an error can say what to install.
KNOWN_PACKAGES = {
    ("backend", "torch"): "trio-backend-torch",
    ("backend", "mlx"): "trio-backend-mlx",
    ("optimizer", "tome"): "trio-opt-tome",
    ("optimizer", "fastv"): "trio-opt-fastv",
    ("optimizer", "kvreuse"): "trio-opt-kvreuse",
    ("frame source", "rtsp"): "trio-source-rtsp",
    ("frame source", "webcam"): "trio-source-webcam",
}

pm = pluggy.PluginManager("trio")
pm.add_hookspecs(hookspecs)
_loaded = False


def load_plugins() -> pluggy.PluginManager:
    """Register the default plugins and the installed ones that ``TRIO_PLUGINS`` allows. Idempotent."""
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        if not pm.is_registered(module):
            pm.register(module, name=module_name)
    allowed = os.environ.get("TRIO_PLUGINS")
    if allowed is None:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        return pm
    for name in {name.strip() for name in allowed.split(",") if name.strip()}:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
    return pm


@dataclass
class Registered:
    """One thing a plugin registered through a hook, and which plugin it came from."""

    kind: str
    name: str
    obj: Any
    plugin: str


@dataclass
class Registry:
    """Everything the loaded plugins registered, gathered by calling each hook once."""

    items: list[Registered] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Registered]:
        return [item for item in self.items if item.kind == kind]

    def objects(self, kind: str) -> list[Any]:
        return [item.obj for item in self.of_kind(kind)]

    def find(self, kind: str, name: str) -> Any:
        """The registered object called ``name``, or a :class:`PluginNotFoundError` naming the package."""
        for item in self.of_kind(kind):
            if item.name == name:
                return item.obj
        raise PluginNotFoundError(missing_message(kind, name, [i.name for i in self.of_kind(kind)]))


_HOOK_KINDS = {
    "register_backends": "backend",
    "register_model_families": "model family",
    "register_optimizers": "optimizer",
    "register_frame_sources": "frame source",
}


def registry() -> Registry:
    """Call every registration hook, one plugin at a time, so each item knows its plugin.

    Built fresh on every call: plugins may be registered or unregistered at run time (tests
    do), and the hooks only construct small descriptor objects.
    """
    load_plugins()
    found = Registry()
    for hook_name, kind in _HOOK_KINDS.items():
        for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):

            def register(obj, _kind=kind, _plugin=impl.plugin_name):
                found.items.append(Registered(_kind, obj.name, obj, _plugin))

            impl.function(register)
    for impl in reversed(pm.hook.register_frame_filters.get_hookimpls()):

        def register_filter(name, factory, _plugin=impl.plugin_name):
            found.items.append(Registered("frame filter", name, factory, _plugin))

        impl.function(register_filter)
    return found


def missing_message(kind: str, name: str, available: list[str]) -> str:
    package = KNOWN_PACKAGES.get((kind, name))
    have = ", ".join(sorted(set(available))) or "none"
    if package:
        return f"The {kind} '{name}' is not installed: run `pip install {package}` (installed: {have})."
    return f"No {kind} called '{name}' is installed (installed: {have}); install the plugin that provides it."


def plugin_report() -> list[dict[str, Any]]:
    """Every loaded plugin with its distribution, version, hooks and what it registered."""
    load_plugins()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    reg = registry()
    core_version = _version("trio-core")
    report = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda pair: pair[0]):
        dist = dists.get(id(plugin))
        if dist is not None:
            distribution, version = dist.project_name, dist.version
        elif name in DEFAULT_PLUGINS:
            distribution, version = "trio-core", core_version
        else:
            distribution, version = None, None
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
            }
        )
    return report


def _describe(item: Registered) -> dict[str, Any]:
    describe = getattr(item.obj, "describe", None)
    details = describe() if callable(describe) else {}
    return {"name": item.name, **details}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
