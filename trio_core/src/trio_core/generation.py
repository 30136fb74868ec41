"""The generation seam: how optimizers take part in one request, on any backend.

A backend that runs optimizers gives each loaded model a list of request hooks
(``LoadedModel.request_hooks``); when a model loads, each optimizer's implementation for that
backend appends its hook there, in the order of the optimizers' stages. For every generation
the backend makes a :class:`Request` and runs the hooks through it in phases, each phase over
every hook in that order, on the thread that generates:

1. ``before_encode``: nothing has run yet. A cache may answer for the media here (drop the
   media from the inputs, hand the backend a cache, fill ``request.reused``), so that no later
   hook encodes them.
2. ``before_generate``: change the inputs and generate arguments (encode the media another
   way, give fewer tokens and their positions, arm hooks inside the model).
3. the backend generates;
4. ``after_generate``: look at what generation did.

``close`` runs once, when the model closes.

Streaming an answer (:func:`stream_answer`): the backend generates on a thread of its own and
hands each token over; the caller's thread decodes the text as it comes, times the first
token and the rest, and stops the producer when the caller stops reading.

Several requests about one media (the conditions of one camera frame): when every hook is
``batchable`` (:func:`batchable`), each request goes through the first two phases, then the
backend asks the hooks, in order, whether one of them runs them all as one :class:`Batch`
(:func:`batches`; a cache hook that put them on one cached prefix does). A hook that follows
one request at a time inside the model sets ``batchable = False``: each request then goes
through all its phases and its generation before the next one starts.

Nothing here knows a framework: ``inputs``, ``kwargs`` and ``reused`` belong to the backend and
the hooks.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import IncompatibleOptimizerError
from .tokens import IncrementalDecoder

if TYPE_CHECKING:
    from .backends import GenerationStats, LoadedModel

_DONE = object()


@dataclass
class Request:
    """One generation the backend is about to run, as the request hooks see and change it."""

    inputs: Any  # the backend's model inputs (on torch: the processor's tensors, by name)
    kwargs: dict[str, Any]  # the backend's generate arguments
    stats: GenerationStats  # what the user sees in the metrics: hooks report here
    frames: tuple = ()  # the media's frames in prompt order (trio_core.frames.Frame): what a cache compares
    state: dict[str, Any] = field(default_factory=dict)  # what a hook keeps from one phase to the next
    # Filled by a cache hook: the cached prefix this request starts from, opaque to the backend.
    # Requests with the very same one may run together (the hook that filled it says how).
    reused: Any = None


@dataclass
class Batch:
    """Requests that run as one generation: the backend's inputs and generate arguments for all of them."""

    requests: list[Request]
    inputs: Any
    kwargs: dict[str, Any]

    @classmethod
    def single(cls, request: Request) -> Batch:
        return cls([request], request.inputs, request.kwargs)


class RequestHook:
    """An optimizer's per-request part; every method does nothing unless overridden."""

    # False for a hook that follows one request at a time inside the model (it arms layer hooks
    # for that request's shapes): several requests then run one after another, never as a batch.
    batchable = True

    def before_encode(self, model: LoadedModel, request: Request) -> None:
        """Answer for the media from a cache, before anything encodes them."""

    def before_generate(self, model: LoadedModel, request: Request) -> None:
        """Change ``request.inputs`` / ``request.kwargs`` before generation runs."""

    def after_generate(self, model: LoadedModel, request: Request) -> None:
        """Look at what generation did (the cache it filled, say)."""

    def batch(self, model: LoadedModel, requests: list[Request]) -> Batch | None:
        """Offer to run ``requests`` (all past ``before_generate``) as one batch, or None.

        The hook that put the requests on one shared state (a cache hook: the same cached
        prefix) knows how to lay them out as rows of one generation.
        """
        return None

    def close(self) -> None:
        """Release what the hook holds (the model is closing)."""


