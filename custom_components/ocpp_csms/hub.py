"""Runtime data of a central-system config entry: its parts, started and stopped together.

`CentralSystemHub` is the entry's `runtime_data`: the engine (`CentralSystem`) and the
Home Assistant parts around it, each in a module of its own and given only what it
uses: the admitted chargers (`ChargerIndex`), their devices (`DeviceRegistrar`), the
entities and their one update path (`EntityManager`), the engine's events routed to
them (`EventRouter`), the journal (`SessionBook`), tags, site, schedules, repairs,
the Home Assistant events of chargers (`ChargerReports`, `ChargerActivity`), their
client certificates (`CertificateLink`) and forwarding to upstream central systems
(`UpstreamLinks`).
Entities receive the hub, the typed bundle of those parts.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.loader import async_get_integration

from .certificate_authority import async_load_ca, wants_client_certificates
from .charger_activity import ChargerActivity
from .charger_index import ChargerIndex
from .charger_reports import ChargerReports
from .client_certificates.link import CertificateLink
from .const import (
    CONF_CERTFILE,
    CONF_CHARGER_ID,
    CONF_KEYFILE,
    CONF_TLS,
    CONF_UNKNOWN_CHARGERS,
    DOMAIN,
)
from .csms.authorization import TagRegistry
from .csms.central_system import CentralSystem
from .csms.certificates import CertificateAuthority, CertificateAuthorityError
from .csms.commands import Command, CommandResult, CommandStatus
from .csms.host import AdmissionPolicy, CentralSystemSettings
from .csms.server import ServerSettings
from .csms.solar import ChargingMode
from .csms.tls import ServerContext, build_server_context
from .devices import DeviceRegistrar
from .entity_manager import EntityManager
from .event_router import EventRouter
from .file_progress import FileProgress
from .metering_options import meter_overrides_from, meter_wish_from
from .prices.link import PriceLink
from .schedules.link import ScheduleLink
from .sessions.book import SessionBook
from .sessions.meter_issues import RegisterIssues
from .site.link import SiteLink
from .tags.issues import UnknownTagIssues
from .tags.store import TagStore
from .upstream.link import UpstreamLinks

_LOGGER = logging.getLogger(__name__)

type OcppCsmsConfigEntry = ConfigEntry[CentralSystemHub]


class CentralSystemHub:
    """One config entry's central system and the Home Assistant parts around it."""

    def __init__(self, hass: HomeAssistant, entry: OcppCsmsConfigEntry) -> None:
        """Build the parts; `async_start` starts the server."""
        self.hass = hass
        self.entry = entry
        self.system: CentralSystem | None = None
        self.index = ChargerIndex(hass, entry, mode=self._mode)
        self.devices = DeviceRegistrar(hass, entry)
        self.entities: EntityManager[CentralSystemHub] = EntityManager(
            hass, entry.entry_id, self.index
        )
        self.sessions = SessionBook(hass, entry, self.index, self.entities)
        # Remote starts use the chargers' own tags: always accepted on their charger.
        self.tags = TagStore(
            hass,
            entry.entry_id,
            TagRegistry(own_tags=lambda charger_id: (self.index.default_tag(charger_id),)),
        )
        self.tag_issues = UnknownTagIssues(
            hass, entry.entry_id, self.tags.registry, self.index.charger_name
        )
        self.register_issues = RegisterIssues(hass, entry.entry_id, self.index)
        self._unsubscribe_tags = self.tags.registry.subscribe(self.tag_issues.tags_changed)
        self.site_link = SiteLink(hass, entry, self.index, self.entities)
        self.schedule_link = ScheduleLink(hass, entry, self.entities)
        self.prices = PriceLink(hass, entry, self.index)
        self.upstreams: UpstreamLinks[CentralSystemHub] = UpstreamLinks(
            hass, entry, self.index, self.entities
        )
        self.reports = ChargerReports(hass, entry.entry_id, self.index.charger_name)
        # Chargers' client certificates: remembered expiries, renewal repairs.
        self.certificates = CertificateLink(hass, entry.entry_id, self.index, self.entities)
        self.activity = ChargerActivity(
            hass, entry.entry_id, self.index.charger_name, self.tag_name
        )
        self.router = EventRouter(
            hass,
            entry.entry_id,
            index=self.index,
            devices=self.devices,
            entities=self.entities,
            sessions=self.sessions,
            files=FileProgress(hass, entry.entry_id, self.index.charger_name),
            reports=self.reports,
            activity=self.activity,
            tag_issues=self.tag_issues,
            register_issues=self.register_issues,
            certificates=self.certificates,
        )
        # Whether the cost sensors were left out at set-up (no price configured).
        self.started_without_price = self.sessions.pricing is None
        # The server settings it listens with: changing them takes a reload.
        self.started_with_server = dict(entry.data)
        # Security profile 3: the CA (loaded with TLS) and whether the server asks
        # chargers for client certificates (a charger on profile 3); set at start.
        self.ca: CertificateAuthority | None = None
        self.client_certificates = False
        self._ssl_context: ServerContext | None = None
        self._stopping = asyncio.Lock()
        self._stopped = False

    def _mode(self, charger_id: str) -> ChargingMode:
        """A charger's mode: its select's, kept by the site link."""
        return self.site_link.mode(charger_id)

    # -- life cycle -----------------------------------------------------------------

    async def async_start(self) -> None:
        """Register devices and start listening.

        Raises OSError (port unavailable, certificate file missing) or ssl.SSLError.
        """
        settings = await self._settings()
        await self.tags.async_load()
        system = self.system = CentralSystem(
            settings,
            self.index,
            self.router,
            authorizer=self.tags.registry,
            journal=self.sessions.journal,
            chargers=self.index,
        )
        # The CA (with TLS) signs the certificates chargers ask for over OCPP.
        system.set_certificate_authority(self.ca)
        self.tags.attach(system.local_lists)
        for part in (self.entities, self.site_link, self.upstreams):
            part.attach(system, self)
        self.sessions.attach(system)
        self.schedule_link.attach(system)
        self.prices.attach(system)
        integration = await async_get_integration(self.hass, DOMAIN)
        self.devices.register_central(str(integration.version))
        for subentry in self.index.subentries():
            station = system.ensure_station(subentry.data[CONF_CHARGER_ID])
            self.devices.register_charger(subentry, station)
        await self.certificates.async_load()
        self.certificates.attach(system)
        # The links first: a charger connecting as soon as the server listens gets its
        # forwarding hook then, or what it sends before its link exists is never relayed.
        await self.upstreams.async_sync()
        await system.start()
        self.site_link.sync()
        self.schedule_link.sync()
        self.prices.sync()
        await self.sessions.async_start()

    async def _settings(self) -> CentralSystemSettings:
        """The engine's settings, from the entry's data and options."""
        data = self.entry.data
        chargers = [subentry.data for subentry in self.index.subentries()]
        ssl_context = None
        if data.get(CONF_TLS):
            self.client_certificates = wants_client_certificates(data, chargers)
            self.ca = await self._async_ca(required=self.client_certificates)
            ssl_context = self._ssl_context = await self.hass.async_add_executor_job(
                partial(
                    build_server_context,
                    data[CONF_CERTFILE],
                    data.get(CONF_KEYFILE),
                    self.ca.ca_pem if self.ca else None,
                    ask=self.client_certificates,
                )
            )
        wish = meter_wish_from(self.entry.options)
        return CentralSystemSettings(
            server=ServerSettings(
                host=data[CONF_HOST], port=data[CONF_PORT], ssl_context=ssl_context
            ),
            admission=AdmissionPolicy(data.get(CONF_UNKNOWN_CHARGERS, AdmissionPolicy.ASK)),
            meter_measurands=wish.measurands,
            meter_interval_s=wish.interval_s,
            meter_edge_measurands=wish.edge_measurands,
            meter_overrides=meter_overrides_from(chargers, wish),
        )

    def follow_client_certificates(self, wanted: bool) -> bool:
        """Start or stop asking chargers for client certificates, without a restart.

        False when that takes a reload: no TLS context, or a CA is wanted that did not
        load at start (the reload then stops with `ca_unavailable`).
        """
        if wanted == self.client_certificates:
            return True
        context = self._ssl_context
        if context is None or not context.ask_for_client_certificates(wanted):
            return False
        self.client_certificates = wanted
        return True

    async def _async_ca(self, *, required: bool) -> CertificateAuthority | None:
        """The CA; one that cannot be loaded stops the start only when a charger needs it.

        Raises CertificateAuthorityError (required and not loadable).
        """
        try:
            return await async_load_ca(self.hass, self.entry.data)
        except (CertificateAuthorityError, OSError) as err:
            if required:
                raise CertificateAuthorityError(str(err)) from err
            _LOGGER.warning("The certificate authority cannot be used: %s", err)
            return None

    async def async_stop(self) -> None:
        """Close every charger connection, stop listening and close the journal.

        Home Assistant's stop, an unload and a failed start may each call this, also at
        the same time: the first call stops, the others wait for it.
        """
        async with self._stopping:
            if not self._stopped:
                self._stopped = True
                self.sessions.async_stop()
                self.site_link.stop()
                self.schedule_link.stop()
                self.prices.stop()
                await self.upstreams.async_close()
                self._unsubscribe_tags()
                self.tags.close()
                if self.system is not None:
                    await self.system.stop()
                # Changes still waiting to be written, now: a reload reads them next,
                # and a removal deletes the files right after (a late write would
                # make them again).
                await self.tags.async_flush()
                await self.certificates.memory.async_flush()

    async def async_sync_chargers(self) -> None:
        """Follow changes of the charger subentries without restarting the server."""
        before = self.index.admitted
        titles_before = self.index.titles
        self.index.reindex()
        system = self.system
        # Only new and renamed chargers touch the device registry: admitting many
        # chargers one after another must not redo every device each time.
        for subentry in self.index.subentries():
            charger_id = subentry.data[CONF_CHARGER_ID]
            if titles_before.get(charger_id) != subentry.title:
                station = system.stations.get(charger_id) if system else None
                self.devices.register_charger(subentry, station)
        if system is None:
            return
        wish = meter_wish_from(self.entry.options)
        chargers = (subentry.data for subentry in self.index.subentries())
        system.set_meter_wish(wish, meter_overrides_from(chargers, wish))
        system.reapply_quirks()
        self.certificates.chargers_changed()
        for charger_id in self.index.admitted - before:
            self.entities.build(system.ensure_station(charger_id), None)
            system.charger_admitted(charger_id)
        for charger_id in before - self.index.admitted:
            self.entities.forget(charger_id)
            self.register_issues.forget(charger_id)
            self.reports.forget(charger_id)
            self.activity.forget(charger_id)
            self.prices.forget(charger_id)
            self.certificates.forget(charger_id)
            await system.forget_charger(charger_id)
        # Upstreams added, changed or removed; those of removed chargers go too.
        await self.upstreams.async_sync()

    # -- commands -----------------------------------------------------------------------

    async def execute(self, charger_id: str, command: Command) -> CommandResult:
        """Send a command to a charger (offline when the server is not running)."""
        if self.system is None:
            return CommandResult(CommandStatus.OFFLINE)
        return await self.system.execute(charger_id, command)

    def command_error(self, charger_id: str, result: CommandResult) -> HomeAssistantError:
        """The translated error for a command that was not accepted, naming the charger."""
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=f"command_{result.status.value}",
            translation_placeholders={
                "charger": self.index.charger_name(charger_id),
                "detail": result.detail or "-",
            },
        )

    def tag_name(self, id_tag: str) -> str | None:
        """The name the user gave a tag, if the tag is registered with one."""
        tag = self.tags.registry.get(id_tag)
        return (tag.name or None) if tag else None
