"""House rule: every reason a flow of the integration can abort with is translated.

The reasons are read from each flow class's source: the ones it names
(`async_abort(reason=...)`, `AbortFlow(...)`) and the ones Home Assistant ends it with
on its behalf (a reconfigure's `async_update_and_abort`, a unique id that is taken or
whose flow is in progress). Each flow class is mapped to the translation section its
abort reasons are looked up in; a new flow class must be added to that map.

(Home Assistant 2026.10 shows its own text for a subentry reconfigure's default
`reconfigure_successful`; the integration's is required anyway, as the charger's has
its own words and it costs nothing.)
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

COMPONENT = Path(__file__).parents[1] / "custom_components" / "ocpp_csms"

# Each flow class and where its abort reasons are translated (keys down to `abort`).
SECTIONS: dict[str, tuple[str, ...]] = {
    "OcppCsmsConfigFlow": ("config",),
    "OcppCsmsOptionsFlow": ("options",),
    "MeteringOptionsSteps": ("options",),
    "ScheduleOptionsSteps": ("options",),
    "SiteOptionsSteps": ("options",),
    "TagOptionsSteps": ("options",),
    "ChargerSubentryFlow": ("config_subentries", "charger"),
    "UpstreamSubentryFlow": ("config_subentries", "upstream"),
    "JournalRepairFlow": ("issues", "journal_damaged", "fix_flow"),
    "UnknownTagRepairFlow": ("issues", "unknown_tag", "fix_flow"),
    "UpstreamCredentialsRepairFlow": ("issues", "upstream_credentials", "fix_flow"),
}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _strings(node: ast.AST) -> set[str]:
    """Every string constant in an expression (both sides of a conditional, say)."""
    return {
        sub.value
        for sub in ast.walk(node)
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
    }


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _reasons(flow: ast.ClassDef, subentry: bool) -> set[str]:
    """The reasons a flow class can abort with."""
    found: set[str] = set()
    for call in (node for node in ast.walk(flow) if isinstance(node, ast.Call)):
        called = _name(call.func)
        reason = _keyword(call, "reason")
        if called == "async_abort" and reason is not None:
            found |= _strings(reason)
        elif called == "AbortFlow" and call.args:
            found |= _strings(call.args[0])
        elif called == "async_update_and_abort":
            found |= _strings(reason) if reason is not None else {"reconfigure_successful"}
        elif called == "_abort_if_unique_id_configured":
            found.add("already_configured")
        elif called == "async_set_unique_id":
            progress = _keyword(call, "raise_on_progress")
            if not (isinstance(progress, ast.Constant) and progress.value is False):
                found.add("already_in_progress")
        elif called == "async_create_entry" and subentry and _keyword(call, "unique_id"):
            # A subentry whose unique id another one took meanwhile.
            found.add("already_configured")
    return found


def _flows() -> Iterator[tuple[str, ast.ClassDef]]:
    """Every flow class of the integration (a base named ...Flow or ...Steps)."""
    for path in sorted(COMPONENT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                _name(base).endswith(("Flow", "Steps")) for base in node.bases
            ):
                yield path.relative_to(COMPONENT).as_posix(), node


FOUND = list(_flows())
FLOWS = {flow.name: (path, flow) for path, flow in FOUND}


def test_every_flow_class_has_a_translation_section() -> None:
    assert sorted(flow.name for _path, flow in FOUND) == sorted(SECTIONS)


def test_the_reasons_are_found() -> None:
    """The reading finds what the flows are known to end with (the reading works)."""
    _path, upstream = FLOWS["UpstreamSubentryFlow"]
    assert _reasons(upstream, subentry=True) == {
        "no_chargers",
        "reconfigure_successful",
        "already_configured",
    }
    _path, config = FLOWS["OcppCsmsConfigFlow"]
    assert {"charger_added", "charger_added_with_password", "already_in_progress"} <= (
        _reasons(config, subentry=False)
    )


@pytest.mark.parametrize("flow", sorted(SECTIONS))
def test_every_abort_reason_is_translated(flow: str) -> None:
    _path, node = FLOWS[flow]
    section: Any = json.loads((COMPONENT / "translations" / "en.json").read_text())
    for key in SECTIONS[flow]:
        section = section[key]
    translated = set(section.get("abort", {}))
    reasons = _reasons(node, subentry=SECTIONS[flow][0] == "config_subentries")
    assert reasons <= translated, f"{flow}: {sorted(reasons - translated)} not in en.json"