def request_hooks(model: LoadedModel, optimizer: str) -> list[RequestHook]:
    """The loaded model's list of request hooks, for ``optimizer`` to join; refused on a model without one."""
    if model.request_hooks is None:
        raise IncompatibleOptimizerError(
            f"The optimizer '{optimizer}' needs request hooks, which the {model.backend} backend does not offer: "
            "drop it from --optimizers."
        )
    return model.request_hooks


def start_request(
    model: LoadedModel, inputs: Any, kwargs: dict[str, Any], stats: GenerationStats, frames: tuple = ()
) -> Request:
    """A request with every hook's ``before_encode`` and then ``before_generate`` done.

    ``inputs`` are the backend's own, to be changed by the hooks: pass a copy of what the
    prepared prompt holds (``dict(prompt.inputs)``) when the prompt may be used again.
    """
    request = Request(inputs=inputs, kwargs=dict(kwargs), stats=stats, frames=frames)
    hooks = model.request_hooks or ()
    for hook in hooks:
        hook.before_encode(model, request)
    for hook in hooks:
        hook.before_generate(model, request)
    return request


def finish_request(model: LoadedModel, request: Request) -> None:
    """Every hook's ``after_generate``, once the request's generation is over."""
    for hook in model.request_hooks or ():
        hook.after_generate(model, request)


def batchable(model: LoadedModel) -> bool:
    """Whether several requests may go through their phases together (no hook follows one request at a time)."""
    return all(hook.batchable for hook in model.request_hooks or ())


def batches(model: LoadedModel, requests: list[Request]) -> list[Batch]:
    """How to run ``requests`` (all started, on a :func:`batchable` model): as one batch a hook offers, or one by one."""
    hooks = model.request_hooks or ()
    if len(requests) > 1 and batchable(model):
        for hook in hooks:
            offer = hook.batch(model, requests)
            if offer is not None:
                return [offer]
    return [Batch.single(request) for request in requests]


def close_hooks(model: LoadedModel) -> None:
    """Close every hook of a model that is closing, and forget them."""
    for hook in model.request_hooks or ():
        hook.close()
    if model.request_hooks is not None:
        model.request_hooks = []


def stream_answer(
    submit: Callable[[Callable[[], None]], Future],
    produce: Callable[[Callable[[int], None], threading.Event], None],
    *,
    tokenizer: Any,
    stop_token_ids: list[int],
    stats: GenerationStats,
) -> Iterator[str]:
    """An answer's text as it is generated, on the caller's thread; the tokens come from the backend's own.

    ``submit(run)`` runs ``run`` on the thread that generates (a backend's single worker) and
    returns its future; there ``produce(put, cancel)`` generates, calling ``put(token_id)`` for
    each new token (up to and with the end token) and stopping early once ``cancel`` is set,
    which happens when the caller stops reading. Here each token id goes into
    ``stats.token_ids``, the time to the first one into ``stats.prefill_ms`` and the rest into
    ``stats.decode_ms``, and text is yielded as soon as it is whole (end tokens are not text).
    An error the producer raised is raised here, after what was yielded before it.
    """
    tokens: queue.SimpleQueue = queue.SimpleQueue()
    cancel = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            produce(tokens.put, cancel)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
        finally:
            tokens.put(_DONE)

    started = time.perf_counter()
    done = submit(run)
    decoder = IncrementalDecoder(tokenizer)
    stops = set(stop_token_ids)
    first_at = None
    try:
        while (token := tokens.get()) is not _DONE:
            if first_at is None:
                first_at = time.perf_counter()
                stats.prefill_ms = (first_at - started) * 1000
            stats.token_ids.append(token)
            if token in stops:
                continue
            delta = decoder.add(token)
            if delta:
                yield delta
    finally:
        cancel.set()
        done.result()
    if failure:
        raise failure[0]
    stats.decode_ms = (time.perf_counter() - first_at) * 1000 if first_at is not None else 0.0
