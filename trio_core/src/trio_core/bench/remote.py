"""``trio bench remote``: the remote backend against the local one on the same model, and what it sends.

Both paths answer the same questions about the same frames in one run: the local backend calls
the model in this process; the remote backend (trio-backend-openai) sends the frames as JPEG (or
an MP4 clip) over HTTP to a ``trio serve`` running that same loaded model, here on loopback
(or to ``--endpoint``). The rounds alternate which path goes first; the ratio is the median of
the per-round ratios. Then a watch's traffic: several conditions asked about each of a run of
frames, with media ids (each picture's bytes sent once) and without.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import threading
import time
from collections.abc import Iterator

import click

from ..frames import synthetic_frames
from ..testing import free_port
from .harness import alternating_rounds, paired_ratio, percentile

CONDITIONS = ("Is there a red square?", "Is there a blue circle?", "Is there a yellow triangle?")


@click.command("remote")
@click.option("--model", default="trio-tiny", show_default=True, help="Model on both paths (hub id, folder, name).")
@click.option("--endpoint", help="A server already serving --model; default: a trio serve started here on loopback.")
@click.option("--runs", type=click.IntRange(3, 1000), default=15, show_default=True, help="Paired rounds.")
@click.option("--frames", "frame_count", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Frames of the clip asked about.")  # fmt: skip
@click.option("--size", type=click.IntRange(28, 1344), default=336, show_default=True, help="Frame side, pixels.")
@click.option("--max-tokens", type=click.IntRange(1, 4096), default=8, show_default=True)
@click.option("--remote-only", is_flag=True, help="Only the remote path's latency (p50, p95): no local model here.")
@click.option("--json", "as_json", is_flag=True)
def remote_bench(model, endpoint, runs, frame_count, size, max_tokens, remote_only, as_json):
    """Remote backend vs local backend on one model (median ratio of paired rounds), and bytes per analysed frame
    with and without media ids. With --endpoint --remote-only: that server's latency, for sizing."""
    if remote_only:
        if endpoint is None:
            raise click.UsageError("--remote-only measures a server you name: give --endpoint URL too.")
        report = latency(model, endpoint, runs=runs, size=size, max_tokens=max_tokens)
        if as_json:
            click.echo(json.dumps(report, indent=2))
        else:
            click.echo(f"{endpoint}, model {model}, one {size}px frame, {runs} requests one at a time: p50 "
                       f"{report['p50_ms']:.1f} ms, p95 {report['p95_ms']:.1f} ms")  # fmt: skip
        return
    report = measure(model, endpoint=endpoint, runs=runs, frame_count=frame_count, size=size, max_tokens=max_tokens)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"model {report['model']}, {report['frames']} frame(s) of {size}px, {runs} paired rounds, "
               f"remote: {report['endpoint']} ({report['media']})")  # fmt: skip
    for name in ("frame", "clip", "clip as MP4"):
        row = report[name]
        click.echo(
            f"{name:>14}: local p50 {row['local_p50_ms']:.1f} ms | remote p50 {row['remote_p50_ms']:.1f} ms, "
            f"p95 {row['remote_p95_ms']:.1f} ms | remote/local {row['ratio']:.3f} | same answers "
            f"{row['same_answers']}/{row['rounds']}"
        )
    traffic = report["traffic"]
    click.echo(
        f"watch traffic, {traffic['frames']} frames x {traffic['conditions']} conditions: "
        f"{traffic['bytes_per_frame_without_ids'] / 1024:.1f} KiB per analysed frame without media ids, "
        f"{traffic['bytes_per_frame_with_ids'] / 1024:.1f} KiB with ({traffic['saving']:.2f}x less)"
    )


