"""Rules of the house that a reviewer would otherwise check by hand."""

from __future__ import annotations

import ast
import json
from pathlib import Path

COMPONENT = Path(__file__).parents[1] / "custom_components" / "ocpp_csms"


def test_engine_does_not_import_home_assistant() -> None:
    """Nothing under csms/ imports homeassistant: the engine runs on plain asyncio."""
    offenders = []
    for path in sorted((COMPONENT / "csms").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {name}" for name in names if name.split(".")[0] == "homeassistant"
            ]
    assert offenders == []


def _keys(node: object, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return {prefix}
    keys: set[str] = set()
    for key, value in node.items():
        keys |= _keys(value, f"{prefix}/{key}")
    return keys


def _placeholders(node: object) -> dict[str, set[str]]:
    import re

    if isinstance(node, dict):
        found: dict[str, set[str]] = {}
        for key, value in node.items():
            for path, names in _placeholders(value).items():
                found[f"{key}/{path}"] = names
        return found
    return {"": set(re.findall(r"\{(\w+)\}", str(node)))}


def test_swedish_translation_is_complete() -> None:
    """sv.json has exactly the keys of en.json, with the same placeholders."""
    english = json.loads((COMPONENT / "translations" / "en.json").read_text())
    swedish = json.loads((COMPONENT / "translations" / "sv.json").read_text())
    assert _keys(swedish) == _keys(english)
    assert _placeholders(swedish) == _placeholders(english)


def test_manifest_pins_match_requirements() -> None:
    """The manifest pins the same ocpp the tests run against."""
    manifest = json.loads((COMPONENT / "manifest.json").read_text())
    requirements = (COMPONENT.parents[1] / "requirements.txt").read_text().split()
    assert "ocpp==2.1.0" in manifest["requirements"]
    assert "ocpp==2.1.0" in requirements
    for key in ("domain", "name", "version", "iot_class", "integration_type", "config_flow"):
        assert key in manifest
    assert manifest["iot_class"] == "local_push"
    assert manifest["integration_type"] == "hub"
