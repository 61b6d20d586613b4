"""Repair flows.

- A damaged session journal is moved aside and a new one started.
- An unknown tag presented at a charger is added to the central system's tags.
- An energy register that misbehaved is explained; confirming closes the issue.
- An upstream that refuses our credentials gets new ones, tested (upstream/repair.py).
"""

from __future__ import annotations

from typing import Any

import probatio
from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.core import HomeAssistant

from .const import DOMAIN
from .csms.authorization import DEFAULT_TOKEN_TYPE, Tag, TagConflictError
from .selectors import amps_selector
from .sessions.meter_issues import METER_ISSUE_KIND
from .upstream.issues import ISSUE_KIND as UPSTREAM_ISSUE_KIND
from .upstream.repair import UpstreamCredentialsRepairFlow


class JournalRepairFlow(RepairsFlow):
    """Keep the damaged file under a new name and write sessions to a fresh one."""

    def __init__(self, entry_id: str) -> None:
        """Repair the journal of this central system."""
        self._entry_id = entry_id

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Explain, then act on confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
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


class UnknownTagRepairFlow(RepairsFlow):
    """Add a tag that was presented at a charger, with a name (and a limit)."""

    def __init__(self, data: dict[str, Any]) -> None:
        """Offer to add the tag the issue names."""
        self._entry_id = str(data["entry_id"])
        self._id_tag = str(data["id_tag"])
        self._token_type = str(data.get("token_type") or DEFAULT_TOKEN_TYPE)
        self._charger = str(data.get("charger") or "")

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Start with the form (the repairs manager passes the issue id as input here)."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Ask for the tag's name, then add it."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or entry.domain != DOMAIN or not hasattr(entry, "runtime_data"):
            return self.async_abort(reason="not_loaded")
        placeholders = {"tag": self._id_tag, "charger": self._charger}
        if user_input is not None:
            limit = user_input.get("max_current")
            tag = Tag(
                self._id_tag,
                name=(user_input.get("name") or "").strip(),
                max_current_a=float(limit) if limit else None,
                token_type=self._token_type,
            )
            try:
                entry.runtime_data.tags.registry.add(tag)
            except TagConflictError:
                return self.async_abort(reason="tag_exists", description_placeholders=placeholders)
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=probatio.Schema(
                {
                    probatio.Optional("name"): str,
                    probatio.Optional("max_current"): amps_selector(),
                }
            ),
            description_placeholders=placeholders,
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """The fix flow of one of this integration's issues."""
    data = data or {}
    if data.get("kind") == "unknown_tag":
        return UnknownTagRepairFlow(data)
    if data.get("kind") == UPSTREAM_ISSUE_KIND:
        return UpstreamCredentialsRepairFlow(data)
    if data.get("kind") == METER_ISSUE_KIND:
        # Nothing to change: the session kept its plausible figures. Read, then close.
        return ConfirmRepairFlow()
    return JournalRepairFlow(str(data["entry_id"]))
