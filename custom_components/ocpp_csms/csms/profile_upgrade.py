"""Moving a charger from security profile 1 or 2 to 3 (TLS with its client certificate).

The steps, each reported as a `StepResult`:

1. **Client certificate.** Profile 3 needs a certificate from our CA. `CertificatePolicy`
   says when to ask the charger for one first (`RequestCertificateSigning`, then its
   CSR is signed as any other, see `certificate_messages`): AUTO asks unless we signed
   one for it in this run that is installed and valid for another
   `CERTIFICATE_MARGIN`; REQUEST always asks; PRESENT trusts that it holds one (given
   by hand). We wait at most `UpgradeOptions.certificate_timeout_s` for the certificate
   to be signed and installed.
2. **Our setting** (`ProfileSetting.set`): from here on the charger is admitted only
   with its certificate, and the server asks for client certificates. Its current
   connection stays open: admission happens when a charger connects.
3. **The charger's setting.** 1.6 (security extension): ChangeConfiguration
   `SecurityProfile` = 3, after which the charger disconnects and comes back on
   profile 3. 2.x: `SecurityCtrlr.SecurityProfile` is read-only, so a new network
   profile goes into a free slot (`SetNetworkProfile`: the URL it reached us at,
   profile 3), the slot is put first in `OCPPCommCtrlr.NetworkConfigurationPriority`
   (its old slots stay behind it, to fall back on: a charger that does not tell its
   list is not upgraded), and a `Reset` OnIdle makes the charger connect with it
   (Scheduled: after the running session).
4. **Reconnection** (not after a scheduled Reset). We wait at most
   `reconnect_timeout_s` for the charger's new connection; not seeing it in time is no
   failure (it may take longer), only said.

A step the charger refuses (or that fails, times out, or finds it offline) ends the
upgrade with `UpgradeRefused`, after our setting went back to what it was
(`ProfileSetting.restore`), and on 2.x, when it refused the Reset, after its old
priority list was written back. Except once the charger may be moving to profile 3
(it was sent 1.6 `SecurityProfile` or the 2.x priority list): if it then does not
answer (timed out, gone), or the upgrade is cancelled, nobody knows which profile it
will come back on, and our setting stays on 3 (`UpgradeRefused.kept`). One upgrade
per charger at a time: a second one could restore what the first made good. Nothing
here knows Home Assistant: the setting is a callback pair.

Waiting polls the station four times a second: the engine tells only its one listener
of changes, and an upgrade is rare and short.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn, Protocol

from .commands import (
    Command,
    CommandResult,
    CommandStatus,
    GetConfiguration,
    RequestCertificateSigning,
    Reset,
    SetConfiguration,
    SetNetworkProfile,
)
from .host import SecurityProfile
from .station import ClientCertificate, Station

_LOGGER = logging.getLogger(__name__)

PRIORITY_VARIABLE = "OCPPCommCtrlr/NetworkConfigurationPriority"
SECURITY_PROFILE_KEY_16 = "SecurityProfile"
# A certificate that ends within this margin is renewed before the upgrade.
CERTIFICATE_MARGIN = dt.timedelta(days=7)
POLL_S = 0.25
# The slots a 2.x charger may hold: OCPP gives no bound, chargers have a handful.
MAX_SLOT = 99
# No answer: the charger may or may not have done what it was told.
_UNANSWERED = (CommandStatus.TIMED_OUT, CommandStatus.OFFLINE)


class CertificatePolicy(StrEnum):
    """When the upgrade asks the charger for a new client certificate first."""

    AUTO = "auto"  # unless we signed one for it in this run, installed and valid
    REQUEST = "request"  # always
    PRESENT = "present"  # never: it holds one from our CA already (installed by hand)


class UpgradeStep(StrEnum):
    """The steps of an upgrade, in the order they run."""

    CLIENT_CERTIFICATE = "client_certificate"
    PROFILE_SETTING = "profile_setting"  # ours: admitted with its certificate only
    SECURITY_PROFILE = "security_profile"  # 1.6 ChangeConfiguration SecurityProfile
    NETWORK_PROFILE = "network_profile"  # 2.x SetNetworkProfile
    NETWORK_PRIORITY = "network_priority"  # 2.x NetworkConfigurationPriority
    RESET = "reset"  # 2.x
    RECONNECT = "reconnect"


class Outcome(StrEnum):
    """How a step ended, when it did not end the upgrade."""

    DONE = "done"
    SIGNED = "signed"  # a certificate was requested, signed and installed
    ALREADY_SIGNED = "already_signed"  # we signed one in this run; kept
    ASSUMED = "assumed"  # CertificatePolicy.PRESENT
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"  # 2.x Reset: after the running session
    RECONNECTED = "reconnected"
    NOT_YET = "not_yet"  # no new connection within the wait


class Problem(StrEnum):
    """Why an upgrade stopped without the charger's own refusal word."""

    OFFLINE = "offline"
    NOT_TLS = "not_tls"  # the charger did not reach us over TLS
    NO_CERTIFICATE = "no_certificate"  # none came in time
    CERTIFICATE_REFUSED = "certificate_refused"  # its CSR did not pass our checks
    CERTIFICATE_NOT_INSTALLED = "certificate_not_installed"  # it refused the signed one
    NO_FREE_SLOT = "no_free_slot"
    PRIORITY_UNKNOWN = "priority_unknown"  # 2.x: it did not tell its priority list
    IN_PROGRESS = "in_progress"  # another upgrade of the charger is under way


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step that went through."""

    step: UpgradeStep
    outcome: Outcome
    detail: str = ""


class UpgradeRefused(Exception):
    """The upgrade stopped at `step`: the charger's answer (`result`) or a `problem`.

    `done` holds the steps that went through before. Our setting was restored, unless
    `kept`: the charger did not answer a step after which it may be moving to profile
    3, so it stays on 3. `priority_left` (2.x): the charger refused to take back its
    old priority list, this one, after refusing the Reset; it still puts the new slot
    first.
    """

    def __init__(
        self,
        step: UpgradeStep,
        done: list[StepResult],
        *,
        result: CommandResult | None = None,
        problem: Problem | None = None,
        kept: bool = False,
        priority_left: str | None = None,
    ) -> None:
        """A stop at `step`, for `result` or `problem`."""
        why = problem.value if problem else (result.status.value if result else "?")
        super().__init__(f"upgrade stopped at {step.value}: {why}")
        self.step = step
        self.done = done
        self.result = result
        self.problem = problem
        self.kept = kept
        self.priority_left = priority_left


@dataclass(frozen=True, slots=True)
class UpgradeOptions:
    """How an upgrade goes; the defaults suit most chargers."""

    certificate: CertificatePolicy = CertificatePolicy.AUTO
    certificate_timeout_s: float = 60.0
    reconnect_timeout_s: float = 60.0
    # 2.x network profile: None takes the URL the charger reached us at.
    csms_url: str | None = None
    ocpp_interface: str = "Wired0"
    message_timeout_s: int = 30
    slot: int | None = None  # None: the lowest free one from 1


class ProfileSetting(Protocol):
    """Our record of the charger's profile (kept by whoever runs the central system)."""

    async def set(self, profile: SecurityProfile) -> None:
        """Record `profile` for the charger; its next connection is checked by it."""

    async def restore(self) -> None:
        """Put back the profile recorded before `set` (unless changed since by someone else)."""


