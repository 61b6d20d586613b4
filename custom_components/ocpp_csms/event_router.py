"""From the engine's events to Home Assistant: entities, devices, events, repairs, discovery.

`EventRouter` is the central system's one listener (`CentralSystemListener`). Every
event names its charger; the router passes it to whoever shows that charger's part of
it, and to nobody else.
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY
from homeassistant.core import HomeAssistant
from homeassistant.helpers import discovery_flow

from .charger_activity import ChargerActivity
from .charger_index import ChargerIndex
from .charger_reports import ChargerReports
from .client_certificates.link import CertificateLink
from .const import CONF_CHARGER_ID, DOMAIN
from .csms.events import (
    AdmissionRequested,
    CertificateRenewalFailed,
    CertificateRenewed,
    Change,
    DataTransferReceived,
    Event,
    EvseUpdated,
    RegisterImplausible,
    SecurityEventReported,
    StationAutoAdmitted,
    StationConnected,
    StationDisconnected,
    StationNotice,
    StationUpdated,
    TagPresented,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from .csms.station import Station
from .devices import DeviceRegistrar
from .entity_manager import REPORTED, EntityManager, Scope
from .file_progress import FileProgress
from .sessions.book import SessionBook
from .sessions.meter_issues import RegisterIssues
from .tags.issues import UnknownTagIssues

_LOGGER = logging.getLogger(__name__)


class EventRouter:
    """Maps one central system's engine events onto Home Assistant."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        *,
        index: ChargerIndex,
        devices: DeviceRegistrar,
        entities: EntityManager[Any],
        sessions: SessionBook,
        files: FileProgress,
        reports: ChargerReports,
        activity: ChargerActivity,
        tag_issues: UnknownTagIssues,
        register_issues: RegisterIssues,
        certificates: CertificateLink,
    ) -> None:
        """Route to the given parts of one central system."""
        self._hass = hass
        self._entry_id = entry_id
        self._index = index
        self._devices = devices
        self._entities = entities
        self._sessions = sessions
        self._files = files
        self._reports = reports
        self._activity = activity
        self._tag_issues = tag_issues
        self._register_issues = register_issues
        self._certificates = certificates
        # Chargers said to be gone (logged once until they come back).
        self._offline_logged: set[str] = set()

    def handle(self, event: Event) -> None:
        """CentralSystemListener: map an engine event onto Home Assistant."""
        match event:
            case EvseUpdated(station=station, evse=evse, changed=changed):
                self._entities.evse_changed(station, evse.id, changed)
            case TransactionStarted():
                # The EVSE's entities follow its EvseUpdated; these feed session events.
                self._entities.session_reported(event)
                self._activity.session(event)
            case TransactionUpdated(station=station):
                self._entities.session_progressed(station.id)
            case TransactionEnded(station=station, transaction=transaction):
                self._sessions.transaction_ended(station, transaction)
                self._entities.session_reported(event)
                self._activity.session(event)
            case RegisterImplausible():
                self._register_issues.report(event)
            case TagPresented():
                self._entities.notify(Scope.charger(event.station.id), REPORTED, event)
                self._activity.tag(event)
                if not event.decision.known and event.id_tag:
                    self._tag_issues.report(event)
            case StationUpdated(station=station, changed=changed):
                self._station_updated(station, changed)
            case StationConnected() | StationDisconnected():
                self._connection_changed(event)
            case AdmissionRequested(station=station):
                self._request_admission(station)
            case StationAutoAdmitted(station=station):
                _LOGGER.info("Admitting charger %s (accept-all policy)", station.id)
                self._index.add(station.id, station.id, None)
            case _:
                self._reported(event)

    def _reported(self, event: Event) -> None:
        """What a charger reported beyond its state, and how its certificate's renewal went."""
        if isinstance(event, SecurityEventReported | DataTransferReceived | StationNotice):
            self._reports.report(event)
        elif isinstance(event, CertificateRenewalFailed | CertificateRenewed):
            self._certificates.renewal(event)

    def _connection_changed(self, event: StationConnected | StationDisconnected) -> None:
        """Log a charger going and coming back (once each way), and tell its entities."""
        station = event.station
        if isinstance(event, StationConnected):
            if station.id in self._offline_logged:
                self._offline_logged.discard(station.id)
                _LOGGER.info("Charger %s is connected again", station.id)
        elif station.id not in self._offline_logged and station.id in self._index.admitted:
            self._offline_logged.add(station.id)
            _LOGGER.info("Charger %s disconnected", station.id)
        self._entities.notify_station(station)
        if isinstance(event, StationConnected):
            self._certificates.known(station)  # the certificate it presented

    def _station_updated(self, station: Station, changed: frozenset[Change]) -> None:
        if Change.BOOT in changed and (subentry_id := self._index.subentry_id(station.id)):
            subentry = next(s for s in self._index.subentries() if s.subentry_id == subentry_id)
            self._devices.register_charger(subentry, station)
        if Change.FIRMWARE_STATUS in changed:
            self._files.firmware_status(station)
        if Change.DIAGNOSTICS_STATUS in changed:
            self._files.upload_status(station)
        if Change.CLIENT_CERTIFICATE in changed:
            self._certificates.known(station)
        self._entities.station_changed(station, changed)

    def _request_admission(self, station: Station) -> None:
        """Show the user a discovered charger to admit or reject."""
        boot = station.boot
        discovery_flow.async_create_flow(
            self._hass,
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data={
                "entry_id": self._entry_id,
                CONF_CHARGER_ID: station.id,
                "vendor": boot.vendor if boot else "",
                "model": boot.model if boot else "",
                "serial_number": (boot.serial_number if boot else None) or "",
                "address": station.remote_address or "",
            },
        )
