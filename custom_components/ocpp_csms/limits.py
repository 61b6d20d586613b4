"""Charging profiles users write themselves (validated).

Limits in the unit a charger accepts are made by the engine (`csms.charging`).
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.helpers import config_validation as cv

from .csms.commands import ChargingProfile, ProfileKind, ProfilePurpose, SchedulePeriod

_PERIOD = vol.Schema(
    {
        vol.Required("start"): vol.All(vol.Coerce(int), vol.Range(min=0)),
        vol.Required("limit"): vol.All(vol.Coerce(float), vol.Range(min=0)),
        vol.Optional("phases"): vol.In((1, 2, 3)),
    }
)
PROFILE_SCHEMA = vol.Schema(
    {
        vol.Required("id"): vol.All(vol.Coerce(int), vol.Range(min=1)),
        vol.Optional("stack_level", default=0): vol.All(vol.Coerce(int), vol.Range(min=0)),
        vol.Required("purpose"): vol.In([purpose.value for purpose in ProfilePurpose]),
        vol.Optional("kind", default="Relative"): vol.In([kind.value for kind in ProfileKind]),
        vol.Optional("recurrency"): vol.In(("Daily", "Weekly")),
        vol.Optional("unit", default="A"): vol.In(("A", "W")),
        vol.Required("periods"): vol.All([_PERIOD], vol.Length(min=1)),
        vol.Optional("start_schedule"): cv.datetime,
        vol.Optional("duration"): vol.All(vol.Coerce(int), vol.Range(min=1)),
        vol.Optional("valid_from"): cv.datetime,
        vol.Optional("valid_to"): cv.datetime,
        vol.Optional("transaction_id"): cv.string,
        vol.Optional("min_rate"): vol.Coerce(float),
    }
)


def profile_from_input(raw: Any) -> ChargingProfile:
    """A charging profile a user wrote (YAML / JSON), validated. Raises vol.Invalid."""
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
