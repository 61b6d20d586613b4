"""Energy registers that misbehave, as repairs: "The energy register of Garage fell".

The engine keeps a session's plausible figures and notes why (`csms/meter_sanity`);
this tells the user, naming the charger. One issue per charger and central system,
raised again only by a later session (the engine tells each kind once per session),
so a charger that mixes up its units in every session cannot fill the repairs list.
The fix flow is an explanation to confirm (`ConfirmRepairFlow`), which closes it;
ignoring it keeps it quiet for good. It goes when the charger or the central system is
removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from ..const import DOMAIN
from ..csms.events import RegisterImplausible
from ..issues_common import async_delete_issues

if TYPE_CHECKING:
    from ..charger_index import ChargerIndex

# The `data` kind that routes the fix flow (repairs.py).
METER_ISSUE_KIND = "meter_register"


def _prefix(entry_id: str) -> str:
    return f"meter_register_{entry_id}_"


def _number(value: float) -> str:
    """At most three decimals, no exponent, no trailing zeros."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def energy_text(wh: float) -> str:
    """A register the session counted, for the user: kWh from 1 kWh on, else Wh."""
    return f"{_number(wh / 1000)} kWh" if abs(wh) >= 1000 else f"{_number(wh)} Wh"


def reading_text(wh: float) -> str:
    """A reading as the central system took it, in Wh: a unit mix-up shows as such."""
    return f"{_number(wh)} Wh"


class RegisterIssues:
    """Raises and clears the energy-register repairs of one central system."""

    def __init__(self, hass: HomeAssistant, entry_id: str, index: ChargerIndex) -> None:
        """Serve one central system (its admitted chargers name the issues)."""
        self._hass = hass
        self._entry_id = entry_id
        self._index = index
        self._prefix = _prefix(entry_id)

    def report(self, event: RegisterImplausible) -> None:
        """Tell the user about a register that fell, jumped or changed unit."""
        charger_id = event.station.id
        if charger_id not in self._index.admitted:
            return  # a charger nobody admitted has no device to name
        anomaly = event.anomaly
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self._prefix + charger_id,
            is_fixable=True,
            is_persistent=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key=f"meter_{anomaly.note}",
            translation_placeholders={
                "charger": self._index.charger_name(charger_id),
                "transaction": event.transaction.id,
                "last": energy_text(anomaly.last_wh),
                "read": reading_text(anomaly.read_wh),
            },
            data={"kind": METER_ISSUE_KIND, "entry_id": self._entry_id},
        )

    def forget(self, charger_id: str) -> None:
        """The charger was removed: so is its issue."""
        ir.async_delete_issue(self._hass, DOMAIN, self._prefix + charger_id)


def async_delete_register_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the issues of a central system that is being removed."""
    async_delete_issues(hass, _prefix(entry_id))
