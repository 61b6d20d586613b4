"""Home Assistant events about one charger, within a budget per charger.

Every event names the charger (`charger_id`, `name`) and its device (`device_id`), so
that automations can trigger on it and the logbook shows its line on the charger's
device page too. Given the key of the charger's event entity that shows the same
(`event_entity`), it names that entity too (`entity_id`): the logbook links its line
to the entity, and shows it on the entity's page.

A charger decides how often it reports: a few events per minute per charger (and for
all together) reach the bus, the rest are counted and shown in diagnostics, so that a
misbehaving charger cannot fill the recorder's database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from .const import DOMAIN
from .csms.log_budget import LogBudget
from .identifiers import charger_device_id, unique_id_for


class ChargerEvents:
    """Fires one kind of a central system's charger events, `per_charger` a minute."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        charger_name: Callable[[str], str],
        *,
        per_charger: int,
        overall: int,
    ) -> None:
        """Fire on `hass`'s bus; `charger_name` names a charger for the user."""
        self._hass = hass
        self._entry_id = entry_id
        self._charger_name = charger_name
        self._budget = LogBudget(per_source=per_charger, overall=overall, period_s=60.0)
        # Events a charger sent beyond the budget, by charger (shown in diagnostics).
        self.left_out: dict[str, int] = {}

    def fire(
        self,
        event_type: str,
        charger_id: str,
        data: dict[str, Any],
        *,
        event_entity: str | None = None,
    ) -> None:
        """Fire `data` about a charger, unless it is over its budget (then count it)."""
        if self._budget.take(charger_id) is None:
            self.left_out[charger_id] = self.left_out.get(charger_id, 0) + 1
            return
        named: dict[str, Any] = {
            "charger_id": charger_id,
            "name": self._charger_name(charger_id),
            "device_id": charger_device_id(self._hass, self._entry_id, charger_id),
        }
        if event_entity is not None:
            unique_id = unique_id_for(self._entry_id, charger_id, None, event_entity)
            named["entity_id"] = er.async_get(self._hass).async_get_entity_id(
                Platform.EVENT, DOMAIN, unique_id
            )
        self._hass.bus.async_fire(event_type, {**named, **data})

    def forget(self, charger_id: str) -> None:
        """A removed charger's count goes with it."""
        self.left_out.pop(charger_id, None)
