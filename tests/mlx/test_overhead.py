"""`trio bench overhead` on each local backend: trio's path and the raw library's answer alike, timed side by side."""

import pytest

from trio_core.bench.overhead import measure_overhead


@pytest.mark.parametrize("backend", ["torch", "mlx"])
@pytest.mark.parametrize("frames", [1, 4])
def test_trio_and_the_raw_library_give_the_same_tokens(backend, frames):
    """On trio-tiny (a trained Qwen2.5-VL: its answers are words, which a wrong position or frame size changes)."""
    report = measure_overhead(
        "trio-tiny", backend=backend, runs=2, max_tokens=8, frame_count=frames, size=112, device="cpu"
    )
    assert report["identical"], report
    assert report["backend"] == backend
    assert report["library"] == {"torch": "transformers generate", "mlx": "mlx_vlm.stream_generate"}[backend]
    assert 1 < report["completion_tokens"] <= 8 and report["prompt_tokens"] > 0
    assert len(report["ratios"]) == 2 and report["ratio"] > 0


def test_a_bench_on_mlx_gets_its_model_from_a_backend_that_writes_checkpoints():
    """MLX writes no random-weight checkpoints; torch's (a Hugging Face checkpoint) is what it then loads."""
    from trio_core.testing import checkpoint_writer

    assert checkpoint_writer("mlx").name == "torch" and checkpoint_writer("torch").name == "torch"