class UpgradeHost(Protocol):
    """What an upgrade asks of the central system."""

    @property
    def stations(self) -> Mapping[str, Station]:
        """Every station, by charger id."""

    def connection(self, charger_id: str) -> object | None:
        """The charger's live connection (compared by identity only), or None."""

    async def execute(self, charger_id: str, command: Command) -> CommandResult:
        """Send a command; never raises."""


def holds_fresh_certificate(station: Station, now: dt.datetime | None = None) -> bool:
    """Whether we signed a certificate for it in this run, installed and not ending soon."""
    kept = station.client_certificate
    now = now or dt.datetime.now(dt.UTC)
    return kept is not None and kept.installed and kept.facts.not_after - CERTIFICATE_MARGIN > now


def free_slot(priority: str | None) -> int | None:
    """The lowest slot from 1 that a priority list ("1,0") does not name; None: all used."""
    used = {word.strip() for word in (priority or "").split(",")}
    return next((slot for slot in range(1, MAX_SLOT + 1) if str(slot) not in used), None)


class CertificateNotObtained(Exception):
    """No new client certificate: the charger refused to ask (`result`), or `problem`."""

    def __init__(self, result: CommandResult | None = None, problem: Problem | None = None) -> None:
        """Why no certificate came."""
        super().__init__(problem.value if problem else f"request {result}")
        self.result = result
        self.problem = problem


