"""Whether an energy register reading is plausible, and what a session counts of it.

A session's energy is what its register (Energy.Active.Import.Register) gained between
its start and its end. Real registers misbehave: a charger sends kWh without saying so
(read as Wh, the register seems to fall to a thousandth), Wh marked as kWh (it seems to
jump a thousandfold), a meter is reset or replaced mid-session (it falls), or one
reading is garbage (it jumps). `RegisterTrack` follows one session's register and
counts only plausible steps. The rule, from the last reading the session counted to
the next one:

- *Plausible*: the register rose by at most what MAX_POWER_W delivers in the time
  between the two readings plus SLACK_WH, and fell by at most FALL_TOLERANCE_WH. A
  fall within the tolerance is rounding: no energy, the higher reading stands.
- *A unit mix-up*: implausible as read, plausible at a thousand times (kWh read as Wh)
  or a thousandth (Wh read as kWh). The reading, and those after it, are rescaled to
  the unit of the session's first reading, and counted.
- Otherwise the reading is *held back*, not counted. If a later reading goes on
  plausibly from the last one counted, the held one was a glitch and is forgotten. If
  it goes on plausibly from the held one, the register has a new baseline: counting
  goes on from the held reading, and the step into it is never counted.

Either way the first implausible reading of a kind gives the session a `MeterNote`.

Time between readings is the longer of the charger's timestamps and our own clock
between receiving them: a charger that delivers queued readings at once has the
first, one whose clock is set back mid-session the second. A reading that is older
than the last one counted and lower is a late copy (a 1.6 stop repeats the start
reading): kept as a sample, it moves nothing.

Values are kept *continuous*: what the register would read had it never fallen or
jumped (reading * scale + offset). A session's energy is then always its last value
less its first, and its samples add up to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# The most power any charger delivers (today's fastest DC chargers): generous for the
# home and small-site chargers this serves, and still a thousand times less than a
# register read in the wrong unit seems to gain.
MAX_POWER_W = 350_000.0
# Allowance on top, for readings rounded to a whole kWh and clocks a few seconds apart.
SLACK_WH = 1_000.0
# A register that goes back this little is rounding (kWh with one decimal), not a fall.
FALL_TOLERANCE_WH = 100.0
# The scales a reading may be in, relative to the session's first reading: the same
# unit, kWh read as Wh, Wh read as kWh.
_SCALES = (1.0, 1000.0, 0.001)


class MeterNote(StrEnum):
    """Why a session's energy is not simply its register's last reading less its first."""

    REGISTER_FELL = "register_fell"  # a reading below the last: left out
    REGISTER_JUMPED = "register_jumped"  # more than the charger could deliver: left out
    REGISTER_IN_KWH = "register_in_kwh"  # a thousandth of the session's unit: rescaled
    REGISTER_IN_WH = "register_in_wh"  # a thousand times the session's unit: rescaled
    # No reading at the start: counted from the first during the session (a little short).
    START_NOT_READ = "start_not_read"


def notes_text(notes: set[MeterNote]) -> str | None:
    """Notes as the journal keeps them: comma-separated, in a fixed order; None if none."""
    return ",".join(note for note in MeterNote if note in notes) or None


def notes_from(text: str | None) -> set[MeterNote]:
    """Notes from the journal's text; words this version does not know are left out."""
    known = {note.value for note in MeterNote}
    return {MeterNote(word) for word in (text or "").split(",") if word in known}


@dataclass(frozen=True, slots=True)
class RegisterAnomaly:
    """A reading that did not follow plausibly from the last one counted."""

    note: MeterNote
    last_wh: float  # the last reading counted (continuous)
    read_wh: float  # the reading as it came, in Wh as read
    at: datetime
    # Whether the session had no note of this kind yet (the first is worth telling).
    first_of_kind: bool = True


