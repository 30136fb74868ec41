"""Random-weight checkpoints of every family, in transformers 5's layout, as the mlx backend reads them: the
same prompt, pixels and mRoPE positions as on torch, and the same tokens as raw mlx-vlm."""

import numpy as np
import pytest

from tests.torch.engines import engine_for, noise_frames
from trio_core.chat import ImagePart, VideoPart, question_about
from trio_core.frames import Frame

QUESTION = "What is happening in this clip?"


def video(count=4, fps=2.0, height=64, width=96):
    frames = noise_frames(count, height, width)
    return VideoPart(tuple(Frame(image, index / fps, index) for index, image in enumerate(frames)), fps)


def image(height=64, width=96):
    return ImagePart(Frame(noise_frames(1, height, width)[0], 0.0, 0))


@pytest.mark.parametrize("fps", [2.0, 4.0, 1.0])
@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2_vl"])
def test_video_prompt_pixels_and_positions_match_torch(family, fps, trio_checkpoint):
    """Qwen2.5-VL places temporal patches at their seconds (mlx-vlm alone counts them): trio passes them itself."""
    path = trio_checkpoint(family)
    on_torch, on_mlx = engine_for(path, backend="torch"), engine_for(path, backend="mlx")
    try:
        messages = question_about(video(fps=fps), QUESTION)
        torch_inputs = on_torch.model.prepare(messages).inputs
        mlx_inputs = on_mlx.model.prepare(messages).inputs
        assert np.asarray(mlx_inputs["input_ids"]).tolist() == torch_inputs["input_ids"].tolist()
        assert np.asarray(mlx_inputs["video_grid_thw"]).tolist() == torch_inputs["video_grid_thw"].tolist()
        np.testing.assert_allclose(
            np.asarray(mlx_inputs["pixel_values_videos"]), torch_inputs["pixel_values_videos"].numpy(), atol=0.05
        )
        from trio_backend_torch.qwen import prompt_positions

        expected = prompt_positions(on_torch.model, dict(torch_inputs))
        expected = expected[-3:].numpy()  # (3, batch, length): time, row, column
        assert np.asarray(mlx_inputs["position_ids"]).tolist() == expected.tolist()
    finally:
        on_torch.close()
        on_mlx.close()


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2_vl", "qwen3_vl", "smolvlm"])
def test_each_family_loads_and_answers_as_raw_mlx_vlm(family, trio_checkpoint):
    """trio's tokens are the tokens of mlx-vlm's own generate on the same processed inputs."""
    from mlx_vlm.generate import generate_step

    path = trio_checkpoint(family)
    engine = engine_for(path, backend="mlx", max_tokens=6)
    try:
        part = image()
        result = engine.analyze_frame(part.frame.image, QUESTION)
        loaded = engine.model
        inputs = dict(loaded.prepare(question_about(part, QUESTION)).inputs)
        ids, pixels = inputs.pop("input_ids"), inputs.pop("pixel_values", None)
        raw = []
        for token, _ in generate_step(ids, loaded.model, pixels, None, max_tokens=6, temperature=0.0, **inputs):
            raw.append(int(token))
            if token in loaded.stop_token_ids:
                break
        assert result.token_ids == raw
        assert result.metrics.visual_tokens > 0
    finally:
        engine.close()
