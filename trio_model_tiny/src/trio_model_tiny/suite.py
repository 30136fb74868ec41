"""The ``synthetic`` benchmark: held-out scenes and clips with questions whose answers are known."""

from __future__ import annotations

import numpy as np

from trio_core.evaluation import EvalItem, EvalSuite

from .questions import EVAL_SEED, TASKS, is_correct, make_sample

# Questions per task when no --limit is given: enough that one question is 1% of a task.
DEFAULT_PER_TASK = 100


class SyntheticSuite(EvalSuite):
    """Presence (POPE-style negatives), colour, count, position, motion, appearance and description.

    Every item comes from seeds the training never used (see :mod:`trio_model_tiny.questions`),
    so the same call always gives the same items.
    """

    name = "synthetic"
    description = "Held-out synthetic scenes and clips: presence, colour, count, position, motion, appearance."
    tasks = TASKS

    def items(self, limit: int | None = None) -> list[EvalItem]:
        per_task = limit or DEFAULT_PER_TASK
        items = []
        for task_index, task in enumerate(TASKS):
            for index in range(per_task):
                rng = np.random.default_rng([EVAL_SEED, task_index, index])
                sample = make_sample(task, rng)
                items.append(
                    EvalItem(
                        task=task,
                        question=sample.question,
                        answer=sample.answer,
                        media=sample.media,
                        kind=sample.kind,
                        fps=sample.fps,
                        meta={"sample": sample},
                    )
                )
        return items

    def is_correct(self, item: EvalItem, answer: str) -> bool:
        return is_correct(item.meta["sample"], answer)
