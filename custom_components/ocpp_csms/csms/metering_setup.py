"""What a charger is asked to sample, so that power shows and every session has its energy.

Chargers sample what their configuration says, and their defaults differ: some sample
nothing during a transaction, some every 30 or 60 s. Without being told, a 2.0.1
charger that samples nothing shows no power and journals its sessions with energy
unknown, and one that samples every 30 s journals a 20 s session as 0 kWh. So once a
charger's capabilities are learnt, the central system sets:

- the measurands sampled during a transaction and their interval (1.6
  `MeterValuesSampledData`, `MeterValueSampleInterval`; 2.x `SampledDataCtrlr/
  TxUpdatedMeasurands`, `TxUpdatedInterval`);
- the measurands sampled at a transaction's start and end (1.6 `StopTxnSampledData`;
  2.x `TxStartedMeasurands`, `TxEndedMeasurands`): the energy register there gives a
  session its energy however short it is.

Only what differs from what the charger reports is sent (each write may cost the
charger a flash write), only measurands it says it supports (2.x lists them; 1.6 has a
maximum count), and a refusal is never fatal: the list is tried again one shorter at a
time (the measurands come in order of importance, the last is dropped first), and what
is still refused is a station warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from .config_values import config_integer, config_words
from .station import Measurand

# Sampled during a transaction by default, most important first: the register gives the
# session's energy, power and current what the dashboard shows, voltage and state of
# charge what a user may chart.
DEFAULT_MEASURANDS: tuple[str, ...] = (
    Measurand.ENERGY_IMPORT_REGISTER,
    Measurand.POWER_IMPORT,
    Measurand.CURRENT_IMPORT,
    Measurand.VOLTAGE,
    Measurand.SOC,
)
# Every 10 s: power shows within seconds of a start, at about six messages a minute
# per charging charger (the load benchmark's 100 messages/s cost Home Assistant a few
# percent of a core).
DEFAULT_INTERVAL_S = 10
# At a transaction's start and end: the register alone.
DEFAULT_EDGE_MEASURANDS: tuple[str, ...] = (Measurand.ENERGY_IMPORT_REGISTER,)


@dataclass(frozen=True, slots=True)
class MeterWish:
    """What chargers should sample: during a transaction (how often) and at its edges.

    An empty tuple or None leaves that setting as the charger has it.
    """

    measurands: tuple[str, ...] = DEFAULT_MEASURANDS
    interval_s: int | None = DEFAULT_INTERVAL_S
    edge_measurands: tuple[str, ...] = DEFAULT_EDGE_MEASURANDS

    @property
    def empty(self) -> bool:
        """Whether nothing is to be set."""
        return not self.measurands and self.interval_s is None and not self.edge_measurands


@dataclass(frozen=True, slots=True)
class MeterKeys:
    """A version's configuration keys for metering."""

    sampled: str
    interval: str
    edges: tuple[str, ...]
    # 1.6: the most measurands one key may list.
    max_length: str | None = None


@dataclass(frozen=True, slots=True)
class MeterChange:
    """One setting to send: the values to try in turn until one is accepted."""

    key: str
    candidates: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MeterPlan:
    """The settings to send, and the keys wanted but not settable (a station warning)."""

    changes: tuple[MeterChange, ...]
    not_settable: tuple[str, ...]


def plan_meter_settings(
    wish: MeterWish,
    keys: MeterKeys,
    configuration: Mapping[str, str | None],
    read_only: AbstractSet[str],
    choices: Mapping[str, tuple[str, ...]],
) -> MeterPlan:
    """What to send a charger whose configuration is known, for `wish`.

    In this order: the measurands sampled during a transaction, their interval, then
    those at a transaction's edges.
    """
    plan = _Planning(configuration, read_only, choices)
    if keys.max_length:
        plan.max_length = config_integer(configuration.get(keys.max_length))
    plan.measurands(keys.sampled, wish.measurands)
    if wish.interval_s is not None:
        plan.interval(keys.interval, wish.interval_s)
    for key in keys.edges:
        plan.measurands(key, wish.edge_measurands)
    return MeterPlan(tuple(plan.changes), tuple(plan.not_settable))


@dataclass(slots=True)
class _Planning:
    configuration: Mapping[str, str | None]
    read_only: AbstractSet[str]
    choices: Mapping[str, tuple[str, ...]]
    max_length: int | None = None
    changes: list[MeterChange] = field(default_factory=list)
    not_settable: list[str] = field(default_factory=list)

    def settable(self, key: str) -> bool:
        if key in self.configuration and key not in self.read_only:
            return True
        self.not_settable.append(key)
        return False

    def interval(self, key: str, seconds: int) -> None:
        if self.settable(key) and config_integer(self.configuration.get(key)) != seconds:
            self.changes.append(MeterChange(key, (str(seconds),)))

    def measurands(self, key: str, wanted: tuple[str, ...]) -> None:
        if not wanted or not self.settable(key):
            return
        if supported := self.choices.get(key):
            wanted = tuple(measurand for measurand in wanted if measurand in supported)
        if self.max_length is not None and self.max_length > 0:
            wanted = wanted[: self.max_length]
        if not wanted or set(wanted) == set(config_words(self.configuration.get(key))):
            return
        # Shorter lists to fall back to, for a charger that refuses one measurand of
        # them: one fewer each time, the least important first.
        lengths = range(len(wanted), 0, -1)
        self.changes.append(MeterChange(key, tuple(",".join(wanted[:n]) for n in lengths)))
