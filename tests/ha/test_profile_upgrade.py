"""upgrade_security_profile: a profile-2 charger moved to profile 3, end to end over wss://.

The simulated charger plays its part as the specifications say: 1.6 takes
ChangeConfiguration SecurityProfile=3 and disconnects; 2.0.1 takes a network profile in
a new slot, that slot first in NetworkConfigurationPriority, and disconnects at the
Reset. The test then connects it again with the certificate our CA signed during the
upgrade, as the charger itself would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry
from websockets.exceptions import InvalidStatus

from custom_components.ocpp_csms.certificate_services import SubentryProfile
from custom_components.ocpp_csms.const import CONF_SECURITY_PROFILE, DOMAIN
from custom_components.ocpp_csms.csms.commands import (
    Command,
    CommandResult,
    CommandStatus,
    RequestCertificateSigning,
    SetConfiguration,
    SetNetworkProfile,
)
from custom_components.ocpp_csms.csms.credentials import hash_password
from custom_components.ocpp_csms.csms.host import SecurityProfile
from tests.chargers import PATIENCE_S, charger, wait_for
from tests.ha.conftest import SetUpEntry
from tests.ha.test_security_profile_3 import PASSWORD, _client, _on_profile, _tls, _url
from tests.ha.test_services import device_id


async def _entry(
    setup_entry: SetUpEntry, tmp_path: Path, *, profile: int = 2, tls: bool = True
) -> MockConfigEntry:
    stored = hash_password(PASSWORD, generated=True)
    subentry = _on_profile("CP-1", profile, stored)
    return await setup_entry(chargers=[subentry], **(_tls(tmp_path) if tls else {}))


PRIORITY = "OCPPCommCtrlr/NetworkConfigurationPriority"


def _profile(entry: MockConfigEntry) -> int:
    subentry = next(iter(entry.subentries.values()))
    return int(subentry.data[CONF_SECURITY_PROFILE])


async def _upgrade(hass: HomeAssistant, entry: MockConfigEntry, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "upgrade_security_profile",
        {"device_id": device_id(hass, entry), **data},
        blocking=True,
        return_response=True,
    )


def _steps(answer: Any) -> dict[str, str]:
    return {step["step"]: step["outcome"] for step in answer["steps"]}


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_profile_2_to_3_end_to_end(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path, version: str
) -> None:
    """Certificate, setting, the charger's own steps, reconnection with the certificate;
    afterwards the password alone no longer admits it (no downgrade)."""
    entry = await _entry(setup_entry, tmp_path)
    hub = entry.runtime_data
    assert hub.client_certificates is False
    options = {"security_profile": 2}
    async with charger(
        _url(entry),
        "CP-1",
        version,
        ssl=_client(entry),
        password=PASSWORD,
        charger_options=options,
    ) as client:
        assert await client.boot() == "Accepted"
        upgrade = hass.async_create_task(_upgrade(hass, entry, reconnect_timeout=PATIENCE_S))
        # It answers the last step, then leaves to come back on profile 3.
        await wait_for(lambda: client.profile_changed and client.websocket.state.name == "CLOSED")
        files = client.write_client_files(tmp_path)
        received = [name for name, _ in client.received]
    assert _profile(entry) == 3
    assert hub.client_certificates is True  # asked from now on, without a restart
    if version == "ocpp1.6":
        assert ("ChangeConfiguration", {"key": "SecurityProfile", "value": "3"}) in (
            client.received
        )
    else:
        assert received[-3:] == ["SetNetworkProfile", "SetVariables", "Reset"]
        _, payload = next(item for item in client.received if item[0] == "SetNetworkProfile")
        assert payload["configuration_slot"] == 1
        data = payload["connection_data"]
        assert data["security_profile"] == 3
        assert data["ocpp_csms_url"] == _url(entry)  # where it reached us, without its id
        assert client.configuration["OCPPCommCtrlr/NetworkConfigurationPriority"] == "1,0"
    async with charger(_url(entry), "CP-1", version, ssl=_client(entry, files)) as again:
        assert await again.boot() == "Accepted"
        answer = await asyncio.wait_for(upgrade, PATIENCE_S)
    steps = _steps(answer)
    assert answer["security_profile"] == 3
    assert steps["client_certificate"] == "signed"
    assert steps["profile_setting"] == "done"
    assert steps["reconnect"] == "reconnected"
    assert (steps.get("security_profile") or steps["reset"]) == "accepted"
    record = hub.index.find("CP-1")
    assert record is not None
    assert record.security_profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
    # A downgrade: back with its password only, refused.
    with pytest.raises(InvalidStatus) as refused:
        async with charger(_url(entry), "CP-1", version, ssl=_client(entry), password=PASSWORD):
            pass
    assert refused.value.response.status_code == HTTPStatus.FORBIDDEN
    with pytest.raises(ServiceValidationError) as error:
        await _upgrade(hass, entry)
    assert error.value.translation_key == "already_profile_3"


@pytest.mark.parametrize(
    ("version", "refused_step", "action"),
    [
        ("ocpp1.6", "security_profile", "ChangeConfiguration"),
        ("ocpp2.0.1", "network_profile", "SetNetworkProfile"),
        ("ocpp2.0.1", "reset", "Reset"),
    ],
)
async def test_a_refusal_restores_the_profile(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    tmp_path: Path,
    version: str,
    refused_step: str,
    action: str,
) -> None:
    """The charger refuses a step: our setting goes back to 2, the error names the step,
    and the charger still gets in with its password."""
    entry = await _entry(setup_entry, tmp_path)
    async with charger(
        _url(entry),
        "CP-1",
        version,
        ssl=_client(entry),
        password=PASSWORD,
        charger_options={"security_profile": 2},
    ) as client:
        assert await client.boot() == "Accepted"
        client.answers[action] = "Rejected"
        with pytest.raises(HomeAssistantError) as error:
            await _upgrade(hass, entry)
        assert error.value.translation_key == "upgrade_step_refused"
        placeholders = error.value.translation_placeholders or {}
        assert placeholders["step"] == refused_step
        assert placeholders["profile"] == "2"
        assert _profile(entry) == 2
        assert entry.runtime_data.client_certificates is False
        if action == "Reset":
            # Its old priority list is back: a restart would not try the new slot first.
            assert client.configuration[PRIORITY] == "0"
    async with charger(
        _url(entry), "CP-1", version, ssl=_client(entry), password=PASSWORD
    ) as client:
        assert await client.boot() == "Accepted"


async def test_what_the_upgrade_needs_first(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    """TLS, a connected charger, a CSR that passes our checks: each missing one says so."""
    plain = await _entry(setup_entry, tmp_path, tls=False)
    with pytest.raises(ServiceValidationError) as invalid:
        await _upgrade(hass, plain)
    assert invalid.value.translation_key == "upgrade_needs_tls"
    await hass.config_entries.async_unload(plain.entry_id)

    entry = await _entry(setup_entry, tmp_path)
    with pytest.raises(HomeAssistantError) as error:
        await _upgrade(hass, entry)
    assert error.value.translation_key == "command_offline"
    async with charger(
        _url(entry),
        "CP-1",
        "ocpp1.6",
        ssl=_client(entry),
        password=PASSWORD,
        charger_options={"security_profile": 2, "csr_common_name": "SOMEONE-ELSE"},
    ) as client:
        assert await client.boot() == "Accepted"
        with pytest.raises(HomeAssistantError) as error:
            await _upgrade(hass, entry)
        assert error.value.translation_key == "csr_refused"
        assert _profile(entry) == 2
        # A certificate it got by hand is trusted when the user says so: the charger
        # itself then refuses, holding none (A05.FR.04), and nothing changes.
        with pytest.raises(HomeAssistantError) as error:
            await _upgrade(hass, entry, client_certificate="present")
        assert error.value.translation_key == "upgrade_step_refused"
        assert _profile(entry) == 2


async def test_no_csr_in_time(hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path) -> None:
    """A charger that accepts the request and never sends a CSR: a bounded wait, then why."""
    entry = await _entry(setup_entry, tmp_path)
    async with charger(
        _url(entry),
        "CP-1",
        "ocpp2.0.1",
        ssl=_client(entry),
        password=PASSWORD,
        charger_options={"security_profile": 2},
    ) as client:
        assert await client.boot() == "Accepted"

        async def no_csr(message: str, connector: int | None) -> None:
            """Forgets what it was asked for."""

        client.send_requested = no_csr
        with pytest.raises(HomeAssistantError) as error:
            await _upgrade(hass, entry, certificate_timeout=1)
        assert error.value.translation_key == "no_certificate_in_time"
        assert (error.value.translation_placeholders or {})["seconds"] == "1"
        assert _profile(entry) == 2


def _intercept(
    monkeypatch: pytest.MonkeyPatch,
    entry: MockConfigEntry,
    kind: type,
    answer: Callable[[Command], Awaitable[CommandResult]],
) -> None:
    """Commands of `kind` to the charger get `answer`'s result instead of the charger's."""
    system = entry.runtime_data.system
    assert system is not None
    execute = system.execute

    async def intercepted(charger_id: str, command: Command) -> CommandResult:
        if isinstance(command, kind):
            return await answer(command)
        return await execute(charger_id, command)

    monkeypatch.setattr(system, "execute", intercepted)


def _connected(entry: MockConfigEntry, version: str) -> Any:
    return charger(
        _url(entry),
        "CP-1",
        version,
        ssl=_client(entry),
        password=PASSWORD,
        charger_options={"security_profile": 2},
    )


async def test_a_charger_that_does_not_tell_its_priority_list(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    """Nothing is written over the slots it falls back on: a translated error instead."""
    entry = await _entry(setup_entry, tmp_path)
    async with _connected(entry, "ocpp2.0.1") as client:
        # Before the boot: the base report the boot brings must not tell it either
        # (on a busy machine it came before a deletion made after the boot).
        del client.configuration[PRIORITY]
        assert await client.boot() == "Accepted"
        with pytest.raises(HomeAssistantError) as error:
            # The certificate is not what this is about: its CSR round took up to the
            # whole test's time on a loaded machine.
            await _upgrade(hass, entry, client_certificate="present")
        assert error.value.translation_key == "network_priority_unknown"
        assert "SetNetworkProfile" not in [name for name, _ in client.received]
        assert _profile(entry) == 2


async def test_no_answer_once_told_to_move_keeps_profile_3(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The charger may have taken SecurityProfile=3 and gone before answering: its
    setting stays on 3 (restoring 2 would shut it out), and the error says so."""
    entry = await _entry(setup_entry, tmp_path)

    async def timed_out(command: Command) -> CommandResult:
        return CommandResult(CommandStatus.TIMED_OUT)

    async with _connected(entry, "ocpp1.6") as client:
        assert await client.boot() == "Accepted"
        _intercept(monkeypatch, entry, SetConfiguration, timed_out)
        with pytest.raises(HomeAssistantError) as error:
            await _upgrade(hass, entry)
    assert error.value.translation_key == "upgrade_state_unknown"
    placeholders = error.value.translation_placeholders or {}
    assert (placeholders["step"], placeholders["profile"]) == ("security_profile", "2")
    assert _profile(entry) == 3
    assert entry.runtime_data.client_certificates is True


