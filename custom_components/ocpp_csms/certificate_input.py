"""Certificates and signatures that users give actions, checked before anything is sent.

A certificate comes pasted (PEM) or as a file under the configuration directory; it
must be one X.509 certificate in PEM that fits OCPP's field (5,500 characters). A
firmware signature must be base64 that fits its field (800 characters). A charger
that gets something else refuses it at best, and says nothing useful about why, so
the user hears it here instead, as a translated validation error.

Reading a file runs in an executor. Errors name the file, never its content.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import probatio
from cryptography import x509
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .const import DOMAIN

# The schemas' bounds: InstallCertificate.certificate and the firmware's
# signingCertificate (both versions), and the firmware's signature.
MAX_CERTIFICATE_CHARS: Final = 5500
MAX_SIGNATURE_CHARS: Final = 800
# A PEM file larger than this is not a certificate; it is not read whole.
MAX_FILE_BYTES: Final = 64 * 1024


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def checked_certificate(pem: str, source: str) -> str:
    """`pem` when it is one PEM certificate within OCPP's bound, tidied; raises otherwise.

    `source` names where it came from in the error ("pasted", or the file's name).
    """
    text = pem.strip().replace("\r\n", "\n") + "\n"
    if len(text) > MAX_CERTIFICATE_CHARS:
        raise _invalid("certificate_too_long", source=source, limit=str(MAX_CERTIFICATE_CHARS))
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        certificates = []
    if len(certificates) != 1 or text.count("-----BEGIN") != 1:
        raise _invalid("invalid_certificate_pem", source=source)
    return text


def config_file(hass: HomeAssistant, name: str) -> Path:
    """A file named relative to (or inside) the configuration directory; raises otherwise.

    Blocking (it resolves links): run in an executor.
    """
    config = Path(hass.config.config_dir).resolve()
    path = (config / name).resolve()
    if not path.is_relative_to(config):
        raise _invalid("file_outside_config", file=name)
    if not path.is_file():
        raise _invalid("file_not_found", file=name)
    return path


def _read_certificate_file(hass: HomeAssistant, name: str) -> str:
    path = config_file(hass, name)
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    return checked_certificate(text, path.name)


async def async_certificate(hass: HomeAssistant, pem: str | None, file: str | None) -> str | None:
    """The certificate given as `pem` or in `file` (never both), checked; None: neither."""
    if pem and file:
        raise _invalid("pem_or_file")
    if file:
        return await hass.async_add_executor_job(_read_certificate_file, hass, file)
    if pem:
        return checked_certificate(pem, "pasted")
    return None


def checked_signature(signature: str) -> str:
    """A firmware signature when it is base64 within OCPP's bound; raises otherwise."""
    text = "".join(signature.split())
    if not text or len(text) > MAX_SIGNATURE_CHARS:
        raise _invalid("invalid_signature", limit=str(MAX_SIGNATURE_CHARS))
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise _invalid("invalid_signature", limit=str(MAX_SIGNATURE_CHARS)) from err
    return text


# The update_firmware fields of signed firmware.
FIRMWARE_SIGNATURE_FIELDS: dict[Any, Any] = {
    probatio.Optional("signature"): cv.string,
    probatio.Optional("signing_certificate"): cv.string,
    probatio.Optional("signing_certificate_file"): cv.string,
}


async def async_firmware_signature(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> tuple[str | None, str | None]:
    """The signing certificate and signature of an update, checked; (None, None): unsigned.

    Either both or neither: a signature without its certificate (or the reverse) is
    refused here, since a charger could not check it.
    """
    certificate = await async_certificate(
        hass, data.get("signing_certificate"), data.get("signing_certificate_file")
    )
    signature = data.get("signature")
    if (certificate is None) != (not signature):
        raise _invalid("signature_and_certificate")
    if certificate is None or not signature:
        return None, None
    return certificate, checked_signature(signature)
