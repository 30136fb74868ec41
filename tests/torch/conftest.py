import pytest

from trio_backend_torch.tiny import build_checkpoint


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """Build (once per session) a tiny random-weight checkpoint of a family, in the HF layout."""
    built = {}

    def get(family: str):
        if family not in built:
            built[family] = build_checkpoint(family, tmp_path_factory.mktemp(family))
        return built[family]

    return get
