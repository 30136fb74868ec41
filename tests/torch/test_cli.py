"""The `trio` command with the torch backend, run in a subprocess on a real video file."""

import json
import shutil
from pathlib import Path

from tests.cli import run_trio
from tests.media import moving_square_frames, write_clip


def test_analyze_streams_the_answer_then_one_metrics_line(trio_checkpoint, tmp_path):
    video = write_clip(tmp_path / "clip.mp4", moving_square_frames(20), fps=10)
    result = run_trio(
        "analyze",
        str(video),
        "-q",
        "Where does the square go?",
        "--model",
        str(trio_checkpoint("smolvlm")),
        "--max-tokens",
        "6",
        "--fps",
        "2",
        check=True,
    )
    assert result.stdout.strip()
    metrics_line = result.stderr.strip().splitlines()[-1]
    assert "ms total" in metrics_line and "frames 4->4" in metrics_line


def test_analyze_json_has_text_model_backend_and_all_metrics(trio_checkpoint, tmp_path):
    video = write_clip(tmp_path / "clip.mp4", moving_square_frames(20), fps=10)
    model = str(trio_checkpoint("qwen2_5_vl"))
    result = run_trio(
        "analyze",
        str(video),
        "-q",
        "What moves?",
        "--model",
        model,
        "--max-tokens",
        "4",
        "--max-frames",
        "3",
        "--device",
        "cpu",
        "--json",
        check=True,
    )
    answer = json.loads(result.stdout)
    assert answer["model"] == model
    assert answer["backend"] == "torch" and answer["family"] == "qwen2_5_vl" and answer["device"] == "cpu"
    metrics = answer["metrics"]
    assert metrics["frames_in"] == 3
    assert metrics["completion_tokens"] == len(answer["token_ids"]) > 0
    for key in (
        "ttft_ms",
        "prefill_ms",
        "decode_ms",
        "prompt_tokens",
        "visual_tokens",
        "visual_tokens_after",
        "decode_tokens_per_s",
        "peak_memory_mb",
        "latency_ms",
        "cache_hit",
        "frame_filter_steps",
    ):
        assert key in metrics
    assert [step["filter"] for step in metrics["frame_filter_steps"]] == ["dedup"]  # on by default, the gate off


def test_analyze_of_a_corrupt_file_is_one_sentence_and_exit_1(trio_checkpoint, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x01not a video at all" * 50)
    result = run_trio("analyze", str(broken), "-q", "What?", "--model", str(trio_checkpoint("llava")))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and result.stderr.strip().count("\n") == 0
    assert "broken.mp4" in result.stderr


def test_plugins_lists_the_torch_backend_and_its_families():
    report = json.loads(run_trio("plugins", "--json", check=True).stdout)
    torch_plugin = next(plugin for plugin in report if plugin["name"] == "torch")
    assert torch_plugin["distribution"] == "trio-backend-torch"
    families = {item["name"] for item in torch_plugin["registers"]["model family"]}
    assert {"qwen2_5_vl", "qwen2_vl", "qwen3_vl", "smolvlm", "idefics3", "generic"} <= families
    assert "register_backends" in torch_plugin["hooks"] and "bench" not in torch_plugin["hooks"]


def test_doctor_reports_backend_device_video_and_disk():
    report = json.loads(run_trio("doctor", "--json", check=True).stdout)
    assert report["would_use"] == {"backend": "torch", "device": "cpu"}
    torch_backend = next(backend for backend in report["backends"] if backend["name"] == "torch")
    assert "torch" in torch_backend["versions"] and "transformers" in torch_backend["versions"]
    assert report["pyav"] and "libavcodec" in report["ffmpeg"]
    cache = Path(report["model_cache"])
    probe = next(path for path in (cache, *cache.parents) if path.exists())  # the disk the cache is (or would be) on
    assert abs(report["model_cache_free_gb"] - shutil.disk_usage(probe).free / 1e9) < 1.0
    text = run_trio("doctor", check=True).stdout
    assert "would use: torch on cpu" in text
