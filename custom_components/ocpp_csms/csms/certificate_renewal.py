"""Client certificates of security profile 3: what is known of each, and their renewal.

Knowing. A charger's client certificate is known from three places, and the one that
ends last is `Station.known_certificate` (facts: fingerprint, serial, dates; never a
key):
- the certificate it presented in the TLS handshake of its connection (`connected`),
  when its CN is the charger's id (TLS has checked it chains to our CA);
- a certificate we signed that it accepted in a CertificateSigned (`observe`);
- what the host remembers from an earlier run (`remember`), so that a certificate that
  expired while Home Assistant was down is still known to have.
The latest end wins because a charger that accepted a new certificate may go on
presenting the old one until it reconnects.

Renewing. An admitted charger whose certificate is in its renewal window
(`renewal_starts`: the last third of its lifetime, but at most 30 days and at least a
day before it ends) is asked for a new CSR (`RequestCertificateSigning`) when it is
ready after connecting and at every hourly check (and a failed one when its retry
falls due, see `_until_next_check`). The CSR is signed by the certificate
messages' usual path; renewal waits for the outcome, at most `csr_wait_s` (an hour):
the charger accepting the new certificate is a success (`CertificateRenewed`); a
refused or unanswered request, no CSR in time, a CSR we refuse or a certificate the
charger does not install is a `CertificateRenewalFailed` with its reason, and renewal
is tried again after a delay that grows from an hour to six (`RETRY_DELAYS`), for as
long as it fails. A certificate that ends before a renewal succeeds is reported once
(`RenewalFailure.EXPIRED`). Never more than one renewal is in flight per charger.

Profile 3 chargers are the ones that need it, but a charger on profile 2 whose
certificate is known (it got one before moving to 3, or was moved back to 2 because
its certificate expired) is renewed alike: that is how it gets a valid one again. The
host decides what to show of failures by the charger's profile.

Time: `clock` tells the wall-clock time every decision reads (tests move it); waiting
for the CSR and for the next check (an hour, or the first retry's time by `clock`) are
asyncio waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509

from .certificate_messages import CertificateHost
from .certificates import (
    CertificateFacts,
    CertificateProblem,
    certificate_facts,
    client_certificate_problem,
)
from .commands import Command, CommandResult, CommandStatus, RequestCertificateSigning
from .events import (
    CertificateRefused,
    CertificateRenewalFailed,
    CertificateRenewed,
    Change,
    Event,
    RenewalFailure,
    StationUpdated,
)
from .log_budget import LogBudget
from .station import ClientCertificate, Station

_LOGGER = logging.getLogger(__name__)

# The renewal window: the last third of a certificate's lifetime, capped to 30 days
# before its end (a year's certificate is renewed a month ahead, leaving weeks to notice
# a failure) and at least a day (a short-lived one still gets a chance).
LIFETIME_SHARE = 3
MAX_LEAD = timedelta(days=30)
MIN_LEAD = timedelta(days=1)
# How long a charger that accepted the request has to send its CSR and take the
# certificate (chargers make the key pair first, which takes a small one a while).
CSR_WAIT_S = 3600.0
CHECK_INTERVAL_S = 3600.0
# After each failure in a row, the wait before the next try (the last one repeats).
RETRY_DELAYS = (
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=6),
)

type Execute = Callable[[str, Command], Awaitable[CommandResult]]
type Spawn = Callable[[Coroutine[Any, Any, None]], None]

_TRIGGER_FAILURE = {
    CommandStatus.REJECTED: RenewalFailure.TRIGGER_REJECTED,
    CommandStatus.NOT_SUPPORTED: RenewalFailure.TRIGGER_NOT_SUPPORTED,
}


def renewal_starts(facts: CertificateFacts) -> datetime:
    """When a certificate's renewal window opens (see the module's description)."""
    lifetime = facts.not_after - facts.not_before
    lead = min(max(lifetime / LIFETIME_SHARE, MIN_LEAD), MAX_LEAD)
    return facts.not_after - lead


def presented_facts(der: bytes | None, charger_id: str) -> CertificateFacts | None:
    """The facts of a certificate a charger presented, when it names that charger.

    Its dates may be past (it is known, and reported as expired); a certificate of
    another id, or one that cannot be read, says nothing about this charger's.
    """
    if der is None:
        return None
    problem = client_certificate_problem(der, charger_id)
    if problem not in (None, CertificateProblem.EXPIRED):
        return None
    return certificate_facts(x509.load_der_x509_certificate(der))


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How a renewal's CSR ended: the certificate it installed, or why not."""

    facts: CertificateFacts | None = None
    failure: RenewalFailure | None = None
    detail: str = ""


