"""The energy meter register sensor: never backwards, restored across restarts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import RestoreSensor, SensorExtraStoredData
from homeassistant.const import UnitOfEnergy

from .csms.events import Event
from .entity import OcppEntity

if TYPE_CHECKING:
    from .sensor_descriptions import OcppSensorDescription


class EnergyRegisterSensor(OcppEntity, RestoreSensor):
    """The energy meter register, for the Energy dashboard.

    It never goes backwards: some chargers report a register that restarts with every
    session; a drop is taken as such a restart and counted on top of what came before.
    Its last value is restored at start-up and shown until the charger reports again.
    """

    entity_description: OcppSensorDescription

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Start with nothing counted."""
        super().__init__(*args, **kwargs)
        self._offset_kwh = 0.0
        self._last_raw_kwh: float | None = None
        self._total_kwh: float | None = None

    async def async_added_to_hass(self) -> None:
        """Restore the last total and the offset behind it."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_sensor_data()) is not None and isinstance(
            last.native_value, (int, float)
        ):
            self._total_kwh = float(last.native_value)
        if (extra := await self.async_get_last_extra_data()) is not None:
            data = extra.as_dict()
            self._offset_kwh = float(data.get("offset_kwh") or 0.0)
            raw = data.get("last_raw_kwh")
            self._last_raw_kwh = float(raw) if raw is not None else None
        self._read()

    @property
    def available(self) -> bool:
        """While connected (unknown until read, as other sensors); offline once known."""
        return self.station.connected or self._total_kwh is not None

    @property
    def native_value(self) -> float | None:
        """Energy imported in all, in kWh."""
        return self._total_kwh

    def handle_update(self, event: Event | None = None) -> None:
        """Take the newest register reading, then write the state."""
        self._read()
        self.async_write_ha_state()

    def _read(self) -> None:
        raw = self.entity_description.value_fn(self.station, self.evse)
        if not isinstance(raw, float):
            return
        if self._last_raw_kwh is not None and raw < self._last_raw_kwh - 0.001:
            # The register restarted (a session-relative meter): keep counting up.
            self._offset_kwh += self._last_raw_kwh
        self._last_raw_kwh = raw
        self._total_kwh = round(self._offset_kwh + raw, 3)

    @property
    def extra_restore_state_data(self) -> _EnergyRestoreData:
        """Keep the offset and the last raw reading across restarts."""
        return _EnergyRestoreData(
            self._total_kwh, UnitOfEnergy.KILO_WATT_HOUR, self._offset_kwh, self._last_raw_kwh
        )


@dataclass
class _EnergyRestoreData(SensorExtraStoredData):
    offset_kwh: float
    last_raw_kwh: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            **super().as_dict(),
            "offset_kwh": self.offset_kwh,
            "last_raw_kwh": self.last_raw_kwh,
        }
