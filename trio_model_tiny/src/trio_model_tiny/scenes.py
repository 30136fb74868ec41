"""Synthetic scenes for trio-tiny: coloured shapes on grey backgrounds, as images and short clips.

Everything here is drawn with numpy and Pillow from a `numpy.random.Generator` that the caller
passes in, so a seed fully decides a scene and nothing touches global random state. The
questions about these scenes (and their answers) live in `trio_model_tiny.questions`.

Geometry: `SceneObject.x, y` is the object's centre in pixels and `radius` the radius of a
circle that contains the whole shape. Objects never overlap (their circles keep a margin
apart) and always lie fully inside the image.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star")

# Saturated colours, every pair >= 105 apart in RGB and >= 110 from every grey, so a
# colour mask (distance < ~60) finds exactly one colour even under noise and gradients.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (210, 30, 35),
    "green": (25, 170, 45),
    "blue": (35, 85, 225),
    "yellow": (240, 230, 30),
    "purple": (150, 40, 200),
    "orange": (255, 130, 0),
}

# Object diameter as a fraction of the image side.
SIZES: dict[str, float] = {"small": 0.10, "medium": 0.16, "large": 0.24}

# The 3x3 grid of the image, row by row; an object's position word is its centre's cell.
POSITIONS = (
    "top left",
    "top",
    "top right",
    "left",
    "center",
    "right",
    "bottom left",
    "bottom",
    "bottom right",
)

DIRECTIONS = ("left", "right", "up", "down")

# random_scene draws these colour/shape pairs three times as often as the other twenty, so
# "popular" POPE negatives (questions about frequent but absent objects) mean something.
POPULAR_OBJECTS: tuple[tuple[str, str], ...] = (
    ("red", "circle"),
    ("blue", "square"),
    ("green", "triangle"),
    ("yellow", "star"),
)
OBJECT_WEIGHTS: dict[tuple[str, str], float] = {
    (colour, shape): 3.0 if (colour, shape) in POPULAR_OBJECTS else 1.0 for shape in SHAPES for colour in COLOURS
}
ALL_OBJECTS: tuple[tuple[str, str], ...] = tuple(OBJECT_WEIGHTS)

MAX_NOISE = 8.0  # Gaussian pixel noise sigma, in 0..255 units
DEFAULT_FPS = 4.0

_MARGIN = 0.03  # gap between objects, fraction of the side
_GRID_CLEARANCE = 0.04  # keep centres this far from the 3x3 grid lines so position words are unambiguous
_STAR_INNER = 0.45

# Gaussian noise through a 256-entry quantile table indexed by random bytes: ~5x faster than
# standard_normal and indistinguishable once rounded to uint8.
_GAUSS_QUANTILES = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], dtype=np.float32)


@dataclass
class SceneObject:
    """One coloured shape; `x, y` is its centre and `radius` bounds the whole shape (pixels)."""

    shape: str
    colour: str
    size: str
    x: float
    y: float
    radius: float

    @property
    def name(self) -> str:
        """The object as the questions say it, e.g. "red circle"."""
        return f"{self.colour} {self.shape}"


@dataclass
class Clip:
    """A short video: frames, their rate, which objects each frame shows, and what happened.

    `event` is {"type": "move", "direction", "colour", "shape", "distance"},
    {"type": "appear" | "disappear", "colour", "shape", "frame"} where "frame" is the first frame
    in which the object is present (appear) or gone (disappear), or {"type": "none"}.
    """

    frames: list[np.ndarray]
    fps: float
    objects_per_frame: list[list[SceneObject]]
    event: dict = field(default_factory=dict)


def position_word(x: float, y: float, size: int) -> str:
    """The 3x3-grid word ("top left" ... "bottom right") for a point in a `size`-pixel image."""
    col = min(max(int(x * 3 // size), 0), 2)
    row = min(max(int(y * 3 // size), 0), 2)
    return POSITIONS[row * 3 + col]


def object_radius(size_name: str, image_size: int) -> float:
    """Bounding radius in pixels of an object of size `size_name` in a `image_size` image."""
    return SIZES[size_name] * image_size / 2


def random_specs(
    rng: np.random.Generator,
    count: int,
    *,
    exclude_colours: Sequence[str] = (),
    exclude_objects: Sequence[tuple[str, str]] = (),
    exclude_shapes: Sequence[str] = (),
) -> list[tuple[str, str, str]]:
    """`count` random (colour, shape, size) triples drawn with `OBJECT_WEIGHTS`, minus exclusions."""
    pool = [
        obj
        for obj in ALL_OBJECTS
        if obj[0] not in exclude_colours and obj[1] not in exclude_shapes and obj not in exclude_objects
    ]
    weights = np.array([OBJECT_WEIGHTS[obj] for obj in pool])
    picks = rng.choice(len(pool), size=count, p=weights / weights.sum())
    size_names = list(SIZES)
    return [(*pool[i], size_names[rng.integers(len(size_names))]) for i in picks]


def _clear_of_grid(v: float, size: int) -> bool:
    clearance = _GRID_CLEARANCE * size
    return all(abs(v - line) >= clearance for line in (size / 3, 2 * size / 3))


def _segment_distance(px: float, py: float, seg: tuple[float, float, float, float]) -> float:
    x0, y0, x1, y1 = seg
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else min(max(((px - x0) * dx + (py - y0) * dy) / length2, 0.0), 1.0)
    return math.hypot(px - (x0 + t * dx), py - (y0 + t * dy))


def place_objects(
    rng: np.random.Generator,
    specs: Sequence[tuple[str, str, str]],
    size: int,
    *,
    cells: Sequence[int | None] | None = None,
    avoid: Sequence[tuple[float, float, float, float, float]] = (),
    clear_positions: bool = True,
) -> list[SceneObject]:
    """Lay out (colour, shape, size) specs without overlaps, fully inside a `size` image.

    `cells[i]` pins object i's centre to one cell of the 3x3 grid (index into POSITIONS).
    `avoid` holds capsules (x0, y0, x1, y1, radius), e.g. the path of a moving object.
    With `clear_positions` no centre lies near a grid line, so position words are unambiguous.
    """
    margin = _MARGIN * size
    clearance = _GRID_CLEARANCE * size if clear_positions else 0.0
    for _attempt in range(100):
        placed: list[SceneObject] = []
        for i, (colour, shape, size_name) in enumerate(specs):
            radius = object_radius(size_name, size)
            lo_x = lo_y = radius + 1
            hi_x = hi_y = size - radius - 1
            cell = cells[i] if cells is not None else None
            if cell is not None:
                row, col = divmod(cell, 3)
                lo_x, hi_x = max(lo_x, col * size / 3 + clearance), min(hi_x, (col + 1) * size / 3 - clearance)
                lo_y, hi_y = max(lo_y, row * size / 3 + clearance), min(hi_y, (row + 1) * size / 3 - clearance)
            for _try in range(200):
                x, y = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)
                if clear_positions and not (_clear_of_grid(x, size) and _clear_of_grid(y, size)):
                    continue
                if any(math.hypot(x - o.x, y - o.y) < radius + o.radius + margin for o in placed):
                    continue
                if any(_segment_distance(x, y, cap[:4]) < radius + cap[4] + margin for cap in avoid):
                    continue
                placed.append(SceneObject(shape, colour, size_name, float(x), float(y), float(radius)))
                break
            else:
                break  # this layout painted itself into a corner: start again
        if len(placed) == len(specs):
            return placed
    raise RuntimeError(f"Could not place {len(specs)} objects in a {size}px image; use fewer or smaller objects.")


def make_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A light or dark grey background with a random tint, a mild gradient and grey clutter. (H, W, 3) uint8."""
    light = rng.random() < 0.5
    base = rng.uniform(170, 220) if light else rng.uniform(35, 70)
    tint = rng.uniform(-8, 8, size=3).astype(np.float32)
    amplitude = rng.uniform(0, 24)
    theta = rng.uniform(0, 2 * math.pi)
    # A linear gradient is separable: pixel = across[x] + down[y]; int16 keeps it cheap. Stays in 0..255.
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    across = np.round(base + tint[None, :] + amplitude * math.cos(theta) * ramp[:, None]).astype(np.int16)  # (W, 3)
    down = np.round(amplitude * math.sin(theta) * ramp).astype(np.int16)  # (H,)
    image = Image.fromarray((across[None, :, :] + down[:, None, None]).astype(np.uint8))  # (H, W, 3)

    # Clutter is thin and strictly grey (R = G = B), so it never looks like a coloured shape.
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(0, 5)):
        grey = int(base + (-1 if light else 1) * rng.uniform(40, 80))
        x0, y0, x1, y1 = rng.uniform(0, size, 4)
        draw.line((x0, y0, x1, y1), fill=(grey, grey, grey), width=1)
    for _ in range(rng.integers(0, 12)):
        grey = int(base + (-1 if light else 1) * rng.uniform(40, 80))
        x, y = rng.uniform(0, size, 2)
        r = rng.uniform(0.5, 2.0)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(grey, grey, grey))
    return np.asarray(image)


