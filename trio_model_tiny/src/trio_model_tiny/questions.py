"""Questions and answers about synthetic scenes: the training data and the benchmark for trio-tiny.

Seven tasks, each a plain English question with a short canonical answer:

    presence     "Is there a red circle?"                 -> "yes" / "no"   (POPE-style negatives)
    colour       "What colour is the triangle?"           -> "green"
    count        "How many circles are there?"            -> "0" .. "4"
    position     "Where is the green star?"               -> "top left" ... "bottom right"
    motion       "Which way does the red square move?"    -> "left" / "right" / "up" / "down"   (video)
    appearance   "Did a blue circle appear?"              -> "yes" / "no"                       (video)
    description  "Describe the image."                    -> "two green stars and a yellow triangle"

Seeds. Sample i of `dataset(seed, ...)` is drawn from `np.random.default_rng([seed, i])`.
Training uses `seed=TRAIN_SEED_BASE` only (varying the index: `sample_rng(TRAIN_SEED_BASE, step)`),
evaluation uses `seed=EVAL_SEED` only (and training watches its progress on `VALIDATION_SEED`). The two SeedSequence entropy lists differ in their first
word, so the streams never coincide and no evaluation scene is ever a training scene.

Scoring (`is_correct`) is strict but forgiving of form: case, punctuation, articles ("the",
"a", "an"), "color"/"colour", "centre"/"center", hyphens ("top-left") and the number words
zero/none/one..four are normalised away, then the answer must match exactly. So "Yes." and
"Three" are right, but "There are 3." is wrong: the model is trained to give the short answer.
Descriptions are scored by content: the multiset of (colour, shape) they name must equal the
scene's, in any order and phrasing ("a blue square and a red circle", "1 red circle, 1 blue square").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from trio_model_tiny.scenes import (
    ALL_OBJECTS,
    COLOURS,
    DIRECTIONS,
    OBJECT_WEIGHTS,
    POSITIONS,
    SHAPES,
    SIZES,
    SceneObject,
    appearing_clip,
    draw_scene,
    moving_clip,
    place_objects,
    position_word,
    random_scene,
    random_specs,
)

TASKS = ("presence", "colour", "count", "position", "motion", "appearance", "description")
VIDEO_TASKS = ("motion", "appearance")
POPE_TYPES = ("random", "popular", "adversarial")

TRAIN_SEED_BASE = 0
EVAL_SEED = 1_000_003
VALIDATION_SEED = 2_000_003  # watched during training; neither trained on nor the benchmark

MAX_OBJECTS = 4
COUNT_WORDS = ("one", "two", "three", "four")
NOTHING = "nothing"

PRESENCE_QUESTIONS = (
    "Is there {a_obj}?",
    "Is there {a_obj} in the image?",
    "Can you see {a_obj}?",
    "Does the image contain {a_obj}?",
)
COLOUR_QUESTIONS = (
    "What colour is the {shape}?",
    "What color is the {shape}?",
    "Which colour is the {shape}?",
    "What is the colour of the {shape}?",
)
COUNT_QUESTIONS = {
    "shape": ("How many {shapes} are there?", "How many {shapes} are in the image?", "Count the {shapes}."),
    "colour": (
        "How many {colour} objects are there?",
        "How many {colour} shapes are in the image?",
        "Count the {colour} objects.",
    ),
    "both": (
        "How many {colour} {shapes} are there?",
        "How many {colour} {shapes} are in the image?",
        "Count the {colour} {shapes}.",
    ),
    "all": ("How many objects are there?", "How many shapes are in the image?", "Count the objects."),
}
POSITION_QUESTIONS = (
    "Where is the {obj}?",
    "Where is the {obj} in the image?",
    "In which part of the image is the {obj}?",
)
MOTION_QUESTIONS = (
    "Which way does the {obj} move?",
    "In which direction does the {obj} move?",
    "Which direction is the {obj} moving?",
)
APPEARANCE_QUESTIONS = ("Did {a_obj} appear?", "Does {a_obj} appear in the video?", "Did {a_obj} appear in the video?")
DESCRIPTION_QUESTIONS = (
    "Describe the image.",
    "What is in the image?",
    "What do you see?",
    "List the objects in the image.",
)

_NUMBER_WORDS = {"zero": "0", "none": "0", "one": "1", "two": "2", "three": "3", "four": "4"}
_ARTICLES = {"the", "a", "an"}
_NOTHING_ANSWERS = {"nothing", "0", "no objects", "no shapes", "nothing at all"}  # after normalise ("none" -> "0")
_PLURALS = {shape + "s": shape for shape in SHAPES}
_COUNT_VALUES = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, **{str(k): k for k in range(1, 10)}}


@dataclass
class Sample:
    """One question about one image or clip, with its canonical answer.

    `media` is an (H, W, 3) uint8 image, or a list of such frames when `kind == "video"`
    (then `fps` is their rate; 0.0 for images). `meta` says how the sample was made:
    always "objects" (image) or "objects_per_frame" and "event" (video), plus per task e.g.
    "target" (colour, shape; for count either may be None, meaning "any"), "pope" and
    "positive" (presence), "query" (count), "negative" (appearance).
    """

    task: str
    question: str
    answer: str
    media: np.ndarray | list[np.ndarray]
    kind: str
    fps: float = 0.0
    meta: dict = field(default_factory=dict)


# --- wording -------------------------------------------------------------------------------


def with_article(phrase: str) -> str:
    """The phrase with "a" or "an" before it: "a red circle", "an orange star"."""
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def describe(objects: Sequence[SceneObject]) -> str:
    """The canonical description: groups of (colour, shape), most numerous first, then in
    SHAPES and COLOURS order, e.g. "two green stars and a yellow triangle"; "nothing" if empty."""
    groups = Counter((obj.colour, obj.shape) for obj in objects)
    if not groups:
        return NOTHING
    colour_order = list(COLOURS)
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1], SHAPES.index(kv[0][1]), colour_order.index(kv[0][0])))
    parts = [
        with_article(f"{colour} {shape}") if n == 1 else f"{COUNT_WORDS[n - 1]} {colour} {shape}s"
        for (colour, shape), n in ordered
    ]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def parse_description(text: str) -> Counter:
    """The (colour, shape) multiset a description names: "two red circles and a star" counts two
    red circles (a shape without a colour, or a colour without a shape, names nothing)."""
    tokens = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    found: Counter = Counter()
    count = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _COUNT_VALUES:
            count = _COUNT_VALUES[token]
        elif token in COLOURS and i + 1 < len(tokens) and (tokens[i + 1] in SHAPES or tokens[i + 1] in _PLURALS):
            shape = _PLURALS.get(tokens[i + 1], tokens[i + 1])
            found[(token, shape)] += 1 if count is None else count
            count = None
            i += 1
        else:
            count = None
        i += 1
    return found


def normalise(text: str) -> str:
    """Lowercase; drop punctuation and articles; "color" -> "colour", "centre" -> "center";
    number words zero/none/one..four -> digits. "The top-left." -> "top left", "Three" -> "3"."""
    text = text.lower().replace("color", "colour").replace("centre", "center")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return " ".join(_NUMBER_WORDS.get(w, w) for w in words if w not in _ARTICLES)


def is_correct(sample: Sample, predicted: str) -> bool:
    """Whether `predicted` answers `sample` (see the module docstring for what is forgiven)."""
    if sample.task != "description":
        return normalise(predicted) == normalise(sample.answer)
    truth, guess = parse_description(sample.answer), parse_description(predicted)
    if truth or guess:
        return truth == guess
    return normalise(predicted) in _NOTHING_ANSWERS


# --- sampling helpers --------------------------------------------------------------------


def _pick(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def _random_object(rng: np.random.Generator) -> tuple[str, str]:
    """A (colour, shape) pair, uniformly: question targets carry no popularity prior."""
    return _pick(rng, ALL_OBJECTS)


def _random_size(rng: np.random.Generator) -> str:
    return _pick(rng, list(SIZES))


def _names(objects: Sequence[SceneObject]) -> set[tuple[str, str]]:
    return {(obj.colour, obj.shape) for obj in objects}


def lookalikes(obj: tuple[str, str]) -> list[tuple[str, str]]:
    """The pairs that share exactly one of `obj`'s colour and shape."""
    colour, shape = obj
    return [(c, shape) for c in COLOURS if c != colour] + [(colour, s) for s in SHAPES if s != shape]


