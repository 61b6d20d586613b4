"""Sessions and tags as Home Assistant events, for automations and the logbook.

`ocpp_csms_session_started` and `ocpp_csms_session_ended` carry what the charger's
session event entity shows (`session_data`), with the tag's name when the tag registry
knows it; `ocpp_csms_tag_presented` says what was decided on a tag (`tag_decision`, as
the tag event entity). `logbook.py` writes their lines.

Budgets (`ChargerEvents`): a charger can present tags as fast as it likes (Authorize
costs it nothing), so ten tag events a minute per charger reach the bus. Sessions get a
budget of their own, so that a charger hammering Authorize cannot crowd them out, and a
larger one, 20 events a minute (a start and an end for ten sessions): even a charger
reporting a day's offline sessions at once keeps within it, and a broken one starting
sessions in a loop does not fill the recorder's database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from homeassistant.core import HomeAssistant

from .charger_events import ChargerEvents
from .const import DOMAIN
from .csms.authorization import AuthorizationDecision, AuthorizationStatus
from .csms.events import TagPresented, TransactionEnded, TransactionStarted
from .csms.meter_sanity import notes_text
from .csms.station import Transaction

EVENT_SESSION_STARTED = f"{DOMAIN}_session_started"
EVENT_SESSION_ENDED = f"{DOMAIN}_session_ended"
EVENT_TAG_PRESENTED = f"{DOMAIN}_tag_presented"
# The keys of the charger's event entities that show the same (`event.py`).
SESSION_ENTITY = "session"
TAG_ENTITY = "tag"


def tag_decision(decision: AuthorizationDecision) -> str:
    """accepted, unknown (not registered, so refused) or rejected."""
    if decision.accepted:
        return "accepted"  # `known` tells a registered tag from one accept-all let in
    if decision.status is AuthorizationStatus.UNKNOWN:
        return "unknown"
    return "rejected"


def session_data(transaction: Transaction, tag_name: str | None) -> dict[str, Any]:
    """What a session's start or end says of it (so far, for a running one)."""
    end = transaction.stopped_at or datetime.now(UTC)
    energy = transaction.energy_wh
    return {
        "connector": transaction.evse_id,
        "transaction_id": transaction.id,
        "tag": transaction.id_tag,
        "tag_name": tag_name,
        "energy_kwh": None if energy is None else round(energy / 1000, 3),
        "duration_min": round((end - transaction.started_at).total_seconds() / 60, 1),
        "stop_reason": transaction.stop_reason,
        "stopped_by": transaction.stop_id_tag,
        # False: a tag of another group ended it (the charger let it).
        "stop_allowed": transaction.stop_allowed,
        "offline": transaction.offline,
        # Why the energy is not the register's last reading less its first.
        "meter_note": notes_text(transaction.meter_notes),
    }


class ChargerActivity:
    """Fires one central system's session and tag events."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        charger_name: Callable[[str], str],
        tag_name: Callable[[str], str | None],
    ) -> None:
        """`tag_name` is the name the user gave a registered tag."""
        self.sessions = ChargerEvents(hass, entry_id, charger_name, per_charger=20, overall=120)
        self.tags = ChargerEvents(hass, entry_id, charger_name, per_charger=10, overall=60)
        self._tag_name = tag_name

    def session(self, event: TransactionStarted | TransactionEnded) -> None:
        """A session started or ended."""
        transaction = event.transaction
        tag = transaction.id_tag
        self.sessions.fire(
            EVENT_SESSION_STARTED if isinstance(event, TransactionStarted) else EVENT_SESSION_ENDED,
            event.station.id,
            session_data(transaction, self.name_of(tag, transaction.tag_name)),
            event_entity=SESSION_ENTITY,
        )

    def tag(self, event: TagPresented) -> None:
        """A tag was presented and decided on."""
        if not event.id_tag:
            return  # a 2.x charger that authorizes nobody itself (NoAuthorization): no tag
        decision = event.decision
        self.tags.fire(
            EVENT_TAG_PRESENTED,
            event.station.id,
            {
                "connector": event.evse_id,
                "tag": event.id_tag,
                "tag_name": self.name_of(event.id_tag, decision.name),
                "decision": tag_decision(decision),
                "status": decision.status.value,
                "known": decision.known,
            },
            event_entity=TAG_ENTITY,
        )

    def name_of(self, tag: str | None, named_then: str | None) -> str | None:
        """A tag's name as the registry has it now, else as it was when it was decided on."""
        return (self._tag_name(tag) if tag else None) or named_then

    def forget(self, charger_id: str) -> None:
        """A removed charger's counts go with it."""
        self.sessions.forget(charger_id)
        self.tags.forget(charger_id)
