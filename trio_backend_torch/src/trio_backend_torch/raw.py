"""The plain transformers path, without any trio code: what ``trio bench overhead`` times trio against."""

from __future__ import annotations

import numpy as np
import torch


def raw_generate(model, processor, frames: list[np.ndarray], question: str, *, fps: float, max_tokens: int, eos):
    """Greedy answer token ids from ``processor.apply_chat_template`` and ``model.generate``."""
    inputs = raw_inputs(processor, frames, question, fps).to(model.device, dtype=model.dtype)
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False, eos_token_id=eos)
    return output[0, inputs["input_ids"].shape[1] :].tolist()


def raw_inputs(processor, frames: list[np.ndarray], question: str, fps: float):
    """Processor inputs built the plain transformers way."""
    from transformers.video_utils import VideoMetadata

    if len(frames) == 1:
        content = [{"type": "image", "image": frames[0]}, {"type": "text", "text": question}]
        extra = {}
    else:
        content = [{"type": "video", "video": np.stack(frames)}, {"type": "text", "text": question}]
        metadata = VideoMetadata(
            total_num_frames=len(frames),
            fps=fps,
            frames_indices=list(range(len(frames))),
            duration=len(frames) / fps,
            width=frames[0].shape[1],
            height=frames[0].shape[0],
        )
        extra = {"video_metadata": [metadata], "do_sample_frames": False}
    return processor.apply_chat_template(
        [{"role": "user", "content": content}],
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
        processor_kwargs=extra,
    )