def pope_negative(rng: np.random.Generator, pope: str, objects: Sequence[SceneObject]) -> tuple[str, str]:
    """A (colour, shape) absent from `objects`, chosen the POPE way.

    random: uniform over absent pairs. popular: the most frequent absent pair under
    OBJECT_WEIGHTS (ties broken at random; one of the four POPULAR_OBJECTS unless all are
    present). adversarial: shares the colour or the shape of a present object (needs one).
    """
    present = _names(objects)
    absent = [obj for obj in ALL_OBJECTS if obj not in present]
    if pope == "random":
        return _pick(rng, absent)
    if pope == "popular":
        top = max(OBJECT_WEIGHTS[obj] for obj in absent)
        return _pick(rng, [obj for obj in absent if OBJECT_WEIGHTS[obj] == top])
    if pope == "adversarial":
        if not objects:
            raise ValueError("An adversarial negative needs at least one object in the scene.")
        anchor = _pick(rng, objects)
        return _pick(rng, [obj for obj in lookalikes((anchor.colour, anchor.shape)) if obj not in present])
    raise ValueError(f"Unknown POPE type {pope!r}; use one of {', '.join(POPE_TYPES)}.")


def _image_sample(task, question, answer, image, objects, **meta) -> Sample:
    return Sample(task, question, answer, image, "image", 0.0, {"objects": list(objects), **meta})


