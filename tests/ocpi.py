"""A field-by-field check of OCPI 2.2.1 CDR objects (module cdrs, "CDR object").

Written from the specification's tables: for each field its type, whether it is
required, and its length or value set. `problems` lists every departure, so a test
can assert an empty list and show all of them when it fails.
"""

from __future__ import annotations

import re
from typing import Any

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?$")
_COORDINATE = {
    "latitude": re.compile(r"^-?[0-9]{1,2}\.[0-9]{5,7}$"),
    "longitude": re.compile(r"^-?[0-9]{1,3}\.[0-9]{5,7}$"),
}
TOKEN_TYPES = {"AD_HOC_USER", "APP_USER", "OTHER", "RFID"}
AUTH_METHODS = {"AUTH_REQUEST", "COMMAND", "WHITELIST"}
DIMENSION_TYPES = {
    "CURRENT", "ENERGY", "ENERGY_EXPORT", "ENERGY_IMPORT", "MAX_CURRENT", "MIN_CURRENT",
    "MAX_POWER", "MIN_POWER", "PARKING_TIME", "POWER", "RESERVATION_TIME",
    "STATE_OF_CHARGE", "TIME",
}  # fmt: skip
CONNECTOR_FORMATS = {"SOCKET", "CABLE"}
POWER_TYPES = {"AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"}
# Price fields: required by OCPI, left out by design when no price is configured.
PRICE_FIELDS = {"currency", "total_cost"}


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "not a string"


def _cistring(value: Any) -> str | None:
    if not isinstance(value, str):
        return "not a string"
    return None if re.fullmatch(r"[\x20-\x7e]*", value) else "not printable ASCII"


def _datetime(value: Any) -> str | None:
    ok = isinstance(value, str) and _DATETIME.match(value)
    return None if ok else "not an OCPI DateTime"


