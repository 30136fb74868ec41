"""``--max-side auto``: the largest frame side at which one watch inference fits a latency target here.

The cost of a frame grows with its area (visual tokens are patches), and how fast a machine
is can only be measured: :func:`pick_max_side` times one inference of the watch's own
conditions on a synthetic 16:9 frame at each candidate side, smallest first, and keeps the
largest whose median time is within the target. It stops at the first side over the target
(a larger one only costs more), so calibrating takes a few seconds on a slow machine.
"""

from __future__ import annotations

import itertools
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..sdk import TrioCore

# Candidate longest sides: multiples of 28 (Qwen2.5-VL's patch merge), from thumbnail to 1080p-ish.
SIDES = (224, 336, 448, 560, 672, 784, 896, 1120, 1344)


@dataclass
class Calibration:
    """What calibrating picked: ``side``, and each measured side's median milliseconds."""

    side: int
    target_ms: float
    measured: dict[int, float] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return self.measured.get(self.side, float("inf")) <= self.target_ms

    def sentence(self) -> str:
        took = self.measured[self.side]
        if not self.fits:
            return (
                f"--max-side auto: even {self.side} px takes {took:.0f} ms here, over the {self.target_ms:g} ms target; "
                f"using {self.side} px (a smaller model, or fewer conditions, would keep up better)."
            )
        return f"--max-side auto: {self.side} px ({took:.0f} ms an inference here, target {self.target_ms:g} ms)."


def pick_max_side(
    engine: TrioCore, questions: list[str], target_ms: float = 500.0, *, sides=SIDES, rounds: int = 2, max_tokens=1
) -> Calibration:
    """Time ``questions`` (asked together, as a watch asks them) on a frame of each side; the largest within target."""
    from ..frames import Frame, SamplingPlan, synthetic_frames
    from ..metrics import Metrics
    from ..pipeline import Clip

    calls = itertools.count()

    def inference_ms(side: int) -> float:
        # A new picture every call (the square moves): a prefix cache (kvreuse) must not answer from memory.
        square = synthetic_frames(16, side)[next(calls) % 16]
        image = square[: side * 9 // 16 // 2 * 2]  # a 16:9 camera frame
        plan = SamplingPlan(fps=1.0, min_frames=1, max_frames=1, max_side=side, max_pixels=engine.config.max_pixels)
        clip = Clip([Frame(image, 0.0, 0)], plan, Metrics(frames_in=1, frames_used=1), 0.0)
        started = time.perf_counter()
        engine.analyze_frame_each(clip, questions, yes_no=True, max_tokens=max_tokens)
        return (time.perf_counter() - started) * 1000

    inference_ms(sides[0])  # warm-up: the first call pays for lazy initialisation, not for pixels
    calibration = Calibration(side=sides[0], target_ms=target_ms)
    for side in sides:
        took = statistics.median(inference_ms(side) for _ in range(rounds))
        calibration.measured[side] = took
        if took > target_ms:
            break
        calibration.side = side
    return calibration
