"""``trio bench watch``: the watch engine measured with trio-tiny, on live RTSP streams and files made for it.

Five measurements, each in one run (``--only`` picks some):

- ``latency``: an orange square appears in a live RTSP stream (trio's simulated camera,
  GStreamer's RTSP server on loopback); from the stream time at which it appears to the
  ``alert`` event, in analysed frames and in seconds (the alerting frame's distance from the
  appearance plus its lag behind live), over ``--rounds`` fresh connections. The target is
  one sampling interval plus one inference.
- ``lag``: a stream faster than trio-tiny answers, watched at its own frame rate for
  ``--duration`` seconds: the largest lag behind live, and how many frames were dropped (not
  queued).
- ``gate``: static footage with a few short events, watched with the motion gate and without
  any filter: the share of inferences the gate skips, and the events each run alerted on.
- ``conditions``: the cost of 4 conditions per frame against 1, on the same fresh frames, in
  paired rounds, with and without kvreuse (which shares the frame's prefix and decodes the
  questions as one batch).
- ``cameras``: 1, 2, 4, ... simultaneous watches of RTSP streams at 1 frame a second on this
  machine, sharing one model: the largest number at which every watch analyses its frame
  every second and answers within the second.

The live parts need GStreamer's RTSP server in the system's Python (on Debian:
``trio_core.testing.rtsp_camera.DEBIAN_PACKAGES``); without it they are reported as skipped, with why.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import click
import numpy as np

from trio_core.bench import percentile

from .plugin import DEMO

ORANGE = "Is there an orange square?"
CONDITIONS = [ORANGE, "Is there a purple triangle?", "Is there a blue circle?", "Is there a green star?"]
APPEARS_AT = 4.0  # seconds into the latency clip
CLIP_FPS = 8
PARTS = ("latency", "lag", "gate", "conditions", "cameras")


@click.command("watch")
@click.option("--only", multiple=True, type=click.Choice(PARTS), help="Run only these measurements (repeatable).")
@click.option(
    "--rounds", type=click.IntRange(1, 100), default=5, show_default=True, help="Latency and conditions rounds."
)
@click.option("--duration", type=click.FloatRange(5, 3600), default=60.0, show_default=True,
              help="Seconds of the lag-under-load stream.")  # fmt: skip
@click.option("--camera-seconds", type=click.FloatRange(5, 600), default=20.0, show_default=True,
              help="Seconds each number of simultaneous cameras runs.")  # fmt: skip
@click.option("--max-cameras", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--model", "conditions_model", default="trio-tiny", show_default=True,
              help="The model of the conditions measurement (a local checkpoint, say); the others need trio-tiny's "
              "knowledge of the shapes.")  # fmt: skip
@click.option("--max-tokens", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Most tokens of each answer in the conditions measurement (a watch's default; a trained model "
              "says yes or no in 2, a random-weight one always uses them all).")  # fmt: skip
@click.option("--size", type=click.IntRange(56, 1344), default=224, show_default=True,
              help="Frame side of the conditions measurement (trio-tiny was trained at 224).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def watch_bench(only, rounds, duration, camera_seconds, max_cameras, conditions_model, max_tokens, size, as_json):
    """The watch engine with trio-tiny: alert latency, lag under load, motion gate, conditions, cameras."""
    from trio_core.testing.rtsp_camera import gstreamer_problem

    parts = only or PARTS
    problem = gstreamer_problem() if {"latency", "lag", "cameras"} & set(parts) else None
    report: dict = {"model": "trio-tiny"}
    with tempfile.TemporaryDirectory(prefix="trio-bench-watch-") as scratch:
        clips = Clips(Path(scratch))
        for part in parts:
            click.echo(f"measuring {part}...", err=True)
            if part in ("latency", "lag", "cameras") and problem:
                report[part] = {"skipped": problem}
            elif part == "latency":
                report[part] = measure_latency(clips, rounds)
            elif part == "lag":
                report[part] = measure_lag(clips, duration)
            elif part == "gate":
                report[part] = measure_gate(clips)
            elif part == "conditions":
                report[part] = measure_conditions(rounds, model=conditions_model, max_tokens=max_tokens, size=size)
            else:
                report[part] = measure_cameras(clips, camera_seconds, max_cameras)
    click.echo(json.dumps(report, indent=2) if as_json else render(report))


# The footage -------------------------------------------------------------------------------


def demo_frames() -> list[np.ndarray]:
    """The bundled clip's 8 frames (224 x 224): trio-tiny's orange square moving over a dark background."""
    import av

    with av.open(str(DEMO / "moving.mp4")) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def write_clip(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=round(fps))
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, round(fps))  # a keyframe a second: a client sees a picture at once
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.options = {"qscale": "2"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


class Clips:
    """The clips the measurements play, written once into ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.square = demo_frames()
        self.empty = np.full_like(self.square[0], self.square[0][0, 0])

    def appears(self) -> Path:
        """APPEARS_AT seconds of the empty background, then the square (which the camera then holds)."""
        path = self.folder / "appears.mp4"
        if not path.exists():
            square = [frame for frame in self.square for _ in range(CLIP_FPS // 4)]
            write_clip(path, [self.empty] * round(APPEARS_AT * CLIP_FPS) + square, CLIP_FPS)
        return path

    def moving(self, fps: int) -> Path:
        """The square moving, forever changing (the camera holds its last frame: enough for 60 s at 30 fps)."""
        path = self.folder / f"moving-{fps}.mp4"
        if not path.exists():
            frames = [self.square[(index // max(1, fps // 4)) % len(self.square)] for index in range(fps * 8)]
            write_clip(path, frames, fps)
        return path

    def static_with_events(self, fps: int = 4, seconds: float = 40.0, events=(8.0, 20.0, 32.0), length=1.5):
        """Static footage (the background with a little sensor noise) in which the square shows up briefly."""
        rng = np.random.default_rng(0)
        frames, spans = [], [(start, start + length) for start in events]
        for index in range(round(seconds * fps)):
            t = index / fps
            base = self.square[index % len(self.square)] if any(a <= t < b for a, b in spans) else self.empty
            noise = rng.normal(0, 2.0, base.shape)
            frames.append(np.clip(base + noise, 0, 255).astype(np.uint8))
        return write_clip(self.folder / "static.mp4", frames, fps), spans


# The measurements --------------------------------------------------------------------------


def tiny(**settings):
    from trio_core import TrioCore

    return TrioCore(model="trio-tiny", **settings).load()


def measure_latency(clips: Clips, rounds: int, fps: float = 2.0) -> dict:
    """From the square's appearance in a live RTSP stream to the alert, over fresh connections."""
    from trio_core.testing.rtsp_camera import RtspCamera

    engine = tiny(max_tokens=4)
    seconds, frames, latencies = [], [], []
    with RtspCamera(clips.appears(), fps=CLIP_FPS) as camera:
        for _ in range(rounds):
            watch = engine.watch(camera.url, [ORANGE], fps=fps, cooldown_s=0)
            after = 0  # frames analysed from the appearance on
            for event in watch:
                if event.type == "result":
                    latencies.append(event.details["latency_ms"])
                    if event.pts >= APPEARS_AT:
                        after += 1
                    lag = event.details.get("lag_s", 0.0)
                if event.type == "alert":
                    seconds.append(event.pts - APPEARS_AT + lag)
                    frames.append(after)
                    watch.stop()
                if event.type == "result" and event.pts > APPEARS_AT + 10:
                    watch.stop()  # it never alerted: a miss
    inference = statistics.median(latencies) / 1000
    return {
        "rounds": rounds,
        "fps": fps,
        "alerts": len(seconds),
        "p50_s": percentile(seconds, 0.5) if seconds else None,
        "p95_s": percentile(seconds, 0.95) if seconds else None,
        "p50_frames": percentile(frames, 0.5) if frames else None,
        "p95_frames": percentile(frames, 0.95) if frames else None,
        "inference_s": inference,
        "target_s": 1 / fps + inference,
    }


def measure_lag(clips: Clips, duration: float, stream_fps: int = 30) -> dict:
    """A stream faster than trio-tiny answers 4 conditions, watched at its own rate for ``duration`` seconds."""
    from trio_core.testing.rtsp_camera import RtspCamera

    engine = tiny(max_tokens=4, dedup_threshold=0)
    lags, latencies = [], []
    with RtspCamera(clips.moving(stream_fps), fps=stream_fps) as camera:
        watch = engine.watch(camera.url, CONDITIONS, fps=stream_fps)
        started = time.monotonic()
        ended = {}
        for event in watch:
            if event.type == "result" and event.condition == "is-there-an-orange-square":
                lags.append(event.details["lag_s"])
                latencies.append(event.details["latency_ms"] / 1000)
            if time.monotonic() - started >= duration:
                watch.stop()
            if event.type == "ended":
                ended = event.details
    return {
        "duration_s": duration,
        "stream_fps": stream_fps,
        "conditions": len(CONDITIONS),
        "analysed": ended["frames_analysed"],
        "seen": ended["frames_seen"],
        "dropped": ended["frames_dropped"],
        "max_lag_s": max(lags),
        "p95_lag_s": percentile(lags, 0.95),
        "max_inference_s": max(latencies),
        "first_half_max_lag_s": max(lags[: len(lags) // 2]),
        "second_half_max_lag_s": max(lags[len(lags) // 2 :]),
    }


def measure_gate(clips: Clips) -> dict:
    """Static footage with three short events: inferences with the motion gate against none at all, same file."""
    path, spans = clips.static_with_events()
    runs = {}
    for name, settings in {
        "motion gate": {"filter_settings": {"motion_gate": {"enabled": True}, "dedup": {"enabled": False}}},
        "no filter": {"filter_settings": {"dedup": {"enabled": False}}},
    }.items():
        engine = tiny(max_tokens=4, **settings)
        events = [event for event in engine.watch(str(path), [ORANGE], fps=4, cooldown_s=0)]
        ended = events[-1].details
        alerts = [event.pts for event in events if event.type == "alert"]
        caught = sum(any(a <= pts < b + 0.5 for pts in alerts) for a, b in spans)
        runs[name] = {
            "seen": ended["frames_seen"],
            "analysed": ended["frames_analysed"],
            "gated": ended["frames_gated"],
            "events": len(spans),
            "caught": caught,
            "false_alerts": sum(not any(a <= pts < b + 0.5 for a, b in spans) for pts in alerts),
        }
    gate = runs["motion gate"]
    return {**runs, "skipped_share": gate["gated"] / gate["seen"], "missed": gate["events"] - gate["caught"]}


def measure_conditions(
    rounds: int, count: int = 6, model: str = "trio-tiny", max_tokens: int = 8, size: int = 224
) -> dict:
    """4 conditions per frame against 1, on fresh random scenes (no cache hit between the sides), paired rounds."""
    from trio_core.frames import Frame, SamplingPlan
    from trio_core.metrics import Metrics
    from trio_core.pipeline import Clip

    from .scenes import random_scene

    def scenes(seed: int) -> list:
        rng = np.random.default_rng(seed)
        plan = SamplingPlan(fps=1, min_frames=1, max_frames=1, max_side=size)
        images = [random_scene(rng, size=size)[0] for _ in range(count)]
        return [Clip([Frame(image, 0.0, 0)], plan, Metrics(frames_in=1, frames_used=1), 0.0) for image in images]

    def seconds(engine, clips, questions) -> float:
        started = time.perf_counter()
        for clip in clips:
            engine.analyze_frame_each(clip, questions, yes_no=True, max_tokens=max_tokens)
        return time.perf_counter() - started

    from trio_core import TrioCore

    report = {"model": model, "rounds": rounds, "frames_per_round": count, "max_tokens": max_tokens, "size": size}
    for name, optimizers in (("plain", []), ("kvreuse", ["kvreuse"])):
        engine = TrioCore(model=model, optimizers=optimizers).load()
        seconds(engine, scenes(10_000), CONDITIONS)  # warm-up
        ratios = []
        for round_index in range(rounds):
            one, four = scenes(2 * round_index), scenes(2 * round_index + 1)
            if round_index % 2:
                many = seconds(engine, four, CONDITIONS)
                single = seconds(engine, one, CONDITIONS[:1])
            else:
                single = seconds(engine, one, CONDITIONS[:1])
                many = seconds(engine, four, CONDITIONS)
            ratios.append(many / single)
        report[name] = {"ratio_4_vs_1": statistics.median(ratios), "ratios": ratios}
    return report


def measure_cameras(clips: Clips, seconds: float, most: int, fps: float = 1.0) -> dict:
    """Simultaneous RTSP watches at ``fps`` on one model: the largest count at which every one keeps up."""
    from trio_core.testing.rtsp_camera import RtspCamera
    from trio_core.watch import Watch, WatchSettings

    engine = tiny(max_tokens=4, dedup_threshold=0)
    lock = threading.Lock()

    @contextlib.contextmanager
    def turn():
        with lock:  # one model, one inference at a time, as the server's queue does
            yield engine

    def keeps_up(camera, count: int) -> dict:
        watches = [Watch(engine, camera.url, [ORANGE], WatchSettings(fps=fps), turn=turn).open() for _ in range(count)]
        results: list[list[dict]] = [[] for _ in watches]
        threads = [
            threading.Thread(target=collect, args=(watch, found), daemon=True)
            for watch, found in zip(watches, results, strict=True)
        ]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        for watch in watches:
            watch.stop()
        for thread in threads:
            thread.join(timeout=30)
        rates = [len(items) / seconds for items in results]
        worst_lag = max((item["lag_s"] for items in results for item in items), default=float("inf"))
        kept_up = min(rates) >= 0.9 * fps * (seconds - 2) / seconds and worst_lag <= 1 / fps
        return {"cameras": count, "min_rate": min(rates), "max_lag_s": worst_lag, "kept_up": kept_up}

    # Doubling until a count falls behind, then halving the gap between the last that kept up and it.
    counts, largest, behind = [], 0, None
    with RtspCamera(clips.moving(10), fps=10) as camera:
        count = 1
        while count <= most and (behind is None or behind - largest > 1):
            run = keeps_up(camera, count)
            counts.append(run)
            if run["kept_up"]:
                largest = count
            else:
                behind = count
            count = count * 2 if behind is None else (largest + behind) // 2
    return {"fps": fps, "seconds": seconds, "runs": counts, "largest": largest}


def collect(watch, results: list[dict]) -> None:
    """A watch's results (on its own thread), until it ends."""
    for event in watch:
        if event.type == "result":
            results.append(event.details)


# The report -------------------------------------------------------------------------------


def render(report: dict) -> str:
    lines = [f"trio bench watch, model {report['model']}"]
    for part in PARTS:
        if part not in report:
            continue
        data = report[part]
        if "skipped" in data:
            lines.append(f"{part}: skipped ({data['skipped']})")
        elif part == "latency":
            lines.append(
                f"alert latency over live RTSP, {data['rounds']} connections at {data['fps']:g} fps: "
                f"{data['alerts']}/{data['rounds']} alerted | p50 {data['p50_s']:.2f} s, p95 {data['p95_s']:.2f} s | "
                f"p50 {data['p50_frames']:.0f}, p95 {data['p95_frames']:.0f} analysed frame(s) | target "
                f"{data['target_s']:.2f} s (one interval + one {data['inference_s'] * 1000:.0f} ms inference)"
            )
        elif part == "lag":
            lines.append(
                f"lag under load, {data['duration_s']:g} s of a {data['stream_fps']} fps stream, {data['conditions']} "
                f"conditions: {data['analysed']} frames analysed, {data['dropped']} dropped unanalysed (none queued) | lag "
                f"max {data['max_lag_s']:.2f} s (first half {data['first_half_max_lag_s']:.2f}, second half "
                f"{data['second_half_max_lag_s']:.2f}), p95 {data['p95_lag_s']:.2f} s | slowest inference "
                f"{data['max_inference_s']:.2f} s"
            )
        elif part == "gate":
            gate, none = data["motion gate"], data["no filter"]
            lines.append(
                f"motion gate on static footage with {gate['events']} short events: {data['skipped_share']:.0%} of "
                f"{gate['seen']} frames skipped ({gate['analysed']} inferences against {none['analysed']}) | events "
                f"caught {gate['caught']}/{gate['events']} (no filter: {none['caught']}/{none['events']}) | "
                f"missed {data['missed']} | false alerts {gate['false_alerts']} (no filter: {none['false_alerts']})"
            )
        elif part == "conditions":
            lines.append(
                f"4 conditions against 1 on {data['model']}, {data['size']}x{data['size']} frames, at most "
                f"{data['max_tokens']} tokens an answer, same fresh frames, median of {data['rounds']} paired rounds: "
                f"{data['kvreuse']['ratio_4_vs_1']:.2f}x with kvreuse, {data['plain']['ratio_4_vs_1']:.2f}x without"
            )
        else:
            runs = ", ".join(
                f"{run['cameras']}: {run['min_rate']:.2f}/s, lag {run['max_lag_s']:.2f} s{'' if run['kept_up'] else ' (behind)'}"
                for run in sorted(data["runs"], key=lambda run: run["cameras"])
            )
            lines.append(
                f"cameras at {data['fps']:g} fps on one trio-tiny here: {data['largest']} keep up "
                f"(each analysed ~1/s, lag <= {1 / data['fps']:g} s) | {runs}"
            )
    return "\n".join(lines)
