"""The file source: real video and image files, sampled by seeking, and every way a file can be bad."""

import math
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.media import (
    audio_only_file,
    cut,
    damage,
    frame_number,
    mp4_payload,
    numbered_clip,
    numbered_frames,
    rotate_mp4,
    scene,
    write_clip,
)
from trio_core.errors import MediaError
from trio_core.frames import SamplingPlan
from trio_core.sources import FileSource, VideoFrames, open_media_file, uri_scheme

FULL_SIZE = SamplingPlan(fps=2.0, min_frames=2, max_frames=16, max_side=None)


def sample(path, plan=FULL_SIZE):
    return list(FileSource().open(str(path), plan))


def numbers(frames):
    return [frame_number(frame.image) for frame in frames]


def on_screen(timestamps, fps):
    """The number of the frame displayed at each time, in a constant-rate clip."""
    return [math.floor(t * fps + 1e-9) for t in timestamps]


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def long_clip(clips):
    """A minute at 30 fps with a keyframe every second: 1800 frames."""
    return numbered_clip(clips / "long.mp4", 1800, 30, keyframe_interval=30)


# --- Sampling -------------------------------------------------------------------------------


def test_each_sample_is_the_frame_on_screen_at_its_timestamp(clips):
    path = numbered_clip(clips / "three_seconds.mp4", 90, 30)
    video = VideoFrames(path, FULL_SIZE)
    frames = list(video)
    assert video.timestamps == pytest.approx([0.25, 0.75, 1.25, 1.75, 2.25, 2.75])
    assert numbers(frames) == on_screen(video.timestamps, 30) == [7, 22, 37, 52, 67, 82]
    assert [frame.index for frame in frames] == [7, 22, 37, 52, 67, 82]
    assert [frame.timestamp for frame in frames] == pytest.approx([n / 30 for n in [7, 22, 37, 52, 67, 82]], abs=1e-3)


def test_video_info_comes_from_the_headers(clips):
    video = VideoFrames(numbered_clip(clips / "info.mp4", 45, 15), FULL_SIZE)
    assert video.info.duration == pytest.approx(3.0)
    assert video.info.fps == pytest.approx(15.0)
    assert video.info.frame_count == 45
    assert (video.info.width, video.info.height, video.info.codec) == (96, 64, "mpeg4")


@pytest.mark.parametrize("fps, count", [(Fraction(30000, 1001), 100), (7, 20), (Fraction(24000, 1001), 50), (60, 30)])
def test_odd_frame_rates(clips, fps, count):
    path = numbered_clip(clips / f"rate_{float(fps):.3f}.mp4", count, fps)
    video = VideoFrames(path, FULL_SIZE)
    frames = list(video)
    assert video.info.fps == pytest.approx(float(fps), rel=1e-3)
    assert len(frames) == len(video.timestamps) == min(16, max(2, math.floor(count / float(fps) * 2 + 0.5)))
    assert numbers(frames) == on_screen(video.timestamps, float(fps))
    assert [frame.index for frame in frames] == numbers(frames)


@pytest.mark.parametrize(
    "name, options",
    [
        ("h264.mp4", {"codec": "libx264"}),  # B-frames: decode order differs from display order
        ("vp8.webm", {"codec": "libvpx"}),
        ("vp9.webm", {"codec": "libvpx-vp9"}),
        ("mpeg4.mkv", {}),
        ("mpeg4.avi", {}),
        ("mpeg4.mov", {}),
    ],
)
def test_containers_and_codecs_sample_the_same_frames(clips, name, options):
    path = numbered_clip(clips / name, 60, 30, **options)
    video = VideoFrames(path, FULL_SIZE)
    assert numbers(video) == on_screen(video.timestamps, 30) == [7, 22, 37, 52]


def test_one_frame_video(clips):
    frames = sample(numbered_clip(clips / "one_frame.mp4", 1, 30))
    assert len(frames) == 1
    assert frames[0].index == 0 and frames[0].timestamp == 0.0


