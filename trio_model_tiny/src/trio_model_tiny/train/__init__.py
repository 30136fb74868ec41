"""Train trio-tiny: a genuine Qwen2.5-VL, small enough to train on 2 CPU cores, on synthetic scenes.

    python -m trio_model_tiny.train --out DIR     # 3,600 steps from scratch, 67 minutes on 2 CPU cores

The shipped weights took five stages (docs/trio-tiny.md, "Training", has the measurements):

    python -m trio_model_tiny.train --out stage1 --pooled-weight 0     # 70 minutes
    python -m trio_model_tiny.train --init stage1 --out stage2 --steps 1000 --seed 1 --lr 1e-3   # 23 minutes
    python -m trio_model_tiny.train --init stage2 --out stage3 --steps 1200 --seed 2 --lr 1.5e-3 --object-targets  # 27 minutes
    python -m trio_model_tiny.train --init stage3 --out stage4 --steps 2000 --seed 3 --lr 1e-3 --object-targets    # 46 minutes
    python -m trio_model_tiny.train --init stage4 --out stage5 --steps 1600 --seed 4 --lr 1e-3 --object-targets --clip-presence  # 41 minutes

(each with --validate-every 0) and stage5 is what trio_model_tiny/src/trio_model_tiny/weights holds.

A run is seeded and reproducible on one machine (same seed, same steps, same torch build -> the same
weights; thread scheduling can change float sums across machines). It writes a
standard Hugging Face checkpoint (config, safetensors, tokenizer, processor, chat template),
so transformers and mlx-vlm load it as they load Qwen/Qwen2.5-VL-3B-Instruct. CI does not
retrain; the weights ship inside the trio-model-tiny package.

Inputs are built by trio's own torch family (`TorchFamily.build_inputs`) from trio's own
message types, so training and inference cannot drift apart.

How a model this small learns to read its visual tokens in an hour (docs/trio-tiny.md has
the measurements behind each choice):

- Several questions per scene, each its own one-question row: the vision encoder runs once
  and every answer is a training signal for the same visual tokens.
- Grounding (training only): every visual token the vision encoder hands to the LLM is
  pulled towards a fixed code for the colour, shape, 3x3 region and motion of the object
  under it. Distinct, salient visual tokens are what the LLM can learn to read quickly.
  And each object as a whole (the mean of its tokens) must name its shape and, if it
  moves, its direction (--pooled-weight). With --object-targets, also a code for the
  colour and shape together (so "purple square" is one thing to look for, not two) and
  one for the token under each object's centre (one token per object, to count).
- Attention guidance (training only): two heads of one LLM layer are told where to look:
  at the answer's first position, their attention should fall on the visual tokens of the
  object the question is about. The answer loss alone finds this slowly, because attention
  starts out spread evenly over hundreds of visual tokens. With --object-targets, a
  question about something absent looks at <|vision_start|> instead, and a count question
  spreads its attention evenly over that token and the centre of each counted object.

None of the helpers is part of the saved model: trio-tiny is a plain Qwen2.5-VL.

This is a development tool, not part of the plugin: installed by the ``train`` extra
(``pip install -e './trio_model_tiny[train]'``), it uses trio-backend-torch's test helpers to
build the tokenizer and lay out the processor files. Nothing else in trio_model_tiny imports it,
so the model's registration and the benchmark stay free of torch.

One module per part: ``model`` (architecture, tokenizer, processor), ``conversations`` (the
questions a scene is asked), ``targets`` (what each visual token shows), ``inputs`` (rows and
batches), ``losses`` (grounding and attention guidance), ``window_attention`` (speed),
``loop`` (the optimizer, validation, saving) and ``__main__`` (the command line).
"""

from trio_model_tiny.train.conversations import Turn, conversation, draw_turns, media_part
from trio_model_tiny.train.inputs import Encoder, collate, forward
from trio_model_tiny.train.loop import draw_batch, learning_rate, save, train, validate
from trio_model_tiny.train.losses import Grounding, attention_loss
from trio_model_tiny.train.model import FAMILY, build_config, build_processor
from trio_model_tiny.train.targets import (
    CODE_COLUMNS,
    attention_cells,
    cell_codes,
    centre_cell,
    counted_cells,
    covered_cells,
    object_cells,
    placed_objects,
    sample_codes,
)
from trio_model_tiny.train.window_attention import batched_window_attention

__all__ = [
    "CODE_COLUMNS",
    "FAMILY",
    "Encoder",
    "Grounding",
    "Turn",
    "attention_cells",
    "attention_loss",
    "batched_window_attention",
    "build_config",
    "build_processor",
    "cell_codes",
    "centre_cell",
    "collate",
    "conversation",
    "counted_cells",
    "covered_cells",
    "draw_batch",
    "draw_turns",
    "forward",
    "learning_rate",
    "media_part",
    "object_cells",
    "placed_objects",
    "sample_codes",
    "save",
    "train",
    "validate",
]
