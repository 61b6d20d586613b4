"""Unknown tags as repairs: "Unknown tag 04A2... at Garage: add it?".

One fixable issue per unknown tag and central system (the fix flow is in repairs.py);
it goes away when the tag is added, whichever way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from ..const import DOMAIN
from ..csms.authorization import TagChange, TagRegistry, tag_key
from ..csms.events import TagPresented

_LOGGER = logging.getLogger(__name__)

# Open "unknown tag: add it?" repairs per central system, at most.
MAX_UNKNOWN_TAG_ISSUES = 20


class UnknownTagIssues:
    """Raises and clears the unknown-tag repairs of one central system."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        tags: TagRegistry,
        charger_name: Callable[[str], str],
    ) -> None:
        """Serve one central system: its tags, and how its chargers are named."""
        self._hass = hass
        self._entry_id = entry_id
        self._tags = tags
        self._charger_name = charger_name
        # Issue ids are this prefix and the tag key.
        self._prefix = f"unknown_tag_{entry_id}_"

    def report(self, event: TagPresented) -> None:
        """Offer to add a tag the central system does not know (a fixable repair)."""
        hass = self._hass
        registry = ir.async_get(hass)
        issue_id = self._prefix + tag_key(event.id_tag)
        open_issues = sum(
            1
            for (domain, other), issue in registry.issues.items()
            if domain == DOMAIN and other.startswith(self._prefix) and issue.active
        )
        if (
            open_issues >= MAX_UNKNOWN_TAG_ISSUES
            and registry.async_get_issue(DOMAIN, issue_id) is None
        ):
            # A public site in accept-all mode sees many strangers: the event entity
            # still reports each one; the repairs list does not fill up.
            _LOGGER.info("Unknown tag %s at %s", event.id_tag, event.station.id)
            return
        charger = self._charger_name(event.station.id)
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=True,
            is_persistent=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key="unknown_tag",
            translation_placeholders={"tag": event.id_tag, "charger": charger},
            data={
                "kind": "unknown_tag",
                "entry_id": self._entry_id,
                "id_tag": event.id_tag,
                "token_type": event.token_type or "",
                "charger": charger,
            },
        )

    def tags_changed(self, _change: TagChange) -> None:
        """A tag that is now known needs no "add it?" any more."""
        hass = self._hass
        registry = ir.async_get(hass)
        tags = self._tags
        for domain, issue_id in list(registry.issues):
            if (
                domain == DOMAIN
                and issue_id.startswith(self._prefix)
                and tags.get(issue_id.removeprefix(self._prefix)) is not None
            ):
                ir.async_delete_issue(hass, DOMAIN, issue_id)
