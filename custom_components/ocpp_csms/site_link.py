"""The site seen from Home Assistant: settings from the options, grid meter from sensors.

The engine's `SiteBalancer` does the balancing; this module tells it the site's fuse,
margin and failsafe (from the entry's options) and feeds it the grid meter: three
current sensors (A per phase) or one power sensor (W or kW in total, spread evenly
over the three phases). A sensor that is unavailable or not a number means the grid
reading is missing, and the balancer gives every session the failsafe current.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, UnitOfPower
from homeassistant.core import Event, EventStateChangedData, callback
from homeassistant.helpers.event import async_track_state_change_event

from .const import (
    CONF_GRID_CURRENT,
    CONF_GRID_POWER,
    CONF_SITE_FAILSAFE,
    CONF_SITE_FUSE,
    CONF_SITE_MARGIN,
    DEFAULT_SITE_MARGIN_A,
    MIN_CURRENT_A,
)
from .csms.charging import NOMINAL_VOLTAGE_V
from .csms.site import SiteSettings

if TYPE_CHECKING:
    from .hub import CentralSystemHub

_LOGGER = logging.getLogger(__name__)

_WATTS_PER: dict[str, float] = {UnitOfPower.WATT: 1.0, UnitOfPower.KILO_WATT: 1000.0}


def site_settings(options: dict[str, object]) -> SiteSettings | None:
    """The site the options describe; None when no main fuse is set (no balancing)."""
    fuse = options.get(CONF_SITE_FUSE)
    if not isinstance(fuse, int | float) or fuse <= 0:
        return None
    margin = options.get(CONF_SITE_MARGIN, DEFAULT_SITE_MARGIN_A)
    failsafe = options.get(CONF_SITE_FAILSAFE, MIN_CURRENT_A)
    return SiteSettings(
        fuse_a=float(fuse),
        margin_a=float(margin) if isinstance(margin, int | float) else DEFAULT_SITE_MARGIN_A,
        failsafe_a=float(failsafe) if isinstance(failsafe, int | float) else MIN_CURRENT_A,
        grid_meter=bool(grid_sensors(options)),
    )


def grid_sensors(options: dict[str, object]) -> list[str]:
    """The grid meter's sensors: three currents, else one power, else none."""
    currents = [options.get(key) for key in CONF_GRID_CURRENT]
    if all(isinstance(sensor, str) and sensor for sensor in currents):
        return [str(sensor) for sensor in currents]
    power = options.get(CONF_GRID_POWER)
    return [power] if isinstance(power, str) and power else []


class SiteLink:
    """Keeps the engine's site in step with the options and the grid sensors."""

    def __init__(self, hub: CentralSystemHub) -> None:
        """Serve one central system."""
        self._hub = hub
        self._unsubscribe: Callable[[], None] = lambda: None
        self._sensors: list[str] = []

    @callback
    def sync(self) -> None:
        """Apply the current options: start, change or stop balancing; follow sensors."""
        system = self._hub.system
        if system is None:
            return
        options = dict(self._hub.entry.options)
        system.set_site(site_settings(options))
        sensors = grid_sensors(options) if system.site is not None else []
        if sensors != self._sensors:
            self._unsubscribe()
            self._unsubscribe = lambda: None
            self._sensors = sensors
            if sensors:
                self._unsubscribe = async_track_state_change_event(
                    self._hub.hass, sensors, self._sensor_changed
                )
        self._read_grid()

    @callback
    def stop(self) -> None:
        """Stop following the sensors."""
        self._unsubscribe()
        self._unsubscribe = lambda: None
        self._sensors = []

    @callback
    def _sensor_changed(self, _event: Event[EventStateChangedData]) -> None:
        self._read_grid()

    def _read_grid(self) -> None:
        system = self._hub.system
        if system is None or system.site is None or not self._sensors:
            return
        system.site.set_grid(self._grid_reading())

    def _grid_reading(self) -> tuple[float, float, float] | None:
        """The grid current per phase (A), or None when a sensor has no usable value."""
        values = []
        for entity_id in self._sensors:
            state = self._hub.hass.states.get(entity_id)
            if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
                return None
            try:
                value = float(state.state)
            except ValueError:
                return None
            values.append((value, state.attributes.get("unit_of_measurement")))
        if len(values) == 3:
            return (abs(values[0][0]), abs(values[1][0]), abs(values[2][0]))
        power, unit = values[0]
        scale = _WATTS_PER.get(str(unit))
        if scale is None:
            _LOGGER.warning("Grid power sensor %s is in %s, not W or kW", self._sensors[0], unit)
            return None
        per_phase = abs(power) * scale / NOMINAL_VOLTAGE_V / 3
        return (per_phase, per_phase, per_phase)