async def request_client_certificate(
    host: UpgradeHost, charger_id: str, timeout_s: float
) -> ClientCertificate:
    """Ask the charger for a CSR and wait for the certificate we sign to be installed.

    Raises CertificateNotObtained: the charger refused the request (or was offline,
    silent), sent no CSR in time, sent one we refused, or refused the certificate.
    """
    station = host.stations.get(charger_id)
    if station is None:
        raise CertificateNotObtained(problem=Problem.OFFLINE)
    before = station.client_certificate
    refused_before = station.warnings.get("certificate_refused", 0)
    result = await host.execute(charger_id, RequestCertificateSigning())
    if not result.accepted:
        raise CertificateNotObtained(result)
    deadline = time.monotonic() + timeout_s
    while (kept := station.client_certificate) is before:
        if station.warnings.get("certificate_refused", 0) > refused_before:
            raise CertificateNotObtained(problem=Problem.CERTIFICATE_REFUSED)
        if time.monotonic() >= deadline:
            raise CertificateNotObtained(problem=Problem.NO_CERTIFICATE)
        await asyncio.sleep(POLL_S)
    if kept is None or not kept.installed:
        raise CertificateNotObtained(problem=Problem.CERTIFICATE_NOT_INSTALLED)
    return kept


# The chargers being upgraded, per host.
_UPGRADING: weakref.WeakKeyDictionary[UpgradeHost, set[str]] = weakref.WeakKeyDictionary()


