"""Thinking blocks never reach the user, however the stream splits them."""

import pytest

from trio_core.postprocess import StopScanner, ThinkStripper, strip_thinking


def test_strip_thinking_from_a_finished_answer():
    assert strip_thinking("<think>is it a cat?</think>\n\nA cat.") == "A cat."
    assert strip_thinking("No thinking here.") == "No thinking here."
    assert strip_thinking("Yes.<think>unfinished") == "Yes."


TEXT = "<think>Let me look. A <b>tag</b> maybe.</think>\n\nThere is a red circle. x < y."


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, len(TEXT)])
def test_stream_stripper_matches_the_whole_text_for_any_split(chunk):
    stripper = ThinkStripper()
    shown = "".join(stripper.feed(TEXT[i : i + chunk]) for i in range(0, len(TEXT), chunk)) + stripper.flush()
    assert shown == "There is a red circle. x < y."


def test_stream_stripper_holds_back_only_a_possible_tag():
    stripper = ThinkStripper()
    assert stripper.feed("Hello <th") == "Hello "
    assert stripper.feed("ere") == "<there"
    assert stripper.flush() == ""


def test_stop_strings_cut_the_stream_before_them_even_across_deltas():
    scanner = StopScanner(("END", "##"))
    shown = [scanner.feed(delta) for delta in ["hello E", "N", "D and more"]]
    assert "".join(shown) == "hello " and scanner.stopped
    assert scanner.feed("later") == "" and scanner.flush() == ""
    plain = StopScanner(("zz",))
    assert "".join(plain.feed(delta) for delta in ["abz", "q"]) + plain.flush() == "abzq" and not plain.stopped
    assert StopScanner(()).feed("anything") == "anything"
