"""A charger's upstream (see `upstream`): its settings, state and reconnect waits."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import quote

from .station import OcppVersion

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 300.0


class CommandPolicy(StrEnum):
    """What the upstream may have the charger do."""

    MIRROR_ONLY = "mirror_only"  # nothing: it only watches
    SESSIONS_AND_AUTH = "sessions_and_auth"  # its authorizations and start/stop count too
    FULL = "full"  # its commands pass the allow-list (`UpstreamSettings.allowed_commands`)


# Every command a central system may send a charger, by OCPP action name (1.6 with the
# security extension, 2.0.1 and 2.1): what an allow-list can name.
UPSTREAM_COMMANDS_16 = (
    "CancelReservation", "CertificateSigned", "ChangeAvailability", "ChangeConfiguration",
    "ClearCache", "ClearChargingProfile", "DataTransfer", "DeleteCertificate",
    "ExtendedTriggerMessage", "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics",
    "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "InstallCertificate",
    "RemoteStartTransaction", "RemoteStopTransaction", "ReserveNow", "Reset",
    "SendLocalList", "SetChargingProfile", "SignedUpdateFirmware", "TriggerMessage",
    "UnlockConnector", "UpdateFirmware",
)  # fmt: skip
UPSTREAM_COMMANDS_2X = (
    "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache",
    "ClearChargingProfile", "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated",
    "CustomerInformation", "DataTransfer", "DeleteCertificate", "GetBaseReport",
    "GetChargingProfiles", "GetCompositeSchedule", "GetDisplayMessages",
    "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "GetMonitoringReport",
    "GetReport", "GetTransactionStatus", "GetVariables", "InstallCertificate",
    "PublishFirmware", "RequestStartTransaction", "RequestStopTransaction", "ReserveNow",
    "Reset", "SendLocalList", "SetChargingProfile", "SetDisplayMessage",
    "SetMonitoringBase", "SetMonitoringLevel", "SetNetworkProfile", "SetVariableMonitoring",
    "SetVariables", "TriggerMessage", "UnlockConnector", "UnpublishFirmware",
    "UpdateFirmware",
)  # fmt: skip

# Off by default and flagged in the settings: they can brick, reboot or reconfigure the
# charger, change what it trusts, or fight our own balancing, tags and reservations.
DANGEROUS_COMMANDS = frozenset(
    {
        "UpdateFirmware", "SignedUpdateFirmware", "PublishFirmware", "UnpublishFirmware",
        "Reset", "ChangeConfiguration", "SetVariables", "SetNetworkProfile",
        "ChangeAvailability", "InstallCertificate", "DeleteCertificate", "CertificateSigned",
        "SetChargingProfile", "ClearChargingProfile", "SendLocalList", "ClearCache",
        "CustomerInformation", "SetMonitoringBase", "SetMonitoringLevel",
        "SetVariableMonitoring", "ClearVariableMonitoring",
    }
)  # fmt: skip
# What an upstream under FULL may send unless the user says otherwise: reading, starting
# and stopping sessions, asking for messages and logs. Not DataTransfer: what it does is
# the vendor's (some reconfigure or reboot the charger with it), so the user names it.
DEFAULT_ALLOWED_COMMANDS = frozenset(
    {
        "RemoteStartTransaction", "RemoteStopTransaction", "RequestStartTransaction",
        "RequestStopTransaction", "TriggerMessage", "ExtendedTriggerMessage",
        "GetConfiguration", "GetVariables", "GetBaseReport", "GetReport",
        "GetCompositeSchedule", "GetChargingProfiles", "GetLocalListVersion",
        "GetInstalledCertificateIds", "GetTransactionStatus", "GetDiagnostics", "GetLog",
        "GetDisplayMessages", "GetMonitoringReport", "UnlockConnector",
    }
)  # fmt: skip
# What an upstream under SESSIONS_AND_AUTH may send: starting and stopping sessions.
SESSION_COMMANDS = frozenset(
    {
        "RemoteStartTransaction", "RemoteStopTransaction", "RequestStartTransaction",
        "RequestStopTransaction",
    }
)  # fmt: skip


def upstream_commands(version: OcppVersion) -> tuple[str, ...]:
    """The commands an upstream of this version could send (what an allow-list names)."""
    return UPSTREAM_COMMANDS_2X if version.is_2x else UPSTREAM_COMMANDS_16


class UpstreamState(StrEnum):
    """Where the link to the upstream stands."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    UNREACHABLE = "unreachable"  # no connection, or it dropped
    CREDENTIALS_REFUSED = "credentials_refused"  # HTTP 401 / 403: the password, or the id
    REFUSED = "refused"  # another HTTP answer instead of a WebSocket
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    """One charger's upstream: where, as whom, in which version and with what rights."""

    url: str
    charge_point_id: str
    version: OcppVersion
    # Not in the repr: settings end up in logs, tracebacks and failed assertions.
    password: str | None = field(default=None, repr=False)
    policy: CommandPolicy = CommandPolicy.MIRROR_ONLY
    # Under FULL: the commands that may reach the charger (the others are refused).
    allowed_commands: frozenset[str] = DEFAULT_ALLOWED_COMMANDS

    def __post_init__(self) -> None:
        """Refuse what cannot be an upstream."""
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError("an upstream URL starts with ws:// or wss://")
        if not self.charge_point_id:
            raise ValueError("an upstream needs a charge point id")

    @property
    def endpoint(self) -> str:
        """The URL with the charge point id as its last segment."""
        return f"{self.url.rstrip('/')}/{quote(self.charge_point_id, safe='')}"

    def headers(self) -> dict[str, str]:
        """HTTP Basic authentication (security profiles 1 and 2), when there is a password."""
        if self.password is None:
            return {}
        token = base64.b64encode(f"{self.charge_point_id}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


@dataclass(frozen=True, slots=True)
class UpstreamStatus:
    """What Home Assistant shows of a link."""

    state: UpstreamState
    queued: int = 0
    dropped: int = 0
    last_error: str = ""
    commands_refused: int = 0
    relayed: int = 0
    # Transaction messages the upstream kept refusing (or that would have carried a 1.6
    # transaction id it never issued), taken out of the queue so the rest goes on.
    set_aside: int = 0

    @property
    def connected(self) -> bool:
        """Whether the upstream is connected now."""
        return self.state is UpstreamState.CONNECTED


class Backoff:
    """Exponential waits with jitter: first, doubling, capped; each drawn in [half, whole]."""

    def __init__(
        self,
        first: float = BACKOFF_FIRST_S,
        cap: float = BACKOFF_MAX_S,
        rng: Callable[[], float] = random.random,
    ) -> None:
        """Start at `first`."""
        self._first, self._cap, self._rng = first, cap, rng
        self._attempt = 0

    def next(self) -> float:
        """The wait before the next attempt."""
        whole = min(self._cap, self._first * float(2 ** min(self._attempt, 30)))
        self._attempt += 1
        return whole * (0.5 + 0.5 * self._rng())

    def reset(self) -> None:
        """A connection succeeded: start over."""
        self._attempt = 0
