"""Runtime data of a central-system config entry.

The hub owns the engine, maps its events onto Home Assistant (devices, discovery
flows) and answers the engine's questions about which chargers are admitted (config
subentries) or rejected (ignored discovery flows).
"""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_INTEGRATION_DISCOVERY,
    ConfigEntry,
    ConfigSubentry,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import discovery_flow
from homeassistant.loader import async_get_integration

from .const import (
    CONF_CERTFILE,
    CONF_CHARGER_ID,
    CONF_KEYFILE,
    CONF_PASSWORD_HASH,
    CONF_TLS,
    CONF_UNKNOWN_CHARGERS,
    DOMAIN,
    MANUFACTURER,
    SUBENTRY_CHARGER,
)
from .csms.central_system import (
    AdmissionPolicy,
    CentralSystem,
    CentralSystemSettings,
    ChargerRecord,
)
from .csms.credentials import hash_password
from .csms.events import AdmissionRequested, Event, StationAutoAdmitted, StationUpdated
from .csms.server import ServerSettings, build_ssl_context
from .csms.station import Station

_LOGGER = logging.getLogger(__name__)

type OcppCsmsConfigEntry = ConfigEntry[CentralSystemHub]


def charger_unique_id(entry_id: str, charger_id: str) -> str:
    """The unique id of a charger's discovery flow (and of its ignored entry)."""
    return f"{entry_id}_{charger_id}"


def charger_device_identifier(entry_id: str, charger_id: str) -> tuple[str, str]:
    """The device-registry identifier of a charger."""
    return (DOMAIN, charger_unique_id(entry_id, charger_id))


