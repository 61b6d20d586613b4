"""Charging profiles users write themselves (validated).

Limits in the unit a charger accepts are made by the engine (`csms.charging`).
"""

from __future__ import annotations

from typing import Any

import probatio
from homeassistant.helpers import config_validation as cv

from .csms.commands import ChargingProfile, ProfileKind, ProfilePurpose, SchedulePeriod

_PERIOD = probatio.Schema(
    {
        probatio.Required("start"): probatio.All(probatio.Coerce(int), probatio.Range(min=0)),
        probatio.Required("limit"): probatio.All(probatio.Coerce(float), probatio.Range(min=0)),
        probatio.Optional("phases"): probatio.In((1, 2, 3)),
    }
)
PROFILE_SCHEMA = probatio.Schema(
    {
        probatio.Required("id"): probatio.All(probatio.Coerce(int), probatio.Range(min=1)),
        probatio.Optional("stack_level", default=0): probatio.All(
            probatio.Coerce(int), probatio.Range(min=0)
        ),
        probatio.Required("purpose"): probatio.In([purpose.value for purpose in ProfilePurpose]),
        probatio.Optional("kind", default="Relative"): probatio.In(
            [kind.value for kind in ProfileKind]
        ),
        probatio.Optional("recurrency"): probatio.In(("Daily", "Weekly")),
        probatio.Optional("unit", default="A"): probatio.In(("A", "W")),
        probatio.Required("periods"): probatio.All([_PERIOD], probatio.Length(min=1)),
        probatio.Optional("start_schedule"): cv.datetime,
        probatio.Optional("duration"): probatio.All(probatio.Coerce(int), probatio.Range(min=1)),
        probatio.Optional("valid_from"): cv.datetime,
        probatio.Optional("valid_to"): cv.datetime,
        probatio.Optional("transaction_id"): cv.string,
        probatio.Optional("min_rate"): probatio.Coerce(float),
    }
)


def profile_from_input(raw: Any) -> ChargingProfile:
    """A charging profile a user wrote (YAML / JSON), validated. Raises probatio.Invalid."""
    data = PROFILE_SCHEMA(raw)
    return ChargingProfile(
        id=data["id"],
        stack_level=data["stack_level"],
        purpose=ProfilePurpose(data["purpose"]),
        kind=ProfileKind(data["kind"]),
        recurrency=data.get("recurrency"),
        unit=data["unit"],
        periods=tuple(
            SchedulePeriod(period["start"], period["limit"], period.get("phases"))
            for period in data["periods"]
        ),
        start_schedule=data.get("start_schedule"),
        duration_s=data.get("duration"),
        valid_from=data.get("valid_from"),
        valid_to=data.get("valid_to"),
        transaction_id=data.get("transaction_id"),
        min_rate=data.get("min_rate"),
    )
