"""OCPP Central System: EV chargers connect to Home Assistant over OCPP."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from homeassistant.config_entries import SOURCE_IGNORE
from homeassistant.const import CONF_HOST, CONF_PORT, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .certificate_authority import wants_client_certificates
from .client_certificates.issues import async_delete_certificate_issues
from .client_certificates.memory import async_remove_certificate_storage
from .const import DOMAIN
from .csms.certificates import CertificateAuthorityError
from .http import async_setup_http
from .hub import CentralSystemHub, OcppCsmsConfigEntry
from .logbook_phrases import async_load_phrases
from .services import async_setup_services
from .sessions.exports import async_setup_exports
from .sessions.meter_issues import async_delete_register_issues
from .tags.services import async_setup_tag_services
from .tags.store import async_remove_tag_storage
from .upstream.issues import async_delete_credential_issues
from .upstream.settings import QUEUE_FOLDER, delete_entry_queues

__all__ = ["DOMAIN"]

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CALENDAR,
    Platform.EVENT,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TIME,
]


CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, the file views and the session downloads once.

    Also load the logbook's sentences, which it reads synchronously.
    """
    async_setup_services(hass)
    async_setup_tag_services(hass)
    async_setup_http(hass)
    async_setup_exports(hass)
    await async_load_phrases(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: OcppCsmsConfigEntry) -> bool:
    """Start the central system of a config entry."""
    hub = CentralSystemHub(hass, entry)
    placeholders = {"host": entry.data[CONF_HOST], "port": str(entry.data[CONF_PORT])}
    try:
        await hub.async_start()
    except asyncio.CancelledError:
        await _async_stop_cancelled(hub)
        raise
    except CertificateAuthorityError as err:
        # A charger is on security profile 3 and the CA it needs does not load.
        await hub.async_stop()
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="ca_unavailable",
            translation_placeholders={"error": str(err)},
        ) from err
    except ssl.SSLError as err:
        # The files exist but do not load: retrying will not help, reconfiguring will.
        await hub.async_stop()
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_certificate",
            translation_placeholders={"error": str(err)},
        ) from err
    except OSError as err:
        # Port taken by another program, or a certificate file not there (yet).
        await hub.async_stop()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_listen",
            translation_placeholders={**placeholders, "error": str(err)},
        ) from err
    entry.runtime_data = hub

    async def _async_stop_on_shutdown(_event: Event) -> None:
        # Home Assistant does not unload entries when it stops: close connections
        # and write the journal's last batch now.
        await hub.async_stop()

    # Not listen_once: unloading after the stop would remove a listener already gone.
    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _async_stop_on_shutdown))
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    try:
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    except asyncio.CancelledError:
        await _async_stop_cancelled(hub)
        raise
    return True


async def _async_stop_cancelled(hub: CentralSystemHub) -> None:
    """Home Assistant gave up on the set-up (it is stopping, or a reload overtook it).

    Nothing unloads an entry whose set-up was cancelled: release the port and write and
    close the journal here, or its thread and file would stay open.
    """
    await asyncio.shield(hub.async_stop())


async def _async_entry_updated(hass: HomeAssistant, entry: OcppCsmsConfigEntry) -> None:
    """Chargers or the site changed: follow without restarting the server.

    Reconfigured server settings (address, port, TLS, CA, admission) and a price set or
    cleared (which adds or removes the cost sensors) take a reload. The first charger
    moved to security profile 3, or the last one away from it, makes the running
    server ask for client certificates or stop asking (a reload only when the CA did
    not load at start).
    """
    hub = entry.runtime_data
    chargers = [subentry.data for subentry in hub.index.subentries()]
    if (
        dict(entry.data) != hub.started_with_server
        or (hub.sessions.pricing is None) != hub.started_without_price
        or not hub.follow_client_certificates(wants_client_certificates(entry.data, chargers))
    ):
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    hub.site_link.sync()
    hub.schedule_link.sync()
    hub.prices.sync()
    # Metering (the options' and each charger's) follows there too.
    await hub.async_sync_chargers()


async def async_unload_entry(hass: HomeAssistant, entry: OcppCsmsConfigEntry) -> bool:
    """Close the server and every charger connection."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    await entry.runtime_data.async_stop()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: OcppCsmsConfigEntry) -> None:
    """Forget what belonged to this central system along with it.

    The chargers it rejected, its tags, its chargers' certificate facts, its upstream
    queues and its repairs.
    """
    await async_remove_tag_storage(hass, entry.entry_id)
    await hass.async_add_executor_job(
        delete_entry_queues, Path(hass.config.path(QUEUE_FOLDER)), entry.entry_id
    )
    async_delete_register_issues(hass, entry.entry_id)
    await async_remove_certificate_storage(hass, entry.entry_id)
    async_delete_certificate_issues(hass, entry.entry_id)
    async_delete_credential_issues(hass, entry.entry_id)
    prefix = f"{entry.entry_id}_"
    for other in hass.config_entries.async_entries(DOMAIN, include_ignore=True):
        if other.source == SOURCE_IGNORE and (other.unique_id or "").startswith(prefix):
            await hass.config_entries.async_remove(other.entry_id)
