"""Tokenizer-level pieces every backend needs: which ids end an answer, which spell yes and no, which stand
for media, and text deltas from streamed ids. They take a Hugging Face tokenizer (transformers' or the one
mlx-vlm loads, which is the same class) and know no framework."""

from __future__ import annotations

__all__ = ["IncrementalDecoder", "answer_token_ids", "stop_token_ids", "visual_token_ids"]


class IncrementalDecoder:
    """Turns token ids into text deltas, holding back bytes of a character not yet complete."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.shown = ""

    def add(self, token: int) -> str:
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd") or not text.startswith(self.shown):
            return ""
        delta, self.shown = text[len(self.shown) :], text
        return delta


def stop_token_ids(configured, tokenizer, end_tokens: tuple[str, ...]) -> list[int]:
    """Every id generation must stop on: the checkpoint's configured EOS id(s) (``configured``: an id, a list
    or None, from its generation config), the tokenizer's, and the chat template's end tokens."""
    ids: list[int] = []
    ids += configured if isinstance(configured, list) else [configured] if configured is not None else []
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    vocab = tokenizer.get_vocab()
    ids += [vocab[token] for token in end_tokens if token in vocab]
    return list(dict.fromkeys(int(token) for token in ids))


def answer_token_ids(tokenizer, word: str) -> list[int]:
    """Ids of the single tokens that spell ``word`` as an answer's first word (yes, Yes, YES, with a space)."""
    ids = []
    for form in {word, word.capitalize(), word.upper(), " " + word, " " + word.capitalize()}:
        pieces = tokenizer.encode(form, add_special_tokens=False)
        if len(pieces) == 1:
            ids.append(pieces[0])
    return sorted(set(ids))


def visual_token_ids(processor) -> list[int]:
    """Ids of the placeholder tokens that stand for visual features in the prompt."""
    vocab = processor.tokenizer.get_vocab()
    names = [getattr(processor, attr, None) for attr in ("image_token", "video_token")]
    return list(dict.fromkeys(vocab[name] for name in names if isinstance(name, str) and name in vocab))
