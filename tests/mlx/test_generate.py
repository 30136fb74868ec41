"""The mlx backend answers as the torch backend does on the same weights, and reports what it did."""

import pytest

from trio_core import TrioCore
from trio_core.errors import IncompatibleOptimizerError, ModelLoadError, PluginNotFoundError
from trio_model_tiny.plugin import DEMO

CLIP, IMAGE = str(DEMO / "moving.mp4"), str(DEMO / "shapes.png")
CLIP_QUESTIONS = ("Is there an orange square?", "Which way does the orange square move?", "Is there a blue circle?")
IMAGE_QUESTIONS = (
    "Is there a red circle?",
    "Is there a green star?",
    "How many objects are there?",
    "What colour is the square?",
    "Where is the red circle?",
)


def tiny(backend, **overrides):
    settings = {"model": "trio-tiny", "backend": backend, "fps": 4, "dedup_threshold": 0.0, "max_tokens": 8}
    return TrioCore(**{**settings, **overrides}).load()


@pytest.fixture(scope="module")
def engines():
    pair = {backend: tiny(backend) for backend in ("torch", "mlx")}
    yield pair
    for engine in pair.values():
        engine.close()


def test_trio_tiny_answers_the_demo_clip_on_mlx_as_on_torch(engines):
    for question in CLIP_QUESTIONS:
        torch_result = engines["torch"].analyze_video(CLIP, question)
        mlx_result = engines["mlx"].analyze_video(CLIP, question)
        assert mlx_result.text == torch_result.text, question
        assert mlx_result.metrics.visual_tokens == torch_result.metrics.visual_tokens == 256
        assert mlx_result.metrics.prompt_tokens == torch_result.metrics.prompt_tokens


def test_trio_tiny_answers_the_demo_image_on_mlx_as_on_torch(engines):
    for question in IMAGE_QUESTIONS:
        torch_result = engines["torch"].analyze_frame(IMAGE, question)
        mlx_result = engines["mlx"].analyze_frame(IMAGE, question)
        assert mlx_result.text == torch_result.text, question
        assert mlx_result.metrics.visual_tokens == torch_result.metrics.visual_tokens == 256


def test_yes_no_probability_comes_from_the_first_token_on_mlx_as_on_torch(engines):
    question = "Is there an orange square? Answer yes or no."
    torch_result = engines["torch"].analyze_video(CLIP, question, yes_no=True)
    mlx_result = engines["mlx"].analyze_video(CLIP, question, yes_no=True)
    assert mlx_result.yes_probability == pytest.approx(torch_result.yes_probability, abs=0.02)
    assert mlx_result.yes_no_mass == pytest.approx(torch_result.yes_no_mass, abs=0.02)


def test_the_answer_streams_and_every_metric_is_filled(engines):
    engine = engines["mlx"]
    pieces = list(engine.stream_video(CLIP, "Which way does the orange square move?"))
    text = "".join(piece for piece in pieces if isinstance(piece, str))
    result = engine.analyze_video(CLIP, "Which way does the orange square move?")
    assert text == result.text
    metrics = result.metrics
    assert result.backend == "mlx" and result.device == "cpu"
    assert metrics.completion_tokens >= 1 and metrics.prefill_ms > 0 and metrics.peak_memory_mb > 0
    assert metrics.frames_in == metrics.frames_used == 8
    assert metrics.visual_tokens == metrics.visual_tokens_after == 256


def test_max_tokens_ends_the_answer_with_finish_reason_length():
    engine = tiny("mlx", max_tokens=1)
    try:
        result = engine.analyze_frame(IMAGE, "Describe the picture.")
    finally:
        engine.close()
    assert result.metrics.completion_tokens == 1
    assert result.finish_reason == "length"


