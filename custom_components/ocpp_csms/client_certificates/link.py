"""The engine's knowledge of chargers' client certificates, followed in Home Assistant.

`CertificateLink` gives the engine what was remembered of each charger's certificate
at start (`attach`), keeps what the engine learns (a certificate presented at connect
or taken in a CertificateSigned) in `CertificateMemory`, and turns renewal outcomes into
repairs for chargers on security profile 3 (`RenewalIssues`). When a charger moves to
profile 3 its expiry sensor is built; when it leaves, its repair goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback

from ..csms.events import CertificateRenewalFailed, CertificateRenewed
from ..csms.host import SecurityProfile
from ..csms.station import Station
from .issues import RenewalIssues
from .memory import CertificateMemory

if TYPE_CHECKING:
    from ..charger_index import ChargerIndex
    from ..csms.central_system import CentralSystem
    from ..entity_manager import EntityManager


class CertificateLink:
    """One central system's chargers' client certificates: memory and repairs."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        index: ChargerIndex,
        entities: EntityManager[Any],
    ) -> None:
        """Serve the admitted chargers of one central system."""
        self._index = index
        self._entities = entities
        self.memory = CertificateMemory(hass, entry_id)
        self.issues = RenewalIssues(hass, entry_id, index)
        self._system: CentralSystem | None = None
        self._on_profile_3 = self._profile_3_chargers()

    async def async_load(self) -> None:
        """Read what was remembered (before `attach`)."""
        await self.memory.async_load()

    def attach(self, system: CentralSystem) -> None:
        """Give the engine what was remembered of its admitted chargers' certificates.

        Repairs of chargers no longer on profile 3 go: moved while the entry was not
        running (moves while it runs are followed by `chargers_changed`).
        """
        self._system = system
        self.issues.keep_only(self._on_profile_3)
        for charger_id, facts in list(self.memory.facts.items()):
            if charger_id in self._index.admitted:
                system.renewal.remember(system.ensure_station(charger_id), facts)
            else:
                self.memory.forget(charger_id)  # removed while we were not looking

    def on_profile_3(self, charger_id: str) -> bool:
        """Whether the charger is set to security profile 3."""
        return charger_id in self._on_profile_3

    @callback
    def renewal(self, event: CertificateRenewalFailed | CertificateRenewed) -> None:
        """A renewal failed (a repair, on profile 3) or succeeded (none)."""
        charger_id = event.station.id
        if isinstance(event, CertificateRenewed):
            self.issues.resolved(charger_id)
        elif self.on_profile_3(charger_id):
            self.issues.failed(event)

    @callback
    def known(self, station: Station) -> None:
        """What is known of a charger's certificate may have changed: remember it."""
        if station.id in self._index.admitted:
            self.memory.keep(station.id, station.known_certificate)

    @callback
    def chargers_changed(self) -> None:
        """The subentries changed (after the index): follow profile moves.

        A charger new on profile 3 gets its expiry sensor (the entry is not reloaded
        for it, not even for the first one); one that left has no repair.
        """
        before, self._on_profile_3 = self._on_profile_3, self._profile_3_chargers()
        for charger_id in before - self._on_profile_3:
            self.issues.resolved(charger_id)
        if self._system is not None:
            for charger_id in self._on_profile_3 - before:
                self._entities.build(self._system.ensure_station(charger_id), None)

    @callback
    def forget(self, charger_id: str) -> None:
        """A charger was removed: its facts and repair go with it."""
        self.memory.forget(charger_id)
        self.issues.resolved(charger_id)

    def _profile_3_chargers(self) -> frozenset[str]:
        return frozenset(
            charger_id
            for charger_id in self._index.admitted
            if (record := self._index.find(charger_id)) is not None
            and record.security_profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
        )
