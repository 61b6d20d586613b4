"""The *Cheapest* charging mode: each session charges in the cheapest time before its goal.

A charger in this mode has a goal: energy to add by a ready-by time. The user sets it
per charger (`set_goal`); a 2.x car that says what it needs (NotifyEVChargingNeeds:
departure time, energy amount, its maximum current) sets it for its own session, and
its word wins. Without a goal the session charges as *Fast* would.

The site balancer asks `cap_a` for each such session at every round: the current the
plan (`price_plan.plan_cheapest`) gives now, planned afresh from what the session has
delivered so far, the prices known (`set_prices`) and the most current the session may
have (its charger, its tag, the schedule now, the fuse). The fuse still has the last
word: the cap is only the session's maximum in the site's allocation.

`profile` is what the balancer sends such a session: its share now for the balancer's
profile duration, then the plan held to the failsafe current, as absolute periods. So
a charger whose central system goes quiet (Home Assistant stopped) still charges in the
cheap hours, within what the site allows without us, and after the plan falls back to
its default profile (the failsafe).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from .charging import in_charger_unit, limit_profile_id, line_voltage
from .commands import ChargingProfile, ProfileKind, ProfilePurpose, SchedulePeriod
from .price_plan import Plan, PowerLimits, PriceSlot, constant_current, plan_cheapest
from .schedule import WeeklySchedule
from .station import Evse, Measurand, Station, Transaction

# A charging profile holds a bounded number of periods (1.6 chargers often take 24 or
# fewer: ChargingScheduleMaxPeriods); a plan of two days of quarter hours has more.
MAX_PERIODS = 24
# Plans are made for goals at most this far ahead.
MAX_GOAL_AHEAD = timedelta(days=2)
# A car's goal that says less than this is no goal (a charger reporting zeros).
_MIN_CAR_ENERGY_WH = 100.0


@dataclass(frozen=True, slots=True)
class ChargingGoal:
    """Add `energy_wh` by a deadline; `max_current_a`: the car's own maximum.

    The deadline is `ready_by` (a car's departure), or else the first `ready_at` (a time
    of day in `zone`: the user's) after the session started, so that a goal set once
    serves every night's session.
    """

    energy_wh: float
    ready_by: datetime | None = None
    ready_at: time | None = None
    zone: tzinfo = UTC
    max_current_a: float | None = None
    # Or a state of charge to reach (%), for a battery of `battery_wh`: used while the
    # car's state of charge is known (its charger's SoC reading, or `set_car_soc`).
    target_soc: float | None = None
    battery_wh: float | None = None

    def energy_left(self, delivered_wh: float, soc: float | None) -> float:
        """What is still to add: up to the target state of charge, else `energy_wh`."""
        if self.target_soc is not None and self.battery_wh and soc is not None:
            return max(0.0, self.target_soc - soc) / 100 * self.battery_wh
        return max(0.0, self.energy_wh - delivered_wh)

    def deadline(self, since: datetime) -> datetime:
        """When the energy should be in, for a session that started at `since`."""
        if self.ready_by is not None:
            return self.ready_by
        if self.ready_at is None:
            return since
        local = since.astimezone(self.zone)
        day = local.date()
        candidate = datetime.combine(day, self.ready_at, self.zone)
        if candidate <= local:
            candidate = datetime.combine(day + timedelta(days=1), self.ready_at, self.zone)
        return candidate


def car_goal(needs: Mapping[str, object] | None) -> ChargingGoal | None:
    """The goal a 2.x car stated (NotifyEVChargingNeeds `chargingNeeds`), if it stated one."""
    if not needs:
        return None
    departure = needs.get("departureTime")
    parameters = needs.get("acChargingParameters") or needs.get("dcChargingParameters")
    if not isinstance(departure, str) or not isinstance(parameters, Mapping):
        return None
    try:
        ready_by = datetime.fromisoformat(departure.replace("Z", "+00:00"))
    except ValueError:
        return None
    if ready_by.tzinfo is None:
        ready_by = ready_by.replace(tzinfo=UTC)
    energy = _number(parameters.get("energyAmount"))
    if energy is None or energy < _MIN_CAR_ENERGY_WH:
        return None
    maximum = _number(parameters.get("evMaxCurrent"))
    return ChargingGoal(
        energy, ready_by=ready_by, max_current_a=maximum if maximum and maximum > 0 else None
    )


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


@dataclass(frozen=True, slots=True)
class PlannedSession:
    """A session's plan, what it was planned for, and what the session has cost so far."""

    charger_id: str
    evse_id: int
    goal: ChargingGoal
    from_car: bool
    plan: Plan
    deadline: datetime
    # The phases the plan counts on (and a charger that takes only W is sent).
    phases: int
    # The energy the session delivered, and its cost at the prices of the moments we saw
    # it delivered (since Home Assistant started: not kept across a restart).
    delivered_wh: float
    spent: float

    @property
    def estimated_cost(self) -> float:
        """What the session comes to: spent so far, and the plan for the rest."""
        return self.spent + self.plan.cost


class CheapestCharging:
    """Plans of the sessions in the *Cheapest* mode, from prices and goals."""

    def __init__(self) -> None:
        """No prices and no goals yet."""
        # Told when prices, a goal or a car's state of charge changed: plans are made
        # again at once (the balancer is woken; see `ChargerUpkeep`).
        self.on_change: Callable[[], None] = lambda: None
        self.prices: tuple[PriceSlot, ...] = ()
        self._goals: dict[str, ChargingGoal] = {}
        # Cars' states of charge from elsewhere than their charger (a car's own sensor).
        self._car_soc: dict[str, float] = {}
        # Chargers that pause by stopping (see `plug_in`) end a session at each pause:
        # by session key, the energy the car had and when it first started, carried
        # into the session that goes on after the pause.
        self._carried: dict[str, tuple[float, datetime]] = {}
        # The latest plan of each session in the mode, by session key.
        self.plans: dict[str, PlannedSession] = {}

    def set_prices(self, prices: Sequence[PriceSlot]) -> None:
        """The prices now known (replacing the earlier ones)."""
        self.prices = tuple(sorted(prices, key=lambda slot: slot.start))
        self.on_change()

    def set_goal(self, charger_id: str, goal: ChargingGoal | None) -> None:
        """The user's goal for a charger's sessions (None: none)."""
        if goal is None:
            self._goals.pop(charger_id, None)
        else:
            self._goals[charger_id] = goal
        self.on_change()

    def forget(self, charger_id: str) -> None:
        """A charger was removed: its goal and its car's state of charge go too."""
        self._goals.pop(charger_id, None)
        self._car_soc.pop(charger_id, None)

    def set_car_soc(self, charger_id: str, soc: float | None) -> None:
        """The state of charge (%) of the car on a charger, as the car reports it."""
        if soc is None:
            self._car_soc.pop(charger_id, None)
        else:
            self._car_soc[charger_id] = soc
        self.on_change()

    def soc(self, station: Station, evse: Evse) -> float | None:
        """The car's state of charge: the charger's reading first, else the car's own."""
        reading = evse.value(Measurand.SOC)
        return reading if reading is not None else self._car_soc.get(station.id)

    def goal(self, station: Station, evse: Evse) -> tuple[ChargingGoal, bool] | None:
        """The goal of a session on `evse`, and whether the car set it."""
        if (goal := car_goal(evse.ev_charging_needs)) is not None:
            return goal, True
        if (user := self._goals.get(station.id)) is not None:
            return user, False
        return None

    def cap_a(
        self,
        key: str,
        station: Station,
        evse: Evse,
        transaction: Transaction | None,
        *,
        maximum_a: float,
        phases: int,
        voltage_v: float,
        now: datetime,
        schedule: WeeklySchedule | None = None,
    ) -> float:
        """The most current the session (or car waiting to start) may have now.

        `maximum_a`: the most it may ever have; `schedule` lowers that where its rules do.
        """
        goal = self.goal(station, evse)
        if goal is None:
            self.plans.pop(key, None)
            return maximum_a  # no goal: as Fast
        target, from_car = goal
        if target.max_current_a is not None:
            maximum_a = min(maximum_a, target.max_current_a)
        delivered = (transaction.energy_wh if transaction is not None else None) or 0.0
        since = transaction.started_at if transaction is not None else now
        if (carried := self._carried.get(key)) is not None:
            delivered += carried[0]
            since = carried[1]
        left = target.energy_left(delivered, self.soc(station, evse))
        deadline = target.deadline(since)
        ready_by = min(deadline, now + MAX_GOAL_AHEAD)
        limits = _limits(maximum_a, schedule, now, ready_by, phases=phases, voltage_v=voltage_v)
        plan = plan_cheapest(self.prices, now=now, ready_by=ready_by, energy_wh=left, limits=limits)
        self.plans[key] = PlannedSession(
            station.id,
            evse.id,
            target,
            from_car,
            plan,
            deadline,
            phases,
            delivered,
            self._spent(key, delivered, now),
        )
        if left > 0 and ready_by <= now:
            return maximum_a  # late already: what is missing comes as fast as it can
        return plan.current_at(now)

    def _spent(self, key: str, delivered_wh: float, now: datetime) -> float:
        """The session's cost so far: what it delivered since last seen, at today's price."""
        earlier = self.plans.get(key)
        if earlier is None or delivered_wh < earlier.delivered_wh:
            return 0.0  # a new session (or a register that went back: count afresh)
        price = next((slot.price for slot in self.prices if slot.start <= now < slot.end), None)
        added_wh = delivered_wh - earlier.delivered_wh
        return earlier.spent + (added_wh / 1000 * price if price is not None else 0.0)

    def paused_by_stop(self, key: str, transaction: Transaction) -> None:
        """A session was stopped to pause it: its car's energy and start go on after."""
        energy, since = self._carried.get(key, (0.0, transaction.started_at))
        self._carried[key] = (energy + (transaction.energy_wh or 0.0), since)

    def forget_others(self, keys: set[str]) -> None:
        """Keep only the plans of these sessions (the others ended or left the mode).

        A paused car stays among them while it waits; once it has left, what it carried
        goes too.
        """
        self.plans = {key: planned for key, planned in self.plans.items() if key in keys}
        self._carried = {key: carried for key, carried in self._carried.items() if key in keys}

    def profile(
        self,
        key: str,
        station: Station,
        *,
        start: datetime,
        now_limit_a: float,
        now_s: int,
        failsafe_a: float,
        transaction_id: str,
        number_phases: int | None,
    ) -> ChargingProfile | None:
        """The session's TxProfile: its share for `now_s`, then the plan (None: no plan)."""
        planned = self.plans.get(key)
        if planned is None:
            return None
        start = start.replace(microsecond=0)
        end = planned.plan.end
        # Past the plan the charger's default profile (the failsafe) applies again.
        duration_s = max(now_s, int((end - start).total_seconds())) if end is not None else now_s
        unit, _ = in_charger_unit(station, 0.0)
        # A charger that takes only W gets the plan's power: on the phases the plan counts
        # on, not on those drawing now (none, while the car waits for its hours).
        watts_per_amp = line_voltage(station) * planned.phases

        def in_unit(current_a: float) -> float:
            return float(round(current_a * watts_per_amp)) if unit == "W" else current_a

        periods = [SchedulePeriod(0, in_unit(now_limit_a), number_phases)]
        for offset_s, current_a in _plan_steps(planned.plan, start, now_s, failsafe_a):
            limit = in_unit(current_a)
            if offset_s >= duration_s:
                break
            if limit == periods[-1].limit:
                continue
            if len(periods) >= MAX_PERIODS:
                # No room for the rest: the schedule ends here and the charger's default
                # profile (the failsafe) takes over, rather than the last period running
                # on through stretches the plan leaves out.
                duration_s = offset_s
                break
            periods.append(SchedulePeriod(offset_s, limit, number_phases))
        return ChargingProfile(
            id=limit_profile_id(ProfilePurpose.TX),
            stack_level=0,
            purpose=ProfilePurpose.TX,
            kind=ProfileKind.ABSOLUTE,
            start_schedule=start,
            duration_s=duration_s,
            unit=unit,
            periods=tuple(periods),
            transaction_id=transaction_id,
        )


def _limits(
    maximum_a: float,
    schedule: WeeklySchedule | None,
    now: datetime,
    ready_by: datetime,
    *,
    phases: int,
    voltage_v: float,
) -> PowerLimits:
    """What a plan may use: `maximum_a`, lowered by the schedule's rules as they come."""
    if schedule is None:
        return PowerLimits(constant_current(maximum_a), phases=phases, voltage_v=voltage_v)

    def allowed(start: datetime, end: datetime) -> float:
        scheduled = schedule.limit_at(start)
        return maximum_a if scheduled is None else min(maximum_a, scheduled)

    changes = tuple(
        edge
        for occurrence in schedule.occurrences(now, max(now, ready_by))
        for edge in (occurrence.start, occurrence.end)
    )
    return PowerLimits(allowed, phases=phases, voltage_v=voltage_v, limit_changes=changes)


def _plan_steps(
    plan: Plan, start: datetime, from_s: int, failsafe_a: float
) -> list[tuple[int, float]]:
    """The plan from `from_s` seconds after `start` on: (offset, current) where it changes."""
    cursor = start + timedelta(seconds=from_s)
    edges = sorted(
        {edge for slot in plan.slots for edge in (slot.start, slot.end) if edge > cursor}
    )
    steps = [(from_s, min(plan.current_at(cursor), failsafe_a))]
    for edge in edges:
        value = min(plan.current_at(edge), failsafe_a)
        offset = int((edge - start).total_seconds())
        if value != steps[-1][1] and offset > steps[-1][0]:
            steps.append((offset, value))
    return steps
