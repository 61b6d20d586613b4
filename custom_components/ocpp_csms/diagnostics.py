"""Diagnostics of a central system: its chargers, their local lists, and the site.

Tag ids are left out (they open doors and charge on someone's bill); counts and the
state of each charger's local authorization list are what a support thread needs. Of
the certificate authority only its subject, fingerprint and validity: never its key,
nor its certificate's PEM; of a charger's client certificate its end and fingerprint,
and how its renewal goes. Of a charger's upstream its URL (no credentials), id there,
version, policy and status; its password redacted.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import HomeAssistant

from .const import CONF_CA_CERTFILE, CONF_PASSWORD_HASH
from .csms.station import Station
from .http import CA_CERTIFICATE_URL
from .hub import CentralSystemHub, OcppCsmsConfigEntry
from .upstream.settings import shown_url

TO_REDACT = {CONF_PASSWORD_HASH, CONF_PASSWORD, "serial_number", "remote_address"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: OcppCsmsConfigEntry
) -> dict[str, Any]:
    """What the central system knows of itself and every charger."""
    hub = entry.runtime_data
    system = hub.system
    registry = hub.tags.registry
    lists = system.local_lists if system else None
    journal = hub.sessions.journal
    chargers: dict[str, Any] = {}
    for charger_id in sorted(hub.index.admitted):
        station = system.stations.get(charger_id) if system else None
        state = lists.states.get(charger_id) if lists else None
        capabilities = station.capabilities if station else None
        record = hub.index.find(charger_id)
        chargers[charger_id] = {
            "name": hub.index.charger_name(charger_id),
            "security_profile": record.security_profile.value if record else None,
            "connected": bool(station and station.connected),
            "version": station.version.value if station else None,
            "registration": (
                station.registration.value if station and station.registration else None
            ),
            "boot": (
                {
                    "vendor": station.boot.vendor,
                    "model": station.boot.model,
                    "firmware_version": station.boot.firmware_version,
                    "serial_number": station.boot.serial_number,
                }
                if station and station.boot
                else None
            ),
            "features": sorted(capabilities.features) if capabilities else None,
            # Its quirk profile and what that changes (see csms/quirks.py).
            "quirks": (
                {"profile": station.quirks.key, **station.quirks.differences()} if station else None
            ),
            "warnings": dict(station.warnings) if station else {},
            # Journal rows refused for this charger's own values (dropped, not retried).
            "journal_rows_refused": journal.rows_refused.get(charger_id, 0),
            "charging_mode": hub.site_link.mode(charger_id).value,
            "cheapest": _cheapest(hub, charger_id),
            "schedule_limit_now": system.schedule_limit(charger_id) if system else None,
            "local_list": (
                {
                    "status": state.status.value,
                    "version": state.version,
                    "entries": state.entries,
                    "detail": state.detail,
                }
                if state
                else None
            ),
            **_reports(hub, station, charger_id),
            "client_certificate": _client_certificate(hub, station),
            "upstream": _upstream(hub, charger_id),
        }
    return async_redact_data(
        {
            "entry": {"data": dict(entry.data), "options": dict(entry.options)},
            "tags": {
                "count": len(registry.tags),
                "mode": registry.mode.value,
                "effective_mode": registry.effective_mode.value,
                "with_limit": sum(1 for tag in registry.tags if tag.max_current_a is not None),
            },
            "chargers": chargers,
            "journal": {
                "health": journal.state.health.value,
                "rows_refused": sum(journal.rows_refused.values()),
                "writes_shed": journal.writes_shed,
            },
            "site": _site(hub),
            "certificate_authority": _certificate_authority(hub),
        },
        TO_REDACT,
    )


def _upstream(hub: CentralSystemHub, charger_id: str) -> dict[str, Any] | None:
    """The charger's upstream: where, as whom, with what rights, and how it is (None: none)."""
    settings = hub.upstreams.settings(charger_id)
    if settings is None:
        return None
    status = hub.upstreams.status(charger_id)
    return {
        "url": shown_url(settings.url),
        "charge_point_id": settings.charge_point_id,
        "password": settings.password,  # redacted: says only whether there is one
        "version": settings.version.value,
        "policy": settings.policy.value,
        "allowed_commands": sorted(settings.allowed_commands),
        "status": (
            {
                "state": status.state.value,
                "queued": status.queued,
                "dropped": status.dropped,
                "last_error": status.last_error,
                "commands_refused": status.commands_refused,
                "relayed": status.relayed,
                "set_aside": status.set_aside,
            }
            if status is not None
            else None
        ),
        # Command events beyond the bus's budget: counted, not fired.
        "command_events_left_out": hub.upstreams.commands.events.left_out.get(charger_id, 0),
    }


