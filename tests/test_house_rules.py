"""Rules of the house that a reviewer would otherwise check by hand."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

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


TRANSLATIONS = sorted((COMPONENT / "translations").glob("*.json"))


@pytest.mark.parametrize(
    "path", [path for path in TRANSLATIONS if path.stem != "en"], ids=lambda path: path.stem
)
def test_every_translation_is_complete(path: Path) -> None:
    """Each language has exactly the keys of en.json, with the same placeholders."""
    english = json.loads((COMPONENT / "translations" / "en.json").read_text())
    translated = json.loads(path.read_text())
    assert _keys(translated) == _keys(english)
    assert _placeholders(translated) == _placeholders(english)
    assert all(text.strip() for text in _texts(translated)), "an empty string"


def _texts(node: object) -> list[str]:
    if isinstance(node, dict):
        return [text for value in node.values() for text in _texts(value)]
    return [str(node)]


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


def _module_name(path: Path, root: Path = COMPONENT) -> str:
    relative = path.relative_to(root).with_suffix("")
    parts = [part for part in relative.parts if part != "__init__"]
    return ".".join(parts)


def _imports_within(path: Path, modules: set[str], root: Path) -> set[str]:
    """The package's own modules `path` imports (relatively), typing-only ones included."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package.split(".") if package else []
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        target = ".".join([*base, node.module]) if node.module else ".".join(base)
        for alias in node.names:
            candidate = f"{target}.{alias.name}" if target else alias.name
            found.add(candidate if candidate in modules else target)
    return found & modules


def import_cycles(root: Path = COMPONENT) -> list[list[str]]:
    """Cycles in a package's imports of its own modules (strongly connected groups)."""
    paths = {_module_name(path, root): path for path in root.rglob("*.py")}
    modules = set(paths)
    graph = {name: _imports_within(path, modules, root) - {name} for name, path in paths.items()}
    # Tarjan's algorithm, iteratively: every group of modules that import each other.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_no_import_cycles() -> None:
    """No module of the integration imports one that imports it back, even for typing:
    the layers depend one way (platforms -> hub -> its parts -> engine)."""
    assert import_cycles() == []


def test_a_cycle_through_a_typing_import_is_found(tmp_path: Path) -> None:
    """The check itself: two modules importing each other, one only for typing."""
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "hub.py").write_text("from .parts import Part\n")
    (tmp_path / "parts.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .hub import Hub\n"
    )
    (tmp_path / "lone.py").write_text("from . import parts\n")
    assert import_cycles(tmp_path) == [["hub", "parts"]]


# Home Assistant's quality scale rules (script/hassfest/quality_scale.py, 2026).
QUALITY_SCALE_RULES = {
    # bronze
    "action-setup", "appropriate-polling", "brands", "common-modules", "config-flow",
    "config-flow-test-coverage", "dependency-transparency", "docs-actions",
    "docs-conditions", "docs-high-level-description", "docs-installation-instructions",
    "docs-removal-instructions", "docs-triggers", "entity-event-setup", "entity-unique-id",
    "has-entity-name", "runtime-data", "test-before-configure", "test-before-setup",
    "unique-config-entry",
    # silver
    "action-exceptions", "config-entry-unloading", "docs-configuration-parameters",
    "docs-installation-parameters", "entity-unavailable", "integration-owner",
    "log-when-unavailable", "parallel-updates", "reauthentication-flow", "test-coverage",
    # gold
    "devices", "diagnostics", "discovery", "discovery-update-info", "docs-data-update",
    "docs-examples", "docs-known-limitations", "docs-supported-devices",
    "docs-supported-functions", "docs-troubleshooting", "docs-use-cases", "dynamic-devices",
    "entity-category", "entity-device-class", "entity-disabled-by-default",
    "entity-translations", "exception-translations", "icon-translations",
    "reconfiguration-flow", "repair-issues", "stale-devices",
    # platinum
    "async-dependency", "inject-websession", "strict-typing",
}  # fmt: skip
# Rules not done yet, and why (each must say so in quality_scale.yaml too).
QUALITY_SCALE_PENDING = {"integration-owner": "no public repository or code owner yet"}


def test_quality_scale_covers_every_rule() -> None:
    """Every rule is listed; each is done, or exempt (or pending) with a reason."""
    from homeassistant.util.yaml import load_yaml_dict

    rules = load_yaml_dict(str(COMPONENT / "quality_scale.yaml"))["rules"]
    assert set(rules) == QUALITY_SCALE_RULES
    for name, rule in rules.items():
        if rule == "done":
            continue
        assert isinstance(rule, dict), name
        assert rule.get("comment"), name
        if rule["status"] == "todo":
            assert name in QUALITY_SCALE_PENDING, name
        else:
            assert rule["status"] == "exempt", name
    assert {name for name, rule in rules.items() if rule != "done"} >= set(QUALITY_SCALE_PENDING)


def test_platforms_set_parallel_updates() -> None:
    """quality_scale says parallel-updates is done: every entity platform sets it."""
    platforms = (
        "sensor", "binary_sensor", "switch", "number", "button", "event", "select", "calendar",
    )  # fmt: skip
    missing = [
        name
        for name in platforms
        if "PARALLEL_UPDATES" not in (COMPONENT / f"{name}.py").read_text()
    ]
    assert missing == []
