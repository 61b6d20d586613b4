"""Certificate actions: root certificates on a charger, its client certificate, profile 3.

- `install_certificate`: a root certificate (by default our CA's, as the one the
  charger trusts us by) of a kind the charger's version knows.
- `get_installed_certificates`: what it holds, as hash data `delete_certificate` takes.
- `request_certificate_renewal`: the charger sends a CSR, which our CA signs (optionally
  waiting for the certificate to be installed).
- `upgrade_security_profile`: from profile 1 or 2 to 3 (`csms.profile_upgrade`), its
  setting kept in the charger's subentry (`SubentryProfile`).

Each charger word that means something particular (a certificate it will not take, one
it does not hold) gets its own translated error; the rest are the usual command errors.
"""

from __future__ import annotations

from typing import Any

import probatio
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .action_base import Action, Target, resolve
from .certificate_authority import charger_profile, wants_client_certificates
from .certificate_input import async_certificate
from .const import CONF_CHARGER_ID, CONF_SECURITY_PROFILE, CONF_TLS, DOMAIN
from .csms.certificate_messages import certificate_uses
from .csms.commands import (
    CertificateHashData,
    CertificateUse,
    CommandResult,
    CommandStatus,
    DeleteCertificate,
    GetInstalledCertificateIds,
    InstallCertificate,
)
from .csms.host import SecurityProfile
from .csms.profile_upgrade import (
    CertificateNotObtained,
    CertificatePolicy,
    Problem,
    ProfileUpgrade,
    UpgradeOptions,
    UpgradeRefused,
    request_client_certificate,
)
from .hub import CentralSystemHub

CERTIFICATE_TYPES = [use.value for use in CertificateUse]
OCPP_INTERFACES = [f"{kind}{n}" for kind in ("Wired", "Wireless") for n in range(4)]
HASH_ALGORITHMS = ("SHA256", "SHA384", "SHA512")
# Each charger word of a certificate command that says more than "refused".
_CERTIFICATE_ERRORS = {
    "Rejected": "certificate_rejected",
    "Failed": "certificate_failed",
    "NotFound": "certificate_not_found",
}
# A problem of an upgrade or a renewal, as the translated error that explains it.
_PROBLEM_ERRORS = {
    Problem.OFFLINE: "command_offline",
    Problem.NOT_TLS: "upgrade_needs_tls",
    Problem.NO_CERTIFICATE: "no_certificate_in_time",
    Problem.CERTIFICATE_REFUSED: "csr_refused",
    Problem.CERTIFICATE_NOT_INSTALLED: "signed_certificate_refused",
    Problem.NO_FREE_SLOT: "no_free_network_slot",
    Problem.PRIORITY_UNKNOWN: "network_priority_unknown",
    Problem.IN_PROGRESS: "upgrade_in_progress",
}
_STEP_ERRORS = {
    CommandStatus.REJECTED: "upgrade_step_refused",
    CommandStatus.FAILED: "upgrade_step_refused",
    CommandStatus.NOT_SUPPORTED: "upgrade_step_not_supported",
    CommandStatus.TIMED_OUT: "upgrade_step_timed_out",
    CommandStatus.OFFLINE: "command_offline",
}


def _error(target: Target, key: str, **placeholders: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={
            "charger": target.hub.index.charger_name(target.station.id),
            **placeholders,
        },
    )


def _certificate_error(target: Target, result: CommandResult) -> HomeAssistantError:
    """A certificate command the charger did not accept, in its own terms where it has some."""
    key = _CERTIFICATE_ERRORS.get(result.detail)
    if result.status is CommandStatus.REJECTED and key is not None:
        return _error(target, key, detail=result.detail)
    return target.hub.command_error(target.station.id, result)


