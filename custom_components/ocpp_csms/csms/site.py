"""Site load balancing: keep every charging session within the main fuse.

`SiteBalancer.rebalance` measures what each session draws, works out what the house
leaves for the chargers (from a grid meter when there is one, else the fuse alone) and
shares it with `charging.allocate`. Each session's share goes to its charger as a
short-lived TxProfile (`profile_duration_s`): refreshed while Home Assistant runs, it
expires when Home Assistant stops, and the charger falls back to the failsafe in the
default profile `upkeep.ChargerUpkeep` stored on it. Nothing is written to a charger's
configuration (flash) on each change.

Decreases are sent at once, and before any increase, so that shifting current from one
car to another never overloads a phase in between; increases wait `min_interval_s`
after a session's last change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from .charging import (
    ALL_PHASES,
    MIN_CHARGING_CURRENT_A,
    Demand,
    allocate,
    available_for_chargers,
    limit_profile,
    line_voltage,
)
from .cheapest import CheapestCharging
from .commands import (
    ChargingProfile,
    Command,
    CommandResult,
    ProfileKind,
    ProfilePurpose,
    SetChargingProfile,
)
from .schedule import WeeklySchedule
from .site_sessions import BalancedSession, charging_sessions, draw_of, measured_phases, phases_of
from .site_settings import ChargerLimits, NoChargerLimits, SiteSettings
from .solar import SOLAR_MODES, ChargingMode, SolarCap, SolarSession, SurplusSharing
from .station import Evse, Station, Transaction
from .waiting_cars import WaitingCar, WaitingCars

_LOGGER = logging.getLogger(__name__)

type Execute = Callable[[str, Command], Awaitable[CommandResult]]


@dataclass(frozen=True, slots=True)
class _Sent:
    limit_a: float
    at: float
    phases: int | None


class SiteBalancer:
    """Shares the site's spare current among the sessions of its chargers."""

    def __init__(
        self,
        settings: SiteSettings,
        execute: Execute,
        *,
        chargers: ChargerLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        cheapest: CheapestCharging | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Balance with `settings`, within each charger's own limits.

        `clock` paces the rounds; `wall_clock` is the time of day prices and goals
        are planned in (both simulated in `devtools.site_day`).
        """
        self.settings = settings
        self._execute = execute
        self._chargers = chargers or NoChargerLimits()
        self._clock = clock
        self._wall_clock = wall_clock
        # Measured at the main fuse, chargers included; None: no grid meter.
        self.grid_a: tuple[float, float, float] | None = None
        # Exported to the grid now (W; negative: imported); None: no reading.
        self.export_w: float | None = None
        self.solar = SurplusSharing(settings.solar)
        self._solar_caps: dict[str, SolarCap] = {}
        # Plans of the sessions in the cheapest mode (prices and goals set from outside).
        self.cheapest = cheapest or CheapestCharging()
        # A charger's weekly schedule holds its sessions too (TxProfiles outrank it).
        self.schedule_limit: Callable[[str], float | None] = lambda _charger_id: None
        # The whole schedule, for plans that look ahead (None: the charger has none).
        self.schedule_of: Callable[[str], WeeklySchedule | None] = lambda _charger_id: None
        self.available_a: tuple[float, ...] = (settings.fuse_a,) * 3
        self.allocated: dict[str, float] = {}
        # The same shares by (charger id, EVSE id), for those who show them.
        self.allocated_by_evse: dict[tuple[str, int], float] = {}
        self._sent: dict[str, _Sent] = {}
        # Sessions whose charger refused their plan's profile: they get their share alone.
        self._plain_profiles: set[str] = set()
        # The phases each cheapest-mode session was last seen drawing on (1 or 3).
        self._drawn_phases: dict[str, int] = {}
        # Cars of chargers that wait to be told, and sessions paused by stopping them.
        self.waiting_cars = WaitingCars(
            execute,
            start_tag=self._chargers.start_tag,
            mode=self._chargers.mode,
            clock=clock,
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Told after every round (Home Assistant updates its entities).
        self.on_rebalanced: Callable[[], None] = lambda: None

    # -- running -------------------------------------------------------------------------

    def wake(self) -> None:
        """Rebalance soon: a session started or ended, or the grid reading changed."""
        self._wake.set()

    def set_grid(self, grid_a: tuple[float, float, float] | None) -> None:
        """A new grid meter reading (A per phase, chargers included); None: no meter."""
        self.grid_a = grid_a
        self.wake()

    def set_export(self, export_w: float | None) -> None:
        """A new export reading (W to the grid; negative: from it); None: no reading."""
        self.export_w = export_w
        self.wake()

    def start(self, stations: Callable[[], Iterable[Station]]) -> None:
        """Balance in the background until `stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(stations))

    def stop(self) -> None:
        """Stop balancing; the last profiles lapse into the chargers' failsafe."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def run(self, stations: Callable[[], Iterable[Station]]) -> None:
        """Rebalance on every wake and at least every `interval_s`, until cancelled."""
        while True:
            try:
                async with asyncio.timeout(self.settings.interval_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.rebalance(stations())
            except Exception:
                # One bad round must not end balancing for good.
                _LOGGER.exception("Site load balancing failed; trying again")

    # -- what is charging ----------------------------------------------------------------

    def _plan_phases(self, key: str, evse: Evse) -> int:
        """The phases a session's plan counts on: as last seen drawing (three at first).

        A paused car draws on none; planned on three, a one-phase car would get a third
        of the time it needs.
        """
        if drawing := measured_phases(evse):
            self._drawn_phases[key] = 1 if len(drawing) == 1 else 3
        return self._drawn_phases.get(key, 3)

    def _maximum_a(self, session: BalancedSession) -> float:
        maximum = self._chargers.max_current_a(session.station.id)
        if session.transaction.max_current_a is not None:
            maximum = min(maximum, session.transaction.max_current_a)
        if (scheduled := self.schedule_limit(session.station.id)) is not None:
            maximum = min(maximum, scheduled)
        return maximum

    def _share_surplus(self, sessions: list[BalancedSession]) -> None:
        """Cap each solar session at its share of the surplus."""
        solar = []
        for session in sessions:
            # The cheapest mode takes the surplus as a solar-only session would: it is
            # free, so beyond its plan it charges on it (see `_demand`).
            if session.mode in SOLAR_MODES or session.mode is ChargingMode.CHEAPEST:
                phases = phases_of(session.evse)
                volts = line_voltage(session.station)
                solar.append(
                    SolarSession(
                        session.key,
                        (
                            ChargingMode.SOLAR_ONLY
                            if session.mode is ChargingMode.CHEAPEST
                            else session.mode
                        ),
                        volts=volts,
                        phases=1 if len(phases) == 1 else 3,
                        drawing_w=sum(draw_of([session])) * volts,
                        max_a=self._maximum_a(session),
                        arrival=session.transaction.started_at.timestamp(),
                        can_switch_phases=session.switchable,
                    )
                )
        export_w = self.export_w if self.settings.export_meter else None
        self._solar_caps = self.solar.caps(solar, export_w, self._clock())

    def plans(self, charger_id: str) -> bool:
        """Whether the charger's sessions charge by a plan (the cheapest mode)."""
        return self._chargers.mode(charger_id) is ChargingMode.CHEAPEST

    def _cheapest_cap(
        self,
        key: str,
        station: Station,
        evse: Evse,
        transaction: Transaction | None,
        *,
        phases: int,
    ) -> float:
        """A cheapest-mode session's cap now, planned within what the fuse could give.

        Planned with the charger's (and its tag's) maximum and the charger's weekly
        schedule as it will be at each moment, not as it is now.
        """
        maximum_a = min(
            self._chargers.max_current_a(station.id),
            self.settings.fuse_a - self.settings.margin_a,
        )
        if transaction is not None and transaction.max_current_a is not None:
            maximum_a = min(maximum_a, transaction.max_current_a)
        return self.cheapest.cap_a(
            key,
            station,
            evse,
            transaction,
            maximum_a=maximum_a,
            phases=phases,
            voltage_v=line_voltage(station),
            now=self._wall_clock(),
            schedule=self.schedule_of(station.id),
        )

    def _demand(self, session: BalancedSession) -> Demand:
        maximum = self._maximum_a(session)
        phases = phases_of(session.evse)
        if session.mode is ChargingMode.OFF:
            maximum = 0.0
        elif session.mode is ChargingMode.CHEAPEST:
            planned_a = self._cheapest_cap(
                session.key,
                session.station,
                session.evse,
                session.transaction,
                phases=self._plan_phases(session.key, session.evse),
            )
            surplus = self._solar_caps.get(session.key)
            if surplus is not None and surplus.amps > planned_a:
                maximum = min(maximum, surplus.amps)  # the sun gives more than the plan
                if surplus.phases == 3:
                    phases = ALL_PHASES
            else:
                self._solar_caps.pop(session.key, None)  # the plan leads (three phases)
                maximum = min(maximum, planned_a)
        elif (cap := self._solar_caps.get(session.key)) is not None:
            maximum = min(maximum, cap.amps)
            if cap.phases == 3:
                phases = ALL_PHASES  # it may still draw on one phase: count three
        return Demand(
            session.key,
            phases=phases,
            max_a=maximum,
            priority=self._chargers.priority(session.station.id),
            arrival=session.transaction.started_at.timestamp(),
        )

    # -- cars waiting for us to start their session (see `waiting_cars`) ---------------

    def _waiting_demand(self, car: WaitingCar) -> Demand:
        """What a waiting car asks for: as a session would (the surplus, in solar modes)."""
        maximum = self._chargers.max_current_a(car.station.id)
        if (scheduled := self.schedule_limit(car.station.id)) is not None:
            maximum = min(maximum, scheduled)
        if car.mode is ChargingMode.OFF:
            maximum = 0.0
        elif car.mode is ChargingMode.CHEAPEST:
            maximum = min(
                maximum,
                self._cheapest_cap(car.key, car.station, car.evse, None, phases=3),
            )
        elif car.mode in SOLAR_MODES:
            # Started on what the export alone covers on three phases (at its minimum,
            # with solar + minimum); the solar rules take over once it runs.
            export_w = (self.export_w or 0.0) if self.settings.export_meter else 0.0
            surplus_a = max(export_w, 0.0) / (line_voltage(car.station) * 3)
            if car.mode is ChargingMode.SOLAR_MINIMUM:
                surplus_a = max(surplus_a, MIN_CHARGING_CURRENT_A)
            maximum = min(maximum, surplus_a)
        return Demand(
            car.key,
            max_a=maximum,
            priority=self._chargers.priority(car.station.id),
            arrival=car.since,
        )

    async def _start_waiting(self, car: WaitingCar, limit_a: float) -> None:
        """Start a waiting car's session with its share as the session's profile."""
        if await self.waiting_cars.start(car, limit_a, self.settings.profile_duration_s):
            self._sent[car.key] = _Sent(limit_a, self._clock(), None)

    async def _stop_to_pause(self, session: BalancedSession) -> None:
        """Pause a session of a charger that goes on at 0 A: stop it (see `plug_in`)."""
        if await self.waiting_cars.pause(session.key, session.station, session.transaction):
            self._sent.pop(session.key, None)
            if session.mode is ChargingMode.CHEAPEST:
                self.cheapest.paused_by_stop(session.key, session.transaction)

    # -- balancing -----------------------------------------------------------------------

    async def rebalance(self, stations: Iterable[Station]) -> dict[str, float]:
        """Allocate anew and send what changed; returns the allocation (A per session)."""
        stations = list(stations)
        sessions = charging_sessions(stations, self._chargers)
        waiting = self.waiting_cars.find(stations)
        self.solar.settings = self.settings.solar  # the settings may have changed
        self._share_surplus(sessions)
        demands = [self._demand(session) for session in sessions]
        demands += [self._waiting_demand(car) for car in waiting]
        self.cheapest.forget_others(
            {s.key for s in sessions if s.mode is ChargingMode.CHEAPEST}
            | {car.key for car in waiting if car.mode is ChargingMode.CHEAPEST}
        )
        if self.settings.grid_meter and self.grid_a is None:
            allocation = self._failsafe_allocation(demands)
        else:
            draw = draw_of(sessions)
            grid = self.grid_a if self.grid_a is not None else draw
            fuse = [self.settings.fuse_a] * 3
            self.available_a = available_for_chargers(fuse, grid, draw, self.settings.margin_a)
            allocation = allocate(
                demands, self.available_a, self.allocated, self.settings.allocation
            )
        self.allocated = allocation
        self.allocated_by_evse = {
            (s.station.id, s.evse.id): allocation[s.key] for s in sessions
        } | {(car.station.id, car.evse.id): allocation[car.key] for car in waiting}
        self.on_rebalanced()
        keys = {session.key for session in sessions} | {car.key for car in waiting}
        self._sent = {key: sent for key, sent in self._sent.items() if key in keys}
        self._plain_profiles &= keys
        self._drawn_phases = {k: n for k, n in self._drawn_phases.items() if k in keys}
        # A new session may draw the failsafe or more until its first profile: it counts
        # as rising.
        lowering: list[BalancedSession] = []
        raising: list[BalancedSession] = []
        stopping: list[BalancedSession] = []
        for session in sessions:
            sent = self._sent.get(session.key)
            if allocation[session.key] == 0 and not session.station.quirks.pauses_at_zero_current:
                if not self.waiting_cars.is_paused(session.key):  # not stopped already
                    stopping.append(session)
                continue
            rises = sent is None or allocation[session.key] > sent.limit_a
            (raising if rises else lowering).append(session)
        starting = [car for car in waiting if allocation[car.key] > 0]
        # Decreases first and all of them in force before anything rises.
        await asyncio.gather(
            *(self._send(s, allocation[s.key], rising=False) for s in lowering),
            *(self._stop_to_pause(s) for s in stopping),
        )
        await asyncio.gather(
            *(self._send(s, allocation[s.key], rising=True) for s in raising),
            *(self._start_waiting(car, allocation[car.key]) for car in starting),
        )
        return allocation

    def _failsafe_allocation(self, demands: list[Demand]) -> dict[str, float]:
        """Every session at the failsafe current (within its own limits)."""
        failsafe = self.settings.failsafe_a
        return {
            demand.key: min(failsafe, demand.max_a) if demand.max_a >= demand.min_a else 0.0
            for demand in demands
        }

    async def _send(self, session: BalancedSession, limit_a: float, *, rising: bool) -> None:
        now = self._clock()
        sent = self._sent.get(session.key)
        # Refreshed well before it expires, so that it never lapses while we run.
        stale = sent is None or now - sent.at >= self.settings.profile_duration_s / 2
        phases = self._phases_to_send(session)
        if sent is not None and (sent.limit_a, sent.phases) == (limit_a, phases) and not stale:
            return
        if (
            rising
            and sent is not None
            and sent.phases == phases
            and now - sent.at < self.settings.min_interval_s
        ):
            return  # the old, lower limit is safe; rise at a later round
        profile = self._session_profile(session, limit_a, phases)
        result = await self._execute(
            session.station.id, SetChargingProfile(session.evse.id, profile)
        )
        if result.accepted:
            self._sent[session.key] = _Sent(limit_a, now, phases)
            return
        if profile.kind is ProfileKind.ABSOLUTE:
            # A plan it cannot take (too many periods, no absolute schedules): its share
            # alone from now on, as in the other modes.
            self._plain_profiles.add(session.key)
        _LOGGER.warning(
            "Charger %s did not take its site limit of %s A (%s %s)",
            session.station.id,
            limit_a,
            result.status,
            result.detail or "",
        )
        session.station.warn("site_limit_not_applied")

    def _session_profile(
        self, session: BalancedSession, limit_a: float, phases: int | None
    ) -> ChargingProfile:
        """The share for the profile's duration; in the cheapest mode, the plan after it."""
        duration_s = self.settings.profile_duration_s
        if session.mode is ChargingMode.CHEAPEST and session.key not in self._plain_profiles:
            planned = self.cheapest.profile(
                session.key,
                session.station,
                start=self._wall_clock(),
                now_limit_a=limit_a,
                now_s=duration_s,
                failsafe_a=self.settings.failsafe_a,
                transaction_id=session.transaction.id,
                number_phases=phases,
            )
            if planned is not None:
                return planned
        return limit_profile(
            session.station,
            limit_a,
            ProfilePurpose.TX,
            kind=ProfileKind.RELATIVE,
            duration_s=duration_s,
            transaction_id=session.transaction.id,
            number_phases=phases,
        )

    def _phases_to_send(self, session: BalancedSession) -> int | None:
        """Three phases, or one while a solar session's surplus covers only one."""
        if not session.switchable:
            return None
        cap = self._solar_caps.get(session.key)
        return cap.phases if cap is not None else 3
