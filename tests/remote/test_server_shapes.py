"""The remote backend against the response shapes of servers that cannot run here (vLLM, llama.cpp, Ollama),
served from loopback stand-ins (tests/remote/stub.py) built from those servers' documentation and source:
what each is found to accept, yes/no from each one's logprobs layout, media ids and their misses, and faults."""

import logging
import math

import numpy as np
import pytest

from tests.remote.conftest import DEMO_CLIP, DEMO_PICTURE, QUICK
from tests.remote.stub import StubServer
from trio_core import TrioCore
from trio_core.errors import BackendUnavailableError, ModelLoadError

QUESTION = "Is there a red circle?"
P_YES = (math.exp(-0.2) + math.exp(-2.3)) / (math.exp(-0.2) + math.exp(-2.3) + math.exp(-1.9))


def engine_on(*urls: str, **settings) -> TrioCore:
    return TrioCore(model="served-model", endpoints=list(urls), max_tokens=8,
                    backend_settings={"openai": {**QUICK, **settings}}).load()  # fmt: skip


def media_parts(request: dict) -> list[dict]:
    return [part for part in request["messages"][-1]["content"] if part["type"] != "text"]


def test_a_vllm_server_is_probed_and_takes_video_ids_and_logprobs():
    with StubServer("vllm") as vllm:
        engine = engine_on(vllm.url)
        (endpoint,) = engine.model.endpoints_report()
        found = endpoint["capabilities"]
        assert (found["server"], found["video"], found["media_ids"], found["logprobs"]) == ("vLLM", "video_url",
                                                                                           True, True)  # fmt: skip
        assert found["found_by"] == "probe" and engine.model.max_model_len == 32768
        vllm.requests.clear()
        vllm.ports.clear()
        result = engine.analyze_video(DEMO_CLIP, QUESTION, yes_no=True)
        assert result.text == "yes, there is" and result.yes_probability == pytest.approx(P_YES)
        assert result.metrics.prompt_tokens == 42 and result.metrics.completion_tokens == 4  # its usage
        (part,) = media_parts(vllm.requests[-1])
        assert part["type"] == "video_url" and part["video_url"]["url"].startswith("data:video/mp4;base64,")
        assert part["uuid"].startswith("trio-")
        request = vllm.requests[-1]
        assert request["logprobs"] is True and request["top_logprobs"] == 20 and request["stream"] is True
        # The same clip again: its id alone. The server loses it: the bytes again, and the same answer.
        engine.analyze_video(DEMO_CLIP, QUESTION)
        assert media_parts(vllm.requests[-1]) == [{"type": "video_url", "video_url": None, "uuid": part["uuid"]}]
        vllm.forget()
        again = engine.analyze_video(DEMO_CLIP, QUESTION)
        assert again.text == "yes, there is"
        assert media_parts(vllm.requests[-2])[0]["video_url"] is None  # refused: "Cache miss for video ..."
        assert media_parts(vllm.requests[-1])[0]["video_url"]["url"].startswith("data:video/mp4")
        assert len(set(vllm.ports)) == 1  # one connection, kept alive: each stream is read to its end
        engine.close()


def test_a_llama_cpp_server_gets_a_clip_as_images_and_its_logprobs_layout_is_read():
    with StubServer("llamacpp") as llama:
        engine = engine_on(llama.url)
        found = engine.model.endpoints_report()[0]["capabilities"]
        assert (found["server"], found["video"], found["media_ids"], found["logprobs"]) == ("llama.cpp", "images",
                                                                                           False, True)  # fmt: skip
        result = engine.analyze_video(DEMO_CLIP, QUESTION, yes_no=True, top_logprobs=2)
        assert result.yes_probability == pytest.approx(P_YES)
        assert result.logprobs[0]["token"] == "yes" and [t for t, _ in result.logprobs[0]["top"]] == ["yes", "Yes"]
        parts = media_parts(llama.requests[-1])
        assert len(parts) == 4 and {part["type"] for part in parts} == {"image_url"}  # the clip's 4 frames
        assert all(part["image_url"]["url"].startswith("data:image/jpeg;base64,") and "uuid" not in part
                   for part in parts)  # fmt: skip
        engine.close()


def test_an_ollama_server_without_logprobs_answers_yes_no_from_the_text_as_doctor_says():
    from trio_core.config import load_config
    from trio_core.doctor import diagnose, render

    with StubServer("ollama") as ollama:
        engine = engine_on(ollama.url)
        result = engine.analyze_video(DEMO_PICTURE, QUESTION, yes_no=True)
        assert result.text == "yes, there is" and result.yes_probability is None
        engine.close()
        report = diagnose(load_config(model="served-model", endpoints=[ollama.url]))
        assert (
            "Ollama, video as images, no media ids, yes/no from the answer's text (the server returns no "
            "logprobs) (probe)" in render(report)
        )
        with pytest.raises(ModelLoadError, match=r"does not serve the model 'other' \(it serves: served-model\)"):
            TrioCore(model="other", endpoints=[ollama.url]).load()


def test_a_watch_decides_from_the_text_where_there_are_no_logprobs(tmp_path):
    from tests.media import write_clip

    clip = write_clip(tmp_path / "still.mp4", [np.full((64, 64, 3), 90, np.uint8)] * 8, fps=4)
    with StubServer("ollama") as ollama:
        engine = engine_on(ollama.url)
        events = list(engine.watch(str(clip), [QUESTION], fps=2, confirm=1))
        results = [event for event in events if event.type == "result"]
        shown = [event.to_dict() for event in results]
        assert shown and all(event["yes"] is True and event.get("probability") is None for event in shown)
        assert [event.type for event in events].count("alert") == 1
        engine.close()


