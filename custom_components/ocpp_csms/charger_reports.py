"""What chargers report beyond their model: security events, vendor data, notices.

A security event (`SecurityEventNotification`) and a vendor's DataTransfer become Home
Assistant events (`ocpp_csms_security_event`, `ocpp_csms_data_transfer`) that
automations can trigger on and the logbook shows (`logbook.py`). Other reports without
a field of their own (2.x NotifyEvent, ReportChargingProfiles) are kept, the last few
per charger, for its diagnostics.

A charger decides how often it reports: ten of these events a minute per charger (60
for all together) reach the bus, the rest are counted for diagnostics (`ChargerEvents`).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from homeassistant.core import HomeAssistant

from .charger_events import ChargerEvents
from .const import DOMAIN
from .csms.events import DataTransferReceived, SecurityEventReported, StationNotice
from .csms.log_budget import shorten

EVENT_SECURITY = f"{DOMAIN}_security_event"
EVENT_DATA_TRANSFER = f"{DOMAIN}_data_transfer"
# Vendor data larger than this (as JSON) is left out of the event, with a flag.
MAX_EVENT_DATA_CHARS = 2000
# Notices kept per charger for its diagnostics.
MAX_NOTICES = 20


@dataclass(frozen=True, slots=True)
class Notice:
    """A report kept for diagnostics: what, when, and a shortened copy of what it said."""

    kind: str
    at: datetime
    data: str


class ChargerReports:
    """Turns one central system's charger reports into events, and keeps notices."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, charger_name: Callable[[str], str]
    ) -> None:
        """Fire on `hass`'s bus; `charger_name` names a charger for the user."""
        self.events = ChargerEvents(hass, entry_id, charger_name, per_charger=10, overall=60)
        self.notices: dict[str, deque[Notice]] = {}

    def report(self, event: SecurityEventReported | DataTransferReceived | StationNotice) -> None:
        """Show one report where a user looks for it."""
        match event:
            case SecurityEventReported():
                self._security_event(event)
            case DataTransferReceived():
                self._data_transfer(event)
            case StationNotice():
                self._notice(event)

    def _security_event(self, event: SecurityEventReported) -> None:
        """A security event: a Home Assistant event (and a logbook line)."""
        reported = event.event
        self.events.fire(
            EVENT_SECURITY,
            event.station.id,
            {
                "type": reported.type,
                "timestamp": reported.timestamp.isoformat(),
                "tech_info": reported.tech_info,
            },
        )

    def _data_transfer(self, event: DataTransferReceived) -> None:
        """Vendor data: a Home Assistant event with the data, if it is not too big."""
        text = json.dumps(event.data, default=str)
        fits = len(text) <= MAX_EVENT_DATA_CHARS
        self.events.fire(
            EVENT_DATA_TRANSFER,
            event.station.id,
            {
                "vendor_id": event.vendor_id,
                "message_id": event.message_id,
                "data": event.data if fits else None,
                "data_left_out": not fits,
            },
        )

    def _notice(self, event: StationNotice) -> None:
        """A report without a field of its own: kept for the charger's diagnostics."""
        kept = self.notices.setdefault(event.station.id, deque(maxlen=MAX_NOTICES))
        text = json.dumps(event.data, default=str)
        kept.append(Notice(event.kind, datetime.now(UTC), shorten(text, 500)))

    def forget(self, charger_id: str) -> None:
        """A removed charger's notices and counts go with it."""
        self.notices.pop(charger_id, None)
        self.events.forget(charger_id)
