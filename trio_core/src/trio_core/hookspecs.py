"""The hooks a trio plugin can implement.

Each hook receives a ``register`` callback; a plugin calls it once per thing it adds::

    from trio_core import hookimpl

    @hookimpl
    def register_frame_sources(register):
        register(MySource())

The core's own frame sources, filters and alert sinks are registered through these same hooks.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("trio")
hookimpl = pluggy.HookimplMarker("trio")


@hookspec
def register_backends(register):
    """Register inference backends: ``register(backend)`` with a :class:`trio_core.backends.Backend`.

    Like every ``register_*`` hook, called each time trio builds its registry (when a model
    loads, a request reads media, ``trio plugins`` runs): register cheap descriptor objects
    and import heavy libraries only inside their methods.
    """


@hookspec
def register_model_families(register):
    """Register model families: ``register(family)`` with a :class:`trio_core.families.ModelFamily`.

    A family says which checkpoints it matches (``config.json``'s ``model_type``), what it can
    do (video, images, which optimizers), and which backend runs it.
    """


@hookspec
def register_optimizers(register):
    """Register vision-token optimizers: ``register(optimizer)`` with a :class:`trio_core.optimizers.Optimizer`."""


@hookspec
def register_frame_sources(register):
    """Register frame sources: ``register(source)`` with a :class:`trio_core.sources.FrameSource`."""


@hookspec
def register_frame_filters(register):
    """Register frame filters: ``register(FilterClass)`` with a :class:`trio_core.filters.FrameFilter` subclass.

    The class's ``name`` is the filter's name and its ``Settings`` what ``--filter
    NAME.SETTING=VALUE`` and ``TRIO_FILTER_SETTINGS`` set. For every stream the core checks
    the settings, asks the class whether they turn it on (``is_enabled``), and builds a fresh
    filter from them. Filters run after sampling and before the model, in plugin call order:
    installed plugins' filters first (the most recently registered first), then the core's
    dedup and motion gate.
    """


@hookspec
def register_alert_sinks(register):
    """Register alert sinks: ``register(sink)`` with a :class:`trio_core.sinks.AlertSink`.

    A sink claims URL schemes (``mqtt``, ``https``, ``ntfy``, ...); ``--sink URL`` on a watch,
    a standing watch's ``sinks`` and ``/v1/watch``'s ``sinks`` pick the sink by the URL's
    scheme. The sink's connection delivers alerts from the event store's outbox on a thread
    of its own, in order, retried with backoff: see :mod:`trio_core.sinks`.
    """


@hookspec
def register_models(register):
    """Register models known by name: ``register(model)`` with a :class:`trio_core.models.NamedModel`.

    ``trio analyze clip.mp4 --model NAME`` then loads the model's files from where the plugin
    says they are (a directory it ships, or a hub id).
    """


@hookspec
def register_eval_suites(register):
    """Register benchmark suites: ``register(suite)`` with a :class:`trio_core.evaluation.EvalSuite`.

    ``trio eval NAME`` runs the suite's questions through the engine and scores the answers.
    """


@hookspec
def register_commands(cli):
    """Add commands to the ``trio`` CLI: ``cli`` is the root :class:`click.Group`.

    ``cli.commands["bench"]`` is the group that ``trio bench <name>`` benchmarks attach to.
    """
