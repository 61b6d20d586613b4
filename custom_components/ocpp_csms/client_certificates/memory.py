"""What Home Assistant remembers of chargers' client certificates across restarts.

Only facts that are no secret: subject, serial, SHA-256 fingerprint and validity (the
same as diagnostics show of the CA). Never a key, nor the certificate itself. A charger
whose certificate expired while Home Assistant was down cannot connect to tell us: this
is how its expiry is still known, shown and reported.

One storage file per central system (`.storage/ocpp_csms.<entry>.certificates`),
written a second after a change and when the entry unloads (`entry_storage`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant, callback

from ..csms.certificates import CertificateFacts
from ..entry_storage import EntryStore, async_remove_storage
from ..entry_storage import storage_key as entry_storage_key

_LOGGER = logging.getLogger(__name__)

_KIND = "certificates"


def storage_key(entry_id: str) -> str:
    """The storage file of a config entry's certificate facts."""
    return entry_storage_key(entry_id, _KIND)


async def async_remove_certificate_storage(hass: HomeAssistant, entry_id: str) -> None:
    """Delete a removed entry's file."""
    await async_remove_storage(hass, entry_id, _KIND)


def facts_to_dict(facts: CertificateFacts) -> dict[str, str]:
    """Facts as stored (dates in ISO 8601)."""
    return {
        "subject": facts.subject,
        "serial_number": facts.serial_number,
        "sha256_fingerprint": facts.sha256_fingerprint,
        "not_before": facts.not_before.isoformat(),
        "not_after": facts.not_after.isoformat(),
    }


def facts_from_dict(data: dict[str, Any]) -> CertificateFacts:
    """Stored facts back; raises KeyError, TypeError or ValueError for damaged ones."""
    not_before = datetime.fromisoformat(data["not_before"])
    not_after = datetime.fromisoformat(data["not_after"])
    if not_before.tzinfo is None or not_after.tzinfo is None:
        raise ValueError("a date without its time zone")
    return CertificateFacts(
        subject=str(data["subject"]),
        serial_number=str(data["serial_number"]),
        sha256_fingerprint=str(data["sha256_fingerprint"]),
        not_before=not_before,
        not_after=not_after,
    )


class CertificateMemory:
    """Each admitted charger's last known certificate facts, kept in HA storage."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Keep the facts of one central system's chargers."""
        self._store = EntryStore(hass, entry_id, _KIND, self._data)
        self.facts: dict[str, CertificateFacts] = {}

    async def async_load(self) -> None:
        """Read what was kept; a damaged charger's facts are dropped, not fatal."""
        data = await self._store.async_load()
        for charger_id, stored in (data.get("chargers") or {}).items():
            try:
                self.facts[str(charger_id)] = facts_from_dict(stored)
            except KeyError, TypeError, ValueError, AttributeError:
                _LOGGER.debug("Dropping the stored certificate facts of %s", charger_id)

    @callback
    def keep(self, charger_id: str, facts: CertificateFacts | None) -> None:
        """Remember a charger's facts (None: nothing known); written if they changed."""
        if self.facts.get(charger_id) == facts:
            return
        if facts is None:
            del self.facts[charger_id]
        else:
            self.facts[charger_id] = facts
        self._store.schedule_save()

    @callback
    def forget(self, charger_id: str) -> None:
        """A charger was removed: so are its facts."""
        self.keep(charger_id, None)

    async def async_flush(self) -> None:
        """Write a change still waiting now (the entry unloads)."""
        await self._store.async_flush()

    def _data(self) -> dict[str, Any]:
        return {
            "chargers": {
                charger_id: facts_to_dict(facts) for charger_id, facts in self.facts.items()
            }
        }
