"""The reservation sensors: until when a connector (or any connector) is reserved.

Each EVSE has one for its own reservations, and each charger one for reservations of
"any connector" (1.6 connector 0, 2.x without an EVSE). The state is the expiry (a
timestamp, unknown while nothing is reserved); the attributes say for which tag and
under which reservation id, so an automation can cancel it. The engine ends
reservations as they expire, so the state never shows a time that has passed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity
from homeassistant.util import dt as dt_util

from ..csms.reservations import Reservation
from ..entity import OcppEntity


class ReservationSensor(OcppEntity, SensorEntity):
    """The reservation of one EVSE, or (charger-level) of any EVSE of the charger."""

    _attr_device_class = SensorDeviceClass.TIMESTAMP

    def _reservation(self) -> Reservation | None:
        # Read against the clock: one that has just expired is not shown meanwhile.
        return self.station.reservations.on_evse(self.evse_id, dt_util.utcnow())

    @property
    def native_value(self) -> datetime | None:
        """Until when it is reserved."""
        reservation = self._reservation()
        return reservation.expiry if reservation else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The connector (EVSE-level), and the reservation's id and tag while one holds."""
        attributes = super().extra_state_attributes or {}
        if (reservation := self._reservation()) is not None:
            attributes["reservation_id"] = reservation.id
            attributes["tag"] = reservation.id_tag
            if (name := self.hub.tag_name(reservation.id_tag)) is not None:
                attributes["tag_name"] = name
        return attributes or None