class ProfileUpgrade:
    """One charger's move to security profile 3; `run` returns the steps' results."""

    def __init__(
        self,
        host: UpgradeHost,
        charger_id: str,
        setting: ProfileSetting,
        options: UpgradeOptions | None = None,
    ) -> None:
        """Upgrade `charger_id` through `host`, recording the profile in `setting`."""
        self._host = host
        self._id = charger_id
        self._setting = setting
        self._options = options or UpgradeOptions()
        self._done: list[StepResult] = []
        self._setting_changed = False
        # Once the charger was told to move (1.6 SecurityProfile, 2.x the priority
        # list), it may come back on profile 3 whatever we hear next.
        self._committed = False

    async def run(self) -> list[StepResult]:
        """Every step in turn; raises UpgradeRefused (see there for our setting)."""
        station = self._host.stations.get(self._id)
        if station is None or not station.connected:
            raise UpgradeRefused(UpgradeStep.CLIENT_CERTIFICATE, [], problem=Problem.OFFLINE)
        url = self._options.csms_url or station.central_system_url
        if url is None or not url.startswith("wss://"):
            raise UpgradeRefused(UpgradeStep.CLIENT_CERTIFICATE, [], problem=Problem.NOT_TLS)
        upgrading = _UPGRADING.setdefault(self._host, set())
        if self._id in upgrading:
            raise UpgradeRefused(UpgradeStep.CLIENT_CERTIFICATE, [], problem=Problem.IN_PROGRESS)
        upgrading.add(self._id)
        try:
            return await self._steps(station, url)
        finally:
            upgrading.discard(self._id)

    async def _steps(self, station: Station, url: str) -> list[StepResult]:
        try:
            await self._client_certificate(station)
            await self._setting.set(SecurityProfile.TLS_CLIENT_CERTIFICATE)
            self._setting_changed = True
            self._passed(UpgradeStep.PROFILE_SETTING, Outcome.DONE)
            connection = self._host.connection(self._id)
            if station.version.is_2x:
                immediate = await self._network_profile(station, url)
            else:
                self._committed = True
                await self._command(
                    UpgradeStep.SECURITY_PROFILE,
                    SetConfiguration(SECURITY_PROFILE_KEY_16, "3"),
                )
                immediate = True
        except UpgradeRefused as refused:
            if not refused.kept:
                await self._restore()
            raise
        except BaseException:
            # Cancelled (Home Assistant stops, the script calling it was stopped) or a
            # fault: the same rule as an unanswered step.
            await self._interrupted()
            raise
        if immediate:
            await self._reconnection(connection)
        return list(self._done)

    # -- the steps ---------------------------------------------------------------------

    async def _client_certificate(self, station: Station) -> None:
        step = UpgradeStep.CLIENT_CERTIFICATE
        policy = self._options.certificate
        if policy is CertificatePolicy.PRESENT:
            self._passed(step, Outcome.ASSUMED)
            return
        if policy is CertificatePolicy.AUTO and holds_fresh_certificate(station):
            self._passed(step, Outcome.ALREADY_SIGNED)
            return
        try:
            await request_client_certificate(
                self._host, self._id, self._options.certificate_timeout_s
            )
        except CertificateNotObtained as missing:
            self._refuse(step, result=missing.result, problem=missing.problem)
        self._passed(step, Outcome.SIGNED)

    async def _network_profile(self, station: Station, url: str) -> bool:
        """2.x: a new slot on profile 3, put first, and a reset; whether it is immediate."""
        options = self._options
        read = await self._host.execute(self._id, GetConfiguration((PRIORITY_VARIABLE,)))
        found = read.data.get("configuration", {}).get(PRIORITY_VARIABLE) if read.accepted else None
        priority = found.get("value") if isinstance(found, dict) else None
        if not isinstance(priority, str):
            # Unreadable: the base report's value, if it gave one.
            priority = station.configuration.get(PRIORITY_VARIABLE)
        if priority is None or not priority.strip():
            # Our slot alone would drop the slots it falls back on (and the lowest
            # "free" one might be the one it uses).
            self._refuse(UpgradeStep.NETWORK_PROFILE, problem=Problem.PRIORITY_UNKNOWN)
        slot = options.slot if options.slot is not None else free_slot(priority)
        if slot is None:
            self._refuse(UpgradeStep.NETWORK_PROFILE, problem=Problem.NO_FREE_SLOT)
        await self._command(
            UpgradeStep.NETWORK_PROFILE,
            SetNetworkProfile(
                slot,
                url,
                SecurityProfile.TLS_CLIENT_CERTIFICATE.value,
                options.ocpp_interface,
                options.message_timeout_s,
            ),
            detail=f"slot {slot}",
        )
        behind = [word.strip() for word in priority.split(",") if word.strip()]
        order = ",".join([str(slot), *(word for word in behind if word != str(slot))])
        self._committed = True
        await self._command(
            UpgradeStep.NETWORK_PRIORITY, SetConfiguration(PRIORITY_VARIABLE, order), detail=order
        )
        try:
            reset = await self._command(UpgradeStep.RESET, Reset(hard=False), record=False)
        except UpgradeRefused as refused:
            if refused.kept:
                raise
            # It stays as it is: so should its priority list, or its next restart
            # tries the new slot first.
            put_back = await self._host.execute(
                self._id, SetConfiguration(PRIORITY_VARIABLE, priority)
            )
            refused.priority_left = None if put_back.accepted else order
            raise
        scheduled = reset.detail == "Scheduled"
        self._passed(UpgradeStep.RESET, Outcome.SCHEDULED if scheduled else Outcome.ACCEPTED)
        return not scheduled

    async def _reconnection(self, before: object | None) -> None:
        """Wait a while for the charger's new connection (admitted by its certificate)."""
        deadline = time.monotonic() + self._options.reconnect_timeout_s
        while True:
            now = self._host.connection(self._id)
            if now is not None and now is not before:
                self._passed(UpgradeStep.RECONNECT, Outcome.RECONNECTED)
                return
            if time.monotonic() >= deadline:
                self._passed(UpgradeStep.RECONNECT, Outcome.NOT_YET)
                return
            await asyncio.sleep(POLL_S)

    # -- helpers -----------------------------------------------------------------------

    async def _restore(self) -> None:
        if self._setting_changed:
            await self._setting.restore()

    async def _interrupted(self) -> None:
        """The upgrade ends without an answer: restore our setting unless it is too late."""
        where = self._done[-1].step.value if self._done else "the start"
        if self._committed:
            _LOGGER.warning(
                "Charger %s: its upgrade to security profile 3 stopped after %s; its "
                "setting stays on profile 3, where the charger may already be going",
                self._id,
                where,
            )
            return
        _LOGGER.warning(
            "Charger %s: its upgrade to security profile 3 stopped after %s; its setting "
            "is back to what it was",
            self._id,
            where,
        )
        await self._restore()

    async def _command(
        self, step: UpgradeStep, command: Command, *, record: bool = True, detail: str = ""
    ) -> CommandResult:
        result = await self._host.execute(self._id, command)
        if not result.accepted:
            # Its "no" undoes nothing of a move; no answer at all, once told to move,
            # leaves it unknown where it goes.
            kept = self._committed and result.status in _UNANSWERED
            self._refuse(step, result=result, kept=kept)
        if record:
            self._passed(step, Outcome.ACCEPTED, detail)
        return result

    def _passed(self, step: UpgradeStep, outcome: Outcome, detail: str = "") -> None:
        self._done.append(StepResult(step, outcome, detail))

    def _refuse(
        self,
        step: UpgradeStep,
        *,
        result: CommandResult | None = None,
        problem: Problem | None = None,
        kept: bool = False,
    ) -> NoReturn:
        raise UpgradeRefused(step, list(self._done), result=result, problem=problem, kept=kept)