def _number(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return None if ok else "not a number"


_TYPE_PROBLEMS = {
    "string": _string,
    "cistring": _cistring,
    "datetime": _datetime,
    "number": _number,
    "boolean": lambda value: None if isinstance(value, bool) else "not a boolean",
    "object": lambda value: None if isinstance(value, dict) else "not an object",
    "list": lambda value: None if isinstance(value, list) else "not a list",
}


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def field(
        self,
        where: str,
        document: dict[str, Any],
        name: str,
        kind: str,
        *,
        required: bool = True,
        length: int | None = None,
        values: set[str] | None = None,
    ) -> Any:
        path = f"{where}.{name}"
        if name not in document:
            if required:
                self.problems.append(f"{path}: required, missing")
            return None
        value = document[name]
        problem = _TYPE_PROBLEMS[kind](value)
        if problem is not None:
            self.problems.append(f"{path}: {problem} ({value!r})")
            return None
        if isinstance(value, str) and length is not None and len(value) > length:
            self.problems.append(f"{path}: longer than {length} ({value!r})")
        if values is not None and value not in values:
            self.problems.append(f"{path}: {value!r} not one of {sorted(values)}")
        return value

    def price(self, where: str, document: dict[str, Any], name: str, *, required: bool) -> None:
        price = self.field(where, document, name, "object", required=required)
        if price is not None:
            self.field(f"{where}.{name}", price, "excl_vat", "number")
            self.field(f"{where}.{name}", price, "incl_vat", "number", required=False)


def problems(cdr: dict[str, Any], *, priced: bool = True) -> list[str]:
    """Every way `cdr` departs from the OCPI 2.2.1 CDR object.

    With `priced=False`, the price fields may be missing (the project's documented
    choice when no price is configured) but must be right when present.
    """
    check = _Checker()
    _check_identity(check, cdr)
    _check_location(check, cdr)
    _check_periods(check, cdr)
    _check_totals(check, cdr, priced=priced)
    return check.problems


def _check_identity(check: _Checker, cdr: dict[str, Any]) -> None:
    c = "cdr"
    check.field(c, cdr, "country_code", "cistring", length=2)
    check.field(c, cdr, "party_id", "cistring", length=3)
    check.field(c, cdr, "id", "cistring", length=39)
    check.field(c, cdr, "start_date_time", "datetime")
    check.field(c, cdr, "end_date_time", "datetime")
    check.field(c, cdr, "session_id", "cistring", required=False, length=36)
    token = check.field(c, cdr, "cdr_token", "object")
    if token is not None:
        t = "cdr.cdr_token"
        check.field(t, token, "country_code", "cistring", length=2)
        check.field(t, token, "party_id", "cistring", length=3)
        check.field(t, token, "uid", "cistring", length=36)
        check.field(t, token, "type", "string", values=TOKEN_TYPES)
        check.field(t, token, "contract_id", "cistring", length=36)
    check.field(c, cdr, "auth_method", "string", values=AUTH_METHODS)
    check.field(c, cdr, "authorization_reference", "cistring", required=False, length=36)
    check.field(c, cdr, "meter_id", "string", required=False, length=255)
    check.field(c, cdr, "last_updated", "datetime")


def _check_location(check: _Checker, cdr: dict[str, Any]) -> None:
    location = check.field("cdr", cdr, "cdr_location", "object")
    if location is not None:
        loc = "cdr.cdr_location"
        check.field(loc, location, "id", "cistring", length=36)
        check.field(loc, location, "name", "string", required=False, length=255)
        check.field(loc, location, "address", "string", length=45)
        check.field(loc, location, "city", "string", length=45)
        check.field(loc, location, "postal_code", "string", required=False, length=10)
        check.field(loc, location, "state", "string", required=False, length=20)
        country = check.field(loc, location, "country", "string", length=3)
        if isinstance(country, str) and len(country) != 3:
            check.problems.append(f"{loc}.country: not ISO 3166-1 alpha-3 ({country!r})")
        coordinates = check.field(loc, location, "coordinates", "object")
        if coordinates is not None:
            for axis, pattern in _COORDINATE.items():
                length = 10 if axis == "latitude" else 11
                value = check.field(
                    f"{loc}.coordinates", coordinates, axis, "string", length=length
                )
                if isinstance(value, str) and not pattern.match(value):
                    check.problems.append(f"{loc}.coordinates.{axis}: bad format ({value!r})")
        check.field(loc, location, "evse_uid", "cistring", length=36)
        check.field(loc, location, "evse_id", "cistring", length=48)
        check.field(loc, location, "connector_id", "cistring", length=36)
        check.field(loc, location, "connector_standard", "string")
        check.field(loc, location, "connector_format", "string", values=CONNECTOR_FORMATS)
        check.field(loc, location, "connector_power_type", "string", values=POWER_TYPES)


def _check_periods(check: _Checker, cdr: dict[str, Any]) -> None:
    periods = check.field("cdr", cdr, "charging_periods", "list")
    if periods is not None:
        if not periods:
            check.problems.append("cdr.charging_periods: needs at least one period")
        for number, period in enumerate(periods):
            p = f"cdr.charging_periods[{number}]"
            check.field(p, period, "start_date_time", "datetime")
            check.field(p, period, "tariff_id", "cistring", required=False, length=36)
            dimensions = check.field(p, period, "dimensions", "list")
            if dimensions is not None and not dimensions:
                check.problems.append(f"{p}.dimensions: needs at least one dimension")
            for index, dimension in enumerate(dimensions or []):
                d = f"{p}.dimensions[{index}]"
                check.field(d, dimension, "type", "string", values=DIMENSION_TYPES)
                check.field(d, dimension, "volume", "number")


def _check_totals(check: _Checker, cdr: dict[str, Any], *, priced: bool) -> None:
    c = "cdr"
    check.field(c, cdr, "currency", "string", required=priced, length=3)
    check.field(c, cdr, "tariffs", "list", required=False)
    check.price(c, cdr, "total_cost", required=priced)
    check.price(c, cdr, "total_fixed_cost", required=False)
    check.field(c, cdr, "total_energy", "number")
    check.price(c, cdr, "total_energy_cost", required=False)
    check.field(c, cdr, "total_time", "number")
    check.price(c, cdr, "total_time_cost", required=False)
    check.field(c, cdr, "total_parking_time", "number", required=False)
    check.price(c, cdr, "total_parking_cost", required=False)
    check.price(c, cdr, "total_reservation_cost", required=False)
    check.field(c, cdr, "remark", "string", required=False, length=255)
    check.field(c, cdr, "credit", "boolean", required=False)
    check.field(c, cdr, "home_charging_compensation", "boolean", required=False)
