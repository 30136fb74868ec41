"""How trio shows a URL that may hold a secret: one masking function for every URL, and Apprise's own privacy form
for a notification service's URL (it knows which part of each service's URL is secret)."""

import pytest

from trio_core.credentials import masked
from trio_core.sinks import sink_label


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://user:secret@cam.local:554/stream", "rtsp://***@cam.local:554/stream"),
        ("rtsp://user:p@ss@cam/s", "rtsp://***@cam/s"),  # an unencoded @ in the password
        ("rtsp://user:my secret@cam/s", "rtsp://***@cam/s"),  # a space in it
        ("rtsp://user:pa#ss@cam/s", "rtsp://***@cam/s"),  # a # in it (not a fragment: no option follows)
        ("rtsp://user:pa%40ss@cam/s", "rtsp://***@cam/s"),
        ("rtsp://admin@cam/s", "rtsp://***@cam/s"),
        ("http://cam/snap.jpg?user=admin&passwd=hunter2", "http://cam/snap.jpg?user=admin&passwd=***"),
        ("http://cam/s?password=hunter2&pwd=x", "http://cam/s?password=***&pwd=***"),
        ("https://api/x?access_token=abc.def&page=2", "https://api/x?access_token=***&page=2"),
        ("https://api/x?token=abc", "https://api/x?token=***"),
        ("https://api/x?key=abc&keyframes=1", "https://api/x?key=***&keyframes=1"),
        ("https://api/x?api_key=a&X-Api-Key=b&apikey=c", "https://api/x?api_key=***&X-Api-Key=***&apikey=***"),
        ("https://api/x?client_secret=a&sig=b", "https://api/x?client_secret=***&sig=***"),
        ("https://api/x?token=with space&page=2", "https://api/x?token=***&page=2"),
        ("https://hooks/trio#secret=s3cret&snapshot=url", "https://hooks/trio#secret=***&snapshot=url"),
        ("https://hooks/trio?Password=A&TOKEN=B", "https://hooks/trio?Password=***&TOKEN=***"),
        ("json://h/x?%2BX-Token=zzz&-Authorization=Bearer", "json://h/x?%2BX-Token=***&-Authorization=***"),
        ("mailtos://me:pw@smtp.example.com?to=you@example.com", "mailtos://***@smtp.example.com?to=you@example.com"),
        ("https://medium.com/@someone", "https://medium.com/@someone"),  # an @ in a path is no password
        ("rtsp://cam.local/stream", "rtsp://cam.local/stream"),
        ("webcam://0", "webcam://0"),
        ("/videos/porch.mp4", "/videos/porch.mp4"),
        # in a sentence, each URL ends at a space and the sentence stays
        ("Cannot open rtsp://u:p@cam/s?token=x (refused).", "Cannot open rtsp://***@cam/s?token=*** (refused)."),
    ],
)  # fmt: skip
def test_masked(url, shown):
    assert masked(url) == shown


pytest.importorskip("apprise")


@pytest.mark.parametrize(
    ("url", "shown", "secret"),
    [
        ("tgram://123456789:AAbottoken42/1234567", "tgram://1...2/1234567/", "bottoken42"),
        ("pover://USERkey0123456789abcdefghijklm@APPtoken0123456789abcdefghijk", "pover://***@A...k//", "token0123"),
        ("ntfy://secret-topic-42", "ntfys://***", "secret-topic-42"),
        ("ntfys://me:pw42@ntfy.example.com/topic42?priority=high", "ntfys://***@ntfy.example.com/***?priority=high",
         "42"),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "discord://4...8/J...s/", "JHMHI8qBe7bk2ZwO5U711o3dV_js"),
        ("gotify://gotify.example.com/AbCdEf123456", "gotify://gotify.example.com/A...6/", "AbCdEf123456"),
        ("json://me:pw42@hooks.example.com/path?+X-Token=tok42", "json://***@hooks.example.com/path?%2BX-Token=***",
         "42"),
        ("tgram://unreadable42", "tgram://***", "unreadable42"),  # a URL Apprise cannot read shows no part of it
        ("https://me:pw42@hooks.example.com/trio#secret=s42", "https://***@hooks.example.com/trio#secret=***", "42"),
        ("mqtt://trio:pw42@broker:1883", "mqtt://***@broker:1883", "42"),
    ],
)  # fmt: skip
def test_a_sink_url_is_shown_without_its_secrets(url, shown, secret, caplog):
    assert sink_label(url) == shown
    assert secret not in caplog.text  # nor in Apprise's own complaints about the URL
