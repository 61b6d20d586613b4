"""The repair "backend.example.com refuses the credentials of Garage" (fix flow: repair.py).

Raised when a link's state becomes credentials refused (HTTP 401 / 403 at the
handshake), once until the link connects again, its settings change or it is removed.
It is not persistent: after a restart the link finds out again within seconds. Removing
the central system deletes its repairs (`async_delete_credential_issues`).
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from ..const import DOMAIN
from ..issues_common import async_delete_issues

ISSUE_KIND = "upstream_credentials"


def _prefix(entry_id: str) -> str:
    return f"{ISSUE_KIND}_{entry_id}_"


class CredentialIssues:
    """The credential repairs of one central system's upstreams."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Serve one central system."""
        self._hass = hass
        self._entry_id = entry_id
        self._open: set[str] = set()

    def issue_id(self, charger_id: str) -> str:
        """The issue of one charger's upstream."""
        return _prefix(self._entry_id) + charger_id

    def refused(self, charger_id: str, charger: str, host: str) -> None:
        """The upstream refused our credentials: offer to enter new ones (once)."""
        if charger_id in self._open:
            return
        self._open.add(charger_id)
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.issue_id(charger_id),
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_KIND,
            translation_placeholders={"charger": charger, "host": host},
            data={"kind": ISSUE_KIND, "entry_id": self._entry_id, "charger_id": charger_id},
        )

    def clear(self, charger_id: str) -> None:
        """Connected, changed or removed: the repair is not (or no longer) needed."""
        self._open.discard(charger_id)
        ir.async_delete_issue(self._hass, DOMAIN, self.issue_id(charger_id))


def async_delete_credential_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the issues of a central system that is being removed."""
    async_delete_issues(hass, _prefix(entry_id))
