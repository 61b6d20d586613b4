"""The commands a charger's upstream sent, as Home Assistant shows them.

The engine reports each command the policy let through, and of the others a bounded
number (`upstream_policy.bounded_reports`). Here each report goes to the charger's
"Upstream command" event entity and, within a budget per charger, to the bus as
`ocpp_csms_upstream_command` (the logbook's line, an automation's trigger): an
upstream that floods commands cannot fill the recorder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant

from ..charger_events import ChargerEvents
from ..const import DOMAIN
from ..csms.upstream_policy import UpstreamCommand

EVENT_UPSTREAM_COMMAND = f"{DOMAIN}_upstream_command"
UPSTREAM_COMMAND_ENTITY = "upstream_command"

type CommandListener = Callable[[UpstreamCommand], None]


def command_data(command: UpstreamCommand) -> dict[str, Any]:
    """What an event about the command carries (the charger is named by the caller)."""
    return {
        "action": command.action,
        "allowed": command.allowed,
        "outcome": command.outcome.value,
        "detail": command.detail,
    }


class UpstreamCommands:
    """Passes each reported command to its charger's event entity and the bus."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, charger_name: Callable[[str], str]
    ) -> None:
        """Fire on `hass`'s bus, at most 20 events a minute per charger, 120 for all."""
        self.events = ChargerEvents(hass, entry_id, charger_name, per_charger=20, overall=120)
        self._listeners: dict[str, CommandListener] = {}

    def listen(self, charger_id: str, listener: CommandListener) -> Callable[[], None]:
        """The charger's event entity; returns the undo for its removal."""
        self._listeners[charger_id] = listener

        def undo() -> None:
            if self._listeners.get(charger_id) is listener:
                del self._listeners[charger_id]

        return undo

    def report(self, charger_id: str, command: UpstreamCommand) -> None:
        """One command of the charger's upstream (the engine's `on_command`)."""
        if (listener := self._listeners.get(charger_id)) is not None:
            listener(command)
        self.events.fire(
            EVENT_UPSTREAM_COMMAND,
            charger_id,
            command_data(command),
            event_entity=UPSTREAM_COMMAND_ENTITY,
        )

    def forget(self, charger_id: str) -> None:
        """The upstream (or the charger) is gone."""
        self._listeners.pop(charger_id, None)
        self.events.forget(charger_id)
