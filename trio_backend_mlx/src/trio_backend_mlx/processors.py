"""mlx-vlm's processors kept to MLX's own loads.

mlx-vlm installs its numpy ports of transformers' processors by patching
``transformers.AutoProcessor.from_pretrained`` for the whole process, when it first loads a model of that
type. Left in place, a torch model loaded afterwards in the same process (``trio eval
--compare-backends mlx,torch``, a server reloading on another backend) would get a numpy processor and fail
in ``generate``. So the patch is active only while mlx-vlm loads, and transformers' own method is put back
after.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator

_PATCH_NAME = "_patched_auto_processor_from_pretrained"  # mlx_vlm.models.base.install_auto_processor_patch
_patched = None  # mlx-vlm's method once it installed one: put back for its next load


@contextlib.contextmanager
def mlx_vlm_processors() -> Iterator[None]:
    """While the context lasts, ``AutoProcessor.from_pretrained`` is mlx-vlm's; after it, transformers' own."""
    global _patched
    from transformers import AutoProcessor

    if _patched is not None:
        AutoProcessor.from_pretrained = _patched
    try:
        yield
    finally:
        current = AutoProcessor.__dict__["from_pretrained"]
        if current.__func__.__name__ == _PATCH_NAME:
            _patched = current
            AutoProcessor.from_pretrained = classmethod(_unpatched(current.__func__))


def _unpatched(function):
    """The method under mlx-vlm's chain of patches (each one keeps the one it replaced)."""
    while function.__name__ == _PATCH_NAME:
        function = inspect.getclosurevars(function).nonlocals["previous_from_pretrained"].__func__
    return function
