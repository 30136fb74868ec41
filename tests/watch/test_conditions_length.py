"""A condition's limit is on the question the model is asked: a plain condition is wrapped into a question first,
and that question is what is checked, wherever conditions are built (the CLI, a watches file, the server)."""

import httpx
import pytest

from tests.cli import run_trio
from tests.server.conftest import probed  # noqa: F401 - a fixture: the real server the issue's probe ran
from trio_core.errors import ConfigError, TrioError
from trio_core.watch import conditions_from
from trio_core.watch.conditions import MAX_QUESTION_CHARS, as_question
from trio_core.watch.standing import read_watches

# A statement that fits the limit as written, and not once it is asked as a yes/no question.
LONG = "a person is at the door " * 83  # 1992 characters


def test_the_question_a_plain_condition_becomes_is_what_is_checked():
    assert len(LONG) < MAX_QUESTION_CHARS < len(as_question(LONG))
    with pytest.raises(TrioError) as error:
        conditions_from(["Is there a car?", LONG])
    assert str(error.value).startswith("Condition 2 ('a person is at the door a person is at t...') is ")
    assert str(error.value).endswith(f"characters as a question, more than the {MAX_QUESTION_CHARS} a question may "
                                     "have: shorten it.")  # fmt: skip
    assert [c.id for c in conditions_from([LONG[:1900]])] == [
        "a-person-is-at-the-door-a-person-is-at-the-door-a-person"
    ]


def test_a_watches_file_with_it_is_refused_naming_the_watch_and_the_line(tmp_path):
    path = tmp_path / "watches.toml"
    path.write_text(f'[watches.porch]\nsource = "porch.mp4"\nfps = 1\nconditions = ["{LONG}"]\n')
    with pytest.raises(ConfigError) as error:
        read_watches(path)
    assert str(error.value).startswith(f"{path}, line 4: watches.porch.conditions: Condition 1 (")


def test_trio_watch_config_with_it_exits_1_with_one_sentence(tmp_path):
    path = tmp_path / "watches.toml"
    path.write_text(f'[watches.porch]\nsource = "porch.mp4"\nconditions = ["{LONG}"]\n')
    result = run_trio("watch", "--config", str(path), "--model", "trio-tiny")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: {path}, line 3: watches.porch.conditions: Condition 1 (")
    assert len(result.stderr.strip().splitlines()) == 1
    single = run_trio("watch", "porch.mp4", "-w", LONG, "--model", "trio-tiny")  # refused before the file is looked at
    assert (
        single.returncode == 1 and single.stderr.startswith("Error: Condition 1 (") and "Traceback" not in single.stderr
    )


def test_the_servers_reload_refuses_it_and_every_listing_stays_up(probed):  # noqa: F811 - the fixture
    written = probed.watches.read_text()
    probed.watches.write_text(written + f'\n[watches.porch]\nsource = "porch.mp4"\nconditions = ["{LONG}"]\n')
    try:
        reloaded = httpx.post(probed.url + "/v1/admin/watches/reload", headers=probed.admin, timeout=30)
    finally:
        probed.watches.write_text(written)
    assert reloaded.status_code == 400
    message = reloaded.json()["error"]["message"]
    assert "watches.porch.conditions: Condition 1 (" in message and "shorten it." in message
    assert httpx.get(probed.url + "/v1/watch", headers=probed.user, timeout=30).status_code == 200
    with httpx.Client(base_url=probed.url, timeout=30) as browser:  # the dashboard, logged in as a person is
        login = browser.post("/login", data={"key": "K"}, headers={"Origin": probed.url})
        assert login.status_code == 303
        for page in ("/", "/dashboard/watches"):
            assert browser.get(page).status_code == 200, page
