"""Which timestamps a video is sampled at: uniform, centred, clamped, never more than it has."""

import pytest

from trio_core.frames import SamplingPlan
from trio_core.sampling import frames_to_sample, sample_indices, sample_timestamps

PLAN = SamplingPlan(fps=2.0, min_frames=2, max_frames=16)


def test_timestamps_are_centres_of_equal_segments():
    assert sample_timestamps(10.0, 300, SamplingPlan(fps=0.4, min_frames=1, max_frames=16)) == [1.25, 3.75, 6.25, 8.75]


def test_count_follows_fps_times_duration():
    assert frames_to_sample(5.0, 150, PLAN) == 10
    assert len(sample_timestamps(5.0, 150, PLAN)) == 10


def test_count_rounds_halves_up():
    assert frames_to_sample(1.25, None, PLAN) == 3  # 2.5 frames


def test_max_frames_caps_long_videos():
    timestamps = sample_timestamps(3600.0, 108000, PLAN)
    assert len(timestamps) == 16
    assert timestamps[0] == pytest.approx(112.5) and timestamps[-1] == pytest.approx(3487.5)


def test_min_frames_applies_to_short_clips():
    assert len(sample_timestamps(0.4, 12, SamplingPlan(fps=2.0, min_frames=4, max_frames=16))) == 4


def test_never_more_frames_than_the_video_has():
    assert sample_timestamps(0.1, 3, SamplingPlan(fps=2.0, min_frames=8, max_frames=16)) == pytest.approx(
        [1 / 60, 3 / 60, 5 / 60]
    )
    assert len(sample_timestamps(100.0, 5, PLAN)) == 5


def test_unknown_frame_count_does_not_cap():
    assert len(sample_timestamps(0.1, None, SamplingPlan(fps=2.0, min_frames=8, max_frames=16))) == 8


@pytest.mark.parametrize("duration", [0.0, None, float("nan"), -1.0])
def test_zero_or_unknown_duration_samples_the_first_frame(duration):
    assert sample_timestamps(duration, 1, PLAN) == [0.0]
    assert frames_to_sample(duration, None, PLAN) == 1


def test_one_frame_video_gives_one_timestamp_inside_it():
    assert sample_timestamps(1 / 30, 1, PLAN) == pytest.approx([1 / 60])


def test_timestamps_stay_inside_the_video_and_ascend():
    for duration in (0.05, 0.9, 7.3, 61.0):
        timestamps = sample_timestamps(duration, None, PLAN)
        assert all(0 < t < duration for t in timestamps)
        assert timestamps == sorted(timestamps)


def test_sample_indices_are_distinct_centred_positions():
    assert sample_indices(100, 4) == [12, 37, 62, 87]
    assert sample_indices(3, 10) == [0, 1, 2]
    assert sample_indices(0, 4) == []
    indices = sample_indices(17, 16)
    assert len(set(indices)) == 16 and indices == sorted(indices)
