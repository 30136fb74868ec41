"""In-memory frames, and how a target finds its source."""

import numpy as np
import pytest
from PIL import Image

from trio_core.errors import MediaError, PluginNotFoundError
from trio_core.frames import SamplingPlan
from trio_core.plugins import registry
from trio_core.sources import ArraySource, FileSource, HttpSource, find_source, read_frames
from trio_core.testing import free_port

PLAN = SamplingPlan(fps=2.0, min_frames=2, max_frames=16, max_side=640)
SOURCES = [FileSource(), HttpSource(), ArraySource()]


def video(count, height=48, width=64):
    """``(count, height, width, 3)`` frames whose every pixel holds the frame's number."""
    return np.stack([np.full((height, width, 3), i, np.uint8) for i in range(count)])


def test_an_rgb_array_is_one_frame():
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    (frame,) = ArraySource().open(image, PLAN)
    assert np.array_equal(frame.image, image)
    assert (frame.timestamp, frame.index) == (0.0, 0)


def test_a_stack_of_frames_is_a_clip_at_plan_fps():
    frames = ArraySource().open(video(5), PLAN)
    assert [frame.index for frame in frames] == [0, 1, 2, 3, 4]
    assert [frame.timestamp for frame in frames] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert [int(frame.image[0, 0, 0]) for frame in frames] == [0, 1, 2, 3, 4]


def test_more_frames_than_max_frames_are_subsampled_uniformly():
    frames = ArraySource().open(video(100), SamplingPlan(fps=2.0, max_frames=4, max_side=640))
    assert [frame.index for frame in frames] == [12, 37, 62, 87]
    assert [int(frame.image[0, 0, 0]) for frame in frames] == [12, 37, 62, 87]
    assert [frame.timestamp for frame in frames] == [6.0, 18.5, 31.0, 43.5]


def test_frames_are_scaled_down_to_max_side():
    (frame,) = ArraySource().open(np.zeros((1000, 2000, 3), np.uint8), SamplingPlan(max_side=500))
    assert frame.image.shape == (250, 500, 3)


def test_lists_of_arrays_and_pil_images():
    items = [np.zeros((20, 30, 3), np.uint8), Image.new("RGB", (30, 20), (9, 9, 9)), Image.new("L", (30, 20), 7)]
    frames = ArraySource().open(items, PLAN)
    assert [frame.image.shape for frame in frames] == [(20, 30, 3)] * 3
    assert [int(frame.image[0, 0, 0]) for frame in frames] == [0, 9, 7]


def test_grayscale_rgba_and_float_arrays_are_converted_to_rgb_uint8():
    gray, rgba = np.full((4, 6), 100, np.uint8), np.full((4, 6, 4), 50, np.uint8)
    unit, wide = np.full((4, 6, 3), 0.5), np.full((4, 6, 3), 300, np.int32)
    images = [frame.image for frame in ArraySource().open([gray, rgba, unit, wide], PLAN)]
    assert all(image.shape == (4, 6, 3) and image.dtype == np.uint8 for image in images)
    assert [int(image[0, 0, 0]) for image in images] == [100, 50, 128, 255]


@pytest.mark.parametrize(
    "target, problem",
    [
        (np.zeros((4, 6, 5), np.uint8), "has shape (4, 6, 5)"),
        (np.zeros((4,), np.uint8), "has shape (4,)"),
        (np.zeros((2, 3, 4, 6, 3), np.uint8), "has shape (2, 3, 4, 6, 3)"),
        (np.zeros((0, 4, 6, 3), np.uint8), "no empty dimension"),
        (np.zeros((4, 0, 3), np.uint8), "no empty dimension"),
        (np.array([["a", "b"], ["c", "d"]]), "has dtype <U1"),
        (np.full((2, 2, 3), None, dtype=object), "has dtype object"),
        ([], "The list of frames is empty"),
        ([np.zeros((4, 6, 3), np.uint8), np.zeros((4, 6, 2), np.uint8)], "Frame 1 of the list has shape (4, 6, 2)"),
    ],
)
def test_a_bad_array_is_one_media_error(target, problem):
    with pytest.raises(MediaError) as caught:
        ArraySource().open(target, PLAN)
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_each_target_finds_its_source():
    assert find_source("clip.mp4", SOURCES).name == "file"
    assert find_source("C:\\videos\\clip.mp4", SOURCES).name == "file"
    assert find_source("file:///videos/clip.mp4", SOURCES).name == "file"
    assert find_source("https://example.com/clip.mp4", SOURCES).name == "http"
    assert find_source(np.zeros((4, 4, 3), np.uint8), SOURCES).name == "array"
    assert find_source([Image.new("RGB", (4, 4))], SOURCES).name == "array"


def test_a_scheme_with_a_typo_is_told_the_one_it_is_close_to():
    with pytest.raises(PluginNotFoundError) as caught:
        find_source("rtps://127.0.0.1/stream1", registry().objects("frame source"))
    assert "did you mean rtsp://?" in str(caught.value)


def test_an_unknown_scheme_or_object_is_a_plugin_not_found_error():
    with pytest.raises(PluginNotFoundError, match="No frame source called 'ftp'"):
        find_source("ftp://example.com/clip.mp4", SOURCES)
    with pytest.raises(PluginNotFoundError, match="No frame source can read a dict"):
        find_source({"frames": []}, SOURCES)


def test_the_built_in_sources_are_registered_plugins():
    frames = read_frames(video(3), PLAN)
    assert len(frames) == 3
    assert [source.name for source in registry().objects("frame source")] == [
        "file", "stream", "http", "webcam", "array"
    ]  # fmt: skip
    with pytest.raises(MediaError, match="Nothing is listening at 127.0.0.1:"):
        read_frames(f"rtsp://127.0.0.1:{free_port()}/stream1", PLAN)


def test_sources_describe_their_schemes():
    assert HttpSource().describe() == {"schemes": ["http", "https"]}
    assert FileSource().describe() == {"schemes": ["file"]}


def test_a_single_pil_image_is_one_frame():
    from PIL import Image

    from trio_core.config import EngineConfig
    from trio_core.frames import SamplingPlan
    from trio_core.sources import read_frames

    image = Image.new("RGB", (40, 30), (200, 10, 10))
    (frame,) = read_frames(image, SamplingPlan(max_frames=1), EngineConfig())
    assert frame.image.shape == (30, 40, 3)
    assert frame.image.flags.writeable
    assert tuple(frame.image[0, 0]) == (200, 10, 10)
