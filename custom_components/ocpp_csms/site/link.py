"""The site seen from Home Assistant: settings from the options, grid meter from sensors.

The engine's `SiteBalancer` does the balancing; this module tells it the site's fuse,
margin and failsafe (from the entry's options) and feeds it the grid meter: three
current sensors (A per phase) or one power sensor (W or kW in total, spread evenly
over the three phases). A sensor that is unavailable or not a number means the grid
reading is missing, and the balancer gives every session the failsafe current.

It also keeps each charger's charging mode (set by its select entity) and feeds the
export power sensor (W or kW; positive when exporting, unless the options say the
sensor is the net grid power, negative when exporting) for solar surplus charging.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, UnitOfPower
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_state_change_event

from ..const import (
    CONF_EXPORT_NEGATIVE,
    CONF_EXPORT_POWER,
    CONF_GRID_CURRENT,
    CONF_GRID_POWER,
    CONF_SITE_FAILSAFE,
    CONF_SITE_FUSE,
    CONF_SITE_MARGIN,
    CONF_SOLAR_START_DELAY,
    CONF_SOLAR_STOP_DELAY,
    DEFAULT_SITE_MARGIN_A,
    DEFAULT_SOLAR_START_DELAY_MIN,
    DEFAULT_SOLAR_STOP_DELAY_MIN,
    MIN_CURRENT_A,
)
from ..csms.charging import NOMINAL_VOLTAGE_V
from ..csms.site import SiteBalancer
from ..csms.site_settings import SiteSettings
from ..csms.solar import ChargingMode, SolarSettings
from ..entity_manager import ALLOCATION, SITE, Scope

if TYPE_CHECKING:
    from ..charger_index import ChargerIndex
    from ..csms.central_system import CentralSystem
    from ..entity_manager import EntityManager

_LOGGER = logging.getLogger(__name__)

_WATTS_PER: dict[str, float] = {UnitOfPower.WATT: 1.0, UnitOfPower.KILO_WATT: 1000.0}


def site_fuse(options: Mapping[str, object]) -> float | None:
    """The main fuse per phase the options give; None: no site, no balancing."""
    fuse = options.get(CONF_SITE_FUSE)
    return float(fuse) if isinstance(fuse, int | float) and fuse > 0 else None


def site_settings(
    options: Mapping[str, object], limit_a: float | None = None
) -> SiteSettings | None:
    """The site the options describe, held to `limit_a` (the site-limit number) if lower."""
    fuse = site_fuse(options)
    if fuse is None:
        return None
    if limit_a is not None:
        fuse = min(fuse, limit_a)
    return SiteSettings(
        fuse_a=fuse,
        margin_a=_number(options, CONF_SITE_MARGIN, DEFAULT_SITE_MARGIN_A),
        failsafe_a=_number(options, CONF_SITE_FAILSAFE, MIN_CURRENT_A),
        grid_meter=bool(grid_sensors(options)),
        export_meter=bool(export_sensor(options)),
        solar=SolarSettings(
            start_delay_s=60
            * _number(options, CONF_SOLAR_START_DELAY, DEFAULT_SOLAR_START_DELAY_MIN),
            stop_delay_s=60 * _number(options, CONF_SOLAR_STOP_DELAY, DEFAULT_SOLAR_STOP_DELAY_MIN),
        ),
    )


def _number(options: Mapping[str, object], key: str, default: float) -> float:
    value = options.get(key, default)
    return float(value) if isinstance(value, int | float) else float(default)


def grid_sensors(options: Mapping[str, object]) -> list[str]:
    """The grid meter's sensors: three currents, else one power, else none."""
    currents = [options.get(key) for key in CONF_GRID_CURRENT]
    if all(isinstance(sensor, str) and sensor for sensor in currents):
        return [str(sensor) for sensor in currents]
    power = options.get(CONF_GRID_POWER)
    return [power] if isinstance(power, str) and power else []


def export_sensor(options: Mapping[str, object]) -> str | None:
    """The export power sensor, if the options name one."""
    sensor = options.get(CONF_EXPORT_POWER)
    return sensor if isinstance(sensor, str) and sensor else None


# Builds the site's entities, given the runtime data the entities use.
type SiteEntityBuilder = Callable[[Any], Iterable[Entity]]