async def test_a_cancelled_upgrade_restores_the_profile_and_one_runs_at_a_time(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second upgrade while one runs is refused; the first one, stopped mid-command
    (Home Assistant stops, or the script calling it is stopped) before the charger was
    told to move, leaves profile 2 and no server asking for certificates."""
    entry = await _entry(setup_entry, tmp_path)
    sent = asyncio.Event()

    async def never_answered(command: Command) -> CommandResult:
        sent.set()
        await asyncio.Event().wait()
        raise AssertionError

    async with _connected(entry, "ocpp2.0.1") as client:
        assert await client.boot() == "Accepted"
        _intercept(monkeypatch, entry, RequestCertificateSigning, never_answered)
        first = hass.async_create_task(_upgrade(hass, entry))
        await asyncio.wait_for(sent.wait(), PATIENCE_S)
        with pytest.raises(HomeAssistantError) as error:
            await _upgrade(hass, entry)
        assert error.value.translation_key == "upgrade_in_progress"
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        # Now past our setting, stopped at the network profile.
        sent.clear()
        monkeypatch.undo()
        _intercept(monkeypatch, entry, SetNetworkProfile, never_answered)
        upgrade = hass.async_create_task(_upgrade(hass, entry))
        await asyncio.wait_for(sent.wait(), PATIENCE_S)
        assert _profile(entry) == 3
        upgrade.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upgrade
        assert _profile(entry) == 2
        assert entry.runtime_data.client_certificates is False


async def test_restoring_leaves_a_profile_set_meanwhile_alone(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    """Someone set the charger's profile in its settings during the upgrade: theirs stands."""
    entry = await _entry(setup_entry, tmp_path)
    hub = entry.runtime_data
    setting = SubentryProfile(hass, hub, "CP-1")
    await setting.set(SecurityProfile.TLS_CLIENT_CERTIFICATE)
    await setting.restore()
    assert _profile(entry) == 2
    await setting.set(SecurityProfile.TLS_CLIENT_CERTIFICATE)
    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, CONF_SECURITY_PROFILE: 1}
    )
    await setting.restore()
    assert _profile(entry) == 1