def _video_sample(task, question, answer, clip, **meta) -> Sample:
    meta = {"objects_per_frame": clip.objects_per_frame, "event": clip.event, **meta}
    return Sample(task, question, answer, clip.frames, "video", clip.fps, meta)


# --- one sampler per task ----------------------------------------------------------------


def _presence(rng: np.random.Generator, size: int) -> Sample:
    # Every presence sample carries a POPE type, positives too, so each POPE subset is balanced.
    pope = _pick(rng, POPE_TYPES)
    positive = bool(rng.random() < 0.5)
    lowest = 1 if positive or pope == "adversarial" else 0
    image, objects = random_scene(rng, size, count=int(rng.integers(lowest, MAX_OBJECTS + 1)))
    if positive:
        anchor = _pick(rng, objects)
        target = (anchor.colour, anchor.shape)
    else:
        target = pope_negative(rng, pope, objects)
    question = _pick(rng, PRESENCE_QUESTIONS).format(a_obj=with_article(" ".join(target)))
    answer = "yes" if positive else "no"
    return _image_sample("presence", question, answer, image, objects, pope=pope, positive=positive, target=target)


def _colour(rng: np.random.Generator, size: int) -> Sample:
    colour, shape = _random_object(rng)
    specs = [(colour, shape, _random_size(rng))]
    specs += random_specs(rng, int(rng.integers(0, MAX_OBJECTS)), exclude_shapes=[shape])
    objects = place_objects(rng, [specs[i] for i in rng.permutation(len(specs))], size)
    question = _pick(rng, COLOUR_QUESTIONS).format(shape=shape)
    return _image_sample("colour", question, colour, draw_scene(objects, size, rng), objects, target=(colour, shape))


def _count(rng: np.random.Generator, size: int) -> Sample:
    query = _pick(rng, list(COUNT_QUESTIONS))
    k = int(rng.integers(0, MAX_OBJECTS + 1))
    n = k if query == "all" else int(rng.integers(k, MAX_OBJECTS + 1))
    colour, shape = _random_object(rng)
    other_colours = [c for c in COLOURS if c != colour]
    other_shapes = [s for s in SHAPES if s != shape]
    if query == "shape":
        specs = random_specs(rng, k, exclude_shapes=other_shapes) + random_specs(rng, n - k, exclude_shapes=[shape])
    elif query == "colour":
        specs = random_specs(rng, k, exclude_colours=other_colours) + random_specs(rng, n - k, exclude_colours=[colour])
    elif query == "both":
        specs = [(colour, shape, _random_size(rng)) for _ in range(k)]
        specs += random_specs(rng, n - k, exclude_objects=[(colour, shape)])
    else:
        specs = random_specs(rng, n)
    objects = place_objects(rng, [specs[i] for i in rng.permutation(len(specs))], size)
    question = _pick(rng, COUNT_QUESTIONS[query]).format(colour=colour, shapes=shape + "s")
    target = (colour if query in ("colour", "both") else None, shape if query in ("shape", "both") else None)
    image = draw_scene(objects, size, rng)
    return _image_sample("count", question, str(k), image, objects, query=query, target=target)