def _certificate_authority(hub: CentralSystemHub) -> dict[str, Any] | None:
    """Which CA profile 3 uses and how long it is valid (None: not loaded, no TLS)."""
    ca = hub.ca
    if ca is None:
        return None
    facts = ca.facts
    return {
        "own": not hub.entry.data.get(CONF_CA_CERTFILE),
        "subject": facts.subject,
        "sha256_fingerprint": facts.sha256_fingerprint,
        "not_after": facts.not_after.isoformat(),
        "client_certificates_requested": hub.client_certificates,
        # Where a logged-in user downloads its certificate (never its key).
        "download_path": f"{CA_CERTIFICATE_URL}?entry_id={hub.entry.entry_id}",
    }


def _client_certificate(hub: CentralSystemHub, station: Station | None) -> dict[str, Any] | None:
    """A charger's known client certificate (its end and fingerprint only) and renewal."""
    known = station.known_certificate if station else None
    if station is None or known is None:
        return None
    state = hub.system.renewal.state(station.id) if hub.system else None
    return {
        "not_after": known.not_after.isoformat(),
        "sha256_fingerprint": known.sha256_fingerprint,
        "renewal": (
            {
                "in_flight": state.in_flight,
                "failures": state.failures,
                "failure": state.failure.value if state.failure else None,
                "retry_at": state.retry_at.isoformat() if state.retry_at else None,
            }
            if state is not None
            else None
        ),
    }


def _reports(hub: CentralSystemHub, station: Station | None, charger_id: str) -> dict[str, Any]:
    """What the charger reported beyond its entities: when, security events, notices."""
    notices = hub.reports.notices.get(charger_id, ())
    return {
        "last_seen": station.last_seen.isoformat() if station and station.last_seen else None,
        "security_events": [
            {"type": event.type, "timestamp": event.timestamp.isoformat()}
            for event in (station.security_events if station else ())
        ][-10:],
        "notices": [
            {"kind": notice.kind, "at": notice.at.isoformat(), "data": notice.data}
            for notice in notices
        ],
        # Home Assistant events beyond the charger's budgets, by kind.
        "events_left_out": {
            kind: events.left_out.get(charger_id, 0)
            for kind, events in (
                ("reports", hub.reports.events),
                ("sessions", hub.activity.sessions),
                ("tags", hub.activity.tags),
            )
        },
        # 2.x: limits from another source, and what the car asked for, per EVSE.
        "evses": {
            evse_id: {
                "external_limit": evse.external_limit,
                "ev_charging_needs": evse.ev_charging_needs,
            }
            for evse_id, evse in (station.evses.items() if station else ())
            if evse.external_limit or evse.ev_charging_needs
        },
    }


def _cheapest(hub: CentralSystemHub, charger_id: str) -> dict[str, Any]:
    """The charger's goal in the cheapest mode, and its session's plan (if one runs)."""
    planned = hub.prices.plan(charger_id)
    plan = planned.plan if planned is not None else None
    return {
        "ready_at": hub.prices.ready_at(charger_id).isoformat(),
        "energy_kwh": hub.prices.energy_kwh(charger_id),
        "plan": (
            {
                "deadline": planned.deadline.isoformat(),
                "goal_from_car": planned.from_car,
                "needed_wh": plan.needed_wh,
                "planned_wh": plan.energy_wh,
                "estimated_wh": plan.estimated_wh,
                "cost": plan.cost,
                "spent": planned.spent,
                "slots": [
                    [slot.start.isoformat(), slot.end.isoformat(), slot.current_a, slot.price]
                    for slot in plan.slots
                ],
            }
            if planned is not None and plan is not None
            else None
        ),
    }


def _site(hub: CentralSystemHub) -> dict[str, Any] | None:
    """What load balancing sees and gives (None: no site)."""
    site = hub.site_link.site
    if site is None:
        return None
    return {
        "settings": {
            "fuse_a": site.settings.fuse_a,
            "margin_a": site.settings.margin_a,
            "failsafe_a": site.settings.failsafe_a,
            "grid_meter": site.settings.grid_meter,
            "export_meter": site.settings.export_meter,
        },
        "grid_a": site.grid_a,
        "export_w": site.export_w,
        "surplus_w": site.solar.surplus_w,
        "available_a": site.available_a,
        "allocated_a": dict(site.allocated),
        "prices": {
            "slots": len(hub.prices.prices),
            "from": hub.prices.prices[0].start.isoformat() if hub.prices.prices else None,
            "until": hub.prices.prices[-1].end.isoformat() if hub.prices.prices else None,
            "sensor_has_prices": hub.prices.sensor_has_prices,
        },
    }
