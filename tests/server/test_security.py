"""Secure by default: keys, media roots, SSRF, body caps, binding, masking."""

import pytest

from tests.server.conftest import DEMO, app_client, png_b64
from trio_core.errors import ConfigError
from trio_core.server import check_bind
from trio_core.server.settings import ServerSettings

KEY, ADMIN = "k-user-1", "k-admin-1"


@pytest.fixture(scope="module")
def keyed():
    with app_client(api_keys=[KEY], admin_keys=[ADMIN], media_roots=[str(DEMO)], max_body_mb=1) as client:
        yield client


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def test_every_endpoint_but_healthz_needs_a_key(keyed):
    assert keyed.get("/healthz").status_code == 200
    for path in ("/health", "/metrics", "/v1/models", "/v1/watch"):
        missing = keyed.get(path)
        assert missing.status_code == 401 and "Missing API key" in missing.json()["error"]["message"], path
        assert keyed.get(path, headers=bearer("nope")).status_code == 401
        assert keyed.get(path, headers=bearer(KEY)).status_code == 200
    assert keyed.post("/analyze-frame", json={"frame_b64": png_b64(), "question": "?"}).status_code == 401


def test_reload_needs_an_admin_key(keyed):
    assert keyed.post("/v1/admin/reload", json={}, headers=bearer(KEY)).status_code == 403
    with app_client() as open_server:  # no keys at all: reloading is off
        assert open_server.post("/v1/admin/reload", json={}).status_code == 403


def video(client, path, key=KEY):
    return client.post("/v1/video/analyze", json={"video": path, "prompt": "?"}, headers=bearer(key))


def test_paths_outside_the_media_roots_are_refused(keyed, tmp_path):
    assert video(keyed, "moving.mp4").status_code == 200
    assert video(keyed, str(DEMO / "moving.mp4")).status_code == 200
    for escape in ("../../README.md", "/etc/passwd", str(DEMO / ".." / ".." / ".." / "README.md")):
        answer = video(keyed, escape)
        assert answer.status_code == 403 and "outside" in answer.json()["error"]["message"], escape
    assert video(keyed, "missing.mp4").status_code == 404


def test_a_symlink_out_of_the_root_is_refused(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    outside = tmp_path / "secret.mp4"
    outside.write_bytes((DEMO / "moving.mp4").read_bytes())
    (root / "link.mp4").symlink_to(outside)
    (root / "inside.mp4").symlink_to(root / "real.mp4")
    (root / "real.mp4").write_bytes((DEMO / "moving.mp4").read_bytes())
    with app_client(media_roots=[str(root)]) as client:
        refused = client.post("/v1/video/analyze", json={"video": "link.mp4", "prompt": "?"})
        assert refused.status_code == 403
        assert client.post("/v1/video/analyze", json={"video": "inside.mp4", "prompt": "?"}).status_code == 200


def test_no_media_roots_means_no_server_paths(client_without_roots):
    answer = client_without_roots.post("/v1/video/analyze", json={"video": str(DEMO / "moving.mp4"), "prompt": "?"})
    assert answer.status_code == 403 and "no --media-root" in answer.json()["error"]["message"]


@pytest.fixture(scope="module")
def client_without_roots():
    with app_client() as client:
        yield client


def image_chat(url):
    content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "Is there a red circle?"}]
    return {"model": "trio-tiny", "messages": [{"role": "user", "content": content}]}


def test_urls_to_private_addresses_are_refused(client_without_roots, local_http):
    for url in (local_http + "/shapes.png", "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/x.png"):
        answer = client_without_roots.post("/v1/chat/completions", json=image_chat(url))
        assert answer.status_code == 403 and "private" in answer.json()["error"]["message"], url
    assert client_without_roots.post("/v1/chat/completions", json=image_chat("ftp://x/y.png")).status_code == 400


def test_private_urls_can_be_allowed_and_are_capped(local_http):
    with app_client(allow_private_urls=True, media_max_mb=0.001) as client:
        assert client.post("/v1/chat/completions", json=image_chat(local_http + "/shapes.png")).status_code == 413
    with app_client(allow_private_urls=True) as client:
        answer = client.post("/v1/chat/completions", json=image_chat(local_http + "/shapes.png"))
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "yes"
        assert client.post("/v1/chat/completions", json=image_chat(local_http + "/gone.png")).status_code == 400


def test_the_body_cap_counts_the_bytes_read_chunked_or_not(keyed):
    big = b"x" * (2 * 2**20)
    declared = keyed.post(
        "/v1/chat/completions", content=big, headers={**bearer(KEY), "content-type": "application/json"}
    )
    assert declared.status_code == 413

    def chunks():
        for _ in range(64):
            yield b" " * 65536  # no Content-Length: sent chunked

    chunked = keyed.post(
        "/v1/chat/completions", content=chunks(), headers={**bearer(KEY), "content-type": "application/json"}
    )
    assert chunked.status_code == 413 and "larger than 1 MB" in chunked.json()["error"]["message"]


def test_binding_beyond_loopback_needs_a_key_or_an_explicit_flag():
    check_bind(ServerSettings(host="127.0.0.1"))
    check_bind(ServerSettings(host="::1"))
    with pytest.raises(ConfigError, match="without an API key"):
        check_bind(ServerSettings(host="0.0.0.0"))
    check_bind(ServerSettings(host="0.0.0.0", api_keys=["k"]))
    check_bind(ServerSettings(host="0.0.0.0", allow_public_without_key=True))


def test_keys_never_appear_in_health(keyed):
    health = keyed.get("/health", headers=bearer(KEY))
    assert KEY not in health.text and ADMIN not in health.text


def test_request_ids_are_echoed_or_made(keyed):
    assert keyed.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = keyed.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
    assert len(made) == 32 and " " not in made
