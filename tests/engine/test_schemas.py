"""Validation: compiled for the frequent messages, detailed for every broken one."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_csms.csms.schemas import HOT_ACTIONS, load_all
from custom_components.ocpp_csms.csms.station import OcppVersion

T0 = "2026-11-23T10:00:00Z"
METER_VALUES = {
    OcppVersion.V16: {
        "connectorId": 1,
        "meterValue": [{"timestamp": T0, "sampledValue": [{"value": "12.5", "unit": "kWh"}]}],
    },
    OcppVersion.V201: {
        "evseId": 1,
        "meterValue": [{"timestamp": T0, "sampledValue": [{"value": 12.5}]}],
    },
    OcppVersion.V21: {
        "evseId": 1,
        "meterValue": [{"timestamp": T0, "sampledValue": [{"value": 12.5}]}],
    },
}


@pytest.mark.parametrize("version", list(OcppVersion))
def test_frequent_messages_are_compiled(version: OcppVersion) -> None:
    schemas = load_all()[version]
    compiled = set(schemas._fast_requests)
    assert compiled == {action for action in HOT_ACTIONS if schemas.knows_action(action)}
    assert "MeterValues" in compiled


@pytest.mark.parametrize("version", list(OcppVersion))
def test_fast_and_detailed_paths_agree(version: OcppVersion) -> None:
    """Valid passes the compiled check; broken still gets jsonschema's exact problem."""
    schemas = load_all()[version]
    valid: dict[str, Any] = METER_VALUES[version]
    assert schemas.request_problem("MeterValues", valid) is None
    broken = {key: value for key, value in valid.items() if key != "meterValue"}
    problem = schemas.request_problem("MeterValues", broken)
    assert problem is not None
    assert problem.kind == "required"
    assert "meterValue" in problem.message
    wrong_type = {**valid, "meterValue": "often"}
    problem = schemas.request_problem("MeterValues", wrong_type)
    assert problem is not None
    assert (problem.kind, problem.path) == ("type", "meterValue")
