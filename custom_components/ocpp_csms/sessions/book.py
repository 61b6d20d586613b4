"""The session journal seen from Home Assistant.

Where the file lives, the repair issue when it cannot be written, this month's energy
per charger, and the price and site details exports need.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_ADDRESS,
    CONF_CITY,
    CONF_CURRENCY,
    CONF_POSTAL_CODE,
    CONF_PRICE_PER_KWH,
    DEFAULT_REMOTE_TAG,
    DOMAIN,
)
from ..csms.session_export import CdrSettings, CdrSite, Pricing
from ..csms.sessions import (
    JournalHealth,
    JournalState,
    JournalUnavailable,
    SessionFilter,
    SessionJournal,
    SessionRecord,
    SessionStatus,
    session_status,
)
from ..csms.station import Station, Transaction
from ..entity_manager import Scope

if TYPE_CHECKING:
    from ..charger_index import ChargerIndex
    from ..csms.central_system import CentralSystem
    from ..entity_manager import EntityManager

JOURNAL_FOLDER = DOMAIN


def journal_issue_id(entry_id: str) -> str:
    """The repair issue of one central system's journal."""
    return f"journal_{entry_id}"


def month_start(moment: datetime) -> datetime:
    """Midnight (local time) on the first day of `moment`'s month."""
    local = dt_util.as_local(moment)
    return dt_util.start_of_local_day(local.replace(day=1))


def _next_month_start(moment: datetime) -> datetime:
    first = month_start(moment)
    year, month = (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)
    return month_start(first.replace(year=year, month=month))


def _alpha_3(country: str | None) -> str:
    """ISO 3166-1 alpha-3 for an alpha-2 country code (reads a data file: not on the loop)."""
    import pycountry  # noqa: PLC0415 (loads its database on first use)

    found = pycountry.countries.get(alpha_2=country) if country else None
    return str(found.alpha_3) if found else "ZZZ"


class SessionBook:
    """One central system's journal, its health and its totals."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        index: ChargerIndex,
        entities: EntityManager[Any],
    ) -> None:
        """Place the journal file in the configuration directory."""
        self.hass = hass
        self._entry = entry
        self._index = index
        self._entities = entities
        self._system: CentralSystem | None = None
        entry_id = entry.entry_id
        self.journal = SessionJournal(
            Path(self.hass.config.path(JOURNAL_FOLDER, f"sessions-{entry_id}.db")),
            observer=self._journal_state_changed,
        )
        self._month_start = month_start(dt_util.utcnow())
        self._month_ended_wh: dict[str, float] = {}
        self._unsub_rollover: CALLBACK_TYPE | None = None
        self._country_alpha_3 = "ZZZ"

    def attach(self, system: CentralSystem) -> None:
        """The engine whose chargers' sessions these are."""
        self._system = system

    async def async_start(self) -> None:
        """Read this month's totals (after the journal opened) and follow the calendar."""
        self._country_alpha_3 = await self.hass.async_add_executor_job(
            _alpha_3, self.hass.config.country
        )
        await self._async_load_month()

    def async_stop(self) -> None:
        """Stop following the calendar."""
        if self._unsub_rollover is not None:
            self._unsub_rollover()
            self._unsub_rollover = None

    async def _async_load_month(self) -> None:
        self._month_start = month_start(dt_util.utcnow())
        try:
            self._month_ended_wh = await self.journal.energy_since(self._month_start)
        except JournalUnavailable:
            self._month_ended_wh = {}  # the repair issue says why
        self._unsub_rollover = async_track_point_in_utc_time(
            self.hass, self._rollover, _next_month_start(self._month_start)
        )

    async def _rollover(self, _now: datetime) -> None:
        await self._async_load_month()
        for charger_id in self._index.admitted:
            self._entities.notify(Scope.sessions_of(charger_id))

    # -- what the journal's health means for the user ----------------------------------

    @callback
    def _journal_state_changed(self, state: JournalState) -> None:
        issue_id = journal_issue_id(self._entry.entry_id)
        if state.health is JournalHealth.OK:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        damaged = state.health is JournalHealth.DAMAGED
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=damaged,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="journal_damaged" if damaged else "journal_unavailable",
            translation_placeholders={"path": str(state.path), "error": state.detail},
            data={"entry_id": self._entry.entry_id},
        )

    # -- totals -------------------------------------------------------------------------

    def transaction_ended(self, station: Station, transaction: Transaction) -> None:
        """Count an ended session into this month's energy (by when it started)."""
        energy = transaction.energy_wh
        if (
            energy is not None
            and transaction.started_at >= self._month_start
            and session_status(transaction) is SessionStatus.COMPLETED
        ):
            self._month_ended_wh[station.id] = self._month_ended_wh.get(station.id, 0.0) + energy

    def month_energy_kwh(self, station: Station) -> float:
        """Energy this month: ended sessions, plus the running ones so far."""
        total = self._month_ended_wh.get(station.id, 0.0)
        for evse in station.evses.values():
            running = evse.transaction
            if running is not None and running.started_at >= self._month_start:
                total += running.energy_wh or 0.0
        return round(total / 1000, 3)

    @property
    def month_began(self) -> datetime:
        """When the current month's totals began."""
        return self._month_start

    # -- price and export settings ---------------------------------------------------------

    @property
    def pricing(self) -> Pricing | None:
        """The price per kWh from the options, if one is set."""
        options = self._entry.options
        price = options.get(CONF_PRICE_PER_KWH)
        if price is None:
            return None
        return Pricing(float(price), options.get(CONF_CURRENCY) or self.hass.config.currency)

    def cdr_settings(self) -> CdrSettings:
        """How CDRs of this central system are issued."""
        options: dict[str, Any] = dict(self._entry.options)
        config = self.hass.config
        index, system = self._index, self._system
        return CdrSettings(
            country_code=(config.country or "ZZ").upper(),
            id_prefix=f"{self._entry.entry_id[:8]}-",
            site=CdrSite(
                name=config.location_name,
                address=options.get(CONF_ADDRESS) or "",
                city=options.get(CONF_CITY) or "",
                postal_code=options.get(CONF_POSTAL_CODE) or None,
                country=self._country_alpha_3,
                latitude=config.latitude,
                longitude=config.longitude,
            ),
            pricing=self.pricing,
            remote_tags=frozenset(
                {DEFAULT_REMOTE_TAG} | {index.default_tag(charger) for charger in index.admitted}
            ),
            power_types={
                charger: power_type(system.ensure_station(charger))
                for charger in index.admitted
                if system is not None
            },
        )

    async def async_sessions(
        self, selection: SessionFilter, *, with_samples: bool = False, limit: int | None = None
    ) -> list[SessionRecord]:
        """Journaled sessions (the oldest `limit`, if given).

        A journal that cannot be read raises a translated error.
        """
        try:
            return await self.journal.sessions(selection, with_samples=with_samples, limit=limit)
        except JournalUnavailable as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="journal_unavailable",
                translation_placeholders={"error": str(err)},
            ) from err


def power_type(station: Station) -> str:
    """OCPI's power type of a charger, from the phases it has been seen to use."""
    phases = {
        phase
        for evse in station.evses.values()
        for (measurand, phase) in evse.measurements
        if measurand == "Current.Import" and phase in ("L1", "L2", "L3")
    }
    if phases and phases <= {"L1"}:
        return "AC_1_PHASE"
    return "AC_3_PHASE"
