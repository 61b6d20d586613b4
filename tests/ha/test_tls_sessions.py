"""TLS sessions across a charger's move to security profile 3, with a real TLS client.

A charger's TLS stack may resume the session of its last connection instead of a full
handshake. A resumed session keeps what the first handshake had, so one made while the
server did not ask for client certificates has none.
"""

from __future__ import annotations

import asyncio
import ssl
from http import HTTPStatus
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant

from custom_components.ocpp_csms.const import CONF_SECURITY_PROFILE
from custom_components.ocpp_csms.csms.credentials import hash_password
from tests.engine.pki import client_files
from tests.ha.conftest import SetUpEntry
from tests.ha.test_security_profile_3 import PASSWORD, _client, _on_profile, _tls, _url
from tests.tls_client import open_websocket


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_a_session_from_before_profile_3_is_not_resumed(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path, version: ssl.TLSVersion
) -> None:
    """The first charger moved to profile 3 (the running server asks for certificates
    from then on) comes back trying to resume its profile-2 session: it gets a full
    handshake instead, presents its certificate and is admitted.

    TLS 1.3 sessions are never resumed (no tickets: each connection presents its
    certificate afresh); TLS 1.2 ones are, while the server asks the same.
    """
    stored = hash_password(PASSWORD, generated=True)
    entry = await setup_entry(chargers=[_on_profile("CP-2", 2, stored)], **_tls(tmp_path))
    hub = entry.runtime_data
    assert hub.ca is not None
    files = await hass.async_add_executor_job(client_files, tmp_path, hub.ca, "CP-2")
    context = _client(entry, files)
    context.maximum_version = version
    url = _url(entry)

    first = await asyncio.to_thread(open_websocket, url, "CP-2", context, password=PASSWORD)
    assert (first.status, first.resumed) == (HTTPStatus.SWITCHING_PROTOCOLS, False)
    again = await asyncio.to_thread(
        open_websocket, url, "CP-2", context, session=first.session, password=PASSWORD
    )
    assert again.status == HTTPStatus.SWITCHING_PROTOCOLS
    assert again.resumed is (version is ssl.TLSVersion.TLSv1_2)

    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, CONF_SECURITY_PROFILE: 3}
    )
    await hass.async_block_till_done()
    assert entry.runtime_data is hub  # no reload
    assert hub.client_certificates is True
    moved = await asyncio.to_thread(open_websocket, url, "CP-2", context, session=again.session)
    assert (moved.status, moved.resumed) == (HTTPStatus.SWITCHING_PROTOCOLS, False)
