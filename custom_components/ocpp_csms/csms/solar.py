"""Charging modes, and sharing a solar surplus among the sessions that want only that.

A charger's mode says where its sessions' current may come from:
- *fast*: as much as the site allows;
- *solar only*: only what the house would otherwise export;
- *solar + minimum*: the surplus, but never less than the minimum current (the rest
  from the grid);
- *off*: nothing (sessions stay paused).

`SurplusSharing.caps` turns a grid export reading into a cap per solar session. The
surplus is what the house exports plus what the solar sessions already draw (they
would export it otherwise). Sessions already charging share it equally in watts;
what they cannot take goes to paused sessions in the order they arrived. A paused
*solar only* session starts once the surplus has covered its minimum current for
`start_delay_s`, and stops once it has fallen short for `stop_delay_s` (meanwhile it
charges at the minimum): clouds passing do not make the car start and stop.

With phase switching, a session charges on one phase when the surplus covers the
minimum on one phase but not on three, and goes back to three phases when it covers
three times the minimum (plus the hysteresis) for `start_delay_s`; the car is
switched at most once per `switch_interval_s`.

The caps go into the site allocation as each session's maximum, so the fuse still
has the last word.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from .charging import MIN_CHARGING_CURRENT_A


class ChargingMode(StrEnum):
    """Where a charger's sessions take their current from."""

    FAST = "fast"
    SOLAR_ONLY = "solar_only"
    SOLAR_MINIMUM = "solar_minimum"
    # Only in the cheapest hours before the session's goal (see `cheapest`).
    CHEAPEST = "cheapest"
    OFF = "off"


SOLAR_MODES = frozenset({ChargingMode.SOLAR_ONLY, ChargingMode.SOLAR_MINIMUM})


@dataclass(frozen=True, slots=True)
class SolarSettings:
    """How patient surplus charging is."""

    start_delay_s: float = 120.0
    stop_delay_s: float = 300.0
    # Extra surplus needed before going from one phase to three.
    hysteresis_a: float = 1.0
    switch_interval_s: float = 600.0


@dataclass(frozen=True, slots=True)
class SolarSession:
    """A session in a solar mode, as measured this round."""

    key: str
    mode: ChargingMode
    volts: float
    phases: int  # what it draws on now (1 or 3)
    drawing_w: float
    max_a: float
    min_a: float = MIN_CHARGING_CURRENT_A
    arrival: float = 0.0
    can_switch_phases: bool = False


@dataclass(frozen=True, slots=True)
class SolarCap:
    """What a solar session may draw, and on how many phases."""

    amps: float
    phases: int


@dataclass(slots=True)
class _State:
    charging: bool = False
    # When the surplus began to cover (paused) or to miss (charging) the minimum.
    since: float | None = None
    phases: int = 3
    switch_since: float | None = None
    switched_at: float = -math.inf


