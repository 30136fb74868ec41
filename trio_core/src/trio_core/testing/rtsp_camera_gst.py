#!/usr/bin/python3
"""A real RTSP camera on loopback (see ``trio_core.testing.rtsp_camera``): H.264 at real-time pace, from GStreamer.

Run as a script with the system's Python, which has the GStreamer bindings (a venv has none)::

    /usr/bin/python3 .../trio_core/testing/rtsp_camera_gst.py --port 8554 [--clip clip.mp4] [--user u --password p]

It needs the Debian packages python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-rtsp and
gstreamer1.0-plugins-{base,good,bad,ugly} (x264enc is in -ugly); ``.ci/run`` installs them.

Every client gets a stream of its own that starts at the clip's first frame when it sends
PLAY, so "the square appears 4 s into the clip" means 4 s after the client connected. After
the clip's last frame the stream holds that frame (repeats it at the same rate) until the
client leaves: a camera that keeps looking at the same scene. Without ``--clip`` it serves
``videotestsrc``'s moving ball, a live source. A keyframe every second (and the parameter
sets with each) lets a client show a picture within a second of joining.

With ``--user`` and ``--password`` the server requires RTSP authentication (Basic, or
Digest with ``--auth digest``): a client without them, or with wrong ones, gets 401.

It prints ``ready`` on stdout once it listens; errors go to stderr, with exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
except (ImportError, ValueError) as error:
    sys.exit(
        f"GStreamer's RTSP server is not importable ({error}); install the Debian packages python3-gi "
        "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
        "gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav (as .ci/run does)."
    )

ELEMENTS = ("x264enc", "rtph264pay", "appsrc", "videotestsrc", "decodebin", "videoconvert", "videoscale", "videorate")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/stream", help="the mount point (default /stream)")
    parser.add_argument("--clip", help="a video file to serve; without it, a generated pattern")
    parser.add_argument("--fps", type=float, help="frames per second (default: the clip's rate, or 10 for the pattern)")
    parser.add_argument("--width", type=int, help="scale to this width (default: the clip's, or 320)")
    parser.add_argument("--height", type=int, help="scale to this height (default: the clip's, or 240)")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--auth", choices=("basic", "digest"), default="basic")
    options = parser.parse_args()
    if (options.user is None) != (options.password is None):
        parser.error("--user and --password go together")
    return options


def fraction(fps: float) -> str:
    """``fps`` as a GStreamer fraction (``7.5`` -> ``15/2``)."""
    from fractions import Fraction

    rate = Fraction(fps).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


def encoder(fps: float) -> str:
    """H.264 for a camera: no B-frames or lookahead (tune=zerolatency), a keyframe every second."""
    keyframes = max(1, round(fps))
    return (
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={keyframes} threads=1 "
        "! rtph264pay name=pay0 pt=96 config-interval=-1"
    )


class Clip:
    """A clip's frames decoded once, as raw I420 buffers, to be played to each client from the start."""

    def __init__(self, path: str, fps: float | None, width: int | None, height: int | None):
        size = "".join(f",{name}={value}" for name, value in (("width", width), ("height", height)) if value)
        rate = f",framerate={fraction(fps)}" if fps else ""
        pipeline = Gst.parse_launch(
            f"filesrc name=file ! decodebin ! videoconvert ! videoscale ! videorate "
            f"! video/x-raw,format=I420{size}{rate} ! appsink name=sink sync=false"
        )
        pipeline.get_by_name("file").set_property("location", path)
        sink, bus = pipeline.get_by_name("sink"), pipeline.get_bus()
        pipeline.set_state(Gst.State.PLAYING)
        self.frames: list[bytes] = []
        self.caps = None
        while not sink.get_property("eos"):
            sample = sink.emit("try-pull-sample", Gst.SECOND // 10)
            if sample is not None:
                self.caps = sample.get_caps()
                buffer = sample.get_buffer()
                ok, mapped = buffer.map(Gst.MapFlags.READ)
                self.frames.append(bytes(mapped.data))
                buffer.unmap(mapped)
            elif (message := bus.pop_filtered(Gst.MessageType.ERROR)) is not None:
                pipeline.set_state(Gst.State.NULL)
                sys.exit(f"cannot decode {path}: {message.parse_error()[0].message}")
        pipeline.set_state(Gst.State.NULL)
        if not self.frames:
            sys.exit(f"{path} has no video frames")
        ok, numerator, denominator = self.caps.get_structure(0).get_fraction("framerate")
        if not fps and not (ok and numerator):
            sys.exit(f"{path} has no constant frame rate; give --fps")
        self.fps = fps or numerator / denominator

    def launch(self) -> str:
        return f"( appsrc name=src format=time ! videoconvert ! {encoder(self.fps)} )"

    def configure(self, factory, media) -> None:
        """Feed this client's pipeline from frame 0, one frame each time it asks; the sinks pace it."""
        source = media.get_element().get_by_name_recurse_up("src")
        source.set_property("caps", self.caps)
        duration = round(Gst.SECOND / self.fps)
        state = {"next": 0}

        def need_data(source, length):
            index = state["next"]
            buffer = Gst.Buffer.new_wrapped(self.frames[min(index, len(self.frames) - 1)])  # then hold the last
            buffer.pts = buffer.dts = index * duration
            buffer.duration = duration
            state["next"] = index + 1
            source.emit("push-buffer", buffer)

        source.connect("need-data", need_data)


def pattern_launch(fps: float, width: int, height: int) -> str:
    return (
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},"
        f"framerate={fraction(fps)} ! videoconvert ! {encoder(fps)} )"
    )


def authentication(user: str, password: str, method: str) -> GstRtspServer.RTSPAuth:
    """Only ``user`` may see the stream; anyone else (no credentials, wrong ones) gets 401."""
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "user")
    if method == "digest":
        auth.add_digest(user, password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    else:
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    return auth


def main() -> None:
    options = arguments()
    Gst.init(None)
    missing = [name for name in ELEMENTS if Gst.ElementFactory.find(name) is None]
    if missing:
        sys.exit(
            f"GStreamer lacks {', '.join(missing)}; install gstreamer1.0-plugins-base, -good, -bad and -ugly "
            "(x264enc is in -ugly), as .ci/run does."
        )

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_shared(False)  # a pipeline per client, so each one starts at the clip's first frame
    if options.clip:
        clip = Clip(options.clip, options.fps, options.width, options.height)
        factory.set_launch(clip.launch())
        factory.connect("media-configure", clip.configure)
    else:
        factory.set_launch(pattern_launch(options.fps or 10.0, options.width or 320, options.height or 240))

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(options.port))
    if options.user is not None:
        server.set_auth(authentication(options.user, options.password, options.auth))
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )
    server.get_mount_points().add_factory(options.path, factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{options.port} (in use?)")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    try:
        main()
    except SystemExit as exit:
        if isinstance(exit.code, str):
            print(exit.code, file=sys.stderr, flush=True)
        os._exit(exit.code if isinstance(exit.code, int) else 1)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)  # at once: GStreamer's threads can keep a failing interpreter from exiting
