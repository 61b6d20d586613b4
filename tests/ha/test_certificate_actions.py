"""Certificate actions against simulated chargers, signed firmware, and the CA download."""

from __future__ import annotations

import base64
import dataclasses
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from websockets.asyncio.client import connect

from custom_components.ocpp_csms.const import DOMAIN
from custom_components.ocpp_csms.csms.certificates import load_or_create_ca
from custom_components.ocpp_csms.http import CA_CERTIFICATE_URL
from tests.chargers import charger, wait_for
from tests.ha.conftest import SetUpEntry, url_of
from tests.ha.test_entities import garage
from tests.ha.test_files import firmware_file, served  # noqa: F401 (a fixture)
from tests.ha.test_profile_upgrade import _entry
from tests.ha.test_security_profile_3 import PASSWORD, _client, _url
from tests.ha.test_services import device_id

VERSIONS = ["ocpp1.6", "ocpp2.0.1"]
RESPONSES = {"get_installed_certificates", "request_certificate_renewal"}


async def act(hass: HomeAssistant, entry: MockConfigEntry, action: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        action,
        {"device_id": device_id(hass, entry), **data},
        blocking=True,
        return_response=action in RESPONSES,
    )


def _tls_charger(entry: MockConfigEntry, version: str, **options: Any) -> Any:
    return charger(
        _url(entry),
        "CP-1",
        version,
        ssl=_client(entry),
        password=PASSWORD,
        charger_options={"security_profile": 2, **options},
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("version", VERSIONS)
async def test_install_list_and_delete(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path, version: str
) -> None:
    """Our CA by default; another root from a file; listed as hash data; one deleted by
    passing its listed item as it is."""
    entry = await _entry(setup_entry, tmp_path)
    other = await hass.async_add_executor_job(load_or_create_ca, tmp_path / "vendor")
    await hass.async_add_executor_job(
        _write, Path(hass.config.path("roots/vendor.pem")), other.ca_pem
    )
    async with _tls_charger(entry, version) as client:
        assert await client.boot() == "Accepted"
        assert await act(hass, entry, "get_installed_certificates") == {"certificates": []}
        await act(hass, entry, "install_certificate")
        await act(
            hass,
            entry,
            "install_certificate",
            certificate_type="manufacturer_root",
            file="roots/vendor.pem",
        )
        held = [certificate for _, certificate in client.roots]
        assert held == [entry.runtime_data.ca.certificate, other.certificate]
        listed = (await act(hass, entry, "get_installed_certificates"))["certificates"]
        assert [item["certificate_type"] for item in listed] == ["csms_root", "manufacturer_root"]
        assert listed[0]["serial_number"] == f"{held[0].serial_number:x}"
        assert listed[1]["serial_number"] == f"{other.certificate.serial_number:x}"
        only = await act(
            hass, entry, "get_installed_certificates", certificate_type="manufacturer_root"
        )
        assert only == {"certificates": [listed[1]]}
        await act(hass, entry, "delete_certificate", **listed[1])
        assert [certificate for _, certificate in client.roots] == [held[0]]
        with pytest.raises(HomeAssistantError) as error:
            await act(hass, entry, "delete_certificate", **listed[1])
        assert error.value.translation_key == "certificate_not_found"


async def test_certificates_given_are_checked_before_sending(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    entry = await _entry(setup_entry, tmp_path)
    outside = tmp_path.parent / "outside.pem"
    await hass.async_add_executor_job(_write, outside, entry.runtime_data.ca.ca_pem)
    await hass.async_add_executor_job(_write, Path(hass.config.path("junk.pem")), "not PEM")
    cases = [
        ({"pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
         "invalid_certificate_pem"),
        ({"pem": entry.runtime_data.ca.ca_pem * 2}, "invalid_certificate_pem"),
        ({"pem": "x" * 6000}, "certificate_too_long"),
        ({"file": "junk.pem"}, "invalid_certificate_pem"),
        ({"file": "nowhere.pem"}, "file_not_found"),
        ({"file": "../outside.pem"}, "file_outside_config"),
        ({"file": str(outside)}, "file_outside_config"),
        ({"pem": entry.runtime_data.ca.ca_pem, "file": "junk.pem"}, "pem_or_file"),
        ({"certificate_type": "manufacturer_root"}, "certificate_required"),
        ({"certificate_type": "v2g_root"}, "certificate_type_unknown_to_version"),
    ]  # fmt: skip
    async with _tls_charger(entry, "ocpp1.6") as client:
        assert await client.boot() == "Accepted"
        for data, key in cases:
            with pytest.raises(ServiceValidationError) as error:
                await act(hass, entry, "install_certificate", **data)
            assert error.value.translation_key == key, data
        assert not [name for name, _ in client.received if name == "InstallCertificate"]
        # Pasted with Windows line ends and spaces around: tidied and sent.
        pasted = "  " + entry.runtime_data.ca.ca_pem.replace("\n", "\r\n") + "\n\n"
        await act(hass, entry, "install_certificate", pem=pasted)
        assert len(client.roots) == 1


async def test_refusals_and_silence(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    """The charger's own words, a charger without the security extension, offline."""
    entry = await _entry(setup_entry, tmp_path)
    async with _tls_charger(entry, "ocpp2.0.1") as client:
        assert await client.boot() == "Accepted"
        client.answers["InstallCertificate"] = "Rejected"
        with pytest.raises(HomeAssistantError) as error:
            await act(hass, entry, "install_certificate")
        assert error.value.translation_key == "certificate_rejected"
        client.answers["InstallCertificate"] = "Failed"
        with pytest.raises(HomeAssistantError) as error:
            await act(hass, entry, "install_certificate")
        assert error.value.translation_key == "certificate_failed"
        client.answers["TriggerMessage"] = "Rejected"
        with pytest.raises(HomeAssistantError) as error:
            await act(hass, entry, "request_certificate_renewal")
        assert error.value.translation_key == "command_rejected"
    async with charger(
        _url(entry), "CP-1", "ocpp1.6", ssl=_client(entry), password=PASSWORD
    ) as client:
        # A 1.6 charger without the security extension answers NotImplemented.
        assert await client.boot() == "Accepted"
        with pytest.raises(HomeAssistantError) as error:
            await act(hass, entry, "get_installed_certificates")
        assert error.value.translation_key == "command_not_supported"
    await wait_for(lambda: entry.runtime_data.system.connection("CP-1") is None)
    for action in ("install_certificate", "get_installed_certificates"):
        with pytest.raises(HomeAssistantError) as error:
            await act(hass, entry, action)
        assert error.value.translation_key == "command_offline"


async def test_a_silent_charger_times_out(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    entry = await setup_entry(chargers=[garage()])
    system = entry.runtime_data.system
    system.settings = dataclasses.replace(system.settings, call_timeout=0.2)
    async with connect(f"{url_of(entry)}/CP-1", subprotocols=["ocpp2.0.1"]):  # type: ignore[list-item]
        await wait_for(lambda: system.connection("CP-1") is not None)
        with pytest.raises(HomeAssistantError) as error:
            await act(hass, entry, "get_installed_certificates")
        assert error.value.translation_key == "command_timed_out"
        # Without TLS there is no CA: nothing to install by default, nothing to sign.
        for action in ("install_certificate", "request_certificate_renewal"):
            with pytest.raises(HomeAssistantError) as error:
                await act(hass, entry, action)
            assert error.value.translation_key == "no_certificate_authority"


@pytest.mark.parametrize("version", VERSIONS)
async def test_certificate_renewal(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path, version: str
) -> None:
    """The charger's CSR is signed by our CA; waiting returns the certificate's facts."""
    entry = await _entry(setup_entry, tmp_path)
    async with _tls_charger(entry, version) as client:
        assert await client.boot() == "Accepted"
        answer = await act(hass, entry, "request_certificate_renewal", wait=True)
        assert answer["status"] == "installed"
        assert client.client_chain is not None
        leaf = x509.load_pem_x509_certificate(client.client_chain.encode())
        assert answer["serial_number"] == f"{leaf.serial_number:x}"
        assert answer["subject"] == "CN=CP-1"
        first = client.client_chain
        assert await act(hass, entry, "request_certificate_renewal") == {"status": "requested"}
        await wait_for(lambda: client.client_chain != first)


def _signed_image(hass: HomeAssistant, tmp_path: Path) -> tuple[str, str, Path]:
    """A firmware file, the PEM of the certificate that signed it, and the signature."""
    path = firmware_file(hass, "signed.bin")
    key = ec.generate_private_key(ec.SECP256R1())
    vendor = load_or_create_ca(tmp_path / "signer")
    certificate = vendor.sign_csr(_csr(key), "firmware-signer")
    signature = key.sign(path.read_bytes(), ec.ECDSA(hashes.SHA256()))
    return certificate.pem, base64.b64encode(signature).decode(), path


def _csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    from tests.engine.pki import make_csr

    return make_csr(key, "firmware-signer")


@pytest.mark.parametrize("version", VERSIONS)
async def test_signed_firmware(
    hass: HomeAssistant,
    served: tuple[Any, Any],  # noqa: F811
    tmp_path: Path,
    version: str,
) -> None:
    """A good signature is verified and installed, a bad one is not (and is a repair); the
    1.6 security extension's SignedFirmwareStatusNotification is reported the same way."""
    entry, _ = served
    pem, signature, _path = _signed_image(hass, tmp_path)
    statuses: list[str] = []
    hass.bus.async_listen(
        f"{DOMAIN}_firmware_status", callback(lambda event: statuses.append(event.data["status"]))
    )
    station = entry.runtime_data.system.ensure_station("CP-1")
    async with charger(
        url_of(entry), "CP-1", version, charger_options={"security_profile": 1}
    ) as client:
        await client.boot()
        firmware = {"file": "signed.bin", "signing_certificate": pem}
        await act(hass, entry, "update_firmware", **firmware, signature=signature)
        await wait_for(lambda: station.firmware_status == "Installed")
        await hass.async_block_till_done()
        assert statuses == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                            "Installed"]  # fmt: skip
        action = "SignedUpdateFirmware" if version == "ocpp1.6" else "UpdateFirmware"
        _, payload = next(item for item in client.received if item[0] == action)
        assert payload["firmware"]["signature"] == signature
        if version == "ocpp1.6":
            assert station.firmware_request_id == payload["request_id"]
        statuses.clear()
        wrong = base64.b64encode(b"\x30" * 70).decode()
        await act(hass, entry, "update_firmware", **firmware, signature=wrong)
        await wait_for(lambda: station.firmware_status == "InvalidSignature")
        await hass.async_block_till_done()
        assert statuses[-1] == "InvalidSignature"
        issue = f"firmware_failed_{entry.entry_id}_CP-1"
        assert ir.async_get(hass).async_get_issue(DOMAIN, issue) is not None
        # The charger refuses a signing certificate it cannot read.
        client.answers[action] = "InvalidCertificate"
        with pytest.raises(HomeAssistantError) as error:
            await act(hass, entry, "update_firmware", **firmware, signature=signature)
        assert error.value.translation_key == "signing_certificate_refused"


async def test_signed_firmware_input_is_checked(
    hass: HomeAssistant,
    served: tuple[Any, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    entry, _ = served
    pem, signature, _path = _signed_image(hass, tmp_path)
    cases = [
        ({"signing_certificate": pem, "signature": "not base64!"}, "invalid_signature"),
        ({"signing_certificate": pem, "signature": "QUJD" * 250}, "invalid_signature"),
        ({"signature": signature}, "signature_and_certificate"),
        ({"signing_certificate": pem}, "signature_and_certificate"),
        ({"signing_certificate": "garbage", "signature": signature}, "invalid_certificate_pem"),
        ({"signing_certificate_file": "nowhere.pem", "signature": signature}, "file_not_found"),
    ]
    async with charger(url_of(entry), "CP-1", "ocpp2.0.1") as client:
        await client.boot()
        for data, key in cases:
            with pytest.raises(ServiceValidationError) as error:
                await act(hass, entry, "update_firmware", file="signed.bin", **data)
            assert error.value.translation_key == key, data
        assert not [name for name, _ in client.received if name == "UpdateFirmware"]


async def test_ca_certificate_download(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    tmp_path: Path,
    hass_client: Any,
    hass_client_no_auth: Any,
) -> None:
    """Logged-in users get the PEM (never the key); others get nothing."""
    plain = await setup_entry()
    client = await hass_client()
    response = await client.get(CA_CERTIFICATE_URL)
    assert response.status == HTTPStatus.NOT_FOUND
    await hass.config_entries.async_unload(plain.entry_id)
    entry = await _entry(setup_entry, tmp_path)
    ca = entry.runtime_data.ca
    for path in (CA_CERTIFICATE_URL, f"{CA_CERTIFICATE_URL}?entry_id={entry.entry_id}"):
        response = await client.get(path)
        assert response.status == HTTPStatus.OK
        body = await response.text()
        assert body == ca.ca_pem
        assert "PRIVATE KEY" not in body
        assert response.headers["Content-Type"].startswith("application/x-pem-file")
    assert (await client.get(f"{CA_CERTIFICATE_URL}?entry_id=other")).status == 404
    anonymous = await hass_client_no_auth()
    assert (await anonymous.get(CA_CERTIFICATE_URL)).status == HTTPStatus.UNAUTHORIZED
