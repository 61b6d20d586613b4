"""Client certificates that were not renewed, or expired, as repairs.

One issue per charger on security profile 3 and central system, replaced by each new
failure (so a charger failing every few hours holds one line in the repairs list), in
the words of its reason: the charger refused to ask for a certificate, asked for none
in time, asked with a request we refused, did not take the certificate, or its
certificate expired (then that is what it says, whatever the last try's reason). It
names the charger, the reason (the charger's word where it gave one) and the
certificate's end, and goes when a renewal succeeds, the charger leaves profile 3 or is
removed. Not persistent: after a restart the engine finds the failure again (an
expired certificate at once, a failing renewal at its next try).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..csms.events import CertificateRenewalFailed, RenewalFailure
from ..issues_common import async_delete_issues

if TYPE_CHECKING:
    from ..charger_index import ChargerIndex

# The issue's translation key (`client_certificate_<kind>`) by reason.
_KIND = {
    RenewalFailure.TRIGGER_REJECTED: "trigger_refused",
    RenewalFailure.TRIGGER_NOT_SUPPORTED: "trigger_refused",
    RenewalFailure.NO_ANSWER: "no_request",
    RenewalFailure.NO_CSR: "no_request",
    RenewalFailure.CSR_REFUSED: "request_refused",
    RenewalFailure.NOT_INSTALLED: "not_installed",
    RenewalFailure.EXPIRED: "expired",
}


def _prefix(entry_id: str) -> str:
    return f"client_certificate_{entry_id}_"


def _when(moment: datetime | None) -> str:
    """A time as the user reads it: local, to the minute."""
    if moment is None:
        return "-"
    return dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M")


class RenewalIssues:
    """Raises and clears the certificate repairs of one central system."""

    def __init__(self, hass: HomeAssistant, entry_id: str, index: ChargerIndex) -> None:
        """Serve one central system (its admitted chargers name the issues)."""
        self._hass = hass
        self._index = index
        self._prefix = _prefix(entry_id)

    def failed(self, event: CertificateRenewalFailed) -> None:
        """Tell the user a certificate was not renewed (or has expired)."""
        charger_id = event.station.id
        expired = event.reason is RenewalFailure.EXPIRED or event.expires <= dt_util.utcnow()
        kind = "expired" if expired else _KIND[event.reason]
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self._prefix + charger_id,
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR if expired else ir.IssueSeverity.WARNING,
            translation_key=f"client_certificate_{kind}",
            translation_placeholders={
                "charger": self._index.charger_name(charger_id),
                "expires": _when(event.expires),
                "retry": _when(event.retry_at),
                "detail": event.detail or event.reason.value,
            },
        )

    def resolved(self, charger_id: str) -> None:
        """Renewed, removed, or no longer on profile 3: no issue."""
        ir.async_delete_issue(self._hass, DOMAIN, self._prefix + charger_id)

    def keep_only(self, charger_ids: Collection[str]) -> None:
        """Delete the issues of every other charger (moved off profile 3 by a reload)."""
        async_delete_issues(
            self._hass, self._prefix, keep=lambda charger_id: charger_id in charger_ids
        )


def async_delete_certificate_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the issues of a central system that is being removed."""
    async_delete_issues(hass, _prefix(entry_id))
