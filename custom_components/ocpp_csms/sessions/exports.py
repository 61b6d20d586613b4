"""Session exports: the `export_sessions` action and CSV / OCPI CDR downloads.

Both take the same selection (chargers by device, a period by start time, a tag) and
read it from the journals of the loaded central systems. The downloads are Home
Assistant views that require a logged-in user, like the rest of its API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from http import HTTPStatus
from typing import Any

import probatio
from aiohttp import web
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..csms.session_export import cdrs, rows_csv, session_row
from ..csms.sessions import SessionFilter, SessionRecord
from ..hub import CentralSystemHub

SERVICE_EXPORT_SESSIONS = "export_sessions"
CSV_URL = "/api/ocpp_csms/sessions.csv"
CDR_URL = "/api/ocpp_csms/cdrs.json"


@dataclass(frozen=True, slots=True)
class Selection:
    """Which sessions to export."""

    device_ids: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    tag: str | None = None


def _local(moment: datetime | date) -> datetime:
    """A moment in Home Assistant's time zone; a date is its local midnight."""
    if not isinstance(moment, datetime):
        return dt_util.start_of_local_day(moment)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt_util.get_default_time_zone())
    return moment


async def async_collect(
    hass: HomeAssistant, selection: Selection, *, with_samples: bool = False
) -> list[tuple[CentralSystemHub, list[SessionRecord]]]:
    """The selected sessions of each central system, oldest first.

    Raises ServiceValidationError for a device that is not one of our chargers, and
    HomeAssistantError when a journal cannot be read.
    """
    hubs: list[CentralSystemHub] = [
        entry.runtime_data for entry in hass.config_entries.async_loaded_entries(DOMAIN)
    ]
    chargers: dict[str, set[str]] = {}
    registry = dr.async_get(hass)
    for device_id in selection.device_ids:
        device = registry.async_get(device_id)
        if device is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_device",
                translation_placeholders={"device_id": device_id},
            )
        owners = [
            (hub, charger)
            for hub in hubs
            if (charger := hub.index.charger_for_device(device.identifiers)) is not None
        ]
        if not owners:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_charger",
                translation_placeholders={"device": device.name_by_user or device.name or ""},
            )
        for hub, charger in owners:
            chargers.setdefault(hub.entry.entry_id, set()).add(charger)
    if selection.start and selection.end and selection.end <= selection.start:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="empty_period")
    found: list[tuple[CentralSystemHub, list[SessionRecord]]] = []
    for hub in hubs:
        if selection.device_ids and hub.entry.entry_id not in chargers:
            continue
        wanted = chargers.get(hub.entry.entry_id)
        records = await hub.sessions.async_sessions(
            SessionFilter(
                charger_ids=frozenset(wanted) if wanted else None,
                started_from=selection.start,
                started_before=selection.end,
                id_tag=selection.tag,
            ),
            with_samples=with_samples,
        )
        found.append((hub, records))
    return found


type Found = list[tuple[CentralSystemHub, list[SessionRecord]]]


def _rows_job(found: Found) -> Callable[[], list[dict[str, Any]]]:
    """The work of making export rows, to run in an executor.

    Many sessions take a while: what the rows need from Home Assistant is read now,
    on the loop, and the rest runs off it.
    """
    parts = [
        (
            hub.entry.title,
            {
                charger: hub.index.charger_name(charger)
                for charger in {r.charger_id for r in records}
            },
            hub.sessions.pricing,
            records,
        )
        for hub, records in found
    ]

    def rows() -> list[dict[str, Any]]:
        return [
            {"central_system": title, "charger_name": names[record.charger_id],
             **session_row(record, pricing)}
            for title, names, pricing, records in parts
            for record in records
        ]  # fmt: skip

    return rows


# -- the action ---------------------------------------------------------------------------

_EXPORT_SCHEMA = probatio.Schema(
    {
        probatio.Optional("device_id"): probatio.All(cv.ensure_list, [cv.string]),
        probatio.Optional("start"): probatio.Any(cv.datetime, cv.date),
        probatio.Optional("end"): probatio.Any(cv.datetime, cv.date),
        probatio.Optional("tag"): probatio.All(cv.string, probatio.Length(min=1, max=36)),
    }
)


