"""The plugin manager: discovery, restriction and the registry of what plugins add.

Plugins are found through the ``trio`` entry-point group. ``TRIO_PLUGINS`` restricts which
of them load: a comma-separated list of entry-point names, or an empty string for none
(the core's default plugins always load, since built-in behaviour is itself a plugin).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginConflictError, PluginNotFoundError

ENTRY_POINT_GROUP = "trio"

# The core's own plugins: modules whose hookimpls register built-in sources, filters, alert sinks and benchmarks.
DEFAULT_PLUGINS = ("trio_core.sources", "trio_core.filters", "trio_core.sinks", "trio_core.bench")

# Where a missing capability lives, so an error can say what to install.
KNOWN_PACKAGES = {
    ("backend", "torch"): "trio-backend-torch",
    ("backend", "mlx"): "trio-backend-mlx",
    ("backend", "openai"): "trio-backend-openai",
    ("optimizer", "tome"): "trio-opt-tome",
    ("optimizer", "fastv"): "trio-opt-fastv",
    ("optimizer", "kvreuse"): "trio-opt-kvreuse",
}

pm = pluggy.PluginManager("trio")
pm.add_hookspecs(hookspecs)
_loaded = False
# Installed plugins: entry-point name -> (distribution, version).
_distributions: dict[str, tuple[str, str]] = {}
# Plugins that were asked for or installed but did not load: name -> why.
problems: dict[str, str] = {}
log = logging.getLogger("trio")


def load_plugins() -> pluggy.PluginManager:
    """Register the default plugins and the installed ones that ``TRIO_PLUGINS`` allows. Idempotent.

    A plugin that fails to import is skipped with a warning (and listed by ``trio plugins``)
    rather than breaking every command.
    """
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        if not pm.is_registered(module):
            pm.register(module, name=module_name)
    allowed = os.environ.get("TRIO_PLUGINS")
    wanted = None if allowed is None else {name.strip() for name in allowed.split(",") if name.strip()}
    seen = set()
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        name = entry_point.name
        if (wanted is not None and name not in wanted) or name in seen or pm.get_plugin(name) is not None:
            continue
        seen.add(name)
        try:
            pm.register(entry_point.load(), name=name)
        except Exception as exc:  # a broken plugin must not take the others down
            problems[name] = f"failed to load: {type(exc).__name__}: {exc}"
            log.warning("trio plugin '%s' %s", name, problems[name])
            continue
        if entry_point.dist is not None:
            _distributions[name] = (entry_point.dist.name, entry_point.dist.version)
    for name in sorted((wanted or set()) - seen):
        problems[name] = "is named in TRIO_PLUGINS but not installed"
    return pm


@dataclass
class Registered:
    """One thing a plugin registered through a hook, which plugin it came from, and that plugin's distribution."""

    kind: str
    name: str
    obj: Any
    plugin: str
    distribution: str | None = None  # None for a plugin registered at run time

    @property
    def identity(self) -> tuple[str, ...]:
        """What must be unique within a kind: the name (a model family's, per backend: each backend runs its own)."""
        if self.kind == "model family":
            return (self.kind, getattr(self.obj, "backend", ""), self.name)
        return (self.kind, self.name)

    @property
    def origin(self) -> str:
        """Where it came from, in words: ``trio-opt-tome (plugin 'tome')``."""
        return f"{self.distribution or 'a plugin registered at run time'} (plugin '{self.plugin}')"


