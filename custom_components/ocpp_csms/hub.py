"""Runtime data of a central-system config entry.

The hub owns the engine, maps its events onto Home Assistant (devices, discovery
flows) and answers the engine's questions about which chargers are admitted (config
subentries) or rejected (ignored discovery flows).
"""

from __future__ import annotations

import asyncio
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
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import discovery_flow
from homeassistant.helpers import issue_registry as ir
from homeassistant.loader import async_get_integration

from .const import (
    CONF_CERTFILE,
    CONF_CHARGER_ID,
    CONF_DEFAULT_TAG,
    CONF_KEYFILE,
    CONF_MAX_CURRENT,
    CONF_PASSWORD_HASH,
    CONF_PHASE_SWITCHING,
    CONF_PRIORITY,
    CONF_QUIRKS,
    CONF_TLS,
    CONF_UNKNOWN_CHARGERS,
    DEFAULT_MAX_CURRENT_A,
    DEFAULT_REMOTE_TAG,
    DOMAIN,
    MANUFACTURER,
    PRIORITIES,
    SUBENTRY_CHARGER,
)
from .csms.authorization import TagRegistry
from .csms.central_system import (
    AdmissionPolicy,
    CentralSystem,
    CentralSystemSettings,
    ChargerRecord,
)
from .csms.commands import Command, CommandResult, CommandStatus
from .csms.credentials import hash_password
from .csms.events import (
    AdmissionRequested,
    Change,
    Event,
    EvseUpdated,
    RegisterImplausible,
    StationAutoAdmitted,
    StationConnected,
    StationDisconnected,
    StationUpdated,
    TagPresented,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from .csms.server import ServerSettings, build_ssl_context
from .csms.solar import ChargingMode
from .csms.station import Station
from .entity_manager import REPORTED, EntityManager, Scope
from .http import EXCHANGE
from .identifiers import (
    charger_device_identifier,
    charger_unique_id,
)
from .meter_issues import RegisterIssues
from .metering_options import meter_overrides_from, meter_wish_from
from .schedules import ScheduleLink
from .session_book import SessionBook
from .site_link import SiteLink
from .tag_issues import UnknownTagIssues
from .tag_store import TagStore

_LOGGER = logging.getLogger(__name__)

type OcppCsmsConfigEntry = ConfigEntry[CentralSystemHub]

# Firmware statuses (1.6, its security extension, 2.x) that end an update in failure.
FIRMWARE_FAILED = frozenset(
    {"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature"}
)
# Diagnostics / log statuses after which the upload is over, one way or the other.
UPLOAD_OVER = frozenset(
    {"Uploaded", "UploadFailed", "UploadFailure", "PermissionDenied", "BadMessage",
     "NotSupportedOperation"}
)  # fmt: skip


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
        self.entities = EntityManager(self)
        self.sessions = SessionBook(self)
        # Remote starts use the chargers' own tags: always accepted on their charger.
        self.tags = TagStore(
            hass,
            entry.entry_id,
            TagRegistry(own_tags=lambda charger_id: (self.default_tag(charger_id),)),
        )
        self.tag_issues = UnknownTagIssues(self)
        self.register_issues = RegisterIssues(self)
        self._unsubscribe_tags = self.tags.registry.subscribe(self.tag_issues.tags_changed)
        self.site_link = SiteLink(self)
        self.schedule_link = ScheduleLink(self)
        # Whether the cost sensors were left out at set-up (no price configured).
        self.started_without_price = self.sessions.pricing is None
        # The server settings it listens with: changing them takes a reload.
        self.started_with_server = dict(entry.data)
        self._offline_logged: set[str] = set()
        # The central system's own device, which every charger's device is connected via.
        self._central_device_id: str | None = None
        self._stopping = asyncio.Lock()
        self._stopped = False

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
        wish = meter_wish_from(self.entry.options)
        chargers = [subentry.data for subentry in self._charger_subentries()]
        settings = CentralSystemSettings(
            server=ServerSettings(
                host=data[CONF_HOST], port=data[CONF_PORT], ssl_context=ssl_context
            ),
            admission=AdmissionPolicy(data.get(CONF_UNKNOWN_CHARGERS, AdmissionPolicy.ASK)),
            meter_measurands=wish.measurands,
            meter_interval_s=wish.interval_s,
            meter_edge_measurands=wish.edge_measurands,
            meter_overrides=meter_overrides_from(chargers, wish),
        )
        await self.tags.async_load()
        self.system = CentralSystem(
            settings,
            self,
            self,
            authorizer=self.tags.registry,
            journal=self.sessions.journal,
            chargers=self,
        )
        self.tags.attach(self.system.local_lists)
        integration = await async_get_integration(self.hass, DOMAIN)
        central_device = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, self.entry.entry_id)},
            name=self.entry.title,
            manufacturer=MANUFACTURER,
            model="OCPP central system",
            sw_version=str(integration.version),
            entry_type=dr.DeviceEntryType.SERVICE,
        )
        self._central_device_id = central_device.id
        for subentry in self._charger_subentries():
            self._register_device(subentry)
            self.system.ensure_station(subentry.data[CONF_CHARGER_ID])
        await self.system.start()
        self.site_link.sync()
        self.schedule_link.sync()
        await self.sessions.async_start()

    async def async_stop(self) -> None:
        """Close every charger connection, stop listening and close the journal.

        Home Assistant's stop, an unload and a failed start may each call this, also at
        the same time: the first call stops, the others wait for it.
        """
        async with self._stopping:
            if not self._stopped:
                self._stopped = True
                await self._async_stop()

    async def _async_stop(self) -> None:
        self.sessions.async_stop()
        self.site_link.stop()
        self.schedule_link.stop()
        self._unsubscribe_tags()
        self.tags.close()
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
                charger_id, subentry.data.get(CONF_PASSWORD_HASH), subentry.data.get(CONF_QUIRKS)
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
        self.system.set_meter_wish(
            wish := meter_wish_from(self.entry.options),
            meter_overrides_from((sub.data for sub in self._charger_subentries()), wish),
        )
        self.system.reapply_quirks()
        for charger_id in set(self._records) - before:
            self.entities.build(self.system.ensure_station(charger_id), None)
            self.system.charger_admitted(charger_id)
        for charger_id in before - set(self._records):
            self.entities.forget(charger_id)
            self.register_issues.forget(charger_id)
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
            via_device_id=self._central_device_id,
            **details,
        )

    @property
    def admitted(self) -> frozenset[str]:
        """The ids of the admitted chargers."""
        return frozenset(self._records)

    def subentry_id(self, charger_id: str) -> str | None:
        """The config subentry of an admitted charger."""
        return self._subentry_ids.get(charger_id)

    def charger_name(self, charger_id: str) -> str:
        """The name the user gave a charger (its subentry title), else its id."""
        return self._titles.get(charger_id, charger_id)

    def _charger_setting(self, charger_id: str, key: str) -> Any:
        subentry_id = self._subentry_ids.get(charger_id)
        if subentry_id is None or subentry_id not in self.entry.subentries:
            return None
        return self.entry.subentries[subentry_id].data.get(key)

    def default_tag(self, charger_id: str) -> str:
        """The idTag that sessions started from Home Assistant use on this charger."""
        return str(self._charger_setting(charger_id, CONF_DEFAULT_TAG) or DEFAULT_REMOTE_TAG)

    def tag_name(self, id_tag: str) -> str | None:
        """The name the user gave a tag, if the tag is registered with one."""
        tag = self.tags.registry.get(id_tag)
        return (tag.name or None) if tag else None

    def max_current(self, charger_id: str) -> int:
        """The most current (A) the user lets this charger be set to."""
        return int(self._charger_setting(charger_id, CONF_MAX_CURRENT) or DEFAULT_MAX_CURRENT_A)

    # -- ChargerLimits (load balancing) ---------------------------------------------------

    def max_current_a(self, charger_id: str) -> float:
        """ChargerLimits: the charger's maximum current setting."""
        return float(self.max_current(charger_id))

    def priority(self, charger_id: str) -> int:
        """ChargerLimits: the charger's balancing priority setting."""
        return PRIORITIES.get(str(self._charger_setting(charger_id, CONF_PRIORITY)), 0)

    def mode(self, charger_id: str) -> ChargingMode:
        """ChargerLimits: the charger's charging mode (its select entity)."""
        return self.site_link.mode(charger_id)

    def switches_phases(self, charger_id: str) -> bool:
        """ChargerLimits: whether the charger's settings say it switches phases."""
        return bool(self._charger_setting(charger_id, CONF_PHASE_SWITCHING))

    def start_tag(self, charger_id: str) -> str:
        """ChargerLimits: sessions the central system starts use the remote-start tag."""
        return self.default_tag(charger_id)

    def command_error(self, charger_id: str, result: CommandResult) -> HomeAssistantError:
        """The translated error for a command that was not accepted, naming the charger."""
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=f"command_{result.status.value}",
            translation_placeholders={
                "charger": self.charger_name(charger_id),
                "detail": result.detail or "-",
            },
        )

    def charger_for_device(self, identifiers: set[tuple[str, str]]) -> str | None:
        """The id of the charger a device (by its identifiers) stands for, if it is ours."""
        for charger_id in self._records:
            if charger_device_identifier(self.entry.entry_id, charger_id) in identifiers:
                return charger_id
        return None

    async def execute(self, charger_id: str, command: Command) -> CommandResult:
        """Send a command to a charger (offline when the server is not running)."""
        if self.system is None:
            return CommandResult(CommandStatus.OFFLINE)
        return await self.system.execute(charger_id, command)

    async def async_admit_charger(
        self, charger_id: str, name: str, password: str | None, settings: dict[str, Any]
    ) -> None:
        """Admit a charger (the user confirmed it): store it as a subentry."""
        password_hash = (
            await self.hass.async_add_executor_job(hash_password, password) if password else None
        )
        self._add_charger_subentry(charger_id, name, password_hash, settings)

    @callback
    def _add_charger_subentry(
        self,
        charger_id: str,
        name: str,
        password_hash: str | None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        if charger_id in self._records:
            return
        self.hass.config_entries.async_add_subentry(
            self.entry,
            ConfigSubentry(
                data=MappingProxyType(
                    {
                        CONF_CHARGER_ID: charger_id,
                        CONF_PASSWORD_HASH: password_hash,
                        CONF_DEFAULT_TAG: DEFAULT_REMOTE_TAG,
                        CONF_MAX_CURRENT: DEFAULT_MAX_CURRENT_A,
                        **(settings or {}),
                    }
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
            case EvseUpdated(station=station, evse=evse, changed=changed):
                self.entities.evse_changed(station, evse.id, changed)
            case TransactionStarted():
                # The EVSE's entities follow its EvseUpdated; these feed session events.
                self.entities.session_reported(event)
            case TransactionUpdated(station=station, transaction=transaction):
                self.entities.session_progressed(station.id, transaction.evse_id)
            case TransactionEnded(station=station, transaction=transaction):
                self.sessions.transaction_ended(station, transaction)
                self.entities.session_reported(event)
            case RegisterImplausible():
                self.register_issues.report(event)
            case TagPresented():
                self._tag_presented(event)
            case StationUpdated(station=station, changed=changed):
                self._station_updated(station, changed)
            case StationConnected() | StationDisconnected():
                self._connection_changed(event)
            case AdmissionRequested(station=station):
                self._request_admission(station)
            case StationAutoAdmitted(station=station):
                _LOGGER.info("Admitting charger %s (accept-all policy)", station.id)
                self._add_charger_subentry(station.id, station.id, None)

    def _connection_changed(self, event: StationConnected | StationDisconnected) -> None:
        """Log a charger going and coming back (once each way), and tell its entities."""
        station = event.station
        if isinstance(event, StationConnected):
            if station.id in self._offline_logged:
                self._offline_logged.discard(station.id)
                _LOGGER.info("Charger %s is connected again", station.id)
        elif station.id not in self._offline_logged and station.id in self._records:
            self._offline_logged.add(station.id)
            _LOGGER.info("Charger %s disconnected", station.id)
        self.entities.notify_station(station)

    def _station_updated(self, station: Station, changed: frozenset[Change]) -> None:
        if Change.BOOT in changed and (subentry_id := self._subentry_ids.get(station.id)):
            self._register_device(self.entry.subentries[subentry_id])
        if Change.FIRMWARE_STATUS in changed:
            self._firmware_progress(station)
        if Change.DIAGNOSTICS_STATUS in changed and station.diagnostics_status in UPLOAD_OVER:
            self._file_exchange_finish(station.id, "diagnostics")
        self.entities.station_changed(station, changed)

    def _file_exchange_finish(self, charger_id: str, kind: str) -> None:
        if (exchange := self.hass.data.get(EXCHANGE)) is not None:
            exchange.finish(charger_id, kind)

    def _firmware_progress(self, station: Station) -> None:
        """An update finished: close its download and say how it went (a repair if failed)."""
        status = station.firmware_status
        self.hass.bus.async_fire(
            f"{DOMAIN}_firmware_status",
            {"charger_id": station.id, "name": self.charger_name(station.id), "status": status},
        )
        issue_id = f"firmware_failed_{self.entry.entry_id}_{station.id}"
        if status in FIRMWARE_FAILED:
            self._file_exchange_finish(station.id, "firmware")
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="firmware_failed",
                translation_placeholders={
                    "charger": self.charger_name(station.id),
                    "status": str(status),
                },
            )
        elif status == "Installed":
            self._file_exchange_finish(station.id, "firmware")
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)

    # -- tags ----------------------------------------------------------------------------

    def _tag_presented(self, event: TagPresented) -> None:
        self.entities.notify(Scope.charger(event.station.id), REPORTED, event)
        if not event.decision.known and event.id_tag:
            self.tag_issues.report(event)

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
