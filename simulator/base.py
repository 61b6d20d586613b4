"""What every simulated charger has: its state, its answers, and its actions.

A simulated charger boots, reports status and meter values, runs sessions, and
answers the central system's commands as a real charger would: remote start and stop
start and stop sessions, charging profiles cap the power it draws, a trigger sends
what was asked for. `answers` makes it refuse a command (action -> status), for tests
and for trying failure paths by hand.

Metering. By default a charger reports meter values only when told to
(`send_meter_values`), with every measurand it has. Real chargers sample on their own,
as their configuration says; the options below make a twin of that:

- `sampling`: the metering configuration it starts with (`SAMPLING_PRESETS`):
  "ours" (the default) reports no metering keys and behaves as above; "none" samples
  nothing (a 1.6 session still has its meterStart and meterStop); "edges_only" samples
  the energy register at the start and end of a session only (2.x Started and Ended
  meter values, 1.6 transactionData); "every_30s" and "every_60s" sample it at that
  interval and at the start and end too. See `SamplingPreset` for the values.
- `autonomous_sampling`: follow that configuration while a session runs: periodic
  readings of the configured measurands at the configured interval (re-read at every
  tick, so a change takes effect at once), and the configured measurands at the
  start and end of the session. Off by default, so tests drive the readings; without
  it the configuration is only reported and stored. `send_meter_values` (and a
  triggered MeterValues) still sends every measurand after the `seconds` given.
- `supported_measurands`: what its meter can measure (default `MEASURANDS`). A
  configuration naming anything else is refused and changes nothing.
- `speed`: simulated seconds per real second; intervals are simulated seconds.

Its clock (`now_text`) runs with the simulated time: time let pass faster than real
time (`send_meter_values(1, 3600)` a moment after the start, or a faster `speed`)
moves it ahead, so that its readings carry the times a real charger's would. The
central system holds a register to what a charger can deliver in the time between two
readings; an hour's energy stamped a millisecond later would be a jump.

`kwh_without_unit` makes a twin of a firmware bug seen in the field: during a session
its readings (not those of the start and end) give the register in kWh without saying
so, so a central system that takes the OCPP default unit (Wh) sees it fall a
thousandfold mid-session. Off by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp
from websockets.exceptions import ConnectionClosed

from .reservations import HeldReservation, ReservationBook, parse_expiry
from .twins import TWIN_CHOICES, TWINS, Deviations, Twin

VOLTAGE_V = 230.0

ENERGY = "Energy.Active.Import.Register"
# The purposes of a station-wide maximum profile, in 1.6 and 2.x words.
STATION_MAX_PURPOSES = frozenset({"ChargePointMaxProfile", "ChargingStationMaxProfile"})
# Every measurand a simulated meter can report (what `_meter_sample` produces).
MEASURANDS: tuple[str, ...] = (
    ENERGY,
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "Current.Offered",
    "SoC",
)


@dataclass(frozen=True, slots=True)
class SamplingPreset:
    """A metering configuration a charger can start with (see `SAMPLING_PRESETS`)."""

    interval_s: int  # between periodic readings during a session; 0: none
    periodic: tuple[str, ...]  # the measurands of those readings
    at_ends: tuple[str, ...]  # the measurands read when a session starts and ends


# "ours" is absent on purpose: it adds no metering configuration at all.
SAMPLING_PRESETS: dict[str, SamplingPreset] = {
    "none": SamplingPreset(0, (), ()),
    "edges_only": SamplingPreset(0, (), (ENERGY,)),
    "every_30s": SamplingPreset(30, (ENERGY,), (ENERGY,)),
    "every_60s": SamplingPreset(60, (ENERGY,), (ENERGY,)),
}
SAMPLING_CHOICES = ("ours", *SAMPLING_PRESETS)


@dataclass(frozen=True, slots=True)
class SamplingKeys:
    """Where a protocol version keeps its metering configuration."""

    interval: str  # seconds between periodic readings during a session (0: none)
    periodic: str  # the measurands of those readings
    begin: str  # the measurands read when a session starts
    end: str  # the measurands read when it ends


@dataclass(slots=True)
class _Sampler:
    """The periodic readings of one connector's session."""

    task: asyncio.Task[None]
    # Set when the configuration changes or the session ends: the tick looks again.
    wake: asyncio.Event