@dataclass(slots=True)
class RenewalState:
    """One charger's renewal: in flight, or what the last tries came to."""

    failures: int = 0  # in a row
    failure: RenewalFailure | None = None
    retry_at: datetime | None = None
    # The certificate reported expired (its fingerprint): told once.
    expired_told: str | None = None
    # While a renewal is in flight: its outcome, and the signed certificate (answer)
    # the station had before it, so that only a new one counts.
    outcome: asyncio.Future[_Outcome] | None = None
    signed_before: ClientCertificate | None = None

    @property
    def in_flight(self) -> bool:
        """Whether a renewal is under way."""
        return self.outcome is not None


class CertificateRenewal:
    """Knows chargers' client certificates and renews them before they end."""

    def __init__(
        self,
        host: CertificateHost,
        execute: Execute,
        spawn: Spawn,
        *,
        stations: Callable[[], Iterable[Station]],
        is_admitted: Callable[[str], bool],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Renew the chargers `stations` lists that are admitted."""
        self._host = host
        self._execute = execute
        self._spawn = spawn
        self._stations = stations
        self._is_admitted = is_admitted
        # Injectable: every decision reads the time here.
        self.clock = clock
        self.csr_wait_s = CSR_WAIT_S
        self.check_interval_s = CHECK_INTERVAL_S
        self.retry_delays: tuple[timedelta, ...] = RETRY_DELAYS
        self._states: dict[str, RenewalState] = {}
        self._running = False
        # Set when a failure sets a retry time: the periodic wait plans again.
        self._replan = asyncio.Event()
        # Failures a charger keeps having: a warning per charger every six hours.
        self._log = LogBudget(per_source=1, overall=10, period_s=6 * 3600.0)

    def start(self) -> None:
        """Check every charger now, then every `check_interval_s` seconds and at retries."""
        if not self._running:
            self._running = True
            self._spawn(self._check_periodically())

    async def _check_periodically(self) -> None:
        try:
            while True:
                self.check_all()
                await self._until_next_check()
        finally:
            self._running = False

    async def _until_next_check(self) -> None:
        """Wait `check_interval_s`, or less: until the first retry to come falls due.

        Retries are counted from their failure, which comes just after the check that
        started the renewal: waiting for the next check would try an hour late. A new
        failure ends the wait to plan again (the check that follows is one more, which
        does no harm: each charger's own times decide).
        """
        self._replan.clear()
        now = self.clock()
        wait = self.check_interval_s
        for state in self._states.values():
            if state.retry_at is not None and state.retry_at > now:
                wait = min(wait, (state.retry_at - now).total_seconds())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._replan.wait()

    def state(self, charger_id: str) -> RenewalState | None:
        """A charger's renewal state (None: never considered)."""
        return self._states.get(charger_id)

    # -- knowing -------------------------------------------------------------------

    def connected(self, station: Station, der: bytes | None) -> None:
        """A charger connected, presenting `der` (its DER client certificate) or none."""
        if (facts := presented_facts(der, station.id)) is not None:
            self._learn(station, facts)

    def remember(self, station: Station, facts: CertificateFacts) -> None:
        """What the host kept of a charger's certificate from an earlier run."""
        self._learn(station, facts)

    def _learn(self, station: Station, facts: CertificateFacts) -> bool:
        """Know `facts` as the charger's certificate if it ends later; whether it did.

        A newer certificate ends a renewal's failures (and an expiry told): the charger
        got one, by our renewal or its own request.
        """
        known = station.known_certificate
        if known is not None and facts.not_after <= known.not_after:
            return False
        station.known_certificate = facts
        state = self._states.get(station.id)
        if state is not None and (state.failure is not None or state.expired_told):
            state.failures, state.failure, state.retry_at = 0, None, None
            state.expired_told = None
            if not state.in_flight:  # an outcome in flight tells it itself
                self._renewed(station, facts)
        return True

    def observe(self, event: Event) -> None:
        """Follow what the certificate messages did: a certificate taken, a CSR refused."""
        match event:
            case StationUpdated(station=station, changed=changed) if (
                Change.CLIENT_CERTIFICATE in changed
            ):
                self._signed(station)
            case CertificateRefused(station=station, problem=problem):
                refused = _Outcome(failure=RenewalFailure.CSR_REFUSED, detail=problem.value)
                self._resolve(station, refused)

    def _signed(self, station: Station) -> None:
        signed = station.client_certificate
        state = self._states.get(station.id)
        if signed is None or (state is not None and signed is state.signed_before):
            return
        if state is not None:
            state.signed_before = signed
        if signed.installed:
            self._learn(station, signed.facts)
            self._resolve(station, _Outcome(facts=signed.facts))
        else:
            outcome = _Outcome(failure=RenewalFailure.NOT_INSTALLED, detail=signed.answer)
            self._resolve(station, outcome)

    def _resolve(self, station: Station, outcome: _Outcome) -> None:
        state = self._states.get(station.id)
        if state is not None and state.outcome is not None and not state.outcome.done():
            state.outcome.set_result(outcome)

    # -- renewing ------------------------------------------------------------------

    def check_all(self) -> None:
        """Check every charger (one that fails to be checked costs only itself)."""
        for station in list(self._stations()):
            try:
                self.check(station)
            except Exception:
                if self._log.take(station.id) is not None:
                    _LOGGER.exception("Charger %s: checking its certificate failed", station.id)

    def check(self, station: Station) -> None:
        """Report an expired certificate, and renew one in its window (if it can be now)."""
        known = station.known_certificate
        if known is None or not self._is_admitted(station.id):
            return
        now = self.clock()
        state = self._states.setdefault(station.id, RenewalState())
        if known.not_after <= now and state.expired_told != known.sha256_fingerprint:
            state.expired_told = known.sha256_fingerprint
            _LOGGER.warning(
                "Charger %s: its client certificate expired at %s; it cannot connect on "
                "security profile 3 until it has a new one",
                station.id,
                known.not_after.isoformat(),
            )
            self._host.emit(
                CertificateRenewalFailed(
                    station, RenewalFailure.EXPIRED, "", known.not_after, state.retry_at
                )
            )
        if (
            state.in_flight
            or now < renewal_starts(known)
            or (state.retry_at is not None and now < state.retry_at)
            or not (station.connected and station.accepted)
        ):
            return
        ca = self._host.certificate_authority
        if ca is None or ca.certificate.not_valid_after_utc <= known.not_after:
            # Nothing to sign with, or nothing newer to sign: our CA ends first.
            return
        state.outcome = asyncio.get_running_loop().create_future()
        state.signed_before = station.client_certificate
        self._spawn(self._renew(station, state, known))

    async def _renew(self, station: Station, state: RenewalState, known: CertificateFacts) -> None:
        assert state.outcome is not None
        outcome_future = state.outcome
        _LOGGER.info(
            "Charger %s: asking for a new client certificate (the one it has ends %s)",
            station.id,
            known.not_after.isoformat(),
        )
        try:
            result = await self._execute(station.id, RequestCertificateSigning())
            if result.status is CommandStatus.OFFLINE:
                return  # gone meanwhile: tried again when it is back
            if not result.accepted:
                failure = _TRIGGER_FAILURE.get(result.status, RenewalFailure.NO_ANSWER)
                outcome = _Outcome(failure=failure, detail=result.detail or result.status.value)
            else:
                try:
                    async with asyncio.timeout(self.csr_wait_s):
                        outcome = await outcome_future
                except TimeoutError:
                    outcome = _Outcome(failure=RenewalFailure.NO_CSR)
        finally:
            if state.outcome is outcome_future:
                state.outcome = None
        if self._states.get(station.id) is not state:
            return  # forgotten meanwhile
        if outcome.facts is not None:
            state.failures, state.failure, state.retry_at = 0, None, None
            _LOGGER.info(
                "Charger %s: client certificate renewed, valid until %s",
                station.id,
                outcome.facts.not_after.isoformat(),
            )
            self._renewed(station, outcome.facts)
        elif outcome.failure is not None:
            self._failed(station, state, outcome.failure, outcome.detail)

    def _failed(
        self, station: Station, state: RenewalState, reason: RenewalFailure, detail: str
    ) -> None:
        known = station.known_certificate
        if known is None:
            return  # forgotten meanwhile
        state.failures += 1
        state.failure = reason
        delay = self.retry_delays[min(state.failures, len(self.retry_delays)) - 1]
        state.retry_at = self.clock() + delay
        self._replan.set()
        left_out = self._log.take(station.id)
        level = logging.DEBUG if left_out is None else logging.WARNING
        _LOGGER.log(
            level,
            "Charger %s: its client certificate (valid until %s) was not renewed: %s%s; "
            "trying again after %s",
            station.id,
            known.not_after.isoformat(),
            reason.value.replace("_", " "),
            f" ({detail[:100]})" if detail else "",
            state.retry_at.isoformat(),
        )
        self._host.emit(
            CertificateRenewalFailed(station, reason, detail[:100], known.not_after, state.retry_at)
        )

    def _renewed(self, station: Station, facts: CertificateFacts) -> None:
        self._host.emit(CertificateRenewed(station, facts))

    def forget(self, charger_id: str) -> None:
        """A charger was removed (or its certificate forgotten): end its renewal."""
        state = self._states.pop(charger_id, None)
        if state is not None and state.outcome is not None:
            state.outcome.cancel()
