"""``trio bench structured``: what constrained decoding (``response_format`` json_schema) costs, side by side.

The same question about the same image, on one loaded model, in paired rounds that alternate
which goes first: free text, and the answer constrained to a JSON schema. The answers differ
in length (a schema asks for more than "yes"), so the cost is compared per generated token
(decode time / tokens), and the time to the first token (where the grammar is set up) is
compared as it is. Each round also says whether each answer parses as JSON.
"""

from __future__ import annotations

import json
import statistics
import time

import click

from ..frames import synthetic_frames
from .harness import paired_ratio

QUESTION = "Describe the picture as JSON: the shapes you see and how many."
SCHEMA = {
    "type": "object",
    "properties": {
        "shapes": {"type": "array", "items": {"type": "string", "enum": ["circle", "square", "triangle"]},
                   "maxItems": 3},
        "colour": {"type": "string", "maxLength": 16},
        "count": {"type": "integer", "minimum": 0, "maximum": 9},
    },
    "required": ["shapes", "colour", "count"],
    "additionalProperties": False,
}  # fmt: skip


@click.command("structured")
@click.option("--model", "-m", default="trio-tiny", show_default=True, help="Hub id or local model directory.")
@click.option("--backend", default="auto", show_default=True, help="Backend to run the model on.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, mps or auto.")
@click.option("--runs", type=click.IntRange(1, 100), default=7, show_default=True, help="Timed paired rounds.")
@click.option("--max-tokens", type=click.IntRange(1, 1024), default=64, show_default=True, help="Most new tokens.")
@click.option("--size", type=click.IntRange(28, 1344), default=224, show_default=True, help="Image side (pixels).")
@click.option("--schema", "schema_file", type=click.File(), help="A JSON schema file (default: shapes, colour, count).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def structured_bench(model, backend, device, runs, max_tokens, size, schema_file, as_json):
    """Constrained decoding (a JSON schema) against free decoding: per-token decode cost and time to first token."""
    schema = json.load(schema_file) if schema_file else SCHEMA
    report = measure_structured(model, backend=backend, device=device, runs=runs, max_tokens=max_tokens, size=size,
                                schema=schema)  # fmt: skip
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    free, held = report["free"], report["constrained"]
    click.echo(
        f"model {report['model']} on {report['backend']} {report['device']}, {runs} paired rounds "
        f"(medians), schema compiled in {report['compile_ms']:.1f} ms (once; cached after)\n"
        f"free:        {free['tokens']:.0f} tokens, {free['ms_per_token']:.2f} ms/token, first token "
        f"{free['ttft_ms']:.1f} ms, parses as JSON {free['parses']}/{runs}\n"
        f"constrained: {held['tokens']:.0f} tokens, {held['ms_per_token']:.2f} ms/token, first token "
        f"{held['ttft_ms']:.1f} ms, parses as JSON {held['parses']}/{runs}\n"
        f"ratio constrained/free: {report['ms_per_token_ratio']:.3f} per token, {report['ttft_ratio']:.3f} to the "
        f"first token (the constrained answer is longer: a longer KV cache costs more per token by itself)"
        + (
            f"\nthe constraint's own time: {report['constraint_ms_per_token']:.3f} ms per token "
            f"({report['constraint_ms_per_token'] / held['ms_per_token']:.1%} of a constrained step)"
            if report["constraint_ms_per_token"] is not None
            else ""
        )
    )


def measure_structured(model: str, *, backend: str, device: str, runs: int, max_tokens: int, size: int,
                       schema: dict) -> dict:  # fmt: skip
    from ..sdk import TrioCore

    engine = TrioCore(model=model, backend=backend, device=device, max_tokens=max_tokens).load()
    try:
        image = synthetic_frames(1, size)[0]
        started = time.perf_counter()
        engine.model.check_json_schema(schema)  # compiles (and caches) the grammar
        compile_ms = (time.perf_counter() - started) * 1000
        spent = _constraint_timer(engine.model)
        ways = {"free": {}, "constrained": {"json_schema": schema}}
        for settings in ways.values():  # warm-up
            engine.analyze_frame(image, QUESTION, **settings)
        rows: dict[str, list[dict]] = {name: [] for name in ways}
        for index in range(runs):
            order = list(ways) if index % 2 == 0 else list(reversed(ways))
            for name in order:
                result = engine.analyze_frame(image, QUESTION, **ways[name])
                metrics = result.metrics
                tokens = max(metrics.completion_tokens - 1, 1)  # decode_ms covers the tokens after the first
                rows[name].append({"tokens": metrics.completion_tokens, "ms_per_token": metrics.decode_ms / tokens,
                                   "ttft_ms": metrics.ttft_ms, "parses": _parses(result.text),
                                   "own_ms_per_token": _own_ms(spent.pop()) if name == "constrained" and spent
                                   else None})  # fmt: skip
        summary = {
            name: {
                "tokens": statistics.median(row["tokens"] for row in found),
                "ms_per_token": statistics.median(row["ms_per_token"] for row in found),
                "ttft_ms": statistics.median(row["ttft_ms"] for row in found),
                "parses": sum(row["parses"] for row in found),
            }
            for name, found in rows.items()
        }
        return {
            "model": model, "backend": engine.model.backend, "device": engine.model.device, "runs": runs,
            "compile_ms": compile_ms, **summary,
            "constraint_ms_per_token": statistics.median(r["own_ms_per_token"] for r in rows["constrained"])
            if all(r["own_ms_per_token"] is not None for r in rows["constrained"]) else None,
            "ms_per_token_ratio": paired_ratio([r["ms_per_token"] for r in rows["constrained"]],
                                               [r["ms_per_token"] for r in rows["free"]]),
            "ttft_ratio": paired_ratio([r["ttft_ms"] for r in rows["constrained"]], [r["ttft_ms"] for r in rows["free"]]),
        }  # fmt: skip
    finally:
        engine.close()


def _constraint_timer(model) -> list:
    """The constraint processors of the constrained answers, newest last, where the backend times them (torch's
    count ``steps`` and ``spent_s``); empty for a backend that does not."""
    grammars = getattr(model, "json_grammars", None)
    made: list = []
    if grammars is not None:
        make = grammars.processor
        grammars.processor = lambda schema, rows=1: made.append(make(schema, rows)) or made[-1]
    return made


def _own_ms(processor) -> float:
    return processor.spent_s * 1000 / max(processor.steps, 1)


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
