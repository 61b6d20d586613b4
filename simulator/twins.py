"""Simulated twins of real chargers: the simulator behaving like a brand users reported.

Our simulator agrees with our central system because we wrote both. A twin makes it
say what a real charger says in its BootNotification and deviate from OCPP the way
that charger does (`Deviations`), so that tests prove the central system copes, with
the quirk profile `csms/quirks.py` chooses for it or without one. The reports behind
each twin are summarised in `docs/protocol.md` ("Quirk profiles").

`SimulatedCharger(..., twin="abb_terra_ac")` takes a twin; `deviations=` alone gives the
deviations under the simulator's own name (to test what a charger nobody profiled gets).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Deviations:
    """How a simulated charger departs from the specification."""

    # Refuses charging profiles above this stack level, whatever it reports.
    max_stack_level: int | None = None
    # Accepts a station-wide maximum profile and applies nothing of it.
    ignores_station_max: bool = False
    # Refuses profiles in amperes, while its configuration says it takes both units.
    watts_only: bool = False
    # Accepts a default profile for the whole station (connector 0) and ignores it: a
    # default profile takes effect only on this connector.
    default_profile_connector: int | None = None
    # Answers a remote start this many (real) seconds late; it starts all the same.
    remote_start_delay_s: float = 0.0
    # Accepts a configuration change, then reboots without having kept it.
    reboots_on_configuration: bool = False
    # Reports no connectors of its own (1.6 NumberOfConnectors 0), yet has one.
    reports_no_connectors: bool = False
    # Never offers less than this (A): a 0 A profile does not pause its session.
    min_current_a: float | None = None


@dataclass(frozen=True, slots=True)
class Twin:
    """What a brand's charger says about itself, and how it deviates."""

    vendor: str
    model: str
    firmware_version: str
    deviations: Deviations = field(default_factory=Deviations)
    # Its hardware's current rating, where the brand's is above the simulator's 16 A.
    max_current_a: float | None = None


TWINS: dict[str, Twin] = {
    # Refuses profiles above stack level 0; ignores ChargePointMaxProfile.
    "abb_terra_ac": Twin(
        "ABB",
        "TAC-W11-G5-R-0",
        "1.8.21",
        Deviations(max_stack_level=0, ignores_station_max=True),
    ),
    # Takes limits in watts only.
    "huawei_scharger": Twin(
        "HUAWEI", "SCharger-7KS-S0", "V100R022C10", Deviations(watts_only=True)
    ),
    # Ignores a default profile on connector 0: charging never starts.
    "en_plus": Twin("EN+", "37", "1.1.805", Deviations(default_profile_connector=1)),
    # Answers RemoteStartTransaction after the usual 30 s timeout (and starts anyway).
    "alfen": Twin("Alfen BV", "NG910-60023", "6.1.2-4151", Deviations(remote_start_delay_s=40.0)),
    # Reboots when its configuration is written, forgetting the change.
    "grizzl_e_firmware_5": Twin(
        "United Chargers", "GRS-14-40", "05.633", Deviations(reboots_on_configuration=True)
    ),
    # Accepts ChargePointMaxProfile and does not apply it.
    "grizzl_e_firmware_3": Twin(
        "United Chargers", "Grizzl-E Ultimate", "03.09.0", Deviations(ignores_station_max=True)
    ),
    # Does not pause at 0 A (6 A at least); like every simulated charger, it starts a
    # session only when told to (a test or the central system), never on plug-in.
    "wallbox": Twin(
        "Wall Box Chargers", "PLP1-0-2-4-9-002", "5.17.87", Deviations(min_current_a=6.0)
    ),
    # Reports zero connectors (it has one).
    "foxess": Twin("FoxESS", "A022KP1", "1.10", Deviations(reports_no_connectors=True)),
    # A 48 A charger, where other central systems cap the current limit at 32 A.
    "autel": Twin(
        "Autel", "MaxiChargerAC", "PFA0102|V0.00.00|V1.38.00||2.4.3.0", max_current_a=48.0
    ),
}
TWIN_CHOICES = tuple(TWINS)
