"""Where frames are sampled: uniformly in time, at the centres of equal segments.

A video of ``duration`` seconds gets ``n = clamp(round(duration * fps), min_frames, max_frames)``
frames, never more than it has. Frame ``i`` is taken at the centre of the ``i``-th of ``n``
equal segments of ``[0, duration)``, so the samples cover the whole video evenly and never
sit on its first or last instant (where fades and black frames live).
"""

from __future__ import annotations

import math

from .frames import SamplingPlan


def frames_to_sample(duration: float | None, frame_count: int | None, plan: SamplingPlan) -> int:
    """How many frames to sample from a video; at least 1.

    ``duration`` is in seconds (``None`` or 0 when unknown, e.g. a one-frame video);
    ``frame_count`` is how many frames the video has (``None`` or 0 when unknown).
    ``round`` rounds halves up, so 1.25 s at 2 fps is 3 frames, not 2.
    """
    if not duration or duration <= 0 or not math.isfinite(duration):
        return 1
    wanted = math.floor(duration * plan.fps + 0.5)
    n = max(plan.min_frames, min(plan.max_frames, wanted))
    if frame_count and frame_count > 0:
        n = min(n, frame_count)
    return max(1, n)


def sample_timestamps(duration: float | None, frame_count: int | None, plan: SamplingPlan) -> list[float]:
    """The times (seconds from the start) to sample, ascending: centres of ``n`` equal segments of ``[0, duration)``.

    A video of unknown or zero duration gives ``[0.0]``: its first frame.
    """
    n = frames_to_sample(duration, frame_count, plan)
    if not duration or duration <= 0 or not math.isfinite(duration):
        return [0.0]
    step = duration / n
    return [(i + 0.5) * step for i in range(n)]


def sample_indices(count: int, n: int) -> list[int]:
    """``min(n, count)`` distinct positions in ``range(count)`` at the centres of equal segments, ascending.

    The same rule as :func:`sample_timestamps`, for sources that are a list of frames
    rather than a timeline.
    """
    if count <= 0 or n <= 0:
        return []
    n = min(n, count)
    return [math.floor((i + 0.5) * count / n) for i in range(n)]
