"""Journaled sessions as people and other systems read them: rows, CSV, OCPI CDRs.

The CDRs follow the OCPI 2.2.1 CDR object. Two deliberate departures, both so that no
made-up zero is ever billed: without a price per kWh there is nothing true to put in
`currency` and `total_cost`, so those (and every other price field) are left out; and
a session whose energy is unknown (no register reading at its start or after it) gets
no CDR at all, while its row says so with an empty energy.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from .meter_sanity import MeterNote, notes_from
from .sessions import SessionRecord, SessionStatus
from .station import MeterSample

# 2.x idToken types that name a card or key fob, and the one for remote starts.
_CARD_TOKEN_TYPES = frozenset({"ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress"})
_REMOTE_TOKEN_TYPE = "Central"


@dataclass(frozen=True, slots=True)
class Pricing:
    """A flat price per kWh (excluding VAT) in a currency (ISO 4217)."""

    per_kwh: float
    currency: str

    def cost(self, energy_wh: float | None) -> float | None:
        """The cost of an amount of energy, rounded to cents."""
        return None if energy_wh is None else round(energy_wh / 1000 * self.per_kwh, 2)


@dataclass(frozen=True, slots=True)
class CdrSite:
    """Where the chargers are, as OCPI's CdrLocation needs it."""

    location_id: str = "HOME"
    name: str | None = None
    address: str = ""
    city: str = ""
    postal_code: str | None = None
    country: str = "ZZZ"  # ISO 3166-1 alpha-3
    latitude: float = 0.0
    longitude: float = 0.0


@dataclass(frozen=True, slots=True)
class CdrSettings:
    """Who issues the CDRs and what OCPI needs to know that OCPP does not say."""

    country_code: str = "ZZ"  # ISO 3166-1 alpha-2 of the operator
    party_id: str = "HAS"
    id_prefix: str = ""  # keeps CDR ids unique across central systems
    site: CdrSite = field(default_factory=CdrSite)
    pricing: Pricing | None = None
    # Tags the central system starts sessions with (remote starts): auth method COMMAND.
    remote_tags: frozenset[str] = frozenset()
    # OCPI power type per charger (AC_1_PHASE, AC_3_PHASE, DC); AC_3_PHASE when unknown.
    power_types: Mapping[str, str] = field(default_factory=dict)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _kwh(energy_wh: float | None) -> float | None:
    return None if energy_wh is None else round(energy_wh / 1000, 3)


def duration_hours(record: SessionRecord, now: datetime | None = None) -> float:
    """How long the session ran (so far, while active), in hours."""
    end = record.stopped_at or now or datetime.now(UTC)
    return max((end - record.started_at).total_seconds(), 0.0) / 3600


def session_row(record: SessionRecord, pricing: Pricing | None = None) -> dict[str, Any]:
    """A session as plain values (the export action's response data, the CSV rows)."""
    row: dict[str, Any] = {
        "session_id": record.session_id,
        "charger_id": record.charger_id,
        "transaction_id": record.transaction_id,
        "evse_id": record.evse_id,
        "connector_id": record.connector_id,
        "status": record.status.value,
        "id_tag": record.id_tag,
        "tag_name": record.tag_name,
        "started_at": _iso(record.started_at),
        "stopped_at": _iso(record.stopped_at),
        "duration_h": round(duration_hours(record), 4),
        "meter_start_kwh": _kwh(record.meter_start_wh),
        "meter_stop_kwh": _kwh(record.meter_stop_wh),
        "energy_kwh": _kwh(record.energy_wh),
        "stop_reason": record.stop_reason,
        "stop_id_tag": record.stop_id_tag,
        "offline": record.offline,
        "late_messages": record.late_messages,
        # Why the energy is not the register's last reading less its first (see
        # `meter_sanity`): empty when it is.
        "meter_note": record.meter_note,
    }
    if pricing is not None:
        row["cost"] = pricing.cost(record.energy_wh)
        row["currency"] = pricing.currency
    return row


