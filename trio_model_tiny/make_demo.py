"""Write the demo media that ship with trio-model-tiny (deterministic; run after changing scenes.py).

    python trio_model_tiny/make_demo.py

- ``demo/shapes.png``: a 448x448 scene (256 visual tokens at trio-tiny's default resolution).
- ``demo/moving.mp4``: a 2-second, 4 fps clip in which one shape moves; ask with ``--fps 4``
  so trio samples all 8 frames, as trio-tiny saw clips in training.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
from PIL import Image

from trio_model_tiny.scenes import draw_scene, make_background, moving_clip, place_objects, position_word

DEMO = Path(__file__).parent / "src/trio_model_tiny/demo"


def main() -> None:
    DEMO.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([20261124, 1])
    size = 448
    specs = [("red", "circle", "large"), ("blue", "square", "medium"), ("yellow", "triangle", "medium")]
    objects = place_objects(rng, specs, size)
    image = draw_scene(objects, size, rng, background=make_background(rng, size), noise=0.0)
    Image.fromarray(image).save(DEMO / "shapes.png", optimize=True)
    scene = [{"colour": o.colour, "shape": o.shape, "position": position_word(o.x, o.y, size)} for o in objects]
    (DEMO / "shapes.json").write_text(json.dumps(scene, indent=2) + "\n")

    clip = moving_clip(np.random.default_rng([20261124, 2]), direction="left", frames=8, size=224)
    with av.open(str(DEMO / "moving.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=int(clip.fps))
        stream.width = stream.height = 224
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for frame in clip.frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    (DEMO / "moving.json").write_text(json.dumps(clip.event, indent=2) + "\n")
    print(f"wrote {DEMO}: shapes.png {scene}, moving.mp4 {clip.event}")


if __name__ == "__main__":
    main()