@dataclass(slots=True)
class SurplusSharing:
    """Caps for solar sessions from the grid export, round after round."""

    settings: SolarSettings = field(default_factory=SolarSettings)
    surplus_w: float = 0.0
    _states: dict[str, _State] = field(default_factory=dict)

    def caps(
        self, sessions: Sequence[SolarSession], export_w: float | None, now: float
    ) -> dict[str, SolarCap]:
        """Each solar session's cap (0 A: paused); no export reading counts as no surplus."""
        states = {s.key: self._states.get(s.key) or _State(phases=s.phases) for s in sessions}
        self._states = states
        self.surplus_w = 0.0 if export_w is None else export_w + sum(s.drawing_w for s in sessions)
        ordered = sorted(sessions, key=lambda s: (s.arrival, s.key))
        for session in ordered:
            if session.mode is ChargingMode.SOLAR_MINIMUM:
                # Charging all along: switched to solar only, it goes on while it can.
                states[session.key].charging = True
        charging = [s for s in ordered if states[s.key].charging]
        shares = _equal_watts(charging, self.surplus_w)
        caps: dict[str, SolarCap] = {}
        for session in charging:
            caps[session.key] = self._keep_going(session, states[session.key], shares, now)
        left_w = self.surplus_w - sum(
            caps[s.key].amps * _watts_per_amp(s, caps[s.key].phases) for s in charging
        )
        for session in ordered:
            if session.key not in caps:
                state = states[session.key]
                caps[session.key], left_w = self._maybe_start(session, state, left_w, now)
        return caps

    def _keep_going(
        self, session: SolarSession, state: _State, shares: dict[str, float], now: float
    ) -> SolarCap:
        """A charging session: follow its share; below the minimum for long, pause."""
        share_w = shares[session.key]
        phases = self._choose_phases(session, state, share_w, now)
        amps = min(share_w / _watts_per_amp(session, phases), session.max_a)
        if amps >= session.min_a or session.mode is ChargingMode.SOLAR_MINIMUM:
            state.since = None
            return SolarCap(_round_down(max(amps, session.min_a)), phases)
        if state.since is None:
            state.since = now
        if now - state.since >= self.settings.stop_delay_s:
            state.charging = False
            state.since = None
            return SolarCap(0.0, phases)
        return SolarCap(session.min_a, phases)  # a cloud, perhaps: wait before pausing

    def _maybe_start(
        self, session: SolarSession, state: _State, left_w: float, now: float
    ) -> tuple[SolarCap, float]:
        """A paused session: start once the leftover has covered the minimum for long."""
        phases = 1 if session.can_switch_phases else session.phases
        if session.can_switch_phases and left_w >= self._three_phase_w(session):
            phases = 3
        needed_w = session.min_a * _watts_per_amp(session, phases)
        if left_w < needed_w:
            state.since = None
            return SolarCap(0.0, phases), left_w
        if state.since is None:
            state.since = now
        if now - state.since < self.settings.start_delay_s:
            # Kept for this session while it waits, so that no other one counts on it.
            return SolarCap(0.0, phases), left_w - needed_w
        state.charging, state.since, state.phases = True, None, phases
        if phases != session.phases:
            state.switched_at = now
        amps = min(left_w / _watts_per_amp(session, phases), session.max_a)
        cap = SolarCap(_round_down(amps), phases)
        return cap, left_w - cap.amps * _watts_per_amp(session, phases)

    def _three_phase_w(self, session: SolarSession) -> float:
        return (session.min_a + self.settings.hysteresis_a) * _watts_per_amp(session, 3)

    def _choose_phases(
        self, session: SolarSession, state: _State, share_w: float, now: float
    ) -> int:
        """One phase when the share covers only that; three when it covers three, for long."""
        if not session.can_switch_phases:
            return session.phases
        wanted: int = state.phases
        if state.phases == 3 and share_w < session.min_a * _watts_per_amp(session, 3):
            wanted = 1  # down at once: otherwise the car draws from the grid
        elif state.phases == 1 and share_w >= self._three_phase_w(session):
            wanted = 3
        if wanted == state.phases:
            state.switch_since = None
            return state.phases
        if state.switch_since is None:
            state.switch_since = now
        waited = now - state.switch_since >= (self.settings.start_delay_s if wanted == 3 else 0)
        rested = now - state.switched_at >= self.settings.switch_interval_s
        if waited and rested:
            state.phases, state.switched_at, state.switch_since = wanted, now, None
        return state.phases


def _watts_per_amp(session: SolarSession, phases: int) -> float:
    return session.volts * phases


def _equal_watts(sessions: Sequence[SolarSession], surplus_w: float) -> dict[str, float]:
    """Share `surplus_w` equally, each session up to its maximum (progressive filling)."""
    shares = dict.fromkeys((s.key for s in sessions), 0.0)
    rising = list(sessions)
    left = max(surplus_w, 0.0)
    while rising and left > 1e-9:
        level = left / len(rising)
        full = [s for s in rising if _most_w(s) - shares[s.key] <= level]
        if not full:
            for session in rising:
                shares[session.key] += level
            break
        for session in full:
            left -= _most_w(session) - shares[session.key]
            shares[session.key] = _most_w(session)
            rising.remove(session)
    return shares


def _most_w(session: SolarSession) -> float:
    """The most a session can take: at its maximum, on three phases if it can switch."""
    return session.max_a * _watts_per_amp(
        session, 3 if session.can_switch_phases else session.phases
    )


def _round_down(amps: float) -> float:
    return math.floor(amps * 10 + 1e-9) / 10