def measurand_words(value: str) -> list[str]:
    """The measurands of a comma-separated configuration value."""
    return [word.strip() for word in value.split(",") if word.strip()]


class SimulatedCharger:
    """What every simulated charger knows about itself and has been told."""

    # Set by the ocpp library's ChargePoint (id) and by connected_charger (websocket);
    # annotated only, so nothing here shadows the library's attributes or methods.
    id: str
    websocket: Any

    vendor = "OCPP CSMS Simulator"
    model = "SimCharger"
    serial_number = "SIM-0001"
    firmware_version = "1.0.0"
    # The configuration a new charger reports (its features); per protocol version.
    default_configuration: ClassVar[dict[str, str]] = {}
    # Where this protocol version keeps its metering configuration.
    sampling_keys: ClassVar[SamplingKeys]
    # 1.6 reports how many measurands a list may hold; 2.x has no such key.
    measurands_max_length_key: ClassVar[str | None] = None
    # Keys the central system may read but not change.
    read_only_keys: ClassVar[frozenset[str]] = frozenset()
    # Where this version reports the units its profiles take, and how it says "both".
    rate_units_setting: ClassVar[tuple[str, str]]
    # Where it reports how many connectors it has (None: nowhere).
    connectors_setting: ClassVar[str | None] = None

    def __init__(
        self,
        *args: Any,
        connectors: int = 1,
        phases: int = 3,
        max_current_a: float = 16.0,
        battery_wh: float = 60000.0,
        car_max_w: float = 11000.0,
        sampling: str = "ours",
        autonomous_sampling: bool = False,
        supported_measurands: Iterable[str] | None = None,
        speed: float = 1.0,
        twin: str | None = None,
        deviations: Deviations | None = None,
        kwh_without_unit: bool = False,
        **kwargs: Any,
    ) -> None:
        """Start idle: no session, registers at zero; the base takes (id, connection).

        The metering options (`sampling`, `autonomous_sampling`, `supported_measurands`,
        `speed`) and `kwh_without_unit` are described in the module's docstring; `twin`
        and `deviations` in `simulator.twins`.
        """
        super().__init__(*args, **kwargs)
        if twin is not None and twin not in TWINS:
            raise ValueError(f"twin must be one of {TWIN_CHOICES}, not {twin!r}")
        if sampling not in SAMPLING_CHOICES:
            raise ValueError(f"sampling must be one of {SAMPLING_CHOICES}, not {sampling!r}")
        supported = tuple(MEASURANDS if supported_measurands is None else supported_measurands)
        if unknown := set(supported) - set(MEASURANDS):
            raise ValueError(f"the simulated meter cannot measure {sorted(unknown)}")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.supported_measurands = supported
        self.autonomous_sampling = autonomous_sampling
        self.kwh_without_unit = kwh_without_unit
        self.speed = speed
        self.boot_statuses: list[str] = []
        self.interval = 60
        self.connectors = connectors
        self.phases = phases
        self.energy_wh = dict.fromkeys(range(1, connectors + 1), 0.0)
        # The car on each connector: its state of charge (%) and how much it can take.
        self.soc = dict.fromkeys(range(1, connectors + 1), 20.0)
        self.battery_wh = battery_wh
        self.car_max_w = car_max_w
        # What the charger's hardware allows; a charging profile may lower it.
        self.max_current_a = max_current_a
        self.firmware_version_installed = self.firmware_version
        self.uploads: list[str] = []
        self.transactions: dict[int, str] = {}
        # action -> the status to answer instead of accepting
        self.answers: dict[str, str] = {}
        # Every command received, as (action, payload in snake case), for tests.
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.profiles: list[dict[str, Any]] = []
        self._received_at: list[float] = []  # when each profile came (monotonic)
        self.limit_a: float | None = None
        # What the charger reports about itself: its features, as a real one would.
        self.configuration: dict[str, str] = dict(self.default_configuration)
        self.configuration.update(self._sampling_configuration(sampling))
        self._deviate(twin, deviations)
        # The local authorization list: tag (as sent) -> status, and its version.
        self.local_list: dict[str, str] = {}
        self.local_list_version = 0
        self.cache_cleared = 0
        self.reservations = ReservationBook(
            connectors, lambda connector: connector in self.transactions, self._reservation_expired
        )
        # Connectors freed by a cancelled reservation, to report Available after the answer.
        self._released: dict[int, int] = {}
        # Work started after answering a command (a session after a remote start, a
        # reboot after a reset). The ocpp library would start these as tasks nobody
        # owns; the charger keeps them instead, so closing it ends them too.
        self._follow_ups: set[asyncio.Task[None]] = set()
        self._own_follow_ups()
        # Autonomous sampling: each running session's ticks, and when its connector's
        # model last caught up with the clock (monotonic), so that ticks and a scenario
        # that both let time pass count it once.
        self._samplers: dict[int, _Sampler] = {}
        self._advanced_at: dict[int, float] = {}
        # The clock: real time plus the simulated time let pass ahead of it, and when
        # (monotonic) each connector last let time pass.
        self._clock_ahead_s = 0.0
        self._time_passed_at: dict[int, float] = {}

    def _deviate(self, twin: str | None, deviations: Deviations | None) -> None:
        """Become a brand's twin and/or deviate as `deviations` say (see `twins`)."""
        self.deviations = Deviations()
        if twin is not None:
            self._become(TWINS[twin])
        if deviations is not None:
            self.deviations = deviations
        self.configuration.update(self._deviating_configuration())
        # Boots that followed a configuration change (a twin that reboots on one).
        self.reboots_after_configuration = 0

    def _become(self, twin: Twin) -> None:
        """Say what a brand's charger says about itself, and deviate as it does."""
        self.vendor, self.model = twin.vendor, twin.model
        self.firmware_version = self.firmware_version_installed = twin.firmware_version
        self.deviations = twin.deviations
        if twin.max_current_a is not None:
            self.max_current_a = twin.max_current_a

    def _deviating_configuration(self) -> dict[str, str]:
        """The settings a deviating charger reports (some of them untrue)."""
        configuration = {}
        if self.deviations.watts_only:
            key, both = self.rate_units_setting
            configuration[key] = both  # it says so, and refuses amperes
        if self.deviations.reports_no_connectors and self.connectors_setting:
            configuration[self.connectors_setting] = "0"
        return configuration

    def profile_verdict(self, where: int, profile: dict[str, Any]) -> str:
        """What an accepted profile does: "take" it, "ignore" it, or "Rejected".

        `where` is the connector (1.6) or EVSE (2.x) it was sent to; the deviations
        decide (a charger without any takes every profile).
        """
        deviations = self.deviations
        purpose = profile.get("charging_profile_purpose")
        stack_level = int(profile.get("stack_level") or 0)
        if deviations.max_stack_level is not None and stack_level > deviations.max_stack_level:
            return "Rejected"
        schedule = self._schedule(profile) or {}
        if deviations.watts_only and schedule.get("charging_rate_unit", "A") != "W":
            return "Rejected"
        if deviations.ignores_station_max and purpose in STATION_MAX_PURPOSES:
            return "ignore"
        needs = deviations.default_profile_connector
        if needs is not None and purpose == "TxDefaultProfile" and where != needs:
            return "ignore"
        return "take"

    def _answered_profile(self, status: str, where: int, profile: dict[str, Any]) -> str:
        """Apply a profile the charger accepts (as its deviations say); its final status."""
        if status != "Accepted":
            return status
        verdict = self.profile_verdict(where, profile)
        if verdict == "take":
            self._take_profile(profile)
        return "Rejected" if verdict == "Rejected" else status

    async def _slow_answer(self) -> None:
        """Make the central system wait for an answer, as a deviating charger does."""
        if self.deviations.remote_start_delay_s:
            await asyncio.sleep(self.deviations.remote_start_delay_s)

    def _own_follow_ups(self) -> None:
        """Route every `@after` handler through `_start_follow_up`."""
        route_map: dict[str, dict[str, Any]] = getattr(self, "route_map", {})
        for handlers in route_map.values():
            if "_after_action" in handlers:
                handlers["_after_action"] = self._owned(handlers["_after_action"])

    def _owned(self, handler: Callable[..., Any]) -> Callable[..., None]:
        # functools.wraps keeps the signature, which the library inspects.
        @functools.wraps(handler)
        def start(*args: Any, **kwargs: Any) -> None:
            work = handler(*args, **kwargs)
            if inspect.isawaitable(work):
                self._start_follow_up(work)

        return start

    def _start_follow_up(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._follow_ups.add(task)
        task.add_done_callback(self._follow_ups.discard)

    async def close(self) -> None:
        """End the follow-up work and the sampling still running (the connection is going away)."""
        tasks = [*self._follow_ups, *(sampler.task for sampler in self._samplers.values())]
        self._samplers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.reservations.close()

    async def call(self, payload: Any, **kwargs: Any) -> Any:
        """Send a CALL (the ChargePoint base class provides it)."""
        return await super().call(payload, **kwargs)  # type: ignore[misc]

    def _answer(
        self,
        action: str,
        payload: dict[str, Any],
        accepted: str = "Accepted",
        variant: str | None = None,
    ) -> str:
        """The status to answer: `answers` by action, or by "action/variant" first."""
        self.received.append((action, payload))
        if variant is not None and f"{action}/{variant}" in self.answers:
            return self.answers[f"{action}/{variant}"]
        return self.answers.get(action, accepted)

    def _take_local_list(
        self, version: int, update_type: str, entries: dict[str, str | None]
    ) -> str:
        """Apply a SendLocalList the way the specification says; returns its status."""
        status = self._answer(
            "SendLocalList", {"version": version, "update_type": update_type, "entries": entries}
        )
        if status != "Accepted":
            return status
        if update_type == "Differential" and version <= self.local_list_version:
            return "VersionMismatch"
        if update_type == "Full":
            self.local_list = {}
        for tag, tag_status in entries.items():
            if tag_status is None:
                self.local_list.pop(tag, None)
            else:
                self.local_list[tag] = tag_status
        self.local_list_version = version
        return "Accepted"

    # -- reservations (see `reservations`) ---------------------------------------------

    def take_reservation(
        self, payload: dict[str, Any], reservation_id: int, connector: int, id_tag: str, expiry: str
    ) -> str:
        """Answer a ReserveNow (`answers` may override) and hold it when accepted."""
        natural = self.reservations.answer(reservation_id, connector)
        status = self._answer("ReserveNow", payload, natural)
        if status == "Accepted":
            self.reservations.take(reservation_id, connector, id_tag, parse_expiry(expiry))
        return status

    async def reservation_taken(self, reservation_id: int) -> None:
        """After accepting a reservation: its connector reports Reserved."""
        held = self.reservations.held.get(reservation_id)
        if held is not None and held.connector:
            await self._detached(self.send_status(held.connector, "Reserved"))

    def cancel_reservation(self, reservation_id: int) -> str:
        """Answer a CancelReservation: Rejected for an id the charger does not hold."""
        natural = "Accepted" if reservation_id in self.reservations.held else "Rejected"
        status = self._answer("CancelReservation", {"reservation_id": reservation_id}, natural)
        held = self.reservations.cancel(reservation_id) if status == "Accepted" else None
        if held is not None and held.connector:
            self._released[reservation_id] = held.connector
        return status

    async def reservation_cancelled(self, reservation_id: int) -> None:
        """After a cancellation: the connector it held is Available again."""
        if (connector := self._released.pop(reservation_id, None)) is not None:
            await self._detached(self.send_status(connector, self.idle_status(connector)))

    async def _reservation_expired(self, reservation_id: int, held: HeldReservation) -> None:
        """Tell the central system a reservation expired (per version)."""
        raise NotImplementedError

    def idle_status(self, connector: int) -> str:
        """The status of a connector without a session: Reserved or Available."""
        return "Reserved" if self.reservations.reserved(connector) else "Available"

    async def _detached(self, work: Any) -> None:
        """Follow-up work after answering (nobody awaits it): a closing socket is fine."""
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await work

    # -- what a charger does ------------------------------------------------------------

    def _boot_payload(self) -> Any:
        raise NotImplementedError

    def _heartbeat_payload(self) -> Any:
        raise NotImplementedError

    async def boot(self) -> str:
        """Send a BootNotification; returns the status answered."""
        response = await self.call(self._boot_payload())
        self.boot_statuses.append(str(response.status))
        self.interval = int(response.interval) or self.interval
        return str(response.status)

    async def heartbeat(self) -> Any:
        """Send a Heartbeat."""
        return await self.call(self._heartbeat_payload())

    def offered_a(self) -> float:
        """The current the charger offers the car: its maximum, or the profile's limit."""
        if self.limit_a is None:
            return self.max_current_a
        offered = min(self.limit_a, self.max_current_a)
        if self.deviations.min_current_a is not None:
            offered = max(offered, self.deviations.min_current_a)
        return offered

    def power_w(self, connector: int) -> float:
        """What a session draws: what the car takes, at most what is offered, none when full."""
        if connector not in self.transactions or self.soc[connector] >= 100.0:
            return 0.0
        return min(self.car_max_w, self.offered_a() * VOLTAGE_V * self.phases)

    def now_text(self) -> str:
        """The charger's time as OCPP writes it, to the millisecond.

        Whole seconds would make two sessions that an accelerated clock starts within one
        second look like a charger sending the same StartTransaction twice.
        """
        moment = datetime.now(UTC) + timedelta(seconds=self._clock_ahead_s)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _mark_time(self, connector: int) -> None:
        """Time starts to pass for a connector now (its session began)."""
        self._time_passed_at[connector] = time.monotonic()

    def _let_time_pass(self, connector: int, seconds: float) -> None:
        """Move the clock ahead by what real time has not covered of `seconds`.

        Real time since the connector's last passage covers part (at speed 1, a scenario
        that sleeps its interval: all of it); the clock takes the rest.
        """
        now = time.monotonic()
        real = now - self._time_passed_at.get(connector, now)
        self._time_passed_at[connector] = now
        self._clock_ahead_s += max(seconds - real, 0.0)

    def advance(self, connector: int, seconds: float) -> float:
        """Let time pass: the register and the car's charge rise. Returns the power."""
        self._let_time_pass(connector, seconds)
        power = self.power_w(connector)
        energy = power * seconds / 3600
        self.energy_wh[connector] += energy
        self.soc[connector] = min(100.0, self.soc[connector] + energy / self.battery_wh * 100)
        return power

    # -- metering: its configuration, and sampling on its own -----------------------------

    def _sampling_configuration(self, preset_name: str) -> dict[str, str]:
        """The metering keys a preset starts with; "ours" has none (the old behaviour)."""
        preset = SAMPLING_PRESETS.get(preset_name)
        if preset is None:
            return {}
        keys = self.sampling_keys

        def supported(measurands: tuple[str, ...]) -> str:
            # A charger configures only what its meter can measure.
            return ",".join(m for m in measurands if m in self.supported_measurands)

        configuration = {
            keys.interval: str(preset.interval_s),
            keys.periodic: supported(preset.periodic),
            keys.begin: supported(preset.at_ends),
            keys.end: supported(preset.at_ends),
        }
        if self.measurands_max_length_key is not None:
            configuration[self.measurands_max_length_key] = str(len(self.supported_measurands))
        return configuration

    def _measurand_keys(self) -> set[str]:
        keys = self.sampling_keys
        return {keys.periodic, keys.begin, keys.end}

    def setting_accepted(self, key: str, value: str) -> bool:
        """Whether the charger takes `value` for `key`: only measurands its meter has.

        Read-only keys, measurands it cannot measure (or more than it can list) and
        intervals that are not whole seconds are refused; anything else is taken.
        """
        if key in self.read_only_keys:
            return False
        if key in self._measurand_keys():
            words = measurand_words(value)
            return len(words) <= len(self.supported_measurands) and all(
                word in self.supported_measurands for word in words
            )
        if key == self.sampling_keys.interval:
            return value.isascii() and value.strip().isdigit()
        return True

    def _configure(self, action: str, payload: dict[str, Any], key: str, value: str) -> str:
        """Answer a change of configuration (`answers` may override); apply it if accepted."""
        valid = self.setting_accepted(key, value)
        status = self._answer(action, payload, "Accepted" if valid else "Rejected")
        if status == "Accepted" and self.deviations.reboots_on_configuration:
            # Answers, then reboots before the change is kept.
            self._start_follow_up(self._detached(self._reboot_after_configuration()))
            return status
        if status == "Accepted":
            self.configuration[key] = value
            if key in self._measurand_keys() or key == self.sampling_keys.interval:
                # The ticks re-read their configuration now, not after the old interval.
                for sampler in self._samplers.values():
                    sampler.wake.set()
        return status

    def _configured_measurands(
        self, key: str, otherwise: tuple[str, ...] | None
    ) -> tuple[str, ...] | None:
        """The measurands configured under `key`, if the charger follows its configuration.

        `otherwise` (None: every measurand) when it does not, or lacks the key: then it
        does what it did before it had metering configuration.
        """
        if not self.autonomous_sampling or key not in self.configuration:
            return otherwise
        return tuple(measurand_words(self.configuration[key]))

    def sample_interval_s(self) -> int:
        """The configured seconds between periodic readings (0: none)."""
        value = self.configuration.get(self.sampling_keys.interval, "0").strip()
        return int(value) if value.isascii() and value.isdigit() else 0

    def _reading(
        self,
        connector: int,
        power: float,
        context: str | None = None,
        measurands: Collection[str] | None = None,
    ) -> dict[str, Any] | None:
        """A meter reading of `measurands` (None: all) that the meter has; None if none."""
        return self._only(self._meter_sample(connector, power, context), measurands)

    def _only(
        self, sample: dict[str, Any], measurands: Collection[str] | None
    ) -> dict[str, Any] | None:
        """`sample` cut to `measurands` (None: all) that the meter has; None if none."""
        wanted = set(self.supported_measurands)
        if measurands is not None:
            wanted &= set(measurands)
        values = [value for value in sample["sampled_value"] if value["measurand"] in wanted]
        if not values:
            return None  # an empty reading is not valid OCPP: send none
        return {**sample, "sampled_value": values}

    def catch_up(self, connector: int) -> float:
        """Let the simulated time since the last catch-up pass; returns the power.

        A charger that samples on its own measures time itself: its ticks (and a
        scenario driving it, see `__main__`) advance the model by what has passed on
        its clock, so time is never counted twice.
        """
        now = time.monotonic()
        last = self._advanced_at.get(connector, now)
        self._advanced_at[connector] = now
        return self.advance(connector, (now - last) * self.speed)

    async def _begin_sampling(self, connector: int, transaction_id: str) -> None:
        """Start the ticks of a session that has just started (if sampling on its own)."""
        self._mark_time(connector)
        if not self.autonomous_sampling:
            return
        await self._end_sampling(connector)  # a session replaced without an end
        # Time before the session drew nothing: the clock of the model starts now.
        self._advanced_at[connector] = time.monotonic()
        wake = asyncio.Event()
        task = asyncio.create_task(
            self._sample_periodically(connector, transaction_id, wake),
            name=f"{self.id} sampling connector {connector}",
        )
        self._samplers[connector] = _Sampler(task, wake)

    async def _end_sampling(self, connector: int) -> None:
        """Stop a session's ticks, letting a reading already on its way finish first.

        Cancelling a CALL in flight would leave its answer to confuse the next CALL;
        the caller waits for the call lock anyway.
        """
        sampler = self._samplers.pop(connector, None)
        if sampler is None or sampler.task is asyncio.current_task():
            return
        sampler.wake.set()
        await asyncio.wait([sampler.task])

    async def _sample_periodically(
        self, connector: int, transaction_id: str, wake: asyncio.Event
    ) -> None:
        """Send the configured readings every configured interval while the session runs."""
        while self.transactions.get(connector) == transaction_id:
            wake.clear()  # before reading the configuration, so no change is missed
            interval = self.sample_interval_s()
            try:
                # Woken early by a change: the interval starts again from the new value.
                await asyncio.wait_for(wake.wait(), interval / self.speed if interval else None)
                continue
            except TimeoutError:
                pass
            if self.transactions.get(connector) != transaction_id:
                return
            try:
                await self._send_periodic(connector, transaction_id)
            except ConnectionClosed:
                return  # the connection is gone; close() follows
            except TimeoutError:
                continue  # unanswered: a real charger would queue it; the next tick follows

    async def _send_periodic(self, connector: int, transaction_id: str) -> None:
        """Send one periodic reading of the configured measurands (per version)."""
        raise NotImplementedError

    async def send_status(self, connector: int, status: str) -> None:
        """Report a connector's status (1.6 words: Available, Preparing, Charging, ...)."""
        raise NotImplementedError

    async def authorize(self, id_tag: str) -> str:
        """Present a tag to the central system; returns its answer's status."""
        raise NotImplementedError

    async def _reboot_after_configuration(self) -> None:
        self.reboots_after_configuration += 1
        await self.reboot("PowerUp")

    async def reboot(self, reason: str) -> None:
        """Restart after a reset: running sessions end, then the charger boots again."""
        for connector in list(self.transactions):
            await self.stop_session(connector, reason)
        await self.boot()
        for connector in self.energy_wh:
            await self.send_status(connector, "Available")

    async def start_session(self, connector: int = 1, id_tag: str = "SIMTAG") -> str:
        """Start a session on a connector; returns its transaction id."""
        raise NotImplementedError

    async def send_meter_values(self, connector: int = 1, seconds: float = 60.0) -> None:
        """Report meter values after `seconds` of charging."""
        raise NotImplementedError

    async def stop_session(self, connector: int = 1, reason: str = "Local") -> None:
        """Stop the session on a connector."""
        raise NotImplementedError

    def _connector_of(self, transaction_id: Any) -> int | None:
        for connector, running in self.transactions.items():
            if str(running) == str(transaction_id):
                return connector
        return None

    def _take_profile(self, profile: dict[str, Any]) -> None:
        """Apply a profile's first limit (in A, or W converted) to the simulated power."""
        self.profiles.append(profile)
        self._received_at.append(time.monotonic())
        limit = self._profile_limit(profile)
        if limit is None:
            return
        if profile.get("charging_profile_purpose") == "TxDefaultProfile":
            # A session's own profile outranks the default while it runs.
            in_force = self._tx_profile_limit(time.monotonic())
            if in_force is not None:
                return
        self.limit_a = limit

    def _profile_limit(self, profile: dict[str, Any]) -> float | None:
        schedule = self._schedule(profile)
        if not schedule:
            return None
        limit = float(schedule["charging_schedule_period"][0]["limit"])
        unit = schedule.get("charging_rate_unit", "A")
        return limit if unit == "A" else limit / (VOLTAGE_V * self.phases)

    @staticmethod
    def _schedule(profile: dict[str, Any]) -> dict[str, Any] | None:
        schedule = profile.get("charging_schedule")
        if isinstance(schedule, list):  # 2.x: a list of schedules
            schedule = schedule[0]
        return schedule or None

    def limit_after(self, seconds: float) -> float | None:
        """The limit in force `seconds` from now, as profiles lapse.

        The newest TxProfile that has not run out, else the newest TxDefaultProfile:
        what a charger falls back to when the central system stops refreshing.
        """
        at = time.monotonic() + seconds
        session = self._tx_profile_limit(at)
        if session is not None:
            return session
        default = None
        for profile in self.profiles:
            if profile.get("charging_profile_purpose") == "TxDefaultProfile":
                default = self._profile_limit(profile)
        return default

    def _tx_profile_limit(self, at: float) -> float | None:
        """The newest TxProfile's limit, if one is still running at `at` (monotonic)."""
        session = None
        for received, profile in zip(self._received_at, self.profiles, strict=True):
            duration = (self._schedule(profile) or {}).get("duration")
            if profile.get("charging_profile_purpose") == "TxProfile" and (
                duration is None or received + duration > at
            ):
                session = self._profile_limit(profile)
        return session

    def _meter_sample(
        self, connector: int, power: float, context: str | None = None
    ) -> dict[str, Any]:
        raise NotImplementedError

    def _register_in_kwh(self, connector: int, context: str | None) -> bool:
        """Whether this reading gives the register in kWh without a unit (the bug twin).

        Only readings during a session, not those of its start and end: the firmware
        bug this copies is in one code path, not all.
        """
        return (
            self.kwh_without_unit
            and connector in self.transactions
            and context not in ("Transaction.Begin", "Transaction.End")
        )

    def composite_schedule(self, duration: int) -> dict[str, Any]:
        """What the charger will do: its current limit (or maximum) for the whole time."""
        return {
            "duration": duration,
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": self.offered_a()}],
        }

    # -- firmware and diagnostics, over HTTP ---------------------------------------------

    async def send_firmware_status(self, status: str, request_id: int | None) -> None:
        """Report firmware progress (1.6 and 2.x spell it differently)."""
        raise NotImplementedError

    async def send_upload_status(self, status: str, request_id: int | None) -> None:
        """Report diagnostics-upload progress."""
        raise NotImplementedError

    async def update_firmware(
        self,
        location: str,
        request_id: int | None = None,
        signature_check: Callable[[bytes], bool] | None = None,
    ) -> None:
        """Download firmware from `location` and 'install' it, reporting each step.

        Signed firmware (`signature_check`) is installed only when its signature holds.
        """
        await self.send_firmware_status("Downloading", request_id)
        try:
            async with aiohttp.ClientSession() as session, session.get(location) as response:
                response.raise_for_status()
                image = await response.read()
        except aiohttp.ClientError, TimeoutError, ValueError:
            await self.send_firmware_status("DownloadFailed", request_id)
            return
        await self.send_firmware_status("Downloaded", request_id)
        if signature_check is not None:
            verified = signature_check(image)
            await self.send_firmware_status(
                "SignatureVerified" if verified else "InvalidSignature", request_id
            )
            if not verified:
                return
        await self.send_firmware_status("Installing", request_id)
        self.firmware_version_installed = f"{self.firmware_version}+{len(image)}b"
        await self.send_firmware_status("Installed", request_id)

    def diagnostics_file_name(self) -> str:
        """The name of the diagnostics file this charger uploads."""
        return f"{self.id}-diagnostics.txt"

    async def upload_diagnostics(self, location: str, request_id: int | None = None) -> None:
        """Upload a diagnostics file to `location` (HTTP POST, multipart), reporting it."""
        await self.send_upload_status("Uploading", request_id)
        form = aiohttp.FormData()
        text = f"Simulated diagnostics of {self.id} at {self.now_text()}\n"
        form.add_field("file", text.encode(), filename=self.diagnostics_file_name())
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(location, data=form) as response,
            ):
                response.raise_for_status()
        except aiohttp.ClientError, TimeoutError, ValueError:
            await self.send_upload_status(self.upload_failed_status, request_id)
            return
        self.uploads.append(location)
        await self.send_upload_status("Uploaded", request_id)

    upload_failed_status = "UploadFailed"

    async def send_requested(self, message: str, connector: int | None) -> None:
        """Send what a TriggerMessage asked for (all connectors when none is named)."""
        connectors = [connector] if connector else list(self.energy_wh)
        match message:
            case "BootNotification":
                await self._detached(self.boot())
            case "StatusNotification":
                for each in connectors:
                    busy = "Charging" if each in self.transactions else self.idle_status(each)
                    await self._detached(self.send_status(each, busy))
            case "MeterValues":
                for each in connectors:
                    await self._detached(self.send_meter_values(each, 0))
            case "Heartbeat":
                await self._detached(self.heartbeat())