def _use_for(target: Target, value: str) -> CertificateUse:
    """A kind of certificate the charger's version knows; a validation error otherwise."""
    use = CertificateUse(value)
    station = target.station
    if station.connected and use not in certificate_uses(station.version):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="certificate_type_unknown_to_version",
            translation_placeholders={
                "charger": target.hub.index.charger_name(station.id),
                "type": value,
                "version": station.version.value,
            },
        )
    return use


# -- the actions -------------------------------------------------------------------------


async def _install_certificate(hass: HomeAssistant, call: ServiceCall) -> None:
    target = resolve(hass, call)
    use = _use_for(target, call.data["certificate_type"])
    pem = await async_certificate(hass, call.data.get("pem"), call.data.get("file"))
    if pem is None:
        # Nothing given: our CA's certificate, which only a CSMS root can be.
        if use is not CertificateUse.CSMS_ROOT:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="certificate_required"
            )
        pem = _ca(target.hub).ca_pem
    result = await target.hub.execute(target.station.id, InstallCertificate(pem, use))
    if not result.accepted:
        raise _certificate_error(target, result)


async def _get_installed_certificates(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = resolve(hass, call)
    chosen = call.data.get("certificate_type")
    if chosen:
        kinds: list[CertificateUse | None] = [_use_for(target, chosen)]
    elif target.station.version.is_2x:
        kinds = [None]  # every kind in one question
    else:
        kinds = list(certificate_uses(target.station.version))  # 1.6 names one at a time
    found: list[Any] = []  # JSON objects, as response data takes them
    for kind in kinds:
        result = await target.hub.execute(target.station.id, GetInstalledCertificateIds(kind))
        if not result.accepted:
            raise _certificate_error(target, result)
        for item in result.data.get("certificates", ()):
            use = item.use if item.use is not None else kind
            found.append(
                {
                    "certificate_type": use.value if isinstance(use, CertificateUse) else use,
                    "hash_algorithm": item.hash_algorithm,
                    "issuer_name_hash": item.issuer_name_hash,
                    "issuer_key_hash": item.issuer_key_hash,
                    "serial_number": item.serial_number,
                }
            )
    return {"certificates": found}


async def _delete_certificate(hass: HomeAssistant, call: ServiceCall) -> None:
    target = resolve(hass, call)
    hash_data = CertificateHashData(
        call.data["hash_algorithm"],
        call.data["issuer_name_hash"],
        call.data["issuer_key_hash"],
        call.data["serial_number"],
    )
    result = await target.hub.execute(target.station.id, DeleteCertificate(hash_data))
    if not result.accepted:
        raise _certificate_error(target, result)


async def _request_certificate_renewal(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = resolve(hass, call)
    hub = target.hub
    _ca(hub)  # a CSR nobody can sign is not worth asking for
    if hub.system is None:
        raise hub.command_error(target.station.id, CommandResult(CommandStatus.OFFLINE))
    try:
        kept = await request_client_certificate(
            hub.system, target.station.id, call.data["timeout"] if call.data["wait"] else 0
        )
    except CertificateNotObtained as missing:
        if missing.result is not None:
            raise hub.command_error(target.station.id, missing.result) from missing
        if missing.problem is Problem.NO_CERTIFICATE and not call.data["wait"]:
            # Asked, and not waited for: the CSR comes when the charger sends it.
            return {"status": "requested"}
        raise _problem_error(target, missing.problem, call.data["timeout"]) from missing
    facts = kept.facts
    return {
        "status": "installed",
        "subject": facts.subject,
        "serial_number": facts.serial_number,
        "sha256_fingerprint": facts.sha256_fingerprint,
        "not_after": facts.not_after.isoformat(),
    }


async def _upgrade_security_profile(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = resolve(hass, call)
    hub, charger_id = target.hub, target.station.id
    if not hub.entry.data.get(CONF_TLS):
        raise _validation(target, "upgrade_needs_tls")
    _ca(hub)
    profile = charger_profile(_subentry_data(hub, charger_id))
    if profile is SecurityProfile.TLS_CLIENT_CERTIFICATE:
        raise _validation(target, "already_profile_3")
    if hub.system is None:
        raise hub.command_error(charger_id, CommandResult(CommandStatus.OFFLINE))
    options = UpgradeOptions(
        certificate=CertificatePolicy(call.data["client_certificate"]),
        certificate_timeout_s=call.data["certificate_timeout"],
        reconnect_timeout_s=call.data["reconnect_timeout"],
        csms_url=call.data.get("url"),
        ocpp_interface=call.data["network_interface"],
        slot=call.data.get("configuration_slot"),
    )
    upgrade = ProfileUpgrade(
        hub.system, charger_id, SubentryProfile(hass, hub, charger_id), options
    )
    try:
        steps = await upgrade.run()
    except UpgradeRefused as refused:
        raise _refusal_error(target, refused, profile, options) from refused
    return {
        "security_profile": SecurityProfile.TLS_CLIENT_CERTIFICATE.value,
        "steps": [
            {"step": step.step.value, "outcome": step.outcome.value, "detail": step.detail}
            for step in steps
        ],
    }


# -- helpers -----------------------------------------------------------------------------


def _ca(hub: CentralSystemHub) -> Any:
    """The central system's CA; an error that says how to get one otherwise."""
    if hub.ca is None:
        raise HomeAssistantError(
            translation_domain=DOMAIN, translation_key="no_certificate_authority"
        )
    return hub.ca


def _validation(target: Target, key: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"charger": target.hub.index.charger_name(target.station.id)},
    )


def _subentry_data(hub: CentralSystemHub, charger_id: str) -> dict[str, Any]:
    for subentry in hub.index.subentries():
        if subentry.data.get(CONF_CHARGER_ID) == charger_id:
            return dict(subentry.data)
    return {}


def _problem_error(target: Target, problem: Problem | None, timeout: float) -> HomeAssistantError:
    key = _PROBLEM_ERRORS.get(problem, "command_failed") if problem else "command_failed"
    return _error(target, key, seconds=str(int(timeout)), detail=problem.value if problem else "-")


def _refusal_error(
    target: Target, refused: UpgradeRefused, profile: SecurityProfile, options: UpgradeOptions
) -> HomeAssistantError:
    """Why the upgrade stopped, naming the step and the profile the charger stays on.

    Or, when it did not answer once told to move, that it stays on profile 3 (`kept`);
    or that it kept the new slot first in its priority list (`priority_left`).
    """
    if refused.result is None:
        return _problem_error(target, refused.problem, options.certificate_timeout_s)
    key = _STEP_ERRORS[refused.result.status] if not refused.result.accepted else "command_failed"
    extra: dict[str, str] = {}
    if refused.kept:
        key = "upgrade_state_unknown"
    elif refused.priority_left is not None:
        key, extra = "upgrade_priority_left", {"priority": refused.priority_left}
    return _error(
        target,
        key,
        step=refused.step.value,
        detail=refused.result.detail or refused.result.status.value,
        profile=str(profile.value),
        **extra,
    )


class SubentryProfile:
    """A charger's security profile as its subentry keeps it (`profile_upgrade.ProfileSetting`).

    Changing it fires the entry's update listener, which re-indexes the chargers and
    makes the server ask for client certificates; both are done here too when the
    listener has not yet, so the charger's next connection is checked by the new
    profile whatever the order Home Assistant runs things in. Restoring leaves a
    profile someone set meanwhile (in the charger's settings) alone.
    """

    def __init__(self, hass: HomeAssistant, hub: CentralSystemHub, charger_id: str) -> None:
        """The setting of `charger_id`, as it is now."""
        self._hass = hass
        self._hub = hub
        self._id = charger_id
        self._before = _subentry_data(hub, charger_id).get(CONF_SECURITY_PROFILE)
        self._set: int | None = None

    async def set(self, profile: SecurityProfile) -> None:
        """Store `profile` in the subentry, and make sure it is followed."""
        self._set = profile.value
        await self._store(profile.value)

    async def restore(self) -> None:
        """Store the profile it had before, if the subentry still says what we set."""
        await self._store(self._before, only_over=self._set)

    async def _store(self, value: int | None, *, only_over: int | None = None) -> None:
        hub = self._hub
        subentry_id = hub.index.subentry_id(self._id)
        subentry = hub.entry.subentries.get(subentry_id or "")
        if subentry is None:
            return  # removed meanwhile: nothing to keep
        if only_over is not None and subentry.data.get(CONF_SECURITY_PROFILE) != only_over:
            return  # changed meanwhile by someone else: theirs stands
        data = {**subentry.data, CONF_SECURITY_PROFILE: value}
        self._hass.config_entries.async_update_subentry(hub.entry, subentry, data=data)
        record = hub.index.find(self._id)
        if record is None or record.security_profile is not charger_profile(data):
            hub.index.reindex()
        chargers = [each.data for each in hub.index.subentries()]
        hub.follow_client_certificates(wants_client_certificates(hub.entry.data, chargers))


# -- registration --------------------------------------------------------------------------

_HEX = probatio.All(cv.string, probatio.Length(min=1, max=128), probatio.Match(r"^[0-9A-Fa-f]+$"))
_SECONDS = probatio.All(probatio.Coerce(float), probatio.Range(min=1, max=600))

CERTIFICATE_ACTIONS: dict[str, Action] = {
    "install_certificate": Action(
        _install_certificate,
        {
            probatio.Optional("certificate_type", default="csms_root"): probatio.In(
                CERTIFICATE_TYPES
            ),
            probatio.Optional("pem"): cv.string,
            probatio.Optional("file"): cv.string,
        },
        admin=True,
    ),
    "get_installed_certificates": Action(
        _get_installed_certificates,
        {probatio.Optional("certificate_type"): probatio.In(CERTIFICATE_TYPES)},
        response=SupportsResponse.ONLY,
    ),
    "delete_certificate": Action(
        _delete_certificate,
        {
            probatio.Required("hash_algorithm"): probatio.In(HASH_ALGORITHMS),
            probatio.Required("issuer_name_hash"): _HEX,
            probatio.Required("issuer_key_hash"): _HEX,
            probatio.Required("serial_number"): probatio.All(
                cv.string, probatio.Length(min=1, max=40)
            ),
            # Not sent (OCPP names a certificate by its hashes): accepted so that an
            # item of get_installed_certificates can be passed as it is.
            probatio.Optional("certificate_type"): cv.string,
        },
        admin=True,
    ),
    "request_certificate_renewal": Action(
        _request_certificate_renewal,
        {
            probatio.Optional("wait", default=False): cv.boolean,
            probatio.Optional("timeout", default=60): _SECONDS,
        },
        admin=True,
        response=SupportsResponse.OPTIONAL,
    ),
    "upgrade_security_profile": Action(
        _upgrade_security_profile,
        {
            probatio.Optional("client_certificate", default="auto"): probatio.In(
                [policy.value for policy in CertificatePolicy]
            ),
            probatio.Optional("certificate_timeout", default=60): _SECONDS,
            probatio.Optional("reconnect_timeout", default=60): probatio.All(
                probatio.Coerce(float), probatio.Range(min=0, max=600)
            ),
            probatio.Optional("url"): probatio.All(
                cv.string, probatio.Length(max=512), probatio.Match(r"^wss://\S+$")
            ),
            probatio.Optional("network_interface", default="Wired0"): probatio.In(OCPP_INTERFACES),
            probatio.Optional("configuration_slot"): probatio.All(
                probatio.Coerce(int), probatio.Range(min=0, max=99)
            ),
        },
        admin=True,
        response=SupportsResponse.OPTIONAL,
    ),
}
