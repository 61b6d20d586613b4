"""The certificate authority of security profile 3, as Home Assistant keeps it.

A charger on profile 3 proves who it is with a client certificate from the central
system's CA. That CA is the user's own when the server settings name its files, and
otherwise the integration's: created on first use in `<config>/ocpp_csms/ca/` (key
0600 in a 0700 folder, see `csms.certificates.load_or_create_ca`), shared by every
central system of this Home Assistant.

The CA is loaded whenever the server uses TLS (the certificate messages sign a profile-2
charger's request before it moves to profile 3), but the server asks chargers for
client certificates only while at least one charger is on profile 3: a profile-1 or -2
charger that presents a factory certificate of another CA would otherwise fail the TLS
handshake. The running server switches between the two without a restart when the
first charger moves to profile 3 or the last one leaves it (`hub.follow_client_certificates`,
`csms.tls.ServerContext`); only a CA that did not load at start makes that a reload.

Everything here that touches files runs in an executor. Errors name files, never their
content; the key never leaves `CertificateAuthority`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant

from .const import CONF_CA_CERTFILE, CONF_CA_KEYFILE, CONF_SECURITY_PROFILE, CONF_TLS, DOMAIN
from .csms.certificates import (
    CertificateAuthority,
    CertificateAuthorityError,
    load_ca,
    load_or_create_ca,
)
from .csms.host import SecurityProfile

_LOGGER = logging.getLogger(__name__)


def ca_directory(hass: HomeAssistant) -> Path:
    """Where the integration keeps its own CA."""
    return Path(hass.config.path(DOMAIN, "ca"))


def charger_profile(data: Mapping[str, Any]) -> SecurityProfile:
    """A charger's security profile from its settings (1 when unset or unknown)."""
    try:
        return SecurityProfile(int(data.get(CONF_SECURITY_PROFILE) or 1))
    except TypeError, ValueError:
        return SecurityProfile.BASIC_AUTH


def wants_client_certificates(
    server: Mapping[str, Any], chargers: Iterable[Mapping[str, Any]]
) -> bool:
    """Whether the server asks for client certificates: TLS, and a charger on profile 3."""
    return bool(server.get(CONF_TLS)) and any(
        charger_profile(charger) is SecurityProfile.TLS_CLIENT_CERTIFICATE for charger in chargers
    )


async def async_load_ca(hass: HomeAssistant, server: Mapping[str, Any]) -> CertificateAuthority:
    """The user's CA when the server settings name it, else ours, created on first use.

    Raises CertificateAuthorityError (or OSError: the folder cannot be made).
    """
    if certfile := server.get(CONF_CA_CERTFILE):
        keyfile = server.get(CONF_CA_KEYFILE) or ""
        return await hass.async_add_executor_job(load_ca, Path(certfile), Path(keyfile))
    return await hass.async_add_executor_job(load_or_create_ca, ca_directory(hass))


async def async_profile_errors(
    hass: HomeAssistant, server: Mapping[str, Any], settings: Mapping[str, Any]
) -> dict[str, str]:
    """A charger form's errors for its security profile under these server settings.

    Profiles 2 and 3 need TLS; profile 3 a CA, which is created here if it is ours, so
    that its certificate is there to give the charger before it first connects.
    """
    profile = charger_profile(settings)
    if profile is SecurityProfile.BASIC_AUTH:
        return {}
    if not server.get(CONF_TLS):
        return {CONF_SECURITY_PROFILE: "profile_needs_tls"}
    if profile is SecurityProfile.TLS_CLIENT_CERTIFICATE:
        try:
            await async_load_ca(hass, server)
        except (CertificateAuthorityError, OSError) as err:
            _LOGGER.warning("The certificate authority cannot be used: %s", err)
            return {CONF_SECURITY_PROFILE: "ca_unavailable"}
    return {}


def ca_file_error(certfile: str | None, keyfile: str | None) -> str | None:
    """Why the user's CA files do not make a CA, or None. Blocking: executor."""
    if not certfile and not keyfile:
        return None
    if not certfile or not keyfile:
        return "ca_incomplete"
    try:
        load_ca(Path(certfile), Path(keyfile))
    except CertificateAuthorityError:
        return "invalid_ca"
    return None
