"""scripts/hassfest says clearly what is missing before it runs anything.

It needs a Home Assistant core checkout, which CI cannot fetch, so only its refusals
are tested here; README (Development) says how it is run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from homeassistant.const import __version__ as HA_VERSION

SCRIPT = Path(__file__).parents[1] / "scripts" / "hassfest"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "HASSFEST_CORE"}
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_no_checkout_given_says_how_to_get_one() -> None:
    result = run()
    assert result.returncode == 2
    assert "no Home Assistant core checkout given" in result.stderr
    assert "HASSFEST_CORE" in result.stderr
    assert f"git clone --depth 1 --branch {HA_VERSION}" in result.stderr


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "nowhere: no such directory" in result.stderr


def test_a_directory_that_is_no_checkout_is_refused(tmp_path: Path) -> None:
    result = run(str(tmp_path))
    assert result.returncode == 2
    assert "is not a Home Assistant core checkout" in result.stderr
    assert "script/hassfest/__main__.py" in result.stderr
    assert "Validating" not in result.stdout
