"""Suite-wide settings: nothing may reach a model hub."""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Watches write their alerts to the event store, by default in the per-user data folder: the suite's go to a
# folder of its own (platformdirs follows XDG_DATA_HOME; subprocesses inherit it).
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="trio-tests-data-")