async def _async_export_sessions(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    data = call.data
    selection = Selection(
        device_ids=tuple(data.get("device_id", ())),
        start=_local(data["start"]) if "start" in data else None,
        end=_local(data["end"]) if "end" in data else None,
        tag=data.get("tag"),
    )
    rows = await hass.async_add_executor_job(_rows_job(await async_collect(hass, selection)))
    known = [row["energy_kwh"] for row in rows if row["energy_kwh"] is not None]
    response: dict[str, Any] = {
        "count": len(rows),
        "energy_kwh": round(sum(known), 3),  # of the sessions whose energy is known
        "sessions": rows,
    }
    if len(known) < len(rows):
        # Not counted as 0 and not hidden: how many the total leaves out.
        response["energy_unknown_count"] = len(rows) - len(known)
    costs = [row["cost"] for row in rows if row.get("cost") is not None]
    if costs:
        response["cost"] = round(sum(costs), 2)
    return response


# -- the downloads ------------------------------------------------------------------------


def _selection_from_query(request: web.Request) -> Selection:
    """The selection in a download's query string; ValueError names what is wrong."""
    query = request.query

    def moment(name: str) -> datetime | None:
        text = query.get(name)
        if not text:
            return None
        parsed: datetime | date | None = dt_util.parse_datetime(text) or dt_util.parse_date(text)
        if parsed is None:
            raise ValueError(f"{name} is not a date or a date and time: {text!r}")
        return _local(parsed)

    return Selection(
        device_ids=tuple(query.getall("device_id", [])),
        start=moment("start"),
        end=moment("end"),
        tag=query.get("tag") or None,
    )


class _SessionDownload(HomeAssistantView):
    """A download of the selected sessions; a login is required."""

    requires_auth = True
    with_samples = False  # CDRs need the meter samples; rows do not

    async def get(self, request: web.Request) -> web.Response:
        """Answer with the selection, or say what is wrong with the request."""
        hass = request.app[KEY_HASS]
        try:
            selection = _selection_from_query(request)
            found = await async_collect(hass, selection, with_samples=self.with_samples)
        except (ValueError, ServiceValidationError) as err:
            return self.json_message(str(err), HTTPStatus.BAD_REQUEST)
        except HomeAssistantError as err:
            return self.json_message(str(err), HTTPStatus.SERVICE_UNAVAILABLE)
        body, content_type, suffix = await hass.async_add_executor_job(self.render_job(found))
        stamp = dt_util.now().strftime("%Y%m%d-%H%M")
        return web.Response(
            text=body,
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="sessions-{stamp}.{suffix}"'},
        )

    def render_job(self, found: Found) -> Callable[[], tuple[str, str, str]]:
        """The work (run in an executor) that makes the body, content type and suffix."""
        raise NotImplementedError


class SessionsCsvView(_SessionDownload):
    """The selected sessions as CSV."""

    url = CSV_URL
    name = "api:ocpp_csms:sessions_csv"

    def render_job(self, found: Found) -> Callable[[], tuple[str, str, str]]:
        """One row per session, with costs when any central system has a price."""
        priced = any(hub.sessions.pricing is not None for hub, _ in found)
        rows = _rows_job(found)
        return lambda: (rows_csv(rows(), priced=priced), "text/csv", "csv")


class CdrsView(_SessionDownload):
    """The selected, completed sessions as OCPI 2.2.1 CDRs (a JSON list)."""

    url = CDR_URL
    name = "api:ocpp_csms:cdrs"
    with_samples = True

    def render_job(self, found: Found) -> Callable[[], tuple[str, str, str]]:
        """Every CDR of every central system, in one list."""
        parts = [(records, hub.sessions.cdr_settings()) for hub, records in found]

        def render() -> tuple[str, str, str]:
            documents = [doc for records, settings in parts for doc in cdrs(records, settings)]
            return json.dumps(documents, ensure_ascii=False), "application/json", "json"

        return render


def async_setup_exports(hass: HomeAssistant) -> None:
    """Register the export action and the downloads (once, from async_setup)."""

    async def export_sessions(call: ServiceCall) -> ServiceResponse:
        return await _async_export_sessions(hass, call)

    hass.services.async_register(
        DOMAIN,
        SERVICE_EXPORT_SESSIONS,
        export_sessions,
        _EXPORT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.http.register_view(SessionsCsvView())
    hass.http.register_view(CdrsView())