@contextlib.contextmanager
def loopback_server(engine) -> Iterator[str]:
    """``trio serve`` on ``engine`` (already loaded) in this process, on a free loopback port; yields its base URL."""
    import uvicorn

    from ..server import create_app
    from ..server.settings import ServerSettings

    app = create_app(engine.config, ServerSettings(queue_size=64), engine=engine)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def measure(model: str, *, endpoint: str | None, runs: int, frame_count: int, size: int, max_tokens: int) -> dict:
    from ..sdk import TrioCore

    common = {"model": model, "max_tokens": max_tokens, "dedup_threshold": 0.0, "fps": 2.0, "min_frames": 1,
              "max_frames": max(frame_count, 1), "max_side": size}  # fmt: skip
    local = TrioCore(**common).load()
    try:
        with contextlib.ExitStack() as stack:
            url = endpoint or stack.enter_context(loopback_server(local))
            remote = stack.enter_context(contextlib.closing(TrioCore(**common, endpoints=[url]).load()))
            # The same clips as an MP4 (a video_url), where the server takes one: fewer bytes than JPEGs, more CPU
            # on both sides, and sampled again by the server.
            as_mp4 = TrioCore(**common, endpoints=[url], backend_settings={"openai": {"media": "video_url"}})
            as_mp4 = stack.enter_context(contextlib.closing(as_mp4.load()))
            # A new picture every round, as a camera gives: nothing is cached by id or encoded ahead.
            frames = synthetic_frames(runs + frame_count + 1, size)
            rows = {
                "frame": paired(
                    local, remote, lambda engine, at: engine.analyze_frame(frames[at], CONDITIONS[0], yes_no=True), runs
                ),  # fmt: skip
                "clip": paired(
                    local,
                    remote,
                    lambda engine, at: engine.analyze_video(frames[at : at + frame_count], CONDITIONS[0], yes_no=True),
                    runs,
                ),  # fmt: skip
            }
            rows["clip as MP4"] = paired(local, as_mp4, lambda engine, at: engine.analyze_video(
                frames[at : at + frame_count], CONDITIONS[0], yes_no=True), runs)  # fmt: skip
            capabilities = remote.model.endpoints_report()[0]["capabilities"] or {}
            traffic = watch_traffic(common, url, synthetic_frames(8, size))
        return {"model": model, "endpoint": "trio serve on loopback" if endpoint is None else endpoint,
                "media": f"video as {capabilities.get('video')}", "frames": frame_count, "runs": runs, **rows,
                "traffic": traffic}  # fmt: skip
    finally:
        local.close()


def paired(local, remote, ask, runs: int) -> dict:
    """``ask(engine, round)`` on both engines, ``runs`` rounds, which goes first alternating; times and answers
    compared."""
    ask(local, runs), ask(remote, runs)  # warm-up (on a picture no round uses): encoders, connections
    paths = {"local": lambda at: ask(local, at).text, "remote": lambda at: ask(remote, at).text}
    times, answers = alternating_rounds(runs, paths)
    same = sum(answer["local"] == answer["remote"] for answer in answers)
    return {
        "rounds": runs,
        "local_p50_ms": statistics.median(times["local"]),
        "remote_p50_ms": statistics.median(times["remote"]),
        "remote_p95_ms": percentile(times["remote"], 0.95),
        "ratio": paired_ratio(times["remote"], times["local"]),
        "same_answers": same,
    }


def watch_traffic(common: dict, url: str, frames: list) -> dict:
    """Bytes sent per analysed frame when every condition is asked about each frame, with and without ids."""
    from ..sdk import TrioCore

    sent = {}
    for ids in ("off", "on"):
        engine = TrioCore(**common, endpoints=[url], backend_settings={"openai": {"media_ids": ids}}).load()
        try:
            total = 0
            for frame in frames:
                results = engine.analyze_frame_each(frame, list(CONDITIONS), yes_no=True)
                total += sum(result.metrics.sent_bytes for result in results)
            sent[ids] = total / len(frames)
        finally:
            engine.close()
    return {
        "frames": len(frames),
        "conditions": len(CONDITIONS),
        "bytes_per_frame_without_ids": sent["off"],
        "bytes_per_frame_with_ids": sent["on"],
        "saving": sent["off"] / sent["on"] if sent["on"] else 0.0,
    }


def latency(model: str, endpoint: str, *, runs: int, size: int, max_tokens: int) -> dict:
    """One new frame a request, one request at a time, as a watch condition asks: the server's p50 and p95."""
    from ..sdk import TrioCore

    engine = TrioCore(model=model, endpoints=[endpoint], max_tokens=max_tokens, max_side=size).load()
    try:
        frames = synthetic_frames(runs + 1, size)
        engine.analyze_frame(frames[runs], CONDITIONS[0], yes_no=True)  # warm-up
        times = []
        for frame in frames[:runs]:
            started = time.perf_counter()
            engine.analyze_frame(frame, CONDITIONS[0], yes_no=True)
            times.append((time.perf_counter() - started) * 1000)
        return {"endpoint": endpoint, "model": model, "runs": runs, "p50_ms": statistics.median(times),
                "p95_ms": percentile(times, 0.95), "times_ms": times}  # fmt: skip
    finally:
        engine.close()
