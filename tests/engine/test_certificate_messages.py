"""Certificate messages, both versions: CSRs signed into client certificates, and commands."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from custom_components.ocpp_csms.csms.certificate_messages import certificate_uses
from custom_components.ocpp_csms.csms.certificates import (
    CertificateAuthority,
    CsrProblem,
    load_or_create_ca,
)
from custom_components.ocpp_csms.csms.commands import (
    CertificateHashData,
    CertificateUse,
    Command,
    CommandStatus,
    DeleteCertificate,
    GetInstalledCertificateIds,
    InstallCertificate,
    RequestCertificateSigning,
)
from custom_components.ocpp_csms.csms.credentials import hash_password
from custom_components.ocpp_csms.csms.events import CertificateRefused, Change, StationUpdated
from custom_components.ocpp_csms.csms.host import ChargerRecord, SecurityProfile
from custom_components.ocpp_csms.csms.schemas import load_all
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.tls import build_ssl_context
from tests.chargers import charger, wait_for
from tests.engine.conftest import ConnectRaw, Running, StartSystem
from tests.engine.pki import ec_key, make_csr, server_files
from tests.engine.test_commands import run_command

VERSIONS = ["ocpp1.6", "ocpp2.0.1"]
HASH = CertificateHashData("SHA256", "a1" * 32, "b2" * 32, "0c1d")
HASH_OCPP = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "a1" * 32,
    "issuerKeyHash": "b2" * 32,
    "serialNumber": "0c1d",
}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return load_or_create_ca(tmp_path_factory.mktemp("ca"))


async def _system(start_system: StartSystem, ca: CertificateAuthority | None) -> Running:
    running: Running = await start_system()
    running.directory.admit("CP-1")
    running.system.set_certificate_authority(ca)
    return running


def _leaf_for(chain: str, ca: CertificateAuthority) -> x509.Certificate:
    """The chain's leaf, verified as a client certificate of `ca` (or it raises)."""
    leaf, *rest = x509.load_pem_x509_certificates(chain.encode())
    assert rest == [ca.certificate]
    leaf.verify_directly_issued_by(ca.certificate)
    return leaf


@pytest.mark.parametrize("version", VERSIONS)
async def test_triggered_csr_is_signed(
    start_system: StartSystem, ca: CertificateAuthority, version: str
) -> None:
    """Asked for a CSR, the charger gets a chain of our CA with its id as CN."""
    running = await _system(start_system, ca)
    async with charger(running.url, "CP-1", version) as client:
        assert await client.boot() == "Accepted"
        result = await running.system.execute("CP-1", RequestCertificateSigning())
        assert result.accepted, result
        await wait_for(lambda: running.system.stations["CP-1"].client_certificate is not None)
        leaf = _leaf_for(client.client_chain, ca)
    common_names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [name.value for name in common_names] == ["CP-1"]
    kept = running.system.stations["CP-1"].client_certificate
    assert kept is not None
    assert (kept.installed, kept.answer) == (True, "Accepted")
    assert kept.facts.serial_number == f"{leaf.serial_number:x}"
    updates = running.recorder.of_type(StationUpdated, "CP-1")
    assert any(Change.CLIENT_CERTIFICATE in update.changed for update in updates)


@pytest.mark.parametrize("version", VERSIONS)
async def test_csr_of_another_id_is_refused(
    start_system: StartSystem, ca: CertificateAuthority, version: str
) -> None:
    """Accepted as a request, refused as a CSR: nothing is sent, a warning and an event."""
    running = await _system(start_system, ca)
    options = {"csr_common_name": "CP-OTHER"}
    async with charger(running.url, "CP-1", version, charger_options=options) as client:
        await client.boot()
        assert await client.request_certificate() == "Accepted"
        await wait_for(lambda: running.recorder.of_type(CertificateRefused, "CP-1"))
        await client.heartbeat()  # anything sent before it would have arrived by now
        assert client.chains_received == []
    refused = running.recorder.of_type(CertificateRefused, "CP-1")
    assert [event.problem for event in refused] == [CsrProblem.WRONG_COMMON_NAME]
    station = running.system.stations["CP-1"]
    assert station.warnings["certificate_refused"] == 1
    assert station.client_certificate is None


@pytest.mark.parametrize("version", VERSIONS)
async def test_no_ca_rejects(start_system: StartSystem, version: str) -> None:
    running = await _system(start_system, None)
    async with charger(running.url, "CP-1", version) as client:
        await client.boot()
        assert await client.request_certificate() == "Rejected"


async def test_v2g_and_garbage_are_rejected(
    raw_charger: ConnectRaw, ca: CertificateAuthority
) -> None:
    """We sign only charging station certificates, from something that looks like a CSR."""
    charger_201 = await raw_charger("ocpp2.0.1")
    charger_201.running.system.set_certificate_authority(ca)
    csr = make_csr(ec_key(), "CP-1").decode()
    for payload in (
        {"csr": csr, "certificateType": "V2GCertificate"},
        {"csr": "not a CSR at all"},
    ):
        assert await charger_201.result("SignCertificate", payload) == {"status": "Rejected"}


