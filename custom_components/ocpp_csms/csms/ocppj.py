"""What OCPP-J spells alike in every version: times, a charging schedule, retry fields.

The version modules (`ocpp16*`, `ocpp201*`) share these; nothing here knows a message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .commands import ChargingProfile


def utc_now_text() -> str:
    """The current time as OCPP writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_text(moment: datetime) -> str:
    """A moment as OCPP writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Timestamps outside these years are no charger's clock: before 2000 it is one that was
# never set (chargers without a clock count from 1970: a session would last decades),
# after 2199 nonsense. Both are taken as now, with a warning. The bound also keeps date
# arithmetic away from datetime's edges (0001-01-01T00:00+14:00 cannot be made UTC).
_PLAUSIBLE_YEARS = range(2000, 2200)


def parse_time(value: Any) -> datetime | None:
    """An OCPP timestamp as an aware UTC datetime; a missing zone is taken as UTC.

    None when it is unreadable or implausible.
    """
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError, OverflowError:
        return None
    return moment if moment.year in _PLAUSIBLE_YEARS else None


def schedule_payload(profile: ChargingProfile) -> dict[str, Any]:
    """A chargingSchedule object; 2.x spells it as 1.6 does (and adds an id)."""
    schedule: dict[str, Any] = {
        "chargingRateUnit": profile.unit,
        "chargingSchedulePeriod": [
            {"startPeriod": period.start_s, "limit": round(period.limit, 1)}
            | ({"numberPhases": period.number_phases} if period.number_phases else {})
            for period in profile.periods
        ],
    }
    if profile.duration_s is not None:
        schedule["duration"] = profile.duration_s
    if profile.start_schedule is not None:
        schedule["startSchedule"] = time_text(profile.start_schedule)
    if profile.min_rate is not None:
        schedule["minChargingRate"] = round(profile.min_rate, 1)
    return schedule


def add_retries(payload: dict[str, Any], retries: int | None, interval: int | None) -> None:
    """Add the optional retry fields of a firmware or diagnostics request (same in 2.x)."""
    if retries is not None:
        payload["retries"] = retries
    if interval is not None:
        payload["retryInterval"] = interval
