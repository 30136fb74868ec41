import json
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def echo_site(tmp_path) -> Path:
    """A folder holding the echo plugin as an installed distribution (module + dist-info with an entry point)."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(HERE / "echo_plugin.py", site / "trio_echo.py")
    info = site / "trio_echo-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: trio-echo\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text("[trio]\necho = trio_echo\n")
    (site / "echo-model").mkdir()
    (site / "echo-model" / "config.json").write_text(json.dumps({"model_type": "echo"}))
    return site


@pytest.fixture
def echo_model(tmp_path) -> Path:
    model = tmp_path / "echo-model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "echo"}))
    return model
