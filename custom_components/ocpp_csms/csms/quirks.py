"""Known deviations of real chargers, declared per vendor/model, applied in few places.

Real chargers bend the specification in ways users of other central systems have
documented (see `docs/protocol.md`, "Quirk profiles"). Rather than brand-specific `if`s
through the engine, a charger gets one `Quirks` value: chosen from its
BootNotification by `PROFILES` (or named in its settings), shown in diagnostics, and
read in exactly these places:

- `adapt_command`: every command on its way out (`StationAdapter.execute`), e.g. the
  stack level a charger takes, the unit of its limits, the connector its station-wide
  default profile goes to;
- `adapt_capabilities`: what was learnt of the charger, corrected where it says one
  thing and does another (e.g. claims to take amperes);
- `command_timeout`: commands a charger is known to answer slowly;
- the fields read by name where a behaviour is chosen (`configure_metering`,
  `limit_in_default_profile`, `starts_only_remotely`, `pauses_at_zero_current`).

A behaviour handled for every charger (a charger that reconnects every minute, one that
reports no connectors) needs no profile: the tests with its simulated twin prove it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .commands import (
    ChargingProfile,
    ClearChargingProfile,
    Command,
    GetCompositeSchedule,
    ProfilePurpose,
    RemoteStart,
    SetChargingProfile,
)
from .station_facts import BootInfo, Capabilities

STANDARD = "standard"
# The profile named in a charger's settings when the BootNotification chooses.
AUTOMATIC = "automatic"


@dataclass(frozen=True, slots=True)
class Quirks:
    """How one kind of charger deviates, and what the central system does about it.

    The defaults are a charger that follows the specification.
    """

    key: str = STANDARD
    # The highest stack level the charger takes, whatever it reports; profiles above
    # are sent at this level (ABB Terra AC refuses anything above 0).
    max_stack_level: int | None = None
    # The units its profiles must use, whatever it reports (Huawei SCharger: W only).
    rate_units: frozenset[str] | None = None
    # Where a default profile meant for the whole station (EVSE 0) goes instead: some
    # chargers accept one on connector 0 and never start charging (EN+: connector 1).
    station_default_profile_evse: int | None = None
    # The charger accepts a station-wide maximum profile and ignores it (ABB Terra AC,
    # Grizzl-E firmware 3): the current limit goes in its default profile instead.
    limit_in_default_profile: bool = False
    # Seconds to wait for the answer to a remote start (Alfen answers it late).
    remote_start_timeout_s: float | None = None
    # Whether the central system may write the charger's metering settings (a
    # Grizzl-E on firmware 5 reboots when its configuration is written).
    configure_metering: bool = True
    # The charger starts a session only when told to (RemoteStart), not when a car is
    # plugged in (Wallbox): the central system starts it (`plug_in`).
    starts_only_remotely: bool = False
    # Whether a 0 A limit pauses a session; a Wallbox goes on at 6 A, so a pause
    # stops the session instead and a remote start resumes it (`site`).
    pauses_at_zero_current: bool = True

    def differences(self) -> dict[str, object]:
        """What this profile changes from the standard behaviour (for diagnostics)."""
        standard = Quirks()
        return {
            field.name: _plain(getattr(self, field.name))
            for field in dataclasses.fields(self)
            if field.name != "key" and getattr(self, field.name) != getattr(standard, field.name)
        }


def _plain(value: object) -> object:
    return sorted(value) if isinstance(value, frozenset) else value


@dataclass(frozen=True, slots=True)
class QuirkProfile:
    """A quirk set and the chargers it applies to (case-insensitive regexes)."""

    quirks: Quirks
    vendor: str
    model: str = ""
    firmware: str = ""

    def matches(self, boot: BootInfo) -> bool:
        """Whether a charger that booted with `boot` is one of these."""
        return bool(
            re.search(self.vendor, boot.vendor, re.IGNORECASE)
            and re.search(self.model, boot.model, re.IGNORECASE)
            and re.search(self.firmware, boot.firmware_version or "", re.IGNORECASE)
        )


# The first profile that matches applies. Sources: the users' reports summarised in
# docs/protocol.md ("Quirk profiles"); each has a simulated twin in simulator/twins.py.
PROFILES: tuple[QuirkProfile, ...] = (
    QuirkProfile(
        Quirks("abb_terra_ac", max_stack_level=0, limit_in_default_profile=True),
        vendor=r"^ABB",
        model=r"TAC|Terra ?AC",
    ),
    QuirkProfile(
        Quirks("huawei_scharger", rate_units=frozenset({"W"})),
        vendor=r"huawei",
        model=r"SCharger",
    ),
    QuirkProfile(Quirks("en_plus", station_default_profile_evse=1), vendor=r"^EN\+|^EN ?Plus"),
    QuirkProfile(Quirks("alfen", remote_start_timeout_s=90.0), vendor=r"^Alfen"),
    QuirkProfile(
        Quirks("wallbox", starts_only_remotely=True, pauses_at_zero_current=False),
        vendor=r"^Wall ?box",
    ),
    QuirkProfile(
        Quirks("grizzl_e_firmware_5", configure_metering=False),
        vendor=r"United ?Chargers|Grizzl",
        firmware=r"^0?5\.",
    ),
    QuirkProfile(
        Quirks("grizzl_e_firmware_3", limit_in_default_profile=True),
        vendor=r"United ?Chargers|Grizzl",
        firmware=r"^0?3\.",
    ),
)

BY_KEY: dict[str, Quirks] = {
    STANDARD: Quirks(),
    **{profile.quirks.key: profile.quirks for profile in PROFILES},
}


def quirks_for(boot: BootInfo | None, chosen: str | None = None) -> Quirks:
    """The quirks of a charger: the profile its settings name, else its boot's match.

    An unknown name (a profile since removed) counts as automatic.
    """
    if chosen and chosen != AUTOMATIC and chosen in BY_KEY:
        return BY_KEY[chosen]
    if boot is not None:
        for profile in PROFILES:
            if profile.matches(boot):
                return profile.quirks
    return BY_KEY[STANDARD]


def adapt_capabilities(quirks: Quirks, capabilities: Capabilities) -> Capabilities:
    """What the charger can do, corrected where its profile knows better."""
    units = quirks.rate_units or capabilities.charging_rate_units
    stack_level = capabilities.max_stack_level
    if quirks.max_stack_level is not None:
        stack_level = min(stack_level or quirks.max_stack_level, quirks.max_stack_level)
    return dataclasses.replace(capabilities, charging_rate_units=units, max_stack_level=stack_level)


def adapt_command(quirks: Quirks, command: Command) -> Command:
    """A command as this charger needs to receive it to do what was meant."""
    match command:
        case SetChargingProfile(evse_id=evse_id, profile=profile):
            adapted_evse = _station_default_evse(quirks, evse_id, profile.purpose)
            adapted = _adapt_profile(quirks, profile)
            if (adapted_evse, adapted) != (evse_id, profile):
                return SetChargingProfile(adapted_evse, adapted)
        case RemoteStart(profile=ChargingProfile() as profile):
            if (adapted := _adapt_profile(quirks, profile)) is not profile:
                return dataclasses.replace(command, profile=adapted)
        case ClearChargingProfile(evse_id=0, purpose=ProfilePurpose.TX_DEFAULT) if (
            quirks.station_default_profile_evse
        ):
            return dataclasses.replace(command, evse_id=quirks.station_default_profile_evse)
        case GetCompositeSchedule(evse_id=0) if quirks.station_default_profile_evse:
            # Its default profile lives on that connector: ask there what it applies.
            return dataclasses.replace(command, evse_id=quirks.station_default_profile_evse)
    return command


def command_timeout(quirks: Quirks, command: Command, timeout: float | None) -> float | None:
    """How long to wait for the answer to `command` (None: the usual)."""
    if isinstance(command, RemoteStart) and quirks.remote_start_timeout_s is not None:
        return max(timeout or 0.0, quirks.remote_start_timeout_s)
    return timeout


def _station_default_evse(quirks: Quirks, evse_id: int, purpose: ProfilePurpose) -> int:
    if evse_id == 0 and purpose is ProfilePurpose.TX_DEFAULT:
        return quirks.station_default_profile_evse or 0
    return evse_id


def _adapt_profile(quirks: Quirks, profile: ChargingProfile) -> ChargingProfile:
    # The unit is chosen where the limit is made (`charging.in_charger_unit` reads the
    # adapted capabilities): converting here would need the voltage and the phases.
    if quirks.max_stack_level is not None and profile.stack_level > quirks.max_stack_level:
        return dataclasses.replace(profile, stack_level=quirks.max_stack_level)
    return profile
