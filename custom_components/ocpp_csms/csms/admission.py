"""Who may connect, and what a boot is answered: the directory, the policy, the proofs.

`Admission.check` is the server's `ConnectionGate`: a known charger proves itself by its
security profile (a password for profiles 1 and 2 when one is set, its client
certificate alone for profile 3); an unknown one connects unless the policy rejects
strangers, so that its boot can be held Pending or rejected. `boot_decision` answers a
BootNotification from the directory and the policy. Every refusal is counted by its
verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .certificates import CertificateProblem, client_certificate_problem
from .host import AdmissionPolicy, CentralSystemSettings, ChargerDirectory, SecurityProfile
from .password_gate import PasswordGate
from .server import Verdict
from .station import RegistrationStatus, Station
from .station_host import BootDecision

_CERTIFICATE_VERDICT = {
    None: Verdict.ALLOW,
    CertificateProblem.UNREADABLE: Verdict.WRONG_CERTIFICATE,
    CertificateProblem.OTHER_CHARGER: Verdict.WRONG_CERTIFICATE,
    CertificateProblem.EXPIRED: Verdict.EXPIRED_CERTIFICATE,
}


def certificate_verdict(charger_id: str, certificate: bytes | None) -> Verdict:
    """Whether a security profile 3 charger's client certificate admits it."""
    if certificate is None:
        return Verdict.NO_CERTIFICATE
    return _CERTIFICATE_VERDICT[client_certificate_problem(certificate, charger_id)]


@dataclass(slots=True)
class AdmissionCounters:
    """Connections served, and refusals by verdict."""

    connections: int = 0
    refused: dict[str, int] = field(default_factory=dict)


class Admission:
    """The connection gate and the boot decision of one central system."""

    def __init__(
        self,
        settings: CentralSystemSettings,
        directory: ChargerDirectory,
        passwords: PasswordGate,
        counters: AdmissionCounters,
    ) -> None:
        """Decide with the central system's settings, directory and password gate."""
        self.settings = settings
        self._directory = directory
        self._passwords = passwords
        self._counters = counters

    async def check(
        self, charger_id: str, password: str | None, certificate: bytes | None, address: str
    ) -> Verdict:
        """ConnectionGate: decide whether this charger may connect with what it presents.

        A charger on security profile 3 needs its client certificate and nothing else
        (a password, even the right one, does not admit it); the others their password
        when one is set.
        """
        record = self._directory.find(charger_id)
        if record is None:
            if (
                self.settings.admission is AdmissionPolicy.REJECT
                and not self._directory.is_rejected(charger_id)
            ):
                return self._refuse(Verdict.FORBIDDEN)
            # Unknown chargers connect so that their boot can be held or rejected.
            return Verdict.ALLOW
        if record.security_profile is SecurityProfile.TLS_CLIENT_CERTIFICATE:
            verdict = certificate_verdict(charger_id, certificate)
            return verdict if verdict is Verdict.ALLOW else self._refuse(verdict)
        if record.password_hash is None:
            return Verdict.ALLOW
        if password is None:
            return self._refuse(Verdict.UNAUTHORIZED)
        verdict = await self._passwords.check(charger_id, address, record.password_hash, password)
        return verdict if verdict is Verdict.ALLOW else self._refuse(verdict)

    def _refuse(self, verdict: Verdict) -> Verdict:
        refused = self._counters.refused
        refused[verdict.value] = refused.get(verdict.value, 0) + 1
        return verdict

    def boot_decision(self, station: Station) -> BootDecision:
        """The answer to a station's BootNotification: by the directory, then the policy."""
        settings = self.settings
        if self._directory.find(station.id) is not None:
            return BootDecision(RegistrationStatus.ACCEPTED, settings.heartbeat_interval)
        rejected = BootDecision(RegistrationStatus.REJECTED, settings.rejected_retry_interval)
        if self._directory.is_rejected(station.id):
            return rejected
        match settings.admission:
            case AdmissionPolicy.ACCEPT_ALL:
                return BootDecision(RegistrationStatus.ACCEPTED, settings.heartbeat_interval)
            case AdmissionPolicy.ASK:
                return BootDecision(RegistrationStatus.PENDING, settings.pending_retry_interval)
        return rejected
