"""Repair flows: a damaged session journal is moved aside and a new one started."""

from __future__ import annotations

from typing import Any

from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlow
from homeassistant.core import HomeAssistant

from .const import DOMAIN


class JournalRepairFlow(RepairsFlow):
    """Keep the damaged file under a new name and write sessions to a fresh one."""

    def __init__(self, entry_id: str) -> None:
        """Repair the journal of this central system."""
        self._entry_id = entry_id

    async def async_step_init(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Explain, then act on confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Move the file aside once the user confirms."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or entry.domain != DOMAIN or not hasattr(entry, "runtime_data"):
            return self.async_abort(reason="not_loaded")
        if user_input is None:
            return self.async_show_form(step_id="confirm")
        system = entry.runtime_data.system
        try:
            moved = await system.start_journal_afresh() if system is not None else None
        except OSError as err:
            return self.async_abort(
                reason="move_failed", description_placeholders={"error": str(err)}
            )
        return self.async_create_entry(
            data={}, description_placeholders={"moved": str(moved) if moved else ""}
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """The fix flow of one of this integration's issues."""
    return JournalRepairFlow(str((data or {})["entry_id"]))