@pytest.mark.parametrize("count", [2, 3])
def test_very_short_clip_gives_each_frame_once(clips, count):
    path = numbered_clip(clips / f"short_{count}.mp4", count, 30)
    frames = sample(path, SamplingPlan(fps=2.0, min_frames=8, max_frames=16, max_side=None))
    assert numbers(frames) == list(range(count))


def test_min_frames_spreads_samples_over_a_short_clip(clips):
    path = numbered_clip(clips / "half_second.mp4", 15, 30)  # 0.5 s: fps alone would take 1 frame
    frames = sample(path, SamplingPlan(fps=2.0, min_frames=3, max_frames=16, max_side=None))
    assert numbers(frames) == [2, 7, 12]


def test_max_frames_caps_a_long_clip(long_clip):
    frames = sample(long_clip, SamplingPlan(fps=2.0, min_frames=2, max_frames=5, max_side=None))
    assert numbers(frames) == on_screen([6, 18, 30, 42, 54], 30)


def test_variable_frame_rate_uses_presentation_times(clips):
    times = [0.0, 0.1, 0.2, 1.5, 1.6, 3.0, 3.05, 3.1, 4.0]
    path = write_clip(clips / "vfr.mp4", numbered_frames(len(times)), 10, times=times)
    video = VideoFrames(path, FULL_SIZE)
    frames = list(video)
    shown = [max(i for i, t in enumerate(times) if t <= target) for target in video.timestamps]
    expected = sorted(set(shown))  # several targets fall inside one long-lasting frame: it comes once
    assert numbers(frames) == expected
    assert [frame.timestamp for frame in frames] == pytest.approx([times[i] for i in expected], abs=1e-3)
    assert len({frame.timestamp for frame in frames}) == len(frames)


# --- Seeking --------------------------------------------------------------------------------


def test_a_few_samples_of_a_long_video_decode_a_few_frames(long_clip):
    video = VideoFrames(long_clip, SamplingPlan(fps=2.0, min_frames=2, max_frames=4, max_side=None))
    frames = list(video)
    assert numbers(frames) == [225, 675, 1125, 1575]
    assert video.info.frame_count == 1800
    assert video.frames_decoded < 4 * 35  # at most about one keyframe interval per sample


def test_dense_sampling_still_decodes_less_than_everything(long_clip):
    video = VideoFrames(long_clip, SamplingPlan(fps=2.0, min_frames=2, max_frames=120, max_side=None))
    frames = list(video)
    assert len(frames) == 120
    assert numbers(frames) == on_screen(video.timestamps, 30)
    assert video.frames_decoded < 1800


@pytest.mark.parametrize(
    "name, options",
    [
        ("live.webm", {"codec": "libvpx", "seekable": False}),  # no duration, no cues
        ("live.mkv", {"seekable": False}),
        ("raw.h264", {"codec": "libx264", "format": "h264"}),  # no container: no timestamps at all
    ],
)
def test_video_without_a_duration_is_measured_then_read_in_order(clips, name, options):
    path = numbered_clip(clips / name, 90, 30, **options)
    with av.open(str(path)) as container:
        assert not container.streams.video[0].duration  # the case under test
    video = VideoFrames(path, FULL_SIZE)
    frames = list(video)
    assert video.info.duration == pytest.approx(3.0, abs=0.05)
    assert numbers(frames) == [frame.index for frame in frames] == on_screen(video.timestamps, 30)
    assert len(frames) == 6


def test_a_damaged_packet_mid_video_is_skipped(clips):
    path = numbered_clip(clips / "glitch_source.mp4", 300, 30, keyframe_interval=30)
    start, end = mp4_payload(path)
    middle = (start + end) // 2
    frames = sample(damage(path, clips / "glitch.mp4", middle, middle + 64))
    assert len(frames) == 16


def test_no_progress_output_when_stderr_is_not_a_terminal(long_clip, capfd):
    sample(long_clip)
    assert capfd.readouterr().err == ""


# --- Scaling and images ---------------------------------------------------------------------


