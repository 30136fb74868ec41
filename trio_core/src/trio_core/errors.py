"""Errors that are part of trio's interface.

Every error a user can cause (a missing file, a model that is not installed, an optimizer
that does not fit the model) is a :class:`TrioError` whose message is one sentence that
says what to do. The CLI prints that sentence and exits non-zero; the SDK raises it.
"""

from __future__ import annotations


class TrioError(Exception):
    """Base class of every error trio reports to a user."""


class ConfigError(TrioError, ValueError):
    """A setting has a value trio cannot use."""


class MediaError(TrioError):
    """A video, image or URL could not be read: missing, empty, corrupt, truncated or unsupported."""


class PluginNotFoundError(TrioError, LookupError):
    """A backend, optimizer, frame source or model family was asked for but is not installed."""


class PluginConflictError(TrioError):
    """Two installed plugins register the same name of the same kind (two optimizers called ``tome``)."""


class ModelLoadError(TrioError):
    """A model reference could not be resolved or loaded."""


class IncompatibleOptimizerError(TrioError):
    """An optimizer was asked for on a model family or backend it does not support."""


class BackendUnavailableError(TrioError):
    """The backend cannot answer now (every server it sends to is down, overloaded or busy), though it may soon:
    a watch skips the frame and carries on."""
