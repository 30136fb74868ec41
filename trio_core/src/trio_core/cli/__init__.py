"""The ``trio`` command line: the root group, its commands, and the commands plugins add.

- :mod:`.options`: the options commands share (the engine's, a watch's);
- :mod:`.commands`: ``analyze``, ``eval``, ``serve``, ``plugins``, ``doctor``;
- :mod:`.watch`: ``watch``, ``webcam``, ``cam``; :mod:`.board`: how a watch is shown;
- :mod:`.events`: ``trio events``, the event store from the command line.

``trio bench`` is a group the benchmarks attach to through the ``register_commands`` hook:
the core's own (its default plugin :mod:`trio_core.bench`) and the plugins'.
"""

from __future__ import annotations

import importlib
import logging

import click

from ..errors import TrioError
from . import commands, events, watch
from .options import engine_from_options, engine_options, watch_options

log = logging.getLogger("trio")


class TrioGroup(click.Group):
    """A click group that prints a :class:`TrioError` as one sentence and exits 1.

    It also takes commands by import path (:meth:`add_lazy_command`), imported only when they
    run or a listing shows them: ``trio --help`` does not import every benchmark.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = {}

    def add_lazy_command(self, name: str, import_path: str) -> None:
        """Add the command at ``import_path`` (``"package.module:attribute"``) as ``name``, imported on first use.
        A command added by :meth:`add_command` under the same name (a plugin's) wins."""
        self.lazy_commands[name] = import_path

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy_commands:
            import_path = self.lazy_commands.pop(name)
            module, _, attribute = import_path.partition(":")
            try:
                command = getattr(importlib.import_module(module), attribute)
            except Exception as exc:  # a broken command must not take `--help` and the others down
                log.warning("trio command '%s' (%s) failed to load: %s: %s", name, import_path, type(exc).__name__, exc)
                return None
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TrioError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


@click.group(cls=TrioGroup)
@click.version_option(package_name="trio-core", prog_name="trio")
def cli():
    """trio: ask questions about videos and images with a local vision-language model."""


@cli.group(cls=TrioGroup)
def bench():
    """Benchmarks that measure trio against the raw libraries, side by side in one run."""


for command in (
    commands.analyze, commands.eval_command, commands.serve, commands.plugins, commands.doctor,
    watch.watch, watch.webcam, watch.cam, events.events,
):  # fmt: skip
    cli.add_command(command)


def _add_plugin_commands() -> None:
    from ..plugins import load_plugins

    load_plugins().hook.register_commands(cli=cli)


_add_plugin_commands()


def main() -> None:
    cli(prog_name="trio")


__all__ = ["cli", "engine_from_options", "engine_options", "main", "watch_options"]