def test_a_busy_server_is_left_out_for_its_retry_after_and_a_busy_pool_is_waited_for(caplog):
    with StubServer("vllm") as first, StubServer("vllm") as second:
        engine = engine_on(first.url, second.url, backoff_max_s=30.0)
        preferred = engine.model.pool.ranked("door")[0]
        busy, other = (first, second) if preferred.label == first.url else (second, first)
        busy.fail_next(1, 429, retry_after="Wed, 21 Oct 2099 07:28:00 GMT")
        from trio_core.backends import routed

        with routed("door"), caplog.at_level(logging.WARNING, logger="trio.openai"):
            result = engine.analyze_video(DEMO_PICTURE, QUESTION)
        assert result.metrics.endpoint == other.url
        assert "left out for 30.0 s" in caplog.text  # the date is decades away: capped at backoff_max_s
        # Now both are busy: the request waits here for the first one due back (0.2 s), rather than failing.
        other.fail_next(1, 503)
        with routed("door"), caplog.at_level(logging.WARNING, logger="trio.openai"):
            result = engine.analyze_video(DEMO_PICTURE, QUESTION)
        assert result.text == "yes, there is" and result.metrics.endpoint == other.url
        assert "answered 503: The server is overloaded.; left out for 0.2 s" in caplog.text
        engine.close()


def test_an_answer_cut_off_midway_is_asked_again_elsewhere_unless_it_was_already_shown():
    with StubServer("vllm") as first, StubServer("vllm") as second:
        engine = engine_on(first.url, second.url)
        from trio_core.backends import routed

        preferred = engine.model.pool.ranked("porch")[0]
        cutting, other = (first, second) if preferred.label == first.url else (second, first)
        cutting.cut_next(1)
        with routed("porch"):  # a watch's way: the whole answer or nothing, so the other server is asked
            (result,) = engine.analyze_frame_each(DEMO_PICTURE, [QUESTION])
        assert result.text == "yes, there is" and result.metrics.endpoint == other.url
        cutting.cut_next(1)
        for endpoint in engine.model.pool.endpoints:
            endpoint.answered()  # both back in
        with routed("porch"), pytest.raises(BackendUnavailableError, match="closed the answer before its end, after "
                                                                           "part of the answer was shown"):  # fmt: skip
            for _ in engine.stream_frame(DEMO_PICTURE, QUESTION):
                pass
        engine.close()


def test_a_server_that_refuses_video_gets_the_frames_as_images_from_then_on():
    with StubServer("llamacpp") as llama:
        engine = engine_on(llama.url, media="video_url")  # told to send video, which llama-server refuses
        result = engine.analyze_video(DEMO_CLIP, QUESTION)
        assert result.text == "yes, there is"
        assert [part["type"] for part in media_parts(llama.requests[-2])] == ["video_url"]
        assert [part["type"] for part in media_parts(llama.requests[-1])] == ["image_url"] * 4
        assert engine.model.endpoints_report()[0]["capabilities"]["video"] == "images"
        engine.close()


def test_a_gateway_sends_its_requests_on_at_once_not_one_by_one():
    """trio serve in front of remote servers takes no turns: the servers batch, and the backend bounds them."""
    import concurrent.futures

    import httpx

    from tests.server.conftest import data_url, running_server

    with StubServer("vllm") as vllm, running_server("--model", "served-model", "--endpoint", vllm.url) as (url, _):
        body = {"model": "served-model", "max_tokens": 8, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": data_url()}}, {"type": "text", "text": QUESTION}]}]}  # fmt: skip
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda _: httpx.post(url + "/v1/chat/completions", json=body, timeout=60),
                                    range(4)))  # fmt: skip
        assert [reply.status_code for reply in replies] == [200] * 4
        assert {reply.json()["choices"][0]["message"]["content"] for reply in replies} == {"yes, there is"}
        assert vllm.most_in_flight >= 2  # a local model's one-at-a-time turn would have made it 1


def test_a_server_that_says_retry_at_once_forever_is_not_hammered_and_the_request_gives_up():
    with StubServer("vllm") as vllm:
        engine = engine_on(vllm.url, queue_timeout_s=1.0)
        vllm.requests.clear()
        vllm.fail_next(10_000, 429, retry_after="0")
        with pytest.raises(BackendUnavailableError, match=r"answered 429"):
            engine.analyze_video(DEMO_PICTURE, QUESTION)
        assert 2 <= len(vllm.requests) <= 30  # at least 0.1 s apart for the 1 s it may wait, not a busy loop
        engine.close()


def test_a_server_still_loading_its_model_is_waited_for_at_start():
    with StubServer("vllm") as vllm:
        vllm.fail_next(2, 503, retry_after="0.3")  # two listings refused while "loading", then served
        engine = engine_on(vllm.url)
        assert engine.model.endpoints_report()[0]["capabilities"]["server"] == "vLLM"
        engine.close()
        vllm.fail_next(10_000, 503, retry_after="0.3")  # never done loading: refused after queue_timeout_s
        with pytest.raises(ModelLoadError, match=r"No endpoint answered \(.*answered 503: The model is not loaded"):
            engine_on(vllm.url, queue_timeout_s=1.0)
