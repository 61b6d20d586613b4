"""The simulator is tested against the real engine."""

from tests.engine.conftest import raw_charger, start_system  # noqa: F401 - fixtures
