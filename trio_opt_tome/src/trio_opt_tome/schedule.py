"""Which vision blocks merge, and how much: the same on every backend."""

from __future__ import annotations

from dataclasses import dataclass

from trio_core.errors import ConfigError


@dataclass(frozen=True)
class Schedule:
    """Which blocks merge, and how much: ``keep`` overall (spread evenly) or ``per_layer`` in each."""

    blocks: tuple[int, ...]
    keep: float = 0.5
    per_layer: float | None = None

    @classmethod
    def from_settings(cls, settings, depth: int) -> Schedule:
        """The schedule ``settings`` ask for on a vision tower of ``depth`` blocks (default: every block but the last)."""
        blocks = tuple(settings.layers) if settings.layers is not None else tuple(range(depth - 1))
        if not blocks or any(not 0 <= block < depth for block in blocks):
            raise ConfigError(
                f"--opt tome.layers: give vision blocks between 0 and {depth - 1} (this model has {depth})."
            )
        return cls(tuple(sorted(set(blocks))), settings.keep, settings.per_layer)

    def keep_after(self, step: int) -> float:
        """Share of the original units a window keeps after merging step ``step`` (0-based)."""
        if self.per_layer is not None:
            return (1 - self.per_layer) ** (step + 1)
        return self.keep ** ((step + 1) / len(self.blocks))
