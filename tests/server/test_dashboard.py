"""The dashboard at `/`: its login and CSRF rules over HTTP, and the whole page in a real browser (Debian's chromium,
driven headless by Playwright) against a real `trio serve` on loopback."""

import re
import shutil

import numpy as np
import pytest

from tests.media import write_clip
from tests.server.conftest import app_client, running_server
from tests.watch.conftest import ORANGE
from trio_model_tiny.watch_bench import demo_frames

KEY = "dashboard-key-0123"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def later(tmp_path_factory):
    """3 s of the empty background, then the orange square, still, for 4 s (4 frames a second): the same frame
    each time, so the answer does not flip between frames and the condition stays red."""
    frames = demo_frames()
    empty = np.full_like(frames[0], frames[0][0, 0])
    return write_clip(tmp_path_factory.mktemp("dashboard") / "later.mp4", [empty] * 12 + [frames[0]] * 16, fps=4)


def test_the_dashboard_needs_a_login_that_keeps_the_key_out_of_urls_and_changes_need_the_csrf_token(tmp_path):
    with app_client(api_keys=[KEY], events_dir=str(tmp_path / "events")) as client:
        client.follow_redirects = False
        assert client.get("/").headers["location"] == "/login"
        assert client.get("/v1/watch").status_code == 401
        wrong = client.post("/login", data={"key": "not-it"})
        assert wrong.status_code == 401 and "not one of this server" in wrong.text
        logged = client.post("/login", data={"key": KEY})
        assert logged.status_code == 303 and logged.headers["location"] == "/"
        cookie = logged.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and KEY not in cookie
        page = client.get("/")
        assert page.status_code == 200 and KEY not in page.text
        csrf = re.search(r'name="trio-csrf" content="([^"]+)"', page.text).group(1)
        assert client.get("/v1/watch").status_code == 200  # reading with the session
        body = {"source": "rtsp://127.0.0.1:9/x", "conditions": [{"id": "x", "question": ORANGE}], "background": True}
        refused = client.post("/v1/watch", json=body)
        assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]
        assert client.post("/v1/watch", json=body, headers={"X-Trio-CSRF": csrf}).status_code == 400  # nothing there
        assert client.post("/logout").headers["location"] == "/login"
        assert client.get("/v1/watch").status_code == 401


def test_in_a_browser_a_watch_started_from_the_dashboard_turns_red_and_its_snapshot_opens(tmp_path, later):
    from playwright.sync_api import expect, sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail("The dashboard's browser test needs Debian's chromium: apt-get install chromium.", pytrace=False)
    env = {"TRIO_EVENTS_DIR": str(tmp_path / "events")}
    args = ("--model", "trio-tiny", "--api-key", KEY, "--media-root", str(later.parent), "--filter",
            "dedup.threshold=0")  # fmt: skip
    with running_server(*args, env=env) as (url, process), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url + "/")
            expect(page).to_have_url(url + "/login")
            page.fill("#key", KEY)
            page.click("#login")
            expect(page).to_have_url(url + "/")
            expect(page.locator("#live")).to_have_text("live", timeout=10_000)

            page.click("#start-watch summary")
            page.fill("#start-source", str(later))
            page.fill("#start-question", ORANGE)
            page.fill("#start-name", "porch")
            page.fill("#start-fps", "4")
            page.check("#start-realtime")
            page.click("#start")
            condition = page.locator("#cond-porch-condition")
            expect(condition).to_have_class(re.compile(r"\bclear\b"), timeout=30_000)
            expect(page.locator("#answer-porch-condition")).not_to_be_empty(timeout=30_000)  # answers arrive live
            expect(condition).to_have_class(re.compile(r"\balert\b"), timeout=30_000)  # the square is there: red
            assert page.locator("#frame-porch").evaluate("image => image.naturalWidth") > 0

            snapshot = page.locator("#events a.snapshot").first
            expect(snapshot).to_be_visible(timeout=15_000)
            snapshot.click()
            expect(page).to_have_url(re.compile(r"/events/\d+$"))
            image = page.locator("#snapshot")
            expect(image).to_be_visible()
            page.wait_for_function("() => document.getElementById('snapshot').complete")
            assert image.evaluate("image => image.naturalWidth") > 0
            assert KEY not in page.url

            page.goto(url + "/?watch=porch")
            page.locator("#watch-porch button.stop-watch").first.click()
            expect(page.locator("#watch-porch")).to_have_count(0, timeout=15_000)
        finally:
            browser.close()
        assert KEY not in process.log.read_text()


def test_a_sink_that_refuses_the_credentials_is_shown_on_the_dashboard(tmp_path, later):
    from tests.watch.test_standing import wait_for
    from trio_core.testing.loopback import Mosquitto

    broker = Mosquitto(tmp_path, users={"trio": "right"}).start()
    try:
        path = tmp_path / "watches.toml"
        path.write_text(f"""[watches.porch]
source = "{later}"
conditions = ["{ORANGE}"]
sinks = ["mqtt://trio:not-the-password@127.0.0.1:{broker.port}"]
""")
        with app_client(watches=str(path), events_dir=str(tmp_path / "events")) as client:
            wait_for(lambda: "refused trio" in client.get("/dashboard/watches").text, timeout=30)
            card = client.get("/dashboard/watches").text
            assert f"mqtt://***@127.0.0.1:{broker.port}" in card and "not-the-password" not in card
    finally:
        broker.stop()