def _spreadsheet_safe(value: Any) -> Any:
    # A text cell starting with one of these is a formula to a spreadsheet program.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def sessions_csv(records: Iterable[SessionRecord], pricing: Pricing | None = None) -> str:
    """The sessions as CSV, one row each, with a header."""
    return rows_csv(
        (session_row(record, pricing) for record in records), priced=pricing is not None
    )


def rows_csv(rows: Iterable[Mapping[str, Any]], *, priced: bool) -> str:
    """Session rows (`session_row`, perhaps with more columns first) as CSV.

    Columns not in a row are left empty; cost columns appear when `priced`.
    """
    rows = list(rows)
    columns = list(session_row(_EMPTY, Pricing(0, "") if priced else None))
    extra = [key for row in rows for key in row if key not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(dict.fromkeys(extra)) + columns, lineterminator="\r\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _spreadsheet_safe(value) for key, value in row.items()})
    return out.getvalue()


_EMPTY = SessionRecord(0, "", "", 0, 0, datetime(2000, 1, 1, tzinfo=UTC), SessionStatus.ACTIVE)


# -- OCPI 2.2.1 CDRs ------------------------------------------------------------------


def _ci(text: str, length: int) -> str:
    """A CiString: printable ASCII, at most `length` characters."""
    return re.sub(r"[^\x20-\x7e]", "", text)[:length]


def _token_type(record: SessionRecord, settings: CdrSettings) -> str:
    if record.id_tag_type == _REMOTE_TOKEN_TYPE or record.id_tag in settings.remote_tags:
        return "APP_USER"
    if record.id_tag_type is None or record.id_tag_type in _CARD_TOKEN_TYPES:
        return "RFID" if record.id_tag else "OTHER"
    return "OTHER"


def _auth_method(record: SessionRecord, settings: CdrSettings) -> str:
    if record.id_tag_type == _REMOTE_TOKEN_TYPE or record.id_tag in settings.remote_tags:
        return "COMMAND"
    if record.offline:
        return "WHITELIST"  # the charger decided from its own list while offline
    return "AUTH_REQUEST"


def _evse_id(settings: CdrSettings, record: SessionRecord) -> str:
    """An eMI3-style EVSE id: country*party*E<charger>*<evse>."""
    charger = re.sub(r"[^A-Za-z0-9]", "", record.charger_id).upper() or "X"
    return f"{settings.country_code}*{settings.party_id}*E{charger}*{record.evse_id}"[:48]


def charging_periods(record: SessionRecord) -> list[dict[str, Any]]:
    """OCPI charging periods: one between each pair of consecutive readings.

    Each period's ENERGY is what the register gained over it (never negative), so the
    periods add up to the session's energy; POWER, CURRENT and STATE_OF_CHARGE are the
    readings that close the period.
    """
    # CDRs are made of sessions whose energy is known; the fallbacks only keep the
    # periods of another one well formed.
    start_wh = record.meter_start_wh if record.meter_start_wh is not None else 0.0
    stop_wh = record.meter_stop_wh if record.meter_stop_wh is not None else record.last_register_wh
    end = max(record.stopped_at or record.started_at, record.started_at)
    inside = [s for s in record.samples if record.started_at < s.timestamp < end]
    # The stop carries only the register; the last reading at or after it has the rest.
    last = next((s for s in reversed(record.samples) if s.timestamp >= end), None)
    points = [
        MeterSample(record.started_at, start_wh),
        *inside,
        MeterSample(
            end,
            stop_wh,
            last.power_w if last else None,
            last.current_a if last else None,
            last.soc if last else None,
        ),
    ]
    periods: list[dict[str, Any]] = []
    register = start_wh
    for opening, closing_point in pairwise(points):
        gained = 0.0
        if closing_point.energy_wh is not None:
            gained = max(closing_point.energy_wh - register, 0.0)
            register = max(register, closing_point.energy_wh)
        dimensions: list[dict[str, Any]] = [{"type": "ENERGY", "volume": round(gained / 1000, 6)}]
        if closing_point.power_w is not None:
            dimensions.append({"type": "POWER", "volume": round(closing_point.power_w / 1000, 3)})
        if closing_point.current_a is not None:
            dimensions.append({"type": "CURRENT", "volume": round(closing_point.current_a, 2)})
        if closing_point.soc is not None:
            dimensions.append({"type": "STATE_OF_CHARGE", "volume": round(closing_point.soc, 1)})
        periods.append({"start_date_time": _iso(opening.timestamp), "dimensions": dimensions})
    return periods


def cdr(record: SessionRecord, settings: CdrSettings) -> dict[str, Any]:
    """One ended session as an OCPI 2.2.1 CDR object."""
    site = settings.site
    uid = _ci(record.id_tag or "UNKNOWN", 36) or "UNKNOWN"
    periods = charging_periods(record)
    total_energy = round(sum(p["dimensions"][0]["volume"] for p in periods), 3)
    document: dict[str, Any] = {
        "country_code": settings.country_code,
        "party_id": settings.party_id,
        "id": _ci(f"{settings.id_prefix}{record.session_id}", 39),
        "start_date_time": _iso(record.started_at),
        "end_date_time": _iso(record.stopped_at),
        "session_id": _ci(record.transaction_id, 36),
        "cdr_token": {
            "country_code": settings.country_code,
            "party_id": settings.party_id,
            "uid": uid,
            "type": _token_type(record, settings),
            "contract_id": uid,
        },
        "auth_method": _auth_method(record, settings),
        "cdr_location": {
            "id": _ci(site.location_id, 36),
            **({"name": site.name[:255]} if site.name else {}),
            "address": site.address[:45],
            "city": site.city[:45],
            **({"postal_code": site.postal_code[:10]} if site.postal_code else {}),
            "country": site.country,
            "coordinates": {
                "latitude": f"{site.latitude:.6f}",
                "longitude": f"{site.longitude:.6f}",
            },
            "evse_uid": _ci(f"{record.charger_id}-{record.evse_id}", 36),
            "evse_id": _evse_id(settings, record),
            "connector_id": str(record.connector_id),
            "connector_standard": "IEC_62196_T2",
            "connector_format": "SOCKET",
            "connector_power_type": settings.power_types.get(record.charger_id, "AC_3_PHASE"),
        },
        "charging_periods": periods,
        "total_energy": total_energy,
        "total_time": round(duration_hours(record), 4),
        "last_updated": _iso(record.updated_at or record.stopped_at),
    }
    if remark := meter_remark(record.meter_note):
        document["remark"] = remark
    if settings.pricing is not None:
        cost = settings.pricing.cost(total_energy * 1000) or 0.0
        document["currency"] = settings.pricing.currency
        document["total_cost"] = {"excl_vat": cost}
        document["total_energy_cost"] = {"excl_vat": cost}
    return document


# What a CDR's remark says for each meter note, for the reader of the bill.
_METER_REMARKS = {
    MeterNote.REGISTER_FELL: "The energy register fell during the session;"
    " readings below the last plausible one were left out.",
    MeterNote.REGISTER_JUMPED: "The energy register jumped by more than the charger can"
    " deliver; that step was left out.",
    MeterNote.REGISTER_IN_KWH: "Some energy register readings were sent in kWh without"
    " their unit; they were read as kWh.",
    MeterNote.REGISTER_IN_WH: "Some energy register readings were sent in Wh marked as"
    " kWh; they were read as Wh.",
    MeterNote.START_NOT_READ: "No energy register reading came at the start; the energy"
    " counts from the first reading during the session.",
}


def meter_remark(meter_note: str | None) -> str | None:
    """A CDR remark (at most 255 characters) explaining a session's meter notes."""
    notes = notes_from(meter_note)
    text = " ".join(_METER_REMARKS[note] for note in MeterNote if note in notes)
    return text[:255] or None


def cdrs(records: Iterable[SessionRecord], settings: CdrSettings) -> list[dict[str, Any]]:
    """CDRs of the ended sessions among `records` whose energy is known.

    Running and invalid sessions have none, and neither has one whose energy is unknown:
    a CDR of 0 kWh would bill what nobody measured.
    """
    return [
        cdr(record, settings)
        for record in records
        if record.status is SessionStatus.COMPLETED and record.energy_wh is not None
    ]