@dataclass(frozen=True, slots=True)
class Step:
    """What a reading does to a session's register."""

    # The reading as the session reads it (continuous); None while held back.
    value_wh: float | None
    counted: bool = True  # False: a late copy, or held back; the register stays
    held: bool = False  # held back as implausible (not to be shown as the register)
    note: MeterNote | None = None


def plausible(last_wh: float, next_wh: float, elapsed: timedelta) -> bool:
    """Whether a register can go from `last_wh` to `next_wh` in `elapsed`."""
    hours = max(elapsed.total_seconds(), 0.0) / 3600
    gained = next_wh - last_wh
    return -FALL_TOLERANCE_WH <= gained <= MAX_POWER_W * hours + SLACK_WH


@dataclass(slots=True)
class RegisterTrack:
    """How one session reads its register: scale, offset and the moment of the last count.

    `scale` and `offset_wh` are journaled, so a session goes on after a restart; the
    moments are not (then the time since the session's start bounds the next step,
    which is only more generous).
    """

    scale: float = 1.0
    offset_wh: float = 0.0
    at: datetime | None = None  # the charger's time of the last reading counted
    seen_at: datetime | None = None  # our time when it was counted
    held: tuple[float, datetime, datetime] | None = None  # raw Wh, its time, ours

    def counted(self, at: datetime, seen_at: datetime) -> None:
        """Note when the reading just counted was taken (and received)."""
        self.at, self.seen_at, self.held = at, seen_at, None

    def step(self, last_wh: float, read_wh: float, at: datetime, seen_at: datetime) -> Step:
        """Take the reading `read_wh` (taken `at`, received `seen_at`) after `last_wh`.

        `self.at` must be set (the start's time, at least).
        """
        assert self.at is not None
        as_read = read_wh * self.scale + self.offset_wh
        if at < self.at and as_read < last_wh:
            return Step(as_read, counted=False)  # a late copy of an older reading
        elapsed = self._since(self.at, self.seen_at, at, seen_at)
        for scale in self._scales():
            value = read_wh * scale + self.offset_wh
            if plausible(last_wh, value, elapsed):
                note = self._unit_note(scale)
                self.scale = scale
                self.counted(at, seen_at)
                return Step(max(value, last_wh), note=note)
        if (rebased := self._from_held(last_wh, read_wh, at, seen_at)) is not None:
            return Step(rebased)
        self.held = (read_wh, at, seen_at)
        note = MeterNote.REGISTER_FELL if as_read < last_wh else MeterNote.REGISTER_JUMPED
        return Step(None, counted=False, held=True, note=note)

    def _from_held(
        self, last_wh: float, read_wh: float, at: datetime, seen_at: datetime
    ) -> float | None:
        """The register from a new baseline, if the reading goes on from the held one."""
        if self.held is None:
            return None
        held_wh, held_at, held_seen = self.held
        elapsed = self._since(held_at, held_seen, at, seen_at)
        for scale in self._scales():
            if plausible(held_wh * scale, read_wh * scale, elapsed):
                # The held reading counts as the last one counted: the step into it,
                # across the fall or jump, adds nothing.
                self.scale = scale
                self.offset_wh = last_wh - held_wh * scale
                self.counted(at, seen_at)
                return max(read_wh * scale + self.offset_wh, last_wh)
        return None

    def _scales(self) -> tuple[float, ...]:
        """The current scale first: a charger that mixed units once may go on doing so."""
        return (self.scale, *(scale for scale in _SCALES if scale != self.scale))

    def _unit_note(self, scale: float) -> MeterNote | None:
        """The note for a change to `scale`; None when unchanged or back to the session's."""
        if scale in (self.scale, 1.0):
            return None
        return MeterNote.REGISTER_IN_KWH if scale > 1.0 else MeterNote.REGISTER_IN_WH

    @staticmethod
    def _since(
        last_at: datetime, last_seen: datetime | None, at: datetime, seen_at: datetime
    ) -> timedelta:
        charger = at - last_at
        ours = seen_at - last_seen if last_seen is not None else timedelta(0)
        return max(charger, ours)