def _shape_points(shape: str, x: float, y: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        h = r / math.sqrt(2)
        return [(x - h, y - h), (x + h, y - h), (x + h, y + h), (x - h, y + h)]
    if shape == "triangle":  # equilateral, pointing up; its centroid is (x, y)
        return [(x + r * math.cos(a), y + r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    if shape == "star":  # five points, inner radius _STAR_INNER * r
        return [
            (x + rr * math.cos(a), y + rr * math.sin(a))
            for k in range(10)
            for a, rr in [(-math.pi / 2 + k * math.pi / 5, r if k % 2 == 0 else _STAR_INNER * r)]
        ]
    raise ValueError(f"Unknown shape {shape!r}; use one of {', '.join(SHAPES)}.")


def _draw_objects(image: Image.Image, objects: Sequence[SceneObject]) -> None:
    draw = ImageDraw.Draw(image)
    for obj in objects:
        fill = COLOURS[obj.colour]
        if obj.shape == "circle":
            draw.ellipse((obj.x - obj.radius, obj.y - obj.radius, obj.x + obj.radius, obj.y + obj.radius), fill=fill)
        else:
            draw.polygon(_shape_points(obj.shape, obj.x, obj.y, obj.radius), fill=fill)


def add_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """`image` plus Gaussian pixel noise of standard deviation `sigma` (0..255 units), clipped to uint8."""
    if sigma <= 0:
        return image
    table = np.round(sigma * _GAUSS_QUANTILES).astype(np.int16)
    noisy = np.take(table, np.frombuffer(rng.bytes(image.size), dtype=np.uint8)).reshape(image.shape)
    noisy += image
    np.clip(noisy, 0, 255, out=noisy)
    return noisy.astype(np.uint8)


def draw_scene(
    objects: Sequence[SceneObject],
    size: int,
    rng: np.random.Generator,
    *,
    background: np.ndarray | None = None,
    noise: float | None = None,
) -> np.ndarray:
    """Draw `objects` on `background` (default: a fresh `make_background`) and add noise.

    `noise` is the Gaussian sigma in 0..255 units; None draws one uniformly in [0, MAX_NOISE].
    Returns (size, size, 3) uint8.
    """
    if background is None:
        background = make_background(rng, size)
    if background.shape != (size, size, 3):
        raise ValueError(f"Background has shape {background.shape}; expected ({size}, {size}, 3).")
    if noise is None:
        noise = rng.uniform(0, MAX_NOISE)
    image = Image.fromarray(background)
    _draw_objects(image, objects)
    return add_noise(np.asarray(image), rng, noise)


def random_scene(
    rng: np.random.Generator, size: int = 448, count: int | None = None
) -> tuple[np.ndarray, list[SceneObject]]:
    """A random image with `count` objects (default: 0 to 4, uniformly) and the objects drawn in it."""
    if count is None:
        count = int(rng.integers(0, 5))
    objects = place_objects(rng, random_specs(rng, count), size)
    return draw_scene(objects, size, rng), objects


def _render_clip(
    rng: np.random.Generator, objects_per_frame: list[list[SceneObject]], size: int, fps: float, event: dict
) -> Clip:
    # Background and noise level are fixed for the clip; only the noise pattern changes per frame.
    background = make_background(rng, size)
    sigma = rng.uniform(0, MAX_NOISE)
    frames = [draw_scene(objs, size, rng, background=background, noise=sigma) for objs in objects_per_frame]
    return Clip(frames=frames, fps=fps, objects_per_frame=objects_per_frame, event=event)


def moving_clip(
    rng: np.random.Generator,
    direction: str | None = None,
    frames: int = 8,
    size: int = 224,
    *,
    fps: float = DEFAULT_FPS,
) -> Clip:
    """One object glides left/right/up/down over 45-70% of the side; 0-2 others stand still.

    The static objects never share the moving object's colour and stay clear of its path.
    """
    if direction is None:
        direction = DIRECTIONS[rng.integers(len(DIRECTIONS))]
    if direction not in DIRECTIONS:
        raise ValueError(f"Unknown direction {direction!r}; use one of {', '.join(DIRECTIONS)}.")
    colour, shape = ALL_OBJECTS[rng.integers(len(ALL_OBJECTS))]
    size_name = list(SIZES)[rng.integers(len(SIZES))]
    radius = object_radius(size_name, size)
    lo, hi = radius + 1, size - radius - 1
    distance = min(rng.uniform(0.45, 0.7) * size, hi - lo)
    start = rng.uniform(lo, hi - distance)
    across = rng.uniform(lo, hi)
    sign = 1 if direction in ("right", "down") else -1
    begin, end = (start, start + distance) if sign > 0 else (start + distance, start)
    if direction in ("left", "right"):
        path = [(begin + (end - begin) * t / max(frames - 1, 1), across) for t in range(frames)]
    else:
        path = [(across, begin + (end - begin) * t / max(frames - 1, 1)) for t in range(frames)]

    capsule = (*path[0], *path[-1], radius)
    others = place_objects(
        rng, random_specs(rng, int(rng.integers(0, 3)), exclude_colours=[colour]), size, avoid=[capsule]
    )
    mover = SceneObject(shape, colour, size_name, path[0][0], path[0][1], radius)
    objects_per_frame = [[dataclasses.replace(mover, x=float(x), y=float(y)), *others] for x, y in path]
    event = {"type": "move", "direction": direction, "colour": colour, "shape": shape, "distance": float(distance)}
    return _render_clip(rng, objects_per_frame, size, fps, event)


def static_clip(
    rng: np.random.Generator,
    frames: int = 8,
    size: int = 224,
    *,
    count: int | None = None,
    fps: float = DEFAULT_FPS,
) -> Clip:
    """A clip in which nothing happens: `count` (default 0-4) objects stand still."""
    if count is None:
        count = int(rng.integers(0, 5))
    objects = place_objects(rng, random_specs(rng, count), size)
    return _render_clip(rng, [list(objects) for _ in range(frames)], size, fps, {"type": "none"})


def appearing_clip(
    rng: np.random.Generator,
    frames: int = 8,
    size: int = 224,
    *,
    event: str | None = None,
    count: int | None = None,
    fps: float = DEFAULT_FPS,
) -> Clip:
    """An object appears partway through, or disappears, or nothing changes (`event`: "appear",
    "disappear", "none"; default random). `count` static objects (default 0-3) stay throughout.

    The appearing/disappearing object's colour is unique in the clip, and it is present (or
    absent) for at least two frames on each side of the change.
    """
    if event is None:
        event = ("appear", "disappear", "none")[rng.integers(3)]
    if event == "none":
        return static_clip(rng, frames, size, count=count, fps=fps)
    if event not in ("appear", "disappear"):
        raise ValueError(f"Unknown event {event!r}; use 'appear', 'disappear' or 'none'.")
    if frames < 4:
        raise ValueError(f"An {event} clip needs at least 4 frames, got {frames}.")
    if count is None:
        count = int(rng.integers(0, 4))
    colour, shape = ALL_OBJECTS[rng.integers(len(ALL_OBJECTS))]
    size_name = list(SIZES)[rng.integers(len(SIZES))]
    specs = [(colour, shape, size_name), *random_specs(rng, count, exclude_colours=[colour])]
    target, *others = place_objects(rng, specs, size)
    change = int(rng.integers(2, frames - 1))  # first frame after the change
    objects_per_frame = [
        [target, *others] if (t >= change) == (event == "appear") else list(others) for t in range(frames)
    ]
    info = {"type": event, "colour": colour, "shape": shape, "frame": change}
    return _render_clip(rng, objects_per_frame, size, fps, info)