def _position(rng: np.random.Generator, size: int) -> Sample:
    # The target's cell is drawn first, so all nine answers are equally likely.
    colour, shape = _random_object(rng)
    cell = int(rng.integers(len(POSITIONS)))
    others = random_specs(rng, int(rng.integers(0, MAX_OBJECTS)), exclude_objects=[(colour, shape)])
    objects = place_objects(
        rng, [(colour, shape, _random_size(rng)), *others], size, cells=[cell] + [None] * len(others)
    )
    answer = position_word(objects[0].x, objects[0].y, size)
    question = _pick(rng, POSITION_QUESTIONS).format(obj=f"{colour} {shape}")
    image = draw_scene(objects, size, rng)
    return _image_sample("position", question, answer, image, objects, target=(colour, shape))


def _description(rng: np.random.Generator, size: int) -> Sample:
    # Repeat some pairs so plurals ("two red circles") are common enough to learn.
    specs = random_specs(rng, int(rng.integers(0, MAX_OBJECTS + 1)))
    for i in range(1, len(specs)):
        if rng.random() < 0.3:
            colour, shape, _ = specs[int(rng.integers(i))]
            specs[i] = (colour, shape, specs[i][2])
    objects = place_objects(rng, specs, size)
    question = _pick(rng, DESCRIPTION_QUESTIONS)
    return _image_sample("description", question, describe(objects), draw_scene(objects, size, rng), objects)


def _motion(rng: np.random.Generator, size: int, frames: int) -> Sample:
    clip = moving_clip(rng, _pick(rng, DIRECTIONS), frames=frames, size=size)
    target = (clip.event["colour"], clip.event["shape"])
    question = _pick(rng, MOTION_QUESTIONS).format(obj=" ".join(target))
    return _video_sample("motion", question, clip.event["direction"], clip, target=target)


def _appearance(rng: np.random.Generator, size: int, frames: int) -> Sample:
    # "no" covers every way of not appearing: nothing happened, something else appeared,
    # it was there all along, or it disappeared.
    negative = None if rng.random() < 0.5 else _pick(rng, ("nothing", "other", "static", "disappeared"))
    if negative is None:
        clip = appearing_clip(rng, frames, size, event="appear")
        target = (clip.event["colour"], clip.event["shape"])
    elif negative == "disappeared":
        clip = appearing_clip(rng, frames, size, event="disappear")
        target = (clip.event["colour"], clip.event["shape"])
    elif negative == "static":
        event = _pick(rng, ("appear", "disappear", "none"))
        clip = appearing_clip(rng, frames, size, event=event, count=int(rng.integers(1, MAX_OBJECTS)))
        always = set.intersection(*(_names(objs) for objs in clip.objects_per_frame))
        target = _pick(rng, sorted(always))
    else:
        clip = appearing_clip(rng, frames, size, event="none" if negative == "nothing" else "appear")
        seen = set.union(*(_names(objs) for objs in clip.objects_per_frame))
        candidates = [obj for obj in ALL_OBJECTS if obj not in seen]
        if negative == "other" and rng.random() < 0.5:  # something that looks like what did appear
            candidates = [obj for obj in lookalikes((clip.event["colour"], clip.event["shape"])) if obj not in seen]
        target = _pick(rng, candidates)
    question = _pick(rng, APPEARANCE_QUESTIONS).format(a_obj=with_article(" ".join(target)))
    answer = "yes" if negative is None else "no"
    return _video_sample("appearance", question, answer, clip, target=tuple(target), negative=negative)