async def test_one_signing_at_a_time(raw_charger: ConnectRaw, ca: CertificateAuthority) -> None:
    """A second CSR while the first one's certificate is on its way is rejected."""
    raw = await raw_charger("ocpp1.6")
    raw.running.system.set_certificate_authority(ca)
    csr = make_csr(ec_key(), "CP-1").decode()
    assert await raw.result("SignCertificate", {"csr": csr}) == {"status": "Accepted"}
    assert await raw.result("SignCertificate", {"csr": csr}) == {"status": "Rejected"}
    unique_id, payload = await raw.expect_call("CertificateSigned")
    _leaf_for(payload["certificateChain"], ca)
    await raw.answer(unique_id, {"status": "Rejected"})
    station = raw.station
    await wait_for(lambda: station.client_certificate is not None)
    assert station.client_certificate is not None
    assert (station.client_certificate.installed, station.client_certificate.answer) == (
        False,
        "Rejected",
    )
    assert station.warnings["certificate_not_installed"] == 1
    assert await raw.result("SignCertificate", {"csr": csr}) == {"status": "Accepted"}


# (name, command, action, payload, answer, status, data) per version.
type Case = tuple[str, Command, str, dict[str, Any], dict[str, Any], CommandStatus, dict[str, Any]]
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CASES: dict[OcppVersion, list[Case]] = {
    OcppVersion.V16: [
        ("install", InstallCertificate(PEM), "InstallCertificate",
         {"certificateType": "CentralSystemRootCertificate", "certificate": PEM},
         {"status": "Accepted"}, CommandStatus.ACCEPTED, {}),
        ("install_failed", InstallCertificate(PEM, CertificateUse.MANUFACTURER_ROOT),
         "InstallCertificate",
         {"certificateType": "ManufacturerRootCertificate", "certificate": PEM},
         {"status": "Failed"}, CommandStatus.REJECTED, {}),
        ("installed", GetInstalledCertificateIds(), "GetInstalledCertificateIds",
         {"certificateType": "CentralSystemRootCertificate"},
         {"status": "Accepted", "certificateHashData": [HASH_OCPP]}, CommandStatus.ACCEPTED,
         {"certificates": [HASH]}),
        ("none_installed", GetInstalledCertificateIds(), "GetInstalledCertificateIds",
         {"certificateType": "CentralSystemRootCertificate"},
         {"status": "NotFound"}, CommandStatus.ACCEPTED, {"certificates": []}),
        ("delete", DeleteCertificate(HASH), "DeleteCertificate", {"certificateHashData": HASH_OCPP},
         {"status": "NotFound"}, CommandStatus.REJECTED, {}),
        ("trigger", RequestCertificateSigning(), "ExtendedTriggerMessage",
         {"requestedMessage": "SignChargePointCertificate"},
         {"status": "NotImplemented"}, CommandStatus.NOT_SUPPORTED, {}),
    ],
    OcppVersion.V201: [
        ("install", InstallCertificate(PEM), "InstallCertificate",
         {"certificateType": "CSMSRootCertificate", "certificate": PEM},
         {"status": "Rejected"}, CommandStatus.REJECTED, {}),
        ("installed", GetInstalledCertificateIds(), "GetInstalledCertificateIds",
         {"certificateType": ["CSMSRootCertificate"]},
         {"status": "Accepted", "certificateHashDataChain": [
             {"certificateType": "CSMSRootCertificate", "certificateHashData": HASH_OCPP}]},
         CommandStatus.ACCEPTED,
         {"certificates": [dataclasses.replace(HASH, use=CertificateUse.CSMS_ROOT)]}),
        ("delete", DeleteCertificate(HASH), "DeleteCertificate", {"certificateHashData": HASH_OCPP},
         {"status": "Accepted"}, CommandStatus.ACCEPTED, {}),
        ("trigger", RequestCertificateSigning(), "TriggerMessage",
         {"requestedMessage": "SignChargingStationCertificate"},
         {"status": "Rejected"}, CommandStatus.REJECTED, {}),
        ("install_v2g", InstallCertificate(PEM, CertificateUse.V2G_ROOT), "InstallCertificate",
         {"certificateType": "V2GRootCertificate", "certificate": PEM},
         {"status": "Accepted"}, CommandStatus.ACCEPTED, {}),
        ("installed_all", GetInstalledCertificateIds(None), "GetInstalledCertificateIds", {},
         {"status": "Accepted", "certificateHashDataChain": [
             {"certificateType": "MORootCertificate", "certificateHashData": HASH_OCPP}]},
         CommandStatus.ACCEPTED,
         {"certificates": [dataclasses.replace(HASH, use=CertificateUse.MO_ROOT)]}),
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("version", "case"),
    [(version, case) for version, cases in CASES.items() for case in cases],
    ids=[f"{version.value}-{case[0]}" for version, cases in CASES.items() for case in cases],
)
async def test_certificate_commands(
    raw_charger: ConnectRaw, version: OcppVersion, case: Case
) -> None:
    """Each command's CALL is valid for its version, and its answer reads as it should."""
    charger_raw = await raw_charger(version.value)
    _name, command, action, payload, answer, status, data = case
    frame, result = await run_command(charger_raw, command, answer)
    assert frame[2:] == [action, payload]
    assert load_all()[version].request_problem(action, frame[3]) is None
    assert result.status is status, result
    for key, value in data.items():
        assert result.data[key] == value


async def test_unknown_to_the_charger_is_not_supported(
    start_system: StartSystem, ca: CertificateAuthority
) -> None:
    """A 1.6 charger without the security extension answers NotImplemented."""
    running = await _system(start_system, ca)
    async with charger(running.url, "CP-1", "ocpp1.6") as client:
        await client.boot()
        for command in (InstallCertificate(ca.ca_pem), GetInstalledCertificateIds()):
            result = await running.system.execute("CP-1", command)
            assert result.status is CommandStatus.NOT_SUPPORTED, result


@pytest.mark.parametrize(
    ("version", "command"),
    [
        ("ocpp1.6", InstallCertificate(PEM, CertificateUse.V2G_ROOT)),
        ("ocpp1.6", GetInstalledCertificateIds(CertificateUse.MO_ROOT)),
        ("ocpp1.6", GetInstalledCertificateIds(None)),
        ("ocpp2.0.1", InstallCertificate(PEM, CertificateUse.OEM_ROOT)),
    ],
)
async def test_kinds_a_version_lacks_are_not_sent(
    raw_charger: ConnectRaw, version: str, command: Command
) -> None:
    """A kind of certificate the version has no word for: not supported, no CALL."""
    charger_raw = await raw_charger(version)
    result = await charger_raw.running.system.execute("CP-1", command)
    assert result.status is CommandStatus.NOT_SUPPORTED, result
    assert certificate_uses(OcppVersion(version))


PASSWORD = "profile-password-123"


@pytest.mark.parametrize("version", VERSIONS)
async def test_csr_to_profile_3(start_system: StartSystem, tmp_path: Path, version: str) -> None:
    """On profile 2 a charger gets its certificate; moved to profile 3 it is admitted with it."""
    ca = load_or_create_ca(tmp_path / "ca")
    server_cert, server_key = server_files(tmp_path)
    context = await asyncio.to_thread(
        build_ssl_context, str(server_cert), str(server_key), ca.ca_pem
    )
    running: Running = await start_system(ssl_context=context)
    running.system.set_certificate_authority(ca)
    record = ChargerRecord(
        "CP-1",
        hash_password(PASSWORD, generated=True),
        security_profile=SecurityProfile.TLS_BASIC_AUTH,
    )
    running.directory.known["CP-1"] = record
    trust = ssl.create_default_context(cafile=str(server_cert))
    async with charger(running.url, "CP-1", version, ssl=trust, password=PASSWORD) as client:
        assert await client.boot() == "Accepted"
        assert (await running.system.execute("CP-1", RequestCertificateSigning())).accepted
        await wait_for(lambda: client.client_chain is not None)
        files = client.write_client_files(tmp_path)
    running.directory.known["CP-1"] = dataclasses.replace(
        record, security_profile=SecurityProfile.TLS_CLIENT_CERTIFICATE
    )
    with_certificate = ssl.create_default_context(cafile=str(server_cert))
    with_certificate.load_cert_chain(*files)
    async with charger(running.url, "CP-1", version, ssl=with_certificate) as client:
        assert await client.boot() == "Accepted"
    assert running.system.counters.refused == {}


async def test_21_request_id_is_echoed(raw_charger: ConnectRaw, ca: CertificateAuthority) -> None:
    """2.1 pairs a CertificateSigned with its SignCertificate by requestId."""
    raw = await raw_charger("ocpp2.1")
    raw.running.system.set_certificate_authority(ca)
    csr = make_csr(ec_key(), "CP-1").decode()
    answer = await raw.result("SignCertificate", {"csr": csr, "requestId": 7})
    assert answer == {"status": "Accepted"}
    unique_id, payload = await raw.expect_call("CertificateSigned")
    assert (payload["requestId"], payload["certificateType"]) == (7, "ChargingStationCertificate")
    assert load_all()[OcppVersion.V21].request_problem("CertificateSigned", payload) is None
    await raw.answer(unique_id, {"status": "Accepted"})
    await wait_for(lambda: raw.station.client_certificate is not None)