class CentralSystemHub:
    """The bridge between one config entry and its `CentralSystem`."""

    def __init__(self, hass: HomeAssistant, entry: OcppCsmsConfigEntry) -> None:
        """Index the admitted chargers; `async_start` starts the server."""
        self.hass = hass
        self.entry = entry
        self._records: dict[str, ChargerRecord] = {}
        self._subentry_ids: dict[str, str] = {}
        self._titles: dict[str, str] = {}
        self._index_chargers()
        self.system: CentralSystem | None = None

    # -- life cycle -----------------------------------------------------------------

    async def async_start(self) -> None:
        """Register devices and start listening.

        Raises OSError (port unavailable, certificate file missing) or ssl.SSLError.
        """
        data = self.entry.data
        ssl_context = None
        if data.get(CONF_TLS):
            ssl_context = await self.hass.async_add_executor_job(
                build_ssl_context, data[CONF_CERTFILE], data.get(CONF_KEYFILE)
            )
        settings = CentralSystemSettings(
            server=ServerSettings(
                host=data[CONF_HOST], port=data[CONF_PORT], ssl_context=ssl_context
            ),
            admission=AdmissionPolicy(data.get(CONF_UNKNOWN_CHARGERS, AdmissionPolicy.ASK)),
        )
        self.system = CentralSystem(settings, self, self)
        integration = await async_get_integration(self.hass, DOMAIN)
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, self.entry.entry_id)},
            name=self.entry.title,
            manufacturer=MANUFACTURER,
            model="OCPP central system",
            sw_version=str(integration.version),
            entry_type=dr.DeviceEntryType.SERVICE,
        )
        for subentry in self._charger_subentries():
            self._register_device(subentry)
        await self.system.start()

    async def async_stop(self) -> None:
        """Close every charger connection and stop listening."""
        if self.system is not None:
            await self.system.stop()

    # -- admitted chargers (config subentries) -----------------------------------------

    def _charger_subentries(self) -> list[ConfigSubentry]:
        return [
            subentry
            for subentry in self.entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_CHARGER
        ]

    def _index_chargers(self) -> None:
        self._records = {}
        self._subentry_ids = {}
        self._titles = {}
        for subentry in self._charger_subentries():
            charger_id = subentry.data[CONF_CHARGER_ID]
            self._titles[charger_id] = subentry.title
            self._records[charger_id] = ChargerRecord(
                charger_id, subentry.data.get(CONF_PASSWORD_HASH)
            )
            self._subentry_ids[charger_id] = subentry.subentry_id

    async def async_sync_chargers(self) -> None:
        """Follow changes of the charger subentries without restarting the server."""
        before = set(self._records)
        titles_before = self._titles
        self._index_chargers()
        # Only new and renamed chargers touch the device registry: admitting many
        # chargers one after another must not redo every device each time.
        for subentry in self._charger_subentries():
            charger_id = subentry.data[CONF_CHARGER_ID]
            if titles_before.get(charger_id) != subentry.title:
                self._register_device(subentry)
        if self.system is None:
            return
        for charger_id in set(self._records) - before:
            self.system.charger_admitted(charger_id)
        for charger_id in before - set(self._records):
            await self.system.forget_charger(charger_id)

    @callback
    def _register_device(self, subentry: ConfigSubentry) -> None:
        charger_id: str = subentry.data[CONF_CHARGER_ID]
        details: dict[str, Any] = {}
        station = self.system.stations.get(charger_id) if self.system else None
        if station is not None and station.boot is not None:
            details = {
                "manufacturer": station.boot.vendor,
                "model": station.boot.model,
                "serial_number": station.boot.serial_number,
                "sw_version": station.boot.firmware_version,
            }
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            config_subentry_id=subentry.subentry_id,
            identifiers={charger_device_identifier(self.entry.entry_id, charger_id)},
            name=subentry.title,
            via_device=(DOMAIN, self.entry.entry_id),
            **details,
        )

    async def async_admit_charger(self, charger_id: str, name: str, password: str | None) -> None:
        """Admit a charger (the user confirmed it): store it as a subentry."""
        password_hash = (
            await self.hass.async_add_executor_job(hash_password, password) if password else None
        )
        self._add_charger_subentry(charger_id, name, password_hash)

    @callback
    def _add_charger_subentry(self, charger_id: str, name: str, password_hash: str | None) -> None:
        if charger_id in self._records:
            return
        self.hass.config_entries.async_add_subentry(
            self.entry,
            ConfigSubentry(
                data=MappingProxyType(
                    {CONF_CHARGER_ID: charger_id, CONF_PASSWORD_HASH: password_hash}
                ),
                subentry_type=SUBENTRY_CHARGER,
                title=name,
                unique_id=charger_id,
            ),
        )

    # -- ChargerDirectory ---------------------------------------------------------------

    def find(self, charger_id: str) -> ChargerRecord | None:
        """ChargerDirectory: the admitted charger with this id."""
        return self._records.get(charger_id)

    def is_rejected(self, charger_id: str) -> bool:
        """ChargerDirectory: whether the user rejected (ignored) this charger."""
        ignored = self.hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, charger_unique_id(self.entry.entry_id, charger_id)
        )
        return ignored is not None and ignored.source == SOURCE_IGNORE

    # -- CentralSystemListener ------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """CentralSystemListener: map an engine event onto Home Assistant."""
        match event:
            case StationUpdated(station=station, changed=changed) if "boot" in changed:
                if subentry_id := self._subentry_ids.get(station.id):
                    self._register_device(self.entry.subentries[subentry_id])
            case AdmissionRequested(station=station):
                self._request_admission(station)
            case StationAutoAdmitted(station=station):
                _LOGGER.info("Admitting charger %s (accept-all policy)", station.id)
                self._add_charger_subentry(station.id, station.id, None)

    def _request_admission(self, station: Station) -> None:
        """Show the user a discovered charger to admit or reject."""
        boot = station.boot
        discovery_flow.async_create_flow(
            self.hass,
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data={
                "entry_id": self.entry.entry_id,
                CONF_CHARGER_ID: station.id,
                "vendor": boot.vendor if boot else "",
                "model": boot.model if boot else "",
                "serial_number": (boot.serial_number if boot else None) or "",
                "address": station.remote_address or "",
            },
        )
