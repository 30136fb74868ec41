"""The hooks a trio plugin can implement: the whole plugin API, one function per hook.

Each ``register_*`` hook receives a ``register`` callback; a plugin calls it once per thing it adds::

    from trio_core import hookimpl

    @hookimpl
    def register_frame_sources(register):
        register(MySource())

**When they are called.** trio builds its registry (:func:`trio_core.plugins.registry`) by
calling every ``register_*`` hook of every loaded plugin, afresh each time it needs it: every
``TrioCore.load()``, every read of frames (so every question), a watch opening its source, a
sink URL being looked up, ``trio plugins``, ``trio doctor`` and ``trio eval``. So a hook only
constructs small descriptor objects, quickly and without side effects, and imports heavy
libraries inside their methods, which trio calls later. ``register_commands`` is the
exception: it is called once, when the ``trio`` command starts, and never by the SDK.

Plugins are asked in pluggy's call order: the most recently registered first, so installed
plugins come before the core's defaults (``tryfirst``/``trylast`` move one). Two plugins
registering the same name of one kind is an error (:class:`~trio_core.errors.PluginConflictError`)
when that kind is used. The core's own sources, filters, sinks and benchmarks are registered
through these same hooks, by its default plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # the contract names its types; importing them here would load the core for every plugin
    import click

    from .backends import Backend
    from .evaluation import EvalSuite
    from .families import ModelFamily
    from .filters import FrameFilter
    from .models import NamedModel
    from .optimizers import Optimizer
    from .sinks.base import AlertSink
    from .sources.base import FrameSource

hookspec = pluggy.HookspecMarker("trio")
hookimpl = pluggy.HookimplMarker("trio")


@hookspec
def register_backends(register: Callable[[Backend], None]) -> None:
    """Register inference backends: ``register(backend)`` with a :class:`trio_core.backends.Backend` instance.

    Called every time trio builds its registry (each model load, each read of media, ``trio
    plugins``). A backend says whether it can run here (``is_available``, which must not import
    its framework when it need not), its priority for ``--backend auto``, and how it loads a
    model reference into a ``LoadedModel``.
    """


@hookspec
def register_model_families(register: Callable[[ModelFamily], None]) -> None:
    """Register model families: ``register(family)`` with a :class:`trio_core.families.ModelFamily` instance.

    Called every time trio builds its registry (each model load, each read of media, ``trio
    plugins``). A family says which checkpoints it matches (``config.json``'s ``model_type``),
    what it can do (video, images, which optimizers), and which backend runs it; families are
    unique per backend.
    """


@hookspec
def register_optimizers(register: Callable[[Optimizer], None]) -> None:
    """Register vision-token optimizers: ``register(optimizer)`` with a :class:`trio_core.optimizers.Optimizer`.

    Called every time trio builds its registry (each model load, each read of media, ``trio
    plugins``). The descriptor names its stage, settings, conflicts and an implementation module
    per backend, which the core imports only when a model of that backend loads with the
    optimizer.
    """


@hookspec
def register_frame_sources(register: Callable[[FrameSource], None]) -> None:
    """Register frame sources: ``register(source)`` with a :class:`trio_core.sources.FrameSource` instance.

    Called every time trio builds its registry (each model load, each read of media, ``trio
    plugins``). The first source (in plugin call order) whose ``can_open`` takes a target opens
    it: a plugin can take over a scheme from a built-in source by coming first.
    """


@hookspec
def register_frame_filters(register: Callable[[type[FrameFilter]], None]) -> None:
    """Register frame filters: ``register(FilterClass)`` with a :class:`trio_core.filters.FrameFilter` **subclass**.

    Called every time trio builds its registry (each model load, each read of media, ``trio
    plugins``). The class's ``name`` is the filter's name and its ``Settings`` what ``--filter
    NAME.SETTING=VALUE`` and ``TRIO_FILTER_SETTINGS`` set. For every stream the core checks the
    settings, asks the class whether they turn it on (``is_enabled``), and builds a fresh filter
    from them. Filters run after sampling and before the model, in plugin call order: installed
    plugins' filters first (the most recently registered first), then the core's dedup and
    motion gate.
    """


@hookspec
def register_alert_sinks(register: Callable[[AlertSink], None]) -> None:
    """Register alert sinks: ``register(sink)`` with a :class:`trio_core.sinks.AlertSink` instance.

    Called every time trio builds its registry (each model load, each read of media, ``trio
    plugins``). A sink claims URL schemes (``mqtt``, ``https``, ``ntfy``, ...); ``--sink URL``
    on a watch, a standing watch's ``sinks`` and ``/v1/watch``'s ``sinks`` pick the sink by the
    URL's scheme. The sink's connection delivers alerts from the event store's outbox on a
    thread of its own, in order, retried with backoff: see :mod:`trio_core.sinks.base`.
    """


@hookspec
def register_models(register: Callable[[NamedModel], None]) -> None:
    """Register models known by name: ``register(model)`` with a :class:`trio_core.models.NamedModel`.

    Called every time trio builds its registry (each model load, each read of media, ``trio
    plugins``). ``trio analyze clip.mp4 --model NAME`` then loads the model's files from where
    the plugin says they are (a directory it ships, or a hub id).
    """


@hookspec
def register_eval_suites(register: Callable[[EvalSuite], None]) -> None:
    """Register benchmark suites: ``register(suite)`` with a :class:`trio_core.evaluation.EvalSuite` instance.

    Called every time trio builds its registry (each model load, each read of media, ``trio
    plugins``). ``trio eval NAME`` runs the suite's questions through the engine and scores the
    answers.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``trio`` CLI: ``cli`` is the root :class:`click.Group`; call ``cli.add_command(...)``.

    Called once, when the ``trio`` command starts (never by the SDK), so import heavy modules
    inside the command's function. ``cli.commands["bench"]`` is the group that ``trio bench
    NAME`` benchmarks attach to (``add_command``, or ``add_lazy_command(name,
    "module:attribute")`` to import the command only when it runs or is listed).
    """
