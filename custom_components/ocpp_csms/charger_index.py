"""The admitted chargers, as the central system's config subentries say.

Each admitted charger is a config subentry: its id, name (the title), password hash
and settings. `ChargerIndex` answers the engine's questions about them (it is the
`ChargerDirectory` and the `ChargerLimits` of the central system) and the Home
Assistant layer's (names, settings, the charger a device stands for), and adds a
charger the user admitted.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import SOURCE_IGNORE, ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback

from .certificate_authority import charger_profile
from .const import (
    CONF_CHARGER_ID,
    CONF_DEFAULT_TAG,
    CONF_MAX_CURRENT,
    CONF_PASSWORD_HASH,
    CONF_PHASE_SWITCHING,
    CONF_PRIORITY,
    CONF_QUIRKS,
    DEFAULT_MAX_CURRENT_A,
    DEFAULT_REMOTE_TAG,
    DOMAIN,
    PRIORITIES,
    SUBENTRY_CHARGER,
)
from .csms.host import ChargerRecord
from .csms.solar import ChargingMode
from .identifiers import charger_device_identifier, charger_unique_id


class ChargerIndex:
    """The admitted chargers of one central system (its charger subentries)."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        *,
        mode: Callable[[str], ChargingMode],
    ) -> None:
        """Index the entry's charger subentries; `mode` tells each charger's mode."""
        self._hass = hass
        self._entry = entry
        self._mode = mode
        self._records: dict[str, ChargerRecord] = {}
        self._subentry_ids: dict[str, str] = {}
        self._titles: dict[str, str] = {}
        self.reindex()

    def subentries(self) -> list[ConfigSubentry]:
        """The charger subentries, in the entry's order."""
        return [
            subentry
            for subentry in self._entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_CHARGER
        ]

    def reindex(self) -> None:
        """Read the subentries again (one was added, changed or removed)."""
        self._records = {}
        self._subentry_ids = {}
        self._titles = {}
        for subentry in self.subentries():
            charger_id = subentry.data[CONF_CHARGER_ID]
            self._titles[charger_id] = subentry.title
            self._records[charger_id] = ChargerRecord(
                charger_id,
                subentry.data.get(CONF_PASSWORD_HASH),
                subentry.data.get(CONF_QUIRKS),
                security_profile=charger_profile(subentry.data),
            )
            self._subentry_ids[charger_id] = subentry.subentry_id

    @property
    def admitted(self) -> frozenset[str]:
        """The ids of the admitted chargers."""
        return frozenset(self._records)

    @property
    def titles(self) -> dict[str, str]:
        """Each admitted charger's name (a copy)."""
        return dict(self._titles)

    def subentry_id(self, charger_id: str) -> str | None:
        """The config subentry of an admitted charger."""
        return self._subentry_ids.get(charger_id)

    def charger_name(self, charger_id: str) -> str:
        """The name the user gave a charger (its subentry title), else its id."""
        return self._titles.get(charger_id, charger_id)

    def setting(self, charger_id: str, key: str) -> Any:
        """One of a charger's settings (None: not set, or not admitted)."""
        subentry_id = self._subentry_ids.get(charger_id)
        if subentry_id is None or subentry_id not in self._entry.subentries:
            return None
        return self._entry.subentries[subentry_id].data.get(key)

    def default_tag(self, charger_id: str) -> str:
        """The idTag that sessions started from Home Assistant use on this charger."""
        return str(self.setting(charger_id, CONF_DEFAULT_TAG) or DEFAULT_REMOTE_TAG)

    def max_current(self, charger_id: str) -> int:
        """The most current (A) the user lets this charger be set to."""
        return int(self.setting(charger_id, CONF_MAX_CURRENT) or DEFAULT_MAX_CURRENT_A)

    def charger_for_device(self, identifiers: set[tuple[str, str]]) -> str | None:
        """The id of the charger a device (by its identifiers) stands for, if it is ours."""
        for charger_id in self._records:
            if charger_device_identifier(self._entry.entry_id, charger_id) in identifiers:
                return charger_id
        return None

    # -- ChargerDirectory ---------------------------------------------------------------

    def find(self, charger_id: str) -> ChargerRecord | None:
        """ChargerDirectory: the admitted charger with this id."""
        return self._records.get(charger_id)

    def is_rejected(self, charger_id: str) -> bool:
        """ChargerDirectory: whether the user rejected (ignored) this charger."""
        ignored = self._hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, charger_unique_id(self._entry.entry_id, charger_id)
        )
        return ignored is not None and ignored.source == SOURCE_IGNORE

    # -- ChargerLimits (load balancing) ---------------------------------------------------

    def max_current_a(self, charger_id: str) -> float:
        """ChargerLimits: the charger's maximum current setting."""
        return float(self.max_current(charger_id))

    def priority(self, charger_id: str) -> int:
        """ChargerLimits: the charger's balancing priority setting."""
        return PRIORITIES.get(str(self.setting(charger_id, CONF_PRIORITY)), 0)

    def mode(self, charger_id: str) -> ChargingMode:
        """ChargerLimits: the charger's charging mode (its select entity)."""
        return self._mode(charger_id)

    def switches_phases(self, charger_id: str) -> bool:
        """ChargerLimits: whether the charger's settings say it switches phases."""
        return bool(self.setting(charger_id, CONF_PHASE_SWITCHING))

    def start_tag(self, charger_id: str) -> str:
        """ChargerLimits: sessions the central system starts use the remote-start tag."""
        return self.default_tag(charger_id)

    # -- admitting ------------------------------------------------------------------------

    @callback
    def add(
        self,
        charger_id: str,
        name: str,
        password_hash: str | None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Store a charger as a subentry (nothing if it is admitted already)."""
        if charger_id in self._records:
            return
        self._hass.config_entries.async_add_subentry(
            self._entry,
            ConfigSubentry(
                data=MappingProxyType(
                    {
                        CONF_CHARGER_ID: charger_id,
                        CONF_PASSWORD_HASH: password_hash,
                        CONF_DEFAULT_TAG: DEFAULT_REMOTE_TAG,
                        CONF_MAX_CURRENT: DEFAULT_MAX_CURRENT_A,
                        **(settings or {}),
                    }
                ),
                subentry_type=SUBENTRY_CHARGER,
                title=name,
                unique_id=charger_id,
            ),
        )
