"""Random-weight checkpoints for tests and benchmarks, written by whichever backend can write one.

A checkpoint written this way has a hub download's layout and real architecture, so
``TrioCore(model=str(path)).load()`` goes through exactly the code a real checkpoint does,
offline; its answers are gibberish, but deterministic.
"""

from __future__ import annotations


def checkpoint_writer(backend: str = "auto"):
    """The backend that writes a benchmark's random-weight checkpoint: ``backend`` if it writes them, else the
    best available one that does (the files are a Hugging Face checkpoint, which every local backend reads),
    else ``backend``'s (or the best one's) clear refusal."""
    from ..backends import Backend, available_by_priority
    from ..errors import PluginNotFoundError
    from ..plugins import registry

    reg = registry()
    available = available_by_priority(reg.objects("backend"))
    asked = [reg.find("backend", backend)] if backend != "auto" else []
    if not asked and not available:
        raise PluginNotFoundError("No backend is available to build a benchmark model: install one, or pass --model.")
    # MLX, preferred on a Mac, does not write checkpoints: torch writes them when it is installed too.
    writers = [b for b in asked + available if type(b).write_random_checkpoint is not Backend.write_random_checkpoint]
    return (writers or asked or available)[0]
