"""What a watch asks, and how it decides: conditions, yes or no from an answer, and each condition's state.

A condition is a yes/no question with an id that events and alerts carry. Each answer is a
decision from the first token's probabilities (the text where the model answered neither), and
each condition keeps a small state machine over those decisions:

- an alert **starts** after ``confirm`` consecutive yes frames, unless the condition alerted
  less than ``cooldown_s`` seconds of the source before (a flapping condition stays quiet);
- it is **cleared** after ``clear`` consecutive no frames.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import TrioError

if TYPE_CHECKING:
    from ..sdk import AnalysisResult
    from .settings import WatchSettings

# Below this P(yes) + P(no) for the first answer token, the model answered neither yes nor no:
# the probability is not a decision, and the text decides instead.
YES_NO_MASS = 0.5
MAX_QUESTION_CHARS = 2000  # of the question as the model is asked it (a plain condition is wrapped into one)
_SLUG = re.compile(r"[^a-z0-9]+")


class Condition(BaseModel):
    """A yes/no question to watch for, with an id that events and alerts carry."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, description="A yes/no question, e.g. 'Is someone at the door?'"
    )
    window: int | None = Field(
        None, ge=1, le=64, description="Ask about the last this many frames as a clip (default: the watch's window)."
    )


def conditions_from(items: list[str | dict | Condition]) -> list[Condition]:
    """Conditions from plain words (ids made from them: ``a-person-is-waving``; a statement is asked as a yes/no
    question), dicts or Conditions. A condition that cannot be asked (empty, too long once it is a question, a bad
    id) is one :class:`~trio_core.errors.TrioError` naming it by its place in the list."""
    conditions: list[Condition] = []
    for number, item in enumerate(items, 1):
        if isinstance(item, Condition):
            conditions.append(item)
        elif isinstance(item, dict):
            try:
                conditions.append(Condition(**item))
            except ValidationError as error:
                problem = error.errors()[0]
                where = ".".join(map(str, problem["loc"]))
                raise TrioError(f"Condition {number}: {where}: {problem['msg']}.") from None
        else:
            conditions.append(Condition(id=_unique_id(item, conditions), question=_plain_question(item, number)))
    if not conditions:
        raise TrioError("Give at least one condition to watch for, e.g. -w 'Is someone at the door?'.")
    if len({condition.id for condition in conditions}) != len(conditions):
        raise TrioError("Two conditions have the same id: give each its own.")
    return conditions


def _unique_id(text: str, taken: list[Condition]) -> str:
    base = _SLUG.sub("-", text.lower()).strip("-")[:56] or "condition"
    ident, number = base, 2
    while any(condition.id == ident for condition in taken):
        ident, number = f"{base}-{number}", number + 1
    return ident


def _plain_question(text: str, number: int) -> str:
    """The question a plain condition is asked as, checked as asked: the limit is on what the model gets."""
    if not text.strip():
        raise TrioError(f"Condition {number} is empty: say what to watch for, e.g. 'Is someone at the door?'.")
    question = as_question(text)
    if len(question) > MAX_QUESTION_CHARS:
        preview = text.strip()[:40].rstrip() + "..."
        raise TrioError(
            f"Condition {number} ({preview!r}) is {len(question)} characters as a question, more than the "
            f"{MAX_QUESTION_CHARS} a question may have: shorten it."
        )
    return question


def as_question(condition: str) -> str:
    """A condition as the model is asked it: a question stays as it is, a statement becomes a yes/no question."""
    text = condition.strip()
    if text.endswith("?"):
        return text
    return f"Is this true of the picture: {text.rstrip('.!')}? Answer yes or no."


def answered_yes(result: AnalysisResult, threshold: float = 0.5) -> bool | None:
    """Whether an answer says yes: from the first token's probabilities, else from its text; None when neither."""
    if result.yes_probability is not None and result.yes_no_mass is not None and result.yes_no_mass >= YES_NO_MASS:
        return result.yes_probability >= threshold
    words = result.text.strip().lower().split()
    first = words[0].strip(".,!:;") if words else ""
    return True if first == "yes" else False if first == "no" else None


class ConditionState:
    """One condition's state machine: yes and no runs, whether it is alerting, its cooldown."""

    def __init__(self, settings: WatchSettings):
        self.settings = settings
        self.alerting = False
        self.yes_run: list[float] = []  # pts of the consecutive yes frames so far
        self.no_run = 0
        self.alert_started: float | None = None  # pts of the frame that started the current or last alert
        self.alerts = 0

    def observe(self, yes: bool | None, pts: float) -> str | None:
        """Take one frame's decision (None, no answer, counts as no); ``"alert"`` or ``"cleared"`` when it changes."""
        if yes:
            self.yes_run.append(pts)
            self.no_run = 0
            cooled = self.alert_started is None or pts - self.alert_started >= self.settings.cooldown_s
            if not self.alerting and len(self.yes_run) >= self.settings.confirm and cooled:
                self.alerting, self.alert_started = True, pts
                self.alerts += 1
                return "alert"
            return None
        self.yes_run = []
        self.no_run += 1
        if self.alerting and self.no_run >= self.settings.clear:
            self.alerting = False
            return "cleared"
        return None