def test_an_optimizer_without_an_mlx_implementation_is_one_sentence(trio_plugin):
    from trio_core import hookimpl
    from trio_core.optimizers import Optimizer, Stage

    class TorchOnly(Optimizer):
        name, stage, families = "torch-only", Stage.AFTER_ENCODER, frozenset({"qwen2_5_vl"})
        implementations = {"torch": "torch_only_optimizer"}

    class Plugin:
        @hookimpl
        def register_optimizers(self, register):
            register(TorchOnly())

    trio_plugin(Plugin())
    with pytest.raises(IncompatibleOptimizerError, match="no implementation for the mlx backend") as caught:
        TrioCore(model="trio-tiny", backend="mlx", optimizers=["torch-only"]).load()
    assert "\n" not in str(caught.value)


def test_a_folder_without_weights_is_one_clear_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    with pytest.raises(ModelLoadError, match="mlx-vlm could not load") as caught:
        TrioCore(model=str(tmp_path), backend="mlx").load()
    assert "\n" not in str(caught.value)


def test_a_model_type_mlx_vlm_does_not_run_is_one_clear_error(tmp_path):
    import mlx.core as mx

    (tmp_path / "config.json").write_text('{"model_type": "no_such_vlm"}')
    mx.save_safetensors(str(tmp_path / "model.safetensors"), {"weight": mx.zeros(1)})
    with pytest.raises((ModelLoadError, PluginNotFoundError)) as caught:
        TrioCore(model=str(tmp_path), backend="mlx").load()
    assert "no_such_vlm" in str(caught.value) and "\n" not in str(caught.value)


def test_corrupt_weights_are_one_clear_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="mlx-vlm could not load") as caught:
        TrioCore(model=str(tmp_path), backend="mlx").load()
    assert "\n" not in str(caught.value)


def test_unknown_device_names_what_mlx_has():
    from trio_core.errors import ConfigError

    with pytest.raises(ConfigError, match="available: cpu"):
        TrioCore(model="trio-tiny", backend="mlx", device="cuda").load()


@pytest.mark.parametrize(("height", "width"), [(224, 224), (480, 640), (1080, 1920), (60, 2000), (30, 40)])
def test_frames_of_a_video_are_sized_per_frame_as_transformers_does(height, width):
    """Qwen2/2.5-VL's video processor sizes each frame within its bounds; mlx-vlm's port would budget the clip."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as transformers_smart_resize

    from trio_backend_mlx.families import smart_resize

    assert smart_resize(height, width, 28, 3136, 50176) == transformers_smart_resize(height, width, 28, 3136, 50176)


def test_a_stop_string_ends_the_answer_and_the_generation(engines):
    result = engines["mlx"].analyze_frame(IMAGE, "What colour is the square?", stop=["u"])
    assert result.text == engines["torch"].analyze_frame(IMAGE, "What colour is the square?", stop=["u"]).text == "bl"
    assert result.finish_reason == "stop"


SHAPES_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}, "colour": {"type": "string", "maxLength": 12},
                   "count": {"type": "integer", "minimum": 0, "maximum": 9}},
    "required": ["answer", "colour", "count"],
    "additionalProperties": False,
}  # fmt: skip


def test_a_json_schema_constrains_the_mlx_answer_as_it_does_the_torch_one(engines):
    import json

    import jsonschema

    for question in CLIP_QUESTIONS[:2]:
        answers = {name: engine.analyze_video(CLIP, question, json_schema=SHAPES_SCHEMA, max_tokens=48)
                   for name, engine in engines.items()}  # fmt: skip
        assert answers["mlx"].text == answers["torch"].text, question
        jsonschema.validate(json.loads(answers["mlx"].text), SHAPES_SCHEMA)
        assert answers["mlx"].finish_reason == "stop"
    assert engines["mlx"].model.max_model_len == engines["torch"].model.max_model_len == 4096


def test_logprobs_on_mlx_are_torchs(engines):
    answers = {name: engine.analyze_frame(IMAGE, "How many objects are there?", top_logprobs=3)
               for name, engine in engines.items()}  # fmt: skip
    mlx, torch = answers["mlx"].logprobs, answers["torch"].logprobs
    assert [item["token"] for item in mlx] == [item["token"] for item in torch] and mlx
    for ours, theirs in zip(mlx, torch, strict=True):
        assert abs(ours["logprob"] - theirs["logprob"]) < 1e-3
        assert [token for token, _ in ours["top"]] == [token for token, _ in theirs["top"]]
