"""The bundled trio-tiny model: it loads through the plugin path and answers synthetic scenes."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli import run_trio
from trio_core import TrioCore, hookimpl
from trio_core.evaluation import run_eval
from trio_core.optimizers import Optimizer, Stage
from trio_core.plugins import load_plugins, pm, registry
from trio_model_tiny.plugin import DEMO, WEIGHTS
from trio_model_tiny.questions import EVAL_SEED, make_sample

pytestmark = pytest.mark.skipif(not (WEIGHTS / "model.safetensors").is_file(), reason="trio-tiny is not trained yet")


@pytest.fixture(scope="module")
def engine():
    return TrioCore(model="trio-tiny", max_tokens=16).load()


def test_trio_tiny_is_a_registered_model_and_a_real_qwen2_5_vl(engine):
    names = {model.name: model for model in registry().objects("model")}
    assert Path(names["trio-tiny"].location) == WEIGHTS
    assert engine.model.family.name == "qwen2_5_vl"
    assert type(engine.model.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    config = json.loads((WEIGHTS / "config.json").read_text())
    assert config["vision_config"]["fullatt_block_indexes"] and config["vision_config"]["window_size"] == 112


def test_an_image_at_the_default_resolution_gives_256_visual_tokens(engine):
    result = engine.analyze_frame(str(DEMO / "shapes.png"), "Is there a red circle?")
    assert result.metrics.visual_tokens == 256
    assert result.text == "yes"


# trio-tiny misses the accuracy it was built for (docs/trio-tiny.md, "Accuracy"); these demo
# questions are ones it gets wrong today. strict: a model that gets them right must say so here.
MISSED = pytest.mark.xfail(strict=True, reason="trio-tiny answers this demo question wrongly (see docs/trio-tiny.md)")


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Is there a red circle?", "yes"),
        ("Is there a green star?", "no"),
        pytest.param("How many objects are there?", "3", marks=MISSED),
        ("What colour is the square?", "blue"),
        ("Where is the red circle?", "right"),
    ],
)
def test_demo_image_answers(engine, question, answer):
    assert engine.analyze_frame(str(DEMO / "shapes.png"), question).text == answer


def test_demo_image_through_the_cli():
    result = run_trio(
        "analyze",
        str(DEMO / "shapes.png"),
        "-q",
        "Is there a red circle?",
        "--model",
        "trio-tiny",
        "--json",
        check=True,
    )
    assert json.loads(result.stdout)["text"] == "yes"


@pytest.mark.parametrize(("colour", "shape", "answer"), [("orange", "square", "yes"), ("red", "circle", "no")])
def test_demo_clip_presence_through_the_cli(colour, shape, answer):
    clip = DEMO / "moving.mp4"
    assert json.loads((DEMO / "moving.json").read_text())["colour"] == "orange"
    question = f"Is there a {colour} {shape}?"
    result = run_trio("analyze", str(clip), "-q", question, "--model", "trio-tiny", "--fps", "4", "--json", check=True)
    assert json.loads(result.stdout)["text"] == answer


@MISSED
def test_demo_clip_motion_through_the_cli():
    clip = DEMO / "moving.mp4"
    event = json.loads((DEMO / "moving.json").read_text())
    question = f"Which way does the {event['colour']} {event['shape']} move?"
    result = run_trio("analyze", str(clip), "-q", question, "--model", "trio-tiny", "--fps", "4", "--json", check=True)
    answer = json.loads(result.stdout)
    assert answer["text"] == event["direction"]
    assert answer["metrics"]["frames_used"] == 8


# Measured on these 12 questions per task at release: presence 100%, colour 100%, count 50%,
# position 58%, motion 83%, appearance 100%, description 75%. The floors sit above chance
# and under the measured figures, so the test catches a broken model or pipeline.
FLOORS = {
    "presence": 0.8,
    "colour": 0.8,
    "count": 0.4,
    "position": 0.3,
    "motion": 0.6,
    "appearance": 0.8,
    "description": 0.5,
}


def test_held_out_accuracy_stays_above_a_floor():
    base = TrioCore(model="trio-tiny", max_tokens=16, dedup_threshold=0.0).config
    from trio_model_tiny.suite import SyntheticSuite

    report = run_eval(SyntheticSuite(), base, {"baseline": []}, limit=12, progress=False)
    accuracy = {task.task: task.accuracy for task in report.configs[0].tasks}
    for task, floor in FLOORS.items():
        assert accuracy[task] >= floor, (task, accuracy)


class DoNothing(Optimizer):
    name = "do-nothing"
    stage = Stage.KV_CACHE
    families = frozenset({"qwen2_5_vl"})
    implementations = {"torch": f"{__name__}:leave_alone"}


def leave_alone(model, settings):
    """DoNothing's torch implementation."""


def test_compare_reports_retention_against_the_baseline():
    load_plugins()

    class Plugin:
        @hookimpl
        def register_optimizers(self, register):
            register(DoNothing())

    pm.register(Plugin(), name="do-nothing")
    try:
        from trio_model_tiny.suite import SyntheticSuite

        base = TrioCore(model="trio-tiny", max_tokens=16, dedup_threshold=0.0).config
        report = run_eval(
            SyntheticSuite(), base, {"baseline": [], "do-nothing": ["do-nothing"]}, limit=3, progress=False
        )
    finally:
        pm.unregister(name="do-nothing")
    baseline, same = report.configs
    assert same.optimizers == ["do-nothing"]
    assert [t.accuracy for t in same.tasks] == [t.accuracy for t in baseline.tasks]  # greedy: same answers
    assert same.retention == 1.0


def test_eval_samples_come_from_held_out_seeds():
    first = make_sample("count", np.random.default_rng([EVAL_SEED, 2, 0]))
    again = make_sample("count", np.random.default_rng([EVAL_SEED, 2, 0]))
    assert first.question == again.question and np.array_equal(first.media, again.media)


@pytest.mark.parametrize("optimizers", [[], ["kvreuse"]])
def test_stop_strings_end_each_answer_of_several_questions_as_of_one(optimizers):
    engine = TrioCore(model="trio-tiny", max_tokens=16, optimizers=optimizers).load()
    image = DEMO / "shapes.png"
    question = "Describe the picture."
    full = engine.analyze_frame(image, question).text
    stop = full.split()[1]
    alone = engine.analyze_frame(image, question, stop=[stop])
    together = engine.analyze_frame_each(image, [question, question], stop=[stop])
    assert alone.text == full[: full.index(stop)].strip() and alone.finish_reason == "stop"
    assert [answer.text for answer in together] == [alone.text] * 2
    assert all(answer.finish_reason == "stop" for answer in together)