def test_frames_are_scaled_down_to_max_side_at_decode_time(clips):
    frames = numbered_frames(10, size=(640, 360))
    path = write_clip(clips / "wide.mp4", frames, 10)
    scaled = sample(path, SamplingPlan(fps=2.0, min_frames=2, max_frames=4, max_side=320))
    assert {frame.image.shape for frame in scaled} == {(180, 320, 3)}
    assert all(frame.image.dtype == np.uint8 for frame in scaled)
    assert numbers(scaled) == on_screen([0.25, 0.75], 10)


def test_portrait_phone_video_is_turned_upright(clips):
    path = numbered_clip(clips / "landscape.mp4", 30, 30)
    upright = sample(rotate_mp4(path, clips / "portrait.mp4"))
    assert [frame.image.shape for frame in upright] == [(96, 64, 3)] * 2
    for turned, original in zip(upright, sample(path), strict=True):
        assert np.array_equal(turned.image, np.rot90(original.image, k=-1))


def test_small_frames_are_not_scaled_up(clips):
    frames = sample(numbered_clip(clips / "small.mp4", 10, 10), SamplingPlan(max_side=640))
    assert {frame.image.shape for frame in frames} == {(64, 96, 3)}


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".bmp", ".tiff"])
def test_an_image_is_one_frame(tmp_path, suffix):
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(scene((300, 200))).save(path)
    frames = sample(path, SamplingPlan(max_side=150))
    assert len(frames) == 1
    assert frames[0].image.shape == (100, 150, 3)
    assert (frames[0].timestamp, frames[0].index) == (0.0, 0)


def test_grayscale_and_transparent_images_become_rgb(tmp_path):
    Image.fromarray(np.full((20, 30), 200, np.uint8)).save(tmp_path / "gray.png")
    Image.fromarray(np.full((20, 30, 4), 90, np.uint8), mode="RGBA").save(tmp_path / "alpha.png")
    for name in ("gray.png", "alpha.png"):
        (frame,) = sample(tmp_path / name)
        assert frame.image.shape == (20, 30, 3)


def test_an_animated_gif_is_sampled_like_a_video(tmp_path):
    images = [Image.fromarray(image) for image in numbered_frames(20)]
    images[0].save(tmp_path / "anim.gif", save_all=True, append_images=images[1:], duration=100, loop=0)
    frames = sample(tmp_path / "anim.gif")
    assert len(frames) == 4  # 2 s at 2 fps
    assert numbers(frames) == [2, 7, 12, 17]


def test_paths_file_urls_and_pathlike_all_open(clips):
    path = numbered_clip(clips / "any way.mp4", 30, 30)
    by_string = numbers(sample(str(path)))
    assert numbers(sample(Path(path))) == by_string
    assert numbers(sample(path.as_uri())) == by_string  # file:///.../any%20way.mp4


def test_uri_schemes():
    assert uri_scheme("clip.mp4") == "file"
    assert uri_scheme("/videos/clip.mp4") == "file"
    assert uri_scheme("C:\\videos\\clip.mp4") == "file"
    assert uri_scheme("c:/videos/clip.mp4") == "file"
    assert uri_scheme("file:///videos/clip.mp4") == "file"
    assert uri_scheme(Path("clip.mp4")) == "file"
    assert uri_scheme("HTTPS://example.com/a.mp4") == "https"
    assert uri_scheme("rtsp://camera/stream") == "rtsp"
    assert uri_scheme(np.zeros((2, 2, 3))) is None


# --- Bad files ------------------------------------------------------------------------------


