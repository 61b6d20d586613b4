"""Weekly schedules from Home Assistant: kept in the options, carried out by the engine.

A charger's schedule is stored in the entry's options under `schedules`, by charger
id, as rules ({days, start, end, limit}) in Home Assistant's time zone and an
optional limit for the rest of the week. The engine (`csms.schedule`) turns it into
the charger's default profile, so the charger keeps to it while Home Assistant is
down, and holds balanced sessions to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta, tzinfo
from typing import TYPE_CHECKING, Any

import probatio
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from ..const import MAX_CURRENT_LIMIT_A
from ..csms.schedule import ScheduleRule, WeeklySchedule
from ..entity_manager import SCHEDULES, SITE

if TYPE_CHECKING:
    from ..csms.central_system import CentralSystem
    from ..entity_manager import EntityManager

_LOGGER = logging.getLogger(__name__)

CONF_SCHEDULES = "schedules"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_RULES = 8
# Daylight saving time moves local time against the UTC a weekly profile counts in.
_OFFSET_CHECK_INTERVAL = timedelta(hours=1)

_LIMIT = probatio.All(probatio.Coerce(float), probatio.Range(min=0, max=MAX_CURRENT_LIMIT_A))
RULE_SCHEMA = probatio.Schema(
    {
        probatio.Required("days"): probatio.All(
            cv.ensure_list, [probatio.In(DAYS)], probatio.Length(min=1)
        ),
        probatio.Required("start"): cv.time,
        probatio.Required("end"): cv.time,
        probatio.Required("limit"): _LIMIT,
    }
)
SCHEDULE_FIELDS: dict[Any, Any] = {
    probatio.Required("rules"): probatio.All(
        cv.ensure_list, [RULE_SCHEMA], probatio.Length(max=MAX_RULES)
    ),
    probatio.Optional("default_limit"): probatio.Any(None, _LIMIT),
}
_SCHEDULE_SCHEMA = probatio.Schema(SCHEDULE_FIELDS)


def stored_schedule(
    rules: list[dict[str, Any]], default_limit: float | None
) -> dict[str, Any] | None:
    """A validated schedule as the options keep it (JSON); None: no schedule at all."""
    if not rules and default_limit is None:
        return None
    stored: dict[str, Any] = {
        "rules": [
            {
                "days": [day for day in DAYS if day in rule["days"]],
                "start": rule["start"].isoformat(timespec="minutes"),
                "end": rule["end"].isoformat(timespec="minutes"),
                "limit": float(rule["limit"]),
            }
            for rule in rules
        ]
    }
    if default_limit is not None:
        stored["default_limit"] = float(default_limit)
    return stored


def weekly_schedule(stored: object, timezone: tzinfo) -> WeeklySchedule | None:
    """The engine's schedule from what the options keep (None when damaged)."""
    try:
        data = _SCHEDULE_SCHEMA(stored)
    except probatio.Invalid as err:
        _LOGGER.warning("Ignoring a damaged charging schedule (%s)", err)
        return None
    rules = tuple(
        ScheduleRule(
            days=frozenset(DAYS.index(day) for day in rule["days"]),
            start=rule["start"],
            end=rule["end"],
            limit_a=rule["limit"],
        )
        for rule in data["rules"]
    )
    return WeeklySchedule(rules, timezone, data.get("default_limit"))


def schedules_in(options: Mapping[str, Any], timezone: tzinfo) -> dict[str, WeeklySchedule]:
    """Every charger's schedule in the options."""
    schedules = {}
    stored = options.get(CONF_SCHEDULES)
    for charger_id, data in (stored if isinstance(stored, dict) else {}).items():
        if (schedule := weekly_schedule(data, timezone)) is not None:
            schedules[charger_id] = schedule
    return schedules


class ScheduleLink:
    """Keeps the engine's schedules in step with the options, and tells the site's entities.

    The site's calendar shows the schedules: a change reaches it as `Change.SCHEDULES`.
    """

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry[Any], entities: EntityManager[Any]
    ) -> None:
        """Serve one central system's options; `attach` its engine once it runs."""
        self._hass = hass
        self._entry = entry
        self._entities = entities
        self._system: CentralSystem | None = None
        self._cancel_timer: Callable[[], None] | None = None
        # Every charger's schedule as last given to the engine.
        self.schedules: dict[str, WeeklySchedule] = {}

    def attach(self, system: CentralSystem) -> None:
        """The engine whose schedules this keeps."""
        self._system = system

    @callback
    def sync(self) -> None:
        """Give the engine the schedules in the options (changed ones are sent)."""
        system = self._system
        if system is None:
            return
        timezone = dt_util.get_default_time_zone()
        schedules = schedules_in(self._entry.options, timezone)
        system.set_schedules(schedules)
        if schedules != self.schedules:
            self.schedules = schedules
            self._entities.notify(SITE, SCHEDULES)
        if self._cancel_timer is None:
            self._cancel_timer = async_track_time_interval(
                self._hass,
                lambda _now: system.refresh_schedules(),
                _OFFSET_CHECK_INTERVAL,
            )

    @callback
    def stop(self) -> None:
        """Stop checking for daylight saving time."""
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None

    @callback
    def set_schedule(self, charger_id: str, schedule: dict[str, Any] | None) -> None:
        """Store a charger's schedule (None: remove it); the options update sends it."""
        entry = self._entry
        schedules = dict(entry.options.get(CONF_SCHEDULES) or {})
        if schedule is None:
            schedules.pop(charger_id, None)
        else:
            schedules[charger_id] = schedule
        self._hass.config_entries.async_update_entry(
            entry, options={**entry.options, CONF_SCHEDULES: schedules}
        )
