"""Repairing known quirks, and refusing what no quirk explains."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_csms.csms.leniency import repair
from custom_components.ocpp_csms.csms.schemas import VersionSchemas, load_all
from custom_components.ocpp_csms.csms.station import OcppVersion

T0 = "2026-11-23T10:00:00Z"


@pytest.fixture(scope="module")
def v16() -> VersionSchemas:
    return load_all()[OcppVersion.V16]


@pytest.fixture(scope="module")
def v201() -> VersionSchemas:
    return load_all()[OcppVersion.V201]


def meter_values_16(*sampled: dict[str, Any], connector: Any = 1) -> dict[str, Any]:
    return {
        "connectorId": connector,
        "meterValue": [{"timestamp": T0, "sampledValue": list(sampled)}],
    }


def test_valid_payload_needs_no_repair(v16: VersionSchemas) -> None:
    assert repair(v16, "MeterValues", meter_values_16({"value": "1"})) == (
        meter_values_16({"value": "1"}),
        [],
    )


def test_whole_float_where_an_integer_belongs(v16: VersionSchemas) -> None:
    repaired = repair(v16, "MeterValues", meter_values_16({"value": "1"}, connector=1.0))
    assert repaired is not None
    assert repaired[0]["connectorId"] == 1
    assert repaired[1] == ["float_as_integer"]


@pytest.mark.parametrize(("given", "fixed"), [(" 2 ", 2), ("3", 3)])
def test_integer_strings(v16: VersionSchemas, given: str, fixed: int) -> None:
    repaired = repair(v16, "MeterValues", meter_values_16({"value": "1"}, connector=given))
    assert repaired is not None
    assert repaired[0]["connectorId"] == fixed


@pytest.mark.parametrize("given", ["2.5", "two", True, None])
def test_no_quirk_explains_these(v16: VersionSchemas, given: Any) -> None:
    assert repair(v16, "MeterValues", meter_values_16({"value": "1"}, connector=given)) is None


def test_unknown_measurand_drops_that_value_only(v16: VersionSchemas) -> None:
    repaired = repair(
        v16,
        "MeterValues",
        meter_values_16({"value": "1", "measurand": "Energy.Banana"}, {"value": "2"}),
    )
    assert repaired is not None
    assert repaired[0]["meterValue"][0]["sampledValue"] == [{"value": "2"}]
    assert repaired[1] == ["unknown_measurand"]


def test_unknown_phase_and_location_are_dropped(v16: VersionSchemas) -> None:
    repaired = repair(
        v16,
        "MeterValues",
        meter_values_16({"value": "1", "phase": "L4", "location": "Roof", "measurand": "Voltage"}),
    )
    assert repaired is not None
    assert repaired[0]["meterValue"][0]["sampledValue"] == [{"value": "1", "measurand": "Voltage"}]
    assert sorted(repaired[1]) == ["unknown_location", "unknown_phase"]


def test_missing_required_field_is_refused(v16: VersionSchemas, v201: VersionSchemas) -> None:
    assert repair(v16, "StartTransaction", {"connectorId": 1, "idTag": "A"}) is None
    assert repair(v201, "Heartbeat", []) is None  # type: ignore[arg-type]


def test_several_quirks_in_one_message(v201: VersionSchemas) -> None:
    payload = {
        "evseId": "1",
        "meterValue": [
            {"timestamp": T0, "sampledValue": [{"value": " 7.5", "phase": "L1", "extra": 1}]}
        ],
    }
    repaired = repair(v201, "MeterValues", payload)
    assert repaired is not None
    assert repaired[0] == {
        "evseId": 1,
        "meterValue": [{"timestamp": T0, "sampledValue": [{"value": 7.5, "phase": "L1"}]}],
    }
    assert sorted(repaired[1]) == ["numeric_string", "numeric_string", "unknown_field"]
    # Repaired in place: a frame's payload is used once.
    assert repaired[0] is payload


def test_an_unknown_enum_without_a_quirk_is_refused(v201: VersionSchemas) -> None:
    payload = {"timestamp": T0, "connectorStatus": "Charging", "evseId": 1, "connectorId": 1}
    assert repair(v201, "StatusNotification", payload) is None


def test_an_error_no_quirk_explains_is_refused_before_anything_changes(
    v16: VersionSchemas,
) -> None:
    payload: dict[str, Any] = {"connectorId": 1, "idTag": "A", "extra": 1}  # no meterStart
    assert repair(v16, "StartTransaction", payload) is None
    assert payload["extra"] == 1


def test_errors_the_caller_has_are_not_computed_again(
    v16: VersionSchemas, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload: dict[str, Any] = {"connectorId": 1, "idTag": "A", "timestamp": T0}
    errors = v16.request_errors("StartTransaction", payload)
    assert [error.validator for error in errors] == ["required"]
    computed: list[str] = []
    request_errors = VersionSchemas.request_errors

    def counting(self: VersionSchemas, action: str, payload: Any) -> list[Any]:
        computed.append(action)
        return request_errors(self, action, payload)

    monkeypatch.setattr(VersionSchemas, "request_errors", counting)
    assert repair(v16, "StartTransaction", payload, errors) is None
    assert computed == []


def test_thousands_of_unknown_fields_are_named_briefly_and_all_dropped(
    v201: VersionSchemas,
) -> None:
    payload: dict[str, Any] = {"idToken": {"idToken": "T", "type": "ISO14443"}}
    payload.update({f"k{n}": n for n in range(10_000)})
    problem = v201.request_problem("Authorize", payload)
    assert problem is not None
    assert problem.kind == "additionalProperties"
    assert problem.message == (
        "Additional properties are not allowed ('k0', 'k1', 'k2' and 9997 more were unexpected)"
    )
    repaired = repair(v201, "Authorize", payload)
    assert repaired is not None
    assert repaired[0] == {"idToken": {"idToken": "T", "type": "ISO14443"}}
    assert repaired[1] == ["unknown_field"]
