"""The live tests share trio-tiny with the watch tests."""

from tests.watch.conftest import tiny_engine  # noqa: F401 - a fixture
