"""Frame filters on real decoded clips: the motion gate and temporal dedup, built from their settings as the pipeline builds them."""

import numpy as np
import pytest

from tests.media import moving_square_frames, object_enters_clip, static_clip
from trio_core.config import EngineConfig
from trio_core.errors import ConfigError, PluginNotFoundError
from trio_core.filters import MotionGate, TemporalDedup, enabled_filters
from trio_core.frames import Frame, SamplingPlan
from trio_core.plugins import registry
from trio_core.sources import FileSource

DENSE = SamplingPlan(fps=10.0, min_frames=2, max_frames=64, max_side=None)


def decode(path):
    return list(FileSource().open(str(path), DENSE))


def frames_of(images):
    return [Frame(image=image, timestamp=i / 10, index=i) for i, image in enumerate(images)]


def make_filter(name, **settings):
    """The filter called ``name`` as the pipeline builds it from these settings, or None when they turn it off."""
    chosen = enabled_filters(EngineConfig(filter_settings={name: settings}), registry())
    return next((frame_filter for frame_filter in chosen if frame_filter.name == name), None)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("filter_clips")
    return {
        "static": decode(static_clip(folder / "static.mp4", seconds=2, fps=10)),
        "enters": decode(object_enters_clip(folder / "enters.mp4", seconds=2, fps=10)),
    }


def test_a_static_clip_is_gated_to_one_frame(clips):
    assert len(clips["static"]) == 20
    kept = make_filter("motion_gate", enabled=True).apply(clips["static"])
    assert [frame.index for frame in kept] == [0]


def test_a_clip_in_which_an_object_enters_passes_the_gate(clips):
    kept = make_filter("motion_gate", enabled=True).apply(clips["enters"])
    assert kept[0].index == 0
    assert len(kept) >= 5


def test_the_gate_compares_with_the_last_kept_frame_so_slow_motion_adds_up():
    # The square moves 1 pixel a frame: too little between neighbours, enough over a few frames.
    frames = frames_of(moving_square_frames(40, size=(256, 64), side=16))
    gate = make_filter("motion_gate", enabled=True, min_area=0.02)
    kept = gate.apply(frames)
    assert 1 < len(kept) < len(frames)


def test_motion_gate_is_off_unless_configured():
    assert make_filter("motion_gate") is None


def test_dedup_drops_exact_duplicates_and_keeps_changes():
    square = moving_square_frames(3)
    images = [square[0], square[0], square[0], square[1], square[1], square[2]]
    kept = make_filter("dedup").apply(frames_of(images))
    assert [frame.index for frame in kept] == [0, 3, 5]


def test_dedup_drops_a_static_clip_down_to_its_first_frame(clips):
    kept = make_filter("dedup").apply(clips["static"])
    assert [frame.index for frame in kept] == [0]


def test_dedup_keeps_a_moving_clip(clips):
    kept = make_filter("dedup").apply(clips["enters"])
    assert len(kept) >= 5


def test_dedup_keeps_a_small_object_moving_in_a_large_still_scene():
    frames = []
    for step in range(8):
        image = np.full((240, 320, 3), 90, np.uint8)
        image[100:116, 20 + step * 30 : 36 + step * 30] = 230  # a 16 px square: 0.3% of the picture
        frames.append(image)
    assert len(make_filter("dedup").apply(frames_of(frames))) == 8


def test_dedup_is_on_by_default_and_threshold_zero_or_enabled_false_turns_it_off():
    assert isinstance(make_filter("dedup"), TemporalDedup)
    assert make_filter("dedup", threshold=0.0) is None
    assert make_filter("dedup", enabled=False) is None


def test_dedup_threshold_is_a_mean_absolute_difference_in_0_to_1():
    dark, lighter = np.full((32, 32, 3), 100, np.uint8), np.full((32, 32, 3), 110, np.uint8)  # 10/255 = 0.039 apart
    assert len(make_filter("dedup", threshold=0.03).apply(frames_of([dark, lighter]))) == 2
    assert len(make_filter("dedup", threshold="0.05").apply(frames_of([dark, lighter]))) == 1


def test_apply_resets_between_streams():
    dedup = make_filter("dedup")
    frames = frames_of([np.zeros((8, 8, 3), np.uint8)] * 3)
    assert len(dedup.apply(frames)) == 1
    assert len(dedup.apply(frames)) == 1  # the first frame of a new stream is always kept


def test_the_old_settings_are_aliases_of_the_filters_settings():
    config = EngineConfig(dedup_threshold=0.0, motion_gate=True, motion_min_area=0.02)
    assert [frame_filter.name for frame_filter in enabled_filters(config, registry())] == ["motion_gate"]
    [gate] = enabled_filters(config, registry())
    assert gate.settings == MotionGate.Settings(enabled=True, pixel_threshold=0.1, min_area=0.02)


def test_a_bad_filter_setting_is_one_sentence_naming_the_flag():
    with pytest.raises(ConfigError) as error:
        make_filter("dedup", treshold=1)
    assert str(error.value) == (
        "--filter dedup.treshold: Extra inputs are not permitted (settings of 'dedup': enabled, threshold)."
    )
    with pytest.raises(ConfigError, match=r"^--filter motion_gate\.min_area: Input should be greater than 0 "):
        make_filter("motion_gate", enabled=True, min_area=0)


def test_settings_for_a_filter_that_is_not_installed_are_refused():
    with pytest.raises(PluginNotFoundError, match="No frame filter called 'blur' is installed"):
        make_filter("blur", enabled=True)


def test_each_filter_describes_its_settings_with_their_defaults():
    assert TemporalDedup.describe()["settings"] == {"enabled": True, "threshold": 0.03}
    assert MotionGate.describe()["settings"] == {"enabled": False, "pixel_threshold": 0.1, "min_area": 0.005}
