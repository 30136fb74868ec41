"""The synthetic scenes and questions behind trio-tiny: reproducible, truthful, and scored fairly."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from trio_model_tiny.questions import (
    EVAL_SEED,
    POPE_TYPES,
    TASKS,
    TRAIN_SEED_BASE,
    Sample,
    corpus,
    dataset,
    describe,
    follow_ups,
    is_correct,
    make_sample,
    normalise,
    parse_description,
    sample_rng,
)
from trio_model_tiny.scenes import (
    ALL_OBJECTS,
    COLOURS,
    DIRECTIONS,
    OBJECT_WEIGHTS,
    POSITIONS,
    SHAPES,
    SceneObject,
    appearing_clip,
    draw_scene,
    make_background,
    moving_clip,
    position_word,
    random_scene,
    static_clip,
)

SMALL = {"image_size": 224, "clip_size": 112, "clip_frames": 6}


def colour_mask(image: np.ndarray, colour: str) -> np.ndarray:
    """Pixels within 60 (RGB distance) of one palette colour."""
    diff = image.astype(np.int32) - np.array(COLOURS[colour])
    return (diff * diff).sum(axis=-1) < 60 * 60


def centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def samples(task: str, n: int, seed: int = EVAL_SEED) -> list[Sample]:
    return [make_sample(task, sample_rng(seed, i), **SMALL) for i in range(n)]


def names(objects: list[SceneObject]) -> set[tuple[str, str]]:
    return {(o.colour, o.shape) for o in objects}


# --- reproducibility ---------------------------------------------------------------------


def test_same_seed_gives_identical_samples():
    first = list(dataset(EVAL_SEED, len(TASKS), **SMALL))
    second = list(dataset(EVAL_SEED, len(TASKS), **SMALL))
    for a, b in zip(first, second, strict=True):
        assert (a.task, a.question, a.answer, a.kind, a.fps) == (b.task, b.question, b.answer, b.kind, b.fps)
        assert all(np.array_equal(x, y) for x, y in zip(np.atleast_1d(a.media), np.atleast_1d(b.media), strict=True))


def test_dataset_interleaves_tasks_and_can_resume_anywhere():
    whole = list(dataset(TRAIN_SEED_BASE, 9, **SMALL))
    assert [s.task for s in whole] == [TASKS[i % len(TASKS)] for i in range(9)]
    tail = list(dataset(TRAIN_SEED_BASE, 3, start=6, **SMALL))
    assert [(s.question, s.answer) for s in tail] == [(s.question, s.answer) for s in whole[6:]]


def test_training_and_evaluation_streams_never_share_a_seed():
    assert TRAIN_SEED_BASE != EVAL_SEED
    train = [sample_rng(TRAIN_SEED_BASE, i).integers(2**63) for i in range(50)]
    held_out = [sample_rng(EVAL_SEED, i).integers(2**63) for i in range(50)]
    assert not set(train) & set(held_out)
    a = make_sample("description", sample_rng(TRAIN_SEED_BASE, 0), **SMALL)
    b = make_sample("description", sample_rng(EVAL_SEED, 0), **SMALL)
    assert not np.array_equal(a.media, b.media)


def test_generation_uses_only_the_given_generator():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    make_sample("presence", np.random.default_rng(1), **SMALL)
    make_sample("motion", np.random.default_rng(1), **SMALL)
    assert np.array_equal(np.random.get_state()[1], before)


# --- drawing -----------------------------------------------------------------------------


def test_palette_colours_are_far_apart_and_far_from_every_grey():
    for a, b in itertools.combinations(COLOURS.values(), 2):
        assert math.dist(a, b) >= 100
    for rgb in COLOURS.values():
        assert min(math.dist(rgb, (g, g, g)) for g in range(256)) >= 70


def test_backgrounds_and_clutter_never_look_like_a_palette_colour():
    for seed in range(10):
        rng = np.random.default_rng(seed)
        image = draw_scene([], 224, rng, noise=8.0)
        assert image.shape == (224, 224, 3) and image.dtype == np.uint8
        for colour in COLOURS:
            assert colour_mask(image, colour).sum() == 0


def test_every_shape_and_colour_is_drawn_at_its_centre():
    rng = np.random.default_rng(0)
    background = make_background(rng, 224)
    for shape, colour in itertools.product(SHAPES, COLOURS):
        obj = SceneObject(shape, colour, "medium", 100.0, 120.0, 18.0)
        image = draw_scene([obj], 224, rng, background=background, noise=0)
        assert tuple(image[120, 100]) == COLOURS[colour]
        mask = colour_mask(image, colour)
        cx, cy = centroid(mask)
        assert abs(cx - 100) < 3 and abs(cy - 120) < 7  # a triangle's pixels sit low in its circle
        ys, xs = np.nonzero(mask)
        assert xs.min() >= 100 - 19 and xs.max() <= 100 + 19 and ys.min() >= 120 - 19 and ys.max() <= 120 + 19


def test_random_scenes_keep_objects_inside_and_apart():
    rng = np.random.default_rng(5)
    counts = Counter()
    for _ in range(60):
        image, objects = random_scene(rng, size=224)
        counts[len(objects)] += 1
        assert image.shape == (224, 224, 3)
        for o in objects:
            assert o.radius <= o.x <= 224 - o.radius and o.radius <= o.y <= 224 - o.radius
            assert tuple(image[int(o.y), int(o.x)]) != (0, 0, 0)
            assert colour_mask(image[int(o.y) - 1 : int(o.y) + 2, int(o.x) - 1 : int(o.x) + 2], o.colour).all()
        for a, b in itertools.combinations(objects, 2):
            assert math.hypot(a.x - b.x, a.y - b.y) > a.radius + b.radius
    assert set(counts) == {0, 1, 2, 3, 4}


def test_position_words_follow_the_three_by_three_grid():
    assert position_word(10, 10, 300) == "top left"
    assert position_word(150, 10, 300) == "top"
    assert position_word(290, 10, 300) == "top right"
    assert position_word(10, 150, 300) == "left"
    assert position_word(150, 150, 300) == "center"
    assert position_word(290, 150, 300) == "right"
    assert position_word(10, 290, 300) == "bottom left"
    assert position_word(150, 299.9, 300) == "bottom"
    assert position_word(299.9, 299.9, 300) == "bottom right"


# --- clips -------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_moving_clip_moves_its_object_the_stated_way(direction):
    clip = moving_clip(np.random.default_rng(DIRECTIONS.index(direction)), direction, frames=8, size=160)
    assert len(clip.frames) == 8 and clip.fps > 0
    mover = clip.event["colour"]
    x0, y0 = centroid(colour_mask(clip.frames[0], mover))
    x1, y1 = centroid(colour_mask(clip.frames[-1], mover))
    dx, dy = x1 - x0, y1 - y0
    along, across = {"left": (-dx, dy), "right": (dx, dy), "up": (-dy, dx), "down": (dy, dx)}[direction]
    assert along >= 0.4 * 160 and abs(across) < 3
    # the others stand still and never share the mover's colour
    statics = [o for o in clip.objects_per_frame[0] if o.colour != mover]
    assert len(statics) == len(clip.objects_per_frame[0]) - 1
    assert all(frame[1:] == statics for frame in clip.objects_per_frame)


@pytest.mark.parametrize("event", ["appear", "disappear", "none"])
def test_appearing_clip_event_matches_the_frames(event):
    clip = appearing_clip(np.random.default_rng(7), frames=8, size=112, event=event)
    assert clip.event["type"] == event
    if event == "none":
        assert all(objs == clip.objects_per_frame[0] for objs in clip.objects_per_frame)
        return
    colour, change = clip.event["colour"], clip.event["frame"]
    assert 2 <= change <= 6
    visible = [colour_mask(frame, colour).sum() > 20 for frame in clip.frames]
    assert visible == [(t >= change) == (event == "appear") for t in range(8)]


def test_static_clip_changes_only_its_noise():
    clip = static_clip(np.random.default_rng(3), frames=4, size=64, count=2)
    assert clip.event == {"type": "none"}
    first = clip.frames[0].astype(int)
    assert all(np.abs(frame.astype(int) - first).mean() < 12 for frame in clip.frames)


# --- questions ---------------------------------------------------------------------------


def test_presence_negatives_are_pope_style():
    seen = Counter()
    for s in samples("presence", 90):
        present = names(s.meta["objects"])
        target = s.meta["target"]
        seen[(s.meta["pope"], s.answer)] += 1
        assert s.question.startswith(("Is there", "Can you see", "Does the image"))
        assert " ".join(target) in s.question
        if s.answer == "yes":
            assert target in present
            continue
        assert target not in present
        if s.meta["pope"] == "adversarial":
            assert any(target[0] == c or target[1] == sh for c, sh in present)
        if s.meta["pope"] == "popular":
            assert OBJECT_WEIGHTS[target] == max(OBJECT_WEIGHTS[o] for o in ALL_OBJECTS if o not in present)
    assert {p for p, _ in seen} == set(POPE_TYPES) and {a for _, a in seen} == {"yes", "no"}


def test_colour_questions_ask_about_the_only_object_of_that_shape():
    for s in samples("colour", 20):
        colour, shape = s.meta["target"]
        assert [o.colour for o in s.meta["objects"] if o.shape == shape] == [s.answer] == [colour]


def test_count_answers_are_true_and_cover_zero_to_four():
    answers = Counter()
    for s in samples("count", 60):
        colour, shape = s.meta["target"]
        true = sum(
            (colour is None or o.colour == colour) and (shape is None or o.shape == shape) for o in s.meta["objects"]
        )
        assert s.answer == str(true)
        answers[s.answer] += 1
    assert set(answers) == {"0", "1", "2", "3", "4"}


def test_position_answers_match_the_objects_centre():
    answers = set()
    for s in samples("position", 45):
        matches = [o for o in s.meta["objects"] if (o.colour, o.shape) == s.meta["target"]]
        assert len(matches) == 1
        x, y = matches[0].x, matches[0].y
        col, row = min(int(3 * x / 224), 2), min(int(3 * y / 224), 2)
        assert s.answer == POSITIONS[3 * row + col]
        answers.add(s.answer)
    assert len(answers) >= 7


def test_motion_questions_are_video_and_name_the_mover():
    for s in samples("motion", 8):
        assert s.kind == "video" and len(s.media) == SMALL["clip_frames"] and s.fps > 0
        assert s.answer == s.meta["event"]["direction"] and s.answer in DIRECTIONS
        assert f"{s.meta['event']['colour']} {s.meta['event']['shape']}" in s.question


def test_appearance_answers_agree_with_the_frames():
    kinds = set()
    for s in samples("appearance", 40):
        frames = [names(objs) for objs in s.meta["objects_per_frame"]]
        target = s.meta["target"]
        appeared = target not in frames[0] and target in frames[-1]
        assert s.answer == ("yes" if appeared else "no")
        kinds.add(s.meta["negative"])
    assert kinds == {None, "nothing", "other", "static", "disappeared"}


# --- scoring -----------------------------------------------------------------------------


def short(task: str, answer: str) -> Sample:
    return Sample(task, "?", answer, np.zeros((1, 1, 3), np.uint8), "image")


def test_scoring_forgives_form_but_not_content():
    assert is_correct(short("presence", "yes"), "Yes.")
    assert not is_correct(short("presence", "yes"), "No.")
    assert is_correct(short("count", "3"), "Three")
    assert is_correct(short("count", "0"), "none")
    assert not is_correct(short("count", "3"), "There are 3.")  # strict: the short answer only
    assert is_correct(short("position", "top left"), "The top-left.")
    assert is_correct(short("position", "center"), "Centre")
    assert is_correct(short("colour", "orange"), "  Orange!")
    assert not is_correct(short("colour", "orange"), "red")
    assert normalise("What COLOR is the star?") == "what colour is star"


def test_descriptions_round_trip_and_are_scored_by_content():
    objs = [
        SceneObject("star", "green", "small", 0, 0, 1),
        SceneObject("triangle", "yellow", "small", 0, 0, 1),
        SceneObject("star", "green", "large", 0, 0, 1),
    ]
    assert describe(objs) == "two green stars and a yellow triangle"
    assert describe([SceneObject("square", "orange", "small", 0, 0, 1)]) == "an orange square"
    assert describe([]) == "nothing"
    truth = Sample("description", "?", describe(objs), np.zeros((1, 1, 3), np.uint8), "image")
    assert is_correct(truth, "A yellow triangle, 2 green stars.")
    assert not is_correct(truth, "a green star and a yellow triangle")
    assert not is_correct(truth, "nothing")
    empty = Sample("description", "?", "nothing", np.zeros((1, 1, 3), np.uint8), "image")
    assert is_correct(empty, "Nothing.") and not is_correct(empty, "") and not is_correct(empty, "a red circle")
    for s in samples("description", 30):
        assert parse_description(s.answer) == Counter((o.colour, o.shape) for o in s.meta["objects"])
        assert is_correct(s, s.answer.upper() + ".")


def test_corpus_covers_every_word_of_questions_and_answers():
    vocabulary = {w for text in corpus() for w in normalise(text).split()}
    for s in dataset(EVAL_SEED, 70, **SMALL):
        assert set(normalise(s.question).split()) <= vocabulary
        assert set(normalise(s.answer).split()) <= vocabulary


def test_full_size_generation_runs():
    # Speed sanity only (no timing asserts): 50 samples at the default sizes.
    made = list(dataset(TRAIN_SEED_BASE, 50))
    assert made[0].media.shape == (448, 448, 3)
    assert made[4].kind == "video" and made[4].media[0].shape == (224, 224, 3) and len(made[4].media) == 8


def _names(objects):
    return [(obj.colour, obj.shape) for obj in objects]


def test_follow_up_questions_are_new_and_answered_by_the_same_scene():
    seen_tasks = Counter()
    for i in range(140):
        rng = sample_rng(TRAIN_SEED_BASE, i)
        sample = make_sample(TASKS[i % len(TASKS)], rng, image_size=224)
        extra = follow_ups(sample, rng, 3)
        questions = [sample.question] + [question for _, question, _, _ in extra]
        assert extra and len(set(questions)) == len(questions)
        for task, question, answer, meta in extra:
            seen_tasks[task] += 1
            if sample.kind == "video":
                first, last = _names(sample.meta["objects_per_frame"][0]), _names(sample.meta["objects_per_frame"][-1])
                target = tuple(meta["target"])
                assert answer == ("yes" if target not in first and target in last else "no"), question
                continue
            objects, side = sample.meta["objects"], sample.media.shape[0]
            if task == "presence":
                assert (answer == "yes") == (tuple(meta["target"]) in _names(objects)), question
            elif task == "count":
                colour, shape = meta["target"]
                matching = [o for o in objects if colour in (None, o.colour) and shape in (None, o.shape)]
                assert answer == str(len(matching)), question
            elif task == "colour":
                (only,) = [o for o in objects if o.shape == meta["target"][1]]
                assert answer == only.colour, question
            elif task == "position":
                (only,) = [o for o in objects if (o.colour, o.shape) == tuple(meta["target"])]
                assert answer == position_word(only.x, only.y, side), question
            else:
                assert answer == describe(objects)
    assert set(seen_tasks) == {"presence", "count", "colour", "position", "description", "appearance"}


def test_clip_presence_follow_ups_say_yes_when_some_frame_shows_the_object():
    answers = Counter()
    for i in range(60):
        rng = sample_rng(TRAIN_SEED_BASE, i)
        sample = make_sample(("motion", "appearance")[i % 2], rng)
        for task, question, answer, meta in follow_ups(sample, rng, 2, clip_tasks=("appearance", "presence")):
            if task != "presence":
                continue
            shown = {name for objects in sample.meta["objects_per_frame"] for name in _names(objects)}
            assert answer == ("yes" if tuple(meta["target"]) in shown else "no"), question
            answers[answer, meta["pope"]] += 1
    assert answers["yes", "positive"] and {pope for _, pope in answers if pope != "positive"} == {
        "random",
        "popular",
        "adversarial",
    }
    # Without "presence", clips get appearance follow-ups only, as the earlier training stages had.
    sample = make_sample("motion", sample_rng(TRAIN_SEED_BASE, 0))
    assert {task for task, *_ in follow_ups(sample, sample_rng(TRAIN_SEED_BASE, 1), 8)} == {"appearance"}