@dataclass
class Registry:
    """Everything the loaded plugins registered, gathered by calling each hook once.

    Two plugins registering the same name of the same kind is an error, not a race: using
    that kind raises :class:`PluginConflictError` naming both, and ``trio plugins`` lists it.
    """

    items: list[Registered] = field(default_factory=list)

    def listed(self, kind: str) -> list[Registered]:
        """Everything registered of ``kind``, clashes included: for reports."""
        return [item for item in self.items if item.kind == kind]

    def conflicts(self, kind: str | None = None) -> list[tuple[Registered, Registered]]:
        """Pairs of registrations of one name (of ``kind``, or of any kind): the first registered, then the clash."""
        first: dict[tuple[str, ...], Registered] = {}
        clashes = []
        for item in self.items:
            if kind is not None and item.kind != kind:
                continue
            if item.identity in first:
                clashes.append((first[item.identity], item))
            else:
                first[item.identity] = item
        return clashes

    def of_kind(self, kind: str) -> list[Registered]:
        """Everything registered of ``kind``, in plugin call order; refused while two of them share a name."""
        for first, clash in self.conflicts(kind):
            raise PluginConflictError(conflict_message(first, clash))
        return self.listed(kind)

    def objects(self, kind: str) -> list[Any]:
        return [item.obj for item in self.of_kind(kind)]

    def item(self, kind: str, name: str) -> Registered:
        """The registration called ``name``, or a :class:`PluginNotFoundError` naming the package to install."""
        found = [item for item in self.listed(kind) if item.name == name]
        if len(found) > 1 and found[0].identity == found[1].identity:
            raise PluginConflictError(conflict_message(found[0], found[1]))
        if not found:
            raise PluginNotFoundError(missing_message(kind, name, [i.name for i in self.listed(kind)]))
        return found[0]

    def find(self, kind: str, name: str) -> Any:
        """The registered object called ``name``, or a :class:`PluginNotFoundError` naming the package."""
        return self.item(kind, name).obj


def conflict_message(first: Registered, clash: Registered) -> str:
    article = "an" if first.kind[0] in "aeiou" else "a"
    return (
        f"Two plugins register {article} {first.kind} called '{first.name}': {first.origin} and {clash.origin}; "
        "uninstall one of them, or leave one out with TRIO_PLUGINS."
    )


_HOOK_KINDS = {
    "register_backends": "backend",
    "register_model_families": "model family",
    "register_optimizers": "optimizer",
    "register_frame_sources": "frame source",
    "register_models": "model",
    "register_eval_suites": "eval suite",
    "register_frame_filters": "frame filter",
    "register_alert_sinks": "alert sink",
}


def registry() -> Registry:
    """Call every registration hook, one plugin at a time, so each item knows its plugin.

    Plugins are asked in pluggy's call order: the most recently registered first (so
    installed plugins come before the core's defaults; ``tryfirst``/``trylast`` move a
    plugin). That is the order frame sources are offered a target (a plugin can take over a
    scheme) and the order frame filters run in. Built fresh on every call: plugins may be
    registered or unregistered at run time (tests do), and the hooks only construct small
    descriptor objects.
    """
    load_plugins()
    found = Registry()
    for hook_name, kind in _HOOK_KINDS.items():
        for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):

            def register(obj, _kind=kind, _plugin=impl.plugin_name):
                found.items.append(Registered(_kind, obj.name, obj, _plugin, distribution_of(_plugin)))

            impl.function(register)
    return found


def missing_message(kind: str, name: str, available: list[str]) -> str:
    package = KNOWN_PACKAGES.get((kind, name))
    have = ", ".join(sorted(set(available))) or "none"
    if package:
        return f"The {kind} '{name}' is not installed: run `pip install {package}` (installed: {have})."
    return f"No {kind} called '{name}' is installed (installed: {have}); install the plugin that provides it."


def origin(plugin: str) -> tuple[str | None, str | None]:
    """The distribution a loaded plugin came from and its version (``trio-core``'s for the defaults), or
    (None, None) for a plugin registered at run time."""
    if plugin in _distributions:
        return _distributions[plugin]
    distribution = distribution_of(plugin)
    return distribution, _version(distribution) if distribution is not None else None


def distribution_of(plugin: str) -> str | None:
    """The distribution a loaded plugin came from (``trio-core`` for the defaults), or None for a run-time one."""
    if plugin in _distributions:
        return _distributions[plugin][0]
    return "trio-core" if plugin in DEFAULT_PLUGINS else None


@functools.cache  # read once per process: every default plugin in a report asks for trio-core's
def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
