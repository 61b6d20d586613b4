"""The "Client certificate expires" sensor of each charger on security profile 3.

Its state is the end of the newest certificate known to be the charger's (presented
in its TLS handshake, taken from us, or remembered from before a restart), so it moves
on when a renewal succeeds. It stays available while the charger is offline: an
expired certificate is the usual reason a profile 3 charger cannot connect.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity
from homeassistant.const import EntityCategory

from ..csms.events import Change
from ..csms.station import Evse, Station
from ..entity import OcppEntity
from ..sensor_descriptions import OcppSensorDescription

if TYPE_CHECKING:
    from ..hub import CentralSystemHub


def _expiry(station: Station, evse: Evse | None) -> datetime | None:
    """The end of the charger's newest known certificate (None: none known)."""
    known = station.known_certificate
    return known.not_after if known is not None else None


CLIENT_CERTIFICATE_EXPIRY = OcppSensorDescription(
    key="client_certificate_expiry",
    translation_key="client_certificate_expiry",
    follows=frozenset({Change.CLIENT_CERTIFICATE}),
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
    value_fn=_expiry,
)


def build_certificate_sensors(
    hub: CentralSystemHub, station: Station, evse_id: int | None
) -> Iterable[OcppEntity]:
    """The expiry sensor of a charger on profile 3 (or that had one before)."""
    if evse_id is not None:
        return
    key = CLIENT_CERTIFICATE_EXPIRY.key
    if hub.certificates.on_profile_3(station.id) or hub.entities.is_registered(
        "sensor", station.id, None, key
    ):
        yield ClientCertificateExpirySensor(hub, station, None, CLIENT_CERTIFICATE_EXPIRY)


class ClientCertificateExpirySensor(OcppEntity, SensorEntity):
    """When the charger's client certificate ends."""

    entity_description: OcppSensorDescription

    @property
    def available(self) -> bool:
        """Also while the charger is offline (see the module's description)."""
        return True

    @property
    def native_value(self) -> datetime | None:
        """The end of its newest known certificate (None: none known)."""
        return _expiry(self.station, None)
