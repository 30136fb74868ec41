"""What each visual token shows: the codes, objects and attention targets of the training-only losses.

Visual tokens are indexed in the order the vision encoder emits them (raster order per image,
per temporal patch in a clip); every function here knows the scene, none knows the model.
"""

from __future__ import annotations

import numpy as np

from trio_model_tiny.questions import Sample, counted
from trio_model_tiny.scenes import COLOURS, DIRECTIONS, POSITIONS, SHAPES, SceneObject, position_word
from trio_model_tiny.train.conversations import Turn

CELL = 28  # pixels per visual token: 14-pixel patches merged 2x2


def covered_cells(obj: SceneObject, side: int) -> np.ndarray:
    """Raster indices of the visual tokens that show any part of ``obj`` (generously: its bounding circle)."""
    centres = (np.arange(side // CELL) + 0.5) * CELL
    cy, cx = np.meshgrid(centres, centres, indexing="ij")  # (cells, cells), raster order
    near = np.hypot(cx - obj.x, cy - obj.y) < obj.radius + CELL / 4
    near.reshape(-1)[centre_cell(obj, side)] = True
    return np.flatnonzero(near.reshape(-1))


def centre_cell(obj: SceneObject, side: int) -> int:
    """Raster index of the visual token under the object's centre: one token per object, to count."""
    cells = side // CELL
    return min(int(obj.y // CELL), cells - 1) * cells + min(int(obj.x // CELL), cells - 1)


def region(obj: SceneObject, side: int) -> int:
    """The object's cell of the 3x3 grid the position answers name (0 = top left, 8 = bottom right).

    Learned late (run 5): the encoder's tokens gave this code back at chance after 1,200
    steps and on 72% of object tokens after 3,600. The vision encoder has only relative
    (rotary) positions and seems to find absolute ones from the image's borders.
    """
    return POSITIONS.index(position_word(obj.x, obj.y, side))


CODE_COLUMNS = ("colour", "shape", "region", "motion", "thing", "centre")


def thing(obj: SceneObject) -> int:
    """The index of the object's colour-and-shape pair (one code per pair)."""
    return list(COLOURS).index(obj.colour) * len(SHAPES) + SHAPES.index(obj.shape)


def cell_codes(objects: list[SceneObject], side: int, motion: tuple | None = None) -> np.ndarray:
    """Per visual token of one frame: one code index per CODE_COLUMNS entry; -1 where it does not apply.

    ``motion`` is ``(colour, shape, direction)`` of the object that moves in a clip. "thing"
    is the colour and shape together (one code per pair), "centre" marks the token under an
    object's centre.
    """
    codes = np.full(((side // CELL) ** 2, len(CODE_COLUMNS)), -1, dtype=np.int64)
    for obj in objects:
        moving = motion is not None and (obj.colour, obj.shape) == motion[:2]
        code = (
            list(COLOURS).index(obj.colour),
            SHAPES.index(obj.shape),
            region(obj, side),
            DIRECTIONS.index(motion[2]) if moving else -1,
            thing(obj),
            -1,
        )
        codes[covered_cells(obj, side)] = code
        codes[centre_cell(obj, side), CODE_COLUMNS.index("centre")] = 0
    return codes


def sample_codes(sample: Sample) -> np.ndarray:
    """Codes for every visual token of a sample, in the order the vision encoder emits them.

    A clip's token covers two frames (one temporal patch): it shows what either frame shows.
    """
    if sample.kind == "image":
        return cell_codes(sample.meta["objects"], sample.media.shape[0])
    side = sample.media[0].shape[0]
    event = sample.meta["event"]
    motion = (event["colour"], event["shape"], event["direction"]) if event.get("type") == "move" else None
    per_frame = sample.meta["objects_per_frame"]
    patches = []
    for first in range(0, len(per_frame) - 1, 2):
        a, b = (cell_codes(per_frame[i], side, motion) for i in (first, first + 1))
        patches.append(np.where(a >= 0, a, b))
    return np.concatenate(patches)


def placed_objects(sample: Sample) -> list[tuple[np.ndarray, SceneObject]]:
    """Each object with the visual tokens (indices among the sample's) that show it.

    A clip's temporal patch covers two frames, so an object comes once per frame that shows it.
    """
    if sample.kind == "image":
        side = sample.media.shape[0]
        return [(covered_cells(obj, side), obj) for obj in sample.meta["objects"]]
    side = sample.media[0].shape[0]
    per_patch = (side // CELL) ** 2
    per_frame = sample.meta["objects_per_frame"]
    return [
        (patch * per_patch + covered_cells(obj, side), obj)
        for patch, first in enumerate(range(0, len(per_frame) - 1, 2))
        for obj in per_frame[first] + per_frame[first + 1]
    ]


def object_cells(sample: Sample) -> list[tuple[np.ndarray, int, int, int]]:
    """Every object the vision encoder sees: (its visual tokens, shape index, direction index or -1, thing index)."""
    event = sample.meta.get("event", {})
    mover = (event["colour"], event["shape"]) if event.get("type") == "move" else None
    return [
        (
            cells,
            SHAPES.index(obj.shape),
            DIRECTIONS.index(event["direction"]) if (obj.colour, obj.shape) == mover else -1,
            thing(obj),
        )
        for cells, obj in placed_objects(sample)
    ]


def attention_cells(sample: Sample, turn: Turn) -> np.ndarray | None:
    """Visual tokens (indices among the sample's visual tokens) that show what ``turn`` asks about.

    None when the answer does not rest on one object: counts, descriptions, and "no" answers
    about something that is not there.
    """
    if turn.task in ("count", "description") or "target" not in turn.meta:
        return None
    if turn.task in ("presence", "appearance") and turn.answer != "yes":
        return None
    target = tuple(turn.meta["target"])
    hits = [cells for cells, obj in placed_objects(sample) if (obj.colour, obj.shape) == target]
    if not hits:
        return None
    hits = np.concatenate(hits)
    return hits if sample.kind == "image" else np.unique(hits)  # a clip shows an object in both frames of a patch


def counted_cells(sample: Sample, turn: Turn) -> np.ndarray:
    """The centre token of every object a count question counts (empty for "0")."""
    side = sample.media.shape[0]
    return np.array(
        [centre_cell(obj, side) for obj in sample.meta["objects"] if counted(obj, turn.meta["target"])],
        dtype=np.int64,
    )