class SiteLink:
    """Keeps the engine's site in step with the options and the grid sensors.

    Also the site's side of the entities: the site-level ones (available current, the
    site limit) are added the first time balancing is on, and entities are told when
    the allocation changes.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        index: ChargerIndex,
        entities: EntityManager[Any],
    ) -> None:
        """Serve one central system; `attach` its engine once it runs."""
        self._hass = hass
        self._entry = entry
        self._index = index
        self._entities = entities
        self._system: CentralSystem | None = None
        # What site entity builders give the entities (the runtime data).
        self._context: Any = None
        self._unsubscribe: Callable[[], None] = lambda: None
        self._sensors: list[str] = []
        # The site-limit number's value: balancing keeps to it when below the fuse.
        self.limit_a: float | None = None
        self._platforms: list[tuple[SiteEntityBuilder, AddConfigEntryEntitiesCallback]] = []
        self._platforms_added = False
        self._allocation: dict[tuple[str, int], float] = {}
        # Each charger's charging mode, as its select entity set (or restored) it.
        self.modes: dict[str, ChargingMode] = {}

    def attach(self, system: CentralSystem, context: Any) -> None:
        """The engine whose site this keeps, and what site entity builders give."""
        self._system = system
        self._context = context

    @property
    def site(self) -> SiteBalancer | None:
        """The engine's balancer, while balancing is on."""
        return self._system.site if self._system is not None else None

    @callback
    def register_site_platform(
        self, builder: SiteEntityBuilder, add_entities: AddConfigEntryEntitiesCallback
    ) -> None:
        """A platform with site-level entities: they are added once balancing is on."""
        self._platforms.append((builder, add_entities))
        if self._platforms_added:
            add_entities(builder(self._context))

    @callback
    def set_limit(self, limit_a: float | None) -> None:
        """The site-limit number changed (or was restored)."""
        self.limit_a = limit_a
        self.sync()

    @callback
    def set_mode(self, charger_id: str, mode: ChargingMode) -> None:
        """A charger's charging mode changed (or was restored): share anew at once."""
        self.modes[charger_id] = mode
        if (site := self.site) is not None:
            site.wake()

    def mode(self, charger_id: str) -> ChargingMode:
        """A charger's charging mode (fast until its select says otherwise)."""
        return self.modes.get(charger_id, ChargingMode.FAST)

    @callback
    def sync(self) -> None:
        """Apply the current options: start, change or stop balancing; follow sensors."""
        system = self._system
        if system is None:
            return
        options = self._entry.options
        system.set_site(site_settings(options, self.limit_a))
        if system.site is not None:
            system.site.on_rebalanced = self._rebalanced
            self._add_entities()
        sensors = grid_sensors(options) if system.site is not None else []
        if system.site is not None and (export := export_sensor(options)) is not None:
            sensors = [*sensors, export]
        if sensors != self._sensors:
            self._unsubscribe()
            self._unsubscribe = lambda: None
            self._sensors = sensors
            if sensors:
                self._unsubscribe = async_track_state_change_event(
                    self._hass, sensors, self._sensor_changed
                )
        self._read_meters()
        self._tell_site()

    def _add_entities(self) -> None:
        """Balancing is on: the site's entities, and each EVSE's allocated current."""
        if not self._platforms_added:
            self._platforms_added = True
            for builder, add_entities in self._platforms:
                add_entities(builder(self._context))
        system = self._system
        assert system is not None
        for charger_id in self._index.admitted:
            station = system.ensure_station(charger_id)
            self._entities.build(station, None)
            for evse_id in station.evses:
                if evse_id > 0:
                    self._entities.build(station, evse_id)

    def _rebalanced(self) -> None:
        """Update the entities of the sessions whose share changed, and the site's."""
        site = self.site
        allocation = dict(site.allocated_by_evse) if site is not None else {}
        for charger_id, evse_id in set(allocation) | set(self._allocation):
            key = (charger_id, evse_id)
            if allocation.get(key) != self._allocation.get(key):
                self._entities.notify(Scope.evse(charger_id, evse_id), ALLOCATION)
        self._allocation = allocation
        self._tell_site()

    def _tell_site(self) -> None:
        """The site's figures or settings changed: its entities, and the mode selects."""
        self._entities.notify(SITE, ALLOCATION)

    def allocated_a(self, charger_id: str, evse_id: int) -> float | None:
        """The current a charger's EVSE is allotted now (None: no balanced session)."""
        site = self.site
        return site.allocated_by_evse.get((charger_id, evse_id)) if site is not None else None

    @callback
    def stop(self) -> None:
        """Stop following the sensors."""
        self._unsubscribe()
        self._unsubscribe = lambda: None
        self._sensors = []

    @callback
    def _sensor_changed(self, event: Event[EventStateChangedData]) -> None:
        options = self._entry.options
        site = self.site
        if site is not None and event.data["entity_id"] == export_sensor(options):
            site.set_export(self._export_reading())
        else:
            self._read_meters(export=False)

    def _read_meters(self, *, export: bool = True) -> None:
        site = self.site
        if site is None:
            return
        if sensors := grid_sensors(self._entry.options):
            site.set_grid(self._grid_reading(sensors))
        if export:
            site.set_export(self._export_reading())

    def _reading(self, entity_id: str) -> tuple[float, object] | None:
        """A sensor's value and unit, or None when it has no usable value."""
        state = self._hass.states.get(entity_id)
        if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return None
        try:
            value = float(state.state)
        except ValueError:
            return None
        return value, state.attributes.get("unit_of_measurement")

    def _watts(self, entity_id: str) -> float | None:
        """A power sensor's reading in W (None: no usable reading or an unknown unit)."""
        reading = self._reading(entity_id)
        if reading is None:
            return None
        power, unit = reading
        scale = _WATTS_PER.get(str(unit))
        if scale is None:
            _LOGGER.warning("Power sensor %s is in %s, not W or kW", entity_id, unit)
            return None
        return power * scale

    def _grid_reading(self, sensors: list[str]) -> tuple[float, float, float] | None:
        """The grid current per phase (A), or None when a sensor has no usable value."""
        if len(sensors) == 1:
            watts = self._watts(sensors[0])
            if watts is None:
                return None
            per_phase = abs(watts) / NOMINAL_VOLTAGE_V / 3
            return (per_phase, per_phase, per_phase)
        readings = [self._reading(entity_id) for entity_id in sensors]
        if any(reading is None for reading in readings):
            return None
        l1, l2, l3 = (abs(reading[0]) for reading in readings if reading is not None)
        return (l1, l2, l3)

    def _export_reading(self) -> float | None:
        """What the house exports now (W; negative: imports), or None without a reading."""
        options = self._entry.options
        sensor = export_sensor(options)
        watts = self._watts(sensor) if sensor is not None else None
        if watts is None:
            return None
        return -watts if options.get(CONF_EXPORT_NEGATIVE) else watts