def bad_file(tmp_path, kind):
    """A path to a file that is bad in the way ``kind`` names."""
    if kind == "missing":
        return tmp_path / "missing.mp4"
    if kind == "directory":
        (tmp_path / "folder.mp4").mkdir()
        return tmp_path / "folder.mp4"
    if kind == "empty":
        (tmp_path / "empty.mp4").write_bytes(b"")
        return tmp_path / "empty.mp4"
    if kind == "random bytes":
        (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(20_000))
        return tmp_path / "noise.mp4"
    if kind == "text renamed .mp4":
        (tmp_path / "notes.mp4").write_text("meeting notes, not a video\n" * 40)
        return tmp_path / "notes.mp4"
    if kind == "mp4 cut in half":
        return cut(numbered_clip(tmp_path / "whole.mp4", 60, 30), tmp_path / "half.mp4")
    if kind == "streamable mp4 cut in half":
        return cut(numbered_clip(tmp_path / "whole.mp4", 60, 30, faststart=True), tmp_path / "half.mp4")
    if kind == "audio only (m4a)":
        return audio_only_file(tmp_path / "tone.m4a")
    if kind == "audio only (wav)":
        return audio_only_file(tmp_path / "tone.wav")
    if kind == "no decodable frame":
        path = numbered_clip(tmp_path / "whole.mp4", 60, 30)
        return damage(path, tmp_path / "scrambled.mp4", *mp4_payload(path))
    if kind == "truncated png":
        Image.fromarray(scene((300, 200))).save(tmp_path / "whole.png")
        return cut(tmp_path / "whole.png", tmp_path / "half.png")
    if kind == "random bytes .jpg":
        (tmp_path / "noise.jpg").write_bytes(np.random.default_rng(0).bytes(5_000))
        return tmp_path / "noise.jpg"
    raise AssertionError(kind)


BAD_FILES = {
    "missing": "does not exist",
    "directory": "is a directory",
    "empty": "is empty",
    "random bytes": "corrupt, truncated or in an unsupported format",
    "text renamed .mp4": "is a text file",
    "mp4 cut in half": "truncated",
    "streamable mp4 cut in half": "truncated",
    "audio only (m4a)": "no video stream",
    "audio only (wav)": "no video stream",
    "no decodable frame": "none of its frames could be decoded",
    "truncated png": "truncated",
    "random bytes .jpg": "corrupt, truncated or in an unsupported format",
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_is_one_clear_media_error(tmp_path, kind):
    path = bad_file(tmp_path, kind)
    with pytest.raises(MediaError) as caught:
        sample(path)
    message = str(caught.value)
    assert str(path) in message
    assert BAD_FILES[kind] in message
    assert "\n" not in message and message.endswith(".")
    assert not isinstance(caught.value, av.FFmpegError)
    assert caught.value.__cause__ is None  # no PyAV or Pillow traceback behind it


def test_errors_name_the_file_as_the_user_wrote_it(tmp_path):
    url = (tmp_path / "missing.mp4").as_uri()
    with pytest.raises(MediaError, match="missing.mp4' does not exist"):
        sample(url)


def test_an_unreadable_file_fails_when_opened_not_when_iterated(tmp_path):
    (tmp_path / "noise.mkv").write_bytes(os.urandom(4096))
    with pytest.raises(MediaError):
        open_media_file(tmp_path / "noise.mkv", FULL_SIZE)


def test_a_jpeg_larger_than_the_pixel_cap_is_decoded_reduced_and_other_images_are_refused(tmp_path):
    from PIL import Image

    from trio_core.frames import TooManyPixels, read_image
    from trio_core.sources.files import FileSource

    big = tmp_path / "big.jpg"
    Image.new("L", (6000, 4000), 128).save(big, quality=50)  # 24 megapixels
    with read_image(str(big), "'big.jpg'", max_pixels=16_000_000) as image:
        assert image.size == (3000, 2000)  # DCT-scaled while decoding: the full bitmap was never held
    frames = FileSource().open(str(big), SamplingPlan(max_side=640, max_pixels=16_000_000))
    assert frames[0].image.shape == (426, 640, 3)
    png = tmp_path / "big.png"
    Image.new("L", (6000, 4000), 128).save(png)
    with pytest.raises(TooManyPixels, match=r"'.*big.png' is 6000x4000 \(24 megapixels\), more than trio decodes"):
        FileSource().open(str(png), SamplingPlan(max_pixels=16_000_000))