def make_sample(
    task: str, rng: np.random.Generator, *, image_size: int = 448, clip_size: int = 224, clip_frames: int = 8
) -> Sample:
    """One random sample of `task` (one of TASKS), drawn entirely from `rng`."""
    if task == "motion":
        return _motion(rng, clip_size, clip_frames)
    if task == "appearance":
        return _appearance(rng, clip_size, clip_frames)
    samplers = {
        "presence": _presence,
        "colour": _colour,
        "count": _count,
        "position": _position,
        "description": _description,
    }
    if task not in samplers:
        raise ValueError(f"Unknown task {task!r}; use one of {', '.join(TASKS)}.")
    return samplers[task](rng, image_size)


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for sample `index` of the stream `seed` (TRAIN_SEED_BASE or EVAL_SEED)."""
    return np.random.default_rng([seed, index])


def dataset(
    seed: int,
    n: int,
    tasks: Sequence[str] = TASKS,
    *,
    start: int = 0,
    image_size: int = 448,
    clip_size: int = 224,
    clip_frames: int = 8,
) -> Iterator[Sample]:
    """Samples `start` .. `start + n - 1` of stream `seed`, tasks round-robin (sample i asks
    tasks[i % len(tasks)]). A generator: samples are made as they are consumed."""
    for task in tasks:
        if task not in TASKS:
            raise ValueError(f"Unknown task {task!r}; use one of {', '.join(TASKS)}.")
    for i in range(start, start + n):
        yield make_sample(
            tasks[i % len(tasks)],
            sample_rng(seed, i),
            image_size=image_size,
            clip_size=clip_size,
            clip_frames=clip_frames,
        )


def answers(task: str) -> tuple[str, ...]:
    """Every canonical answer of a short-answer task (not "description")."""
    table = {
        "presence": ("yes", "no"),
        "appearance": ("yes", "no"),
        "colour": tuple(COLOURS),
        "count": tuple(str(k) for k in range(MAX_OBJECTS + 1)),
        "position": POSITIONS,
        "motion": DIRECTIONS,
    }
    if task not in table:
        raise ValueError(f"Task {task!r} has no fixed answer set; use one of {', '.join(table)}.")
    return table[task]


def corpus() -> list[str]:
    """Every question (all phrasings, all targets), every answer and the description phrases,
    without duplicates, in a fixed order: enough text to train the tokenizer on."""
    texts: list[str] = []
    for colour, shape in ALL_OBJECTS:
        obj = f"{colour} {shape}"
        texts += [q.format(a_obj=with_article(obj)) for q in PRESENCE_QUESTIONS]
        texts += [q.format(obj=obj) for q in POSITION_QUESTIONS + MOTION_QUESTIONS]
        texts += [q.format(a_obj=with_article(obj)) for q in APPEARANCE_QUESTIONS]
        texts += [q.format(colour=colour, shapes=shape + "s") for q in COUNT_QUESTIONS["both"]]
        texts += [with_article(obj)] + [f"{word} {obj}s" for word in COUNT_WORDS[1:]]
    for shape in SHAPES:
        texts += [q.format(shape=shape) for q in COLOUR_QUESTIONS]
        texts += [q.format(shapes=shape + "s") for q in COUNT_QUESTIONS["shape"]]
    for colour in COLOURS:
        texts += [q.format(colour=colour) for q in COUNT_QUESTIONS["colour"]]
    texts += list(COUNT_QUESTIONS["all"]) + list(DESCRIPTION_QUESTIONS)
    for task in ("presence", "colour", "count", "position", "motion"):
        texts += list(answers(task))
    texts += [
        NOTHING,
        "a red circle and a blue square",
        "two green stars and a yellow triangle",
        "three purple squares, an orange circle",
        "four blue triangles",
        "a red circle, a green square, a blue triangle and a yellow star",
    ]
    return list(dict.fromkeys(texts))


# --- follow-up questions (training) ------------------------------------------------------
#
# Training asks several questions about one scene, as a multi-turn conversation: the vision
# encoder runs once and every answer teaches the model to read the same visual tokens. The
# first turn is always the task's own sample (so the benchmark's one-turn format is what the
# model sees most); follow-ups are any other question the scene answers unambiguously.
# Each follow-up is (task, question, answer, meta) with `meta` shaped like Sample.meta.

IMAGE_FOLLOW_UPS = ("presence", "count", "colour", "position", "description")


def _unique(objects: Sequence[SceneObject], key) -> list[SceneObject]:
    groups = Counter(key(obj) for obj in objects)
    return [obj for obj in objects if groups[key(obj)] == 1]


def _presence_follow_up(rng: np.random.Generator, objects: Sequence[SceneObject]):
    """Is there a ...? about `objects` (a scene's, or every frame's of a clip): half of them POPE negatives."""
    if objects and rng.random() < 0.5:
        anchor = _pick(rng, objects)
        target, answer, pope = (anchor.colour, anchor.shape), "yes", "positive"
    else:
        pope = _pick(rng, POPE_TYPES if objects else ("random", "popular"))
        target, answer = pope_negative(rng, pope, objects), "no"
    question = _pick(rng, PRESENCE_QUESTIONS).format(a_obj=with_article(" ".join(target)))
    return question, answer, {"target": target, "positive": answer == "yes", "pope": pope}


def counted(obj: SceneObject, target: tuple[str | None, str | None]) -> bool:
    """Whether a count question about ``target`` (colour or None, shape or None) counts ``obj``."""
    colour, shape = target
    return (colour is None or obj.colour == colour) and (shape is None or obj.shape == shape)


def _image_follow_up(task: str, rng: np.random.Generator, objects: Sequence[SceneObject], size: int):
    if task == "presence":
        return _presence_follow_up(rng, objects)
    if task == "count":
        query = _pick(rng, list(COUNT_QUESTIONS))
        # Mostly about something in the scene, so that most answers are not 0.
        if objects and rng.random() < 0.7:
            anchor = _pick(rng, objects)
            colour, shape = anchor.colour, anchor.shape
        else:
            colour, shape = _random_object(rng)
        target = (colour if query in ("colour", "both") else None, shape if query in ("shape", "both") else None)
        k = sum(counted(obj, target) for obj in objects)
        question = _pick(rng, COUNT_QUESTIONS[query]).format(colour=colour, shapes=shape + "s")
        return question, str(k), {"target": target, "query": query}
    if task == "colour":
        candidates = _unique(objects, lambda obj: obj.shape)
        if not candidates:
            return None
        obj = _pick(rng, candidates)
        question = _pick(rng, COLOUR_QUESTIONS).format(shape=obj.shape)
        return question, obj.colour, {"target": (obj.colour, obj.shape)}
    if task == "position":
        candidates = _unique(objects, lambda obj: (obj.colour, obj.shape))
        if not candidates:
            return None
        obj = _pick(rng, candidates)
        question = _pick(rng, POSITION_QUESTIONS).format(obj=obj.name)
        return question, position_word(obj.x, obj.y, size), {"target": (obj.colour, obj.shape)}
    if task == "description":
        return _pick(rng, DESCRIPTION_QUESTIONS), describe(objects), {}
    raise ValueError(f"Unknown follow-up task {task!r}; use one of {', '.join(IMAGE_FOLLOW_UPS)}.")


def follow_ups(
    sample: Sample, rng: np.random.Generator, count: int, clip_tasks: Sequence[str] = ("appearance",)
) -> list[tuple[str, str, str, dict]]:
    """Up to `count` more questions about `sample`'s scene or clip, as (task, question, answer, meta).

    Images get presence, count, colour, position and description questions; clips get
    "did X appear?" questions about objects that appeared, stayed, moved, vanished or were
    never there, and with "presence" among `clip_tasks` also "is there X?" (yes when some
    frame shows one). Never the sample's own question twice.
    """
    asked = {sample.question}
    found = []
    for _attempt in range(4 * count):
        if len(found) == count:
            break
        if sample.kind == "image":
            task = _pick(rng, IMAGE_FOLLOW_UPS)
            made = _image_follow_up(task, rng, sample.meta["objects"], sample.media.shape[0])
        elif len(clip_tasks) == 1 and clip_tasks[0] == "appearance":  # the draws of the stages before clip presence
            task = "appearance"
            made = _clip_follow_up(rng, sample.meta["objects_per_frame"])
        else:
            task = _pick(rng, clip_tasks)
            frames = sample.meta["objects_per_frame"]
            if task == "presence":
                made = _presence_follow_up(rng, [obj for objects in frames for obj in objects])
            elif task == "appearance":
                made = _clip_follow_up(rng, frames)
            else:
                raise ValueError(f"Unknown clip follow-up task {task!r}; use appearance or presence.")
        if made is None or made[0] in asked:
            continue
        asked.add(made[0])
        found.append((task, *made))
    return found


def _clip_follow_up(rng: np.random.Generator, objects_per_frame: Sequence[Sequence[SceneObject]]):
    first, last = _names(objects_per_frame[0]), _names(objects_per_frame[-1])
    seen = set.union(*(_names(objs) for objs in objects_per_frame))
    if seen and rng.random() < 0.7:
        target = _pick(rng, sorted(seen))
    else:
        target = _pick(rng, [obj for obj in ALL_OBJECTS if obj not in seen])
    appeared = target not in first and target in last
    question = _pick(rng, APPEARANCE_QUESTIONS).format(a_obj=with_article(" ".join(target)))
    return question, "yes" if appeared else "no", {"target": target}
