"""Files a charger fetches from or sends to Home Assistant, without a server of your own.

Firmware placed in `<config>/ocpp_csms/firmware/` is served at
`/api/ocpp_csms/firmware/<token>/<name>`; diagnostics are received at
`/api/ocpp_csms/diagnostics/<token>` (POST multipart or PUT) and stored in
`<config>/ocpp_csms/diagnostics/<charger>/`. Chargers cannot log in to Home Assistant,
so each URL carries an unguessable one-time token instead: a firmware token lasts
until the charger reports the update finished (or 24 hours); an upload token lasts for
one upload (or 24 hours). Unknown, used or expired tokens get 404.

The CA certificate of security profile 3 is at `/api/ocpp_csms/ca_certificate.pem`,
for logged-in users (an installer loads it into a charger by hand).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Final

from aiohttp import BodyPartReader, web
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

FIRMWARE_FOLDER: Final = "ocpp_csms/firmware"
DIAGNOSTICS_FOLDER: Final = "ocpp_csms/diagnostics"
TOKEN_LIFETIME: Final = timedelta(hours=24)
# Diagnostics archives are small; Home Assistant's HTTP server takes 16 MiB at most.
MAX_UPLOAD_BYTES: Final = 10 * 1024 * 1024
FIRMWARE_URL: Final = "/api/ocpp_csms/firmware"
DIAGNOSTICS_URL: Final = "/api/ocpp_csms/diagnostics"
CA_CERTIFICATE_URL: Final = "/api/ocpp_csms/ca_certificate.pem"


@dataclass
class Grant:
    """Permission for one charger to fetch one firmware file or upload one file."""

    kind: str  # "firmware" or "diagnostics"
    charger_id: str
    expires: datetime
    path: Path | None = None  # the firmware file
    used: bool = False


@dataclass
class FileExchange:
    """The grants of every central system (the views are shared)."""

    grants: dict[str, Grant] = field(default_factory=dict)

    def grant(self, kind: str, charger_id: str, path: Path | None = None) -> str:
        """A new token for `charger_id`."""
        self._forget_expired()
        token = secrets.token_urlsafe(24)
        self.grants[token] = Grant(kind, charger_id, datetime.now(UTC) + TOKEN_LIFETIME, path)
        return token

    def valid(self, token: str, kind: str) -> Grant | None:
        """The grant behind a token, if it is of this kind, unused and not expired."""
        grant = self.grants.get(token)
        if grant is None or grant.kind != kind or grant.used:
            return None
        if grant.expires <= datetime.now(UTC):
            return None
        return grant

    def finish(self, charger_id: str, kind: str) -> None:
        """The charger reported the transfer over: its tokens of this kind stop working."""
        for grant in self.grants.values():
            if grant.charger_id == charger_id and grant.kind == kind:
                grant.used = True

    def _forget_expired(self) -> None:
        now = datetime.now(UTC)
        for token in [token for token, grant in self.grants.items() if grant.expires <= now]:
            del self.grants[token]


EXCHANGE: HassKey[FileExchange] = HassKey(f"{DOMAIN}_file_exchange")


def async_setup_http(hass: HomeAssistant) -> None:
    """Register the file views once."""
    exchange = hass.data.setdefault(EXCHANGE, FileExchange())
    hass.http.register_view(FirmwareView(exchange))
    hass.http.register_view(DiagnosticsUploadView(hass, exchange))
    hass.http.register_view(CaCertificateView())


def firmware_path(hass: HomeAssistant, name: str) -> Path | None:
    """The firmware file `name` in the firmware folder, or None. Blocking: executor."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = Path(hass.config.path(FIRMWARE_FOLDER)) / name
    return path if path.is_file() else None


class FirmwareView(HomeAssistantView):
    """Serves a granted firmware file to the charger it was granted to."""

    url = FIRMWARE_URL + "/{token}/{name}"
    name = "api:ocpp_csms:firmware"
    requires_auth = False  # chargers cannot log in: the token is the permission

    def __init__(self, exchange: FileExchange) -> None:
        """Serve from `exchange`'s grants."""
        self._exchange = exchange

    async def get(self, request: web.Request, token: str, name: str) -> web.StreamResponse:
        """The file, or 404 for an unknown, used or expired token."""
        grant = self._exchange.valid(token, "firmware")
        if grant is None or grant.path is None or grant.path.name != name:
            return web.Response(status=404)
        # aiohttp sends the file without blocking the event loop.
        return web.FileResponse(grant.path)


class CaCertificateView(HomeAssistantView):
    """The CA certificate chargers on profile 3 trust, for an installer to load by hand.

    Only the certificate, never the key; for logged-in users (a long-lived token from
    a script works too). `?entry_id=` names the central system when several use
    different CAs.
    """

    url = CA_CERTIFICATE_URL
    name = "api:ocpp_csms:ca_certificate"
    requires_auth = True

    async def get(self, request: web.Request) -> web.Response:
        """The PEM, or 404 (no CA loaded) / 400 (several, none named)."""
        hass = request.app[KEY_HASS]
        wanted = request.query.get("entry_id")
        found: dict[str, str] = {}  # fingerprint -> PEM
        for entry in hass.config_entries.async_loaded_entries(DOMAIN):
            ca = getattr(entry.runtime_data, "ca", None)
            if ca is not None and wanted in (None, entry.entry_id):
                found[ca.facts.sha256_fingerprint] = ca.ca_pem
        if not found:
            return self.json_message(
                "No certificate authority is loaded: it needs a central system with TLS",
                HTTPStatus.NOT_FOUND,
            )
        if len(found) > 1:
            return self.json_message(
                "The central systems use different certificate authorities: "
                "name one with ?entry_id=",
                HTTPStatus.BAD_REQUEST,
            )
        return web.Response(
            text=next(iter(found.values())),
            content_type="application/x-pem-file",
            headers={"Content-Disposition": 'attachment; filename="ocpp_csms_ca.pem"'},
        )


class DiagnosticsUploadView(HomeAssistantView):
    """Receives a diagnostics file from the charger it was granted to."""

    url = DIAGNOSTICS_URL + "/{token}"
    name = "api:ocpp_csms:diagnostics"
    requires_auth = False  # chargers cannot log in: the token is the permission

    def __init__(self, hass: HomeAssistant, exchange: FileExchange) -> None:
        """Store uploads under the config directory."""
        self._hass = hass
        self._exchange = exchange

    async def post(self, request: web.Request, token: str) -> web.Response:
        """An upload as multipart form data (the file in its first part) or a raw body."""
        return await self._receive(request, token)

    async def put(self, request: web.Request, token: str) -> web.Response:
        """An upload as a raw body."""
        return await self._receive(request, token)

    async def _receive(self, request: web.Request, token: str) -> web.Response:
        grant = self._exchange.valid(token, "diagnostics")
        if grant is None:
            return web.Response(status=404)
        if (request.content_length or 0) > MAX_UPLOAD_BYTES:
            return web.Response(status=413)
        name = "diagnostics.bin"
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            part = await reader.next()
            if part is None or not isinstance(part, BodyPartReader):
                return web.Response(status=400)
            name = part.filename or name
            body = await _read_limited(part.read_chunk)
        else:
            body = await _read_limited(request.content.read)
        if body is None:
            return web.Response(status=413)
        grant.used = True
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name)
        folder = Path(self._hass.config.path(DIAGNOSTICS_FOLDER)) / _safe_folder(grant.charger_id)
        path = folder / f"{stamp}-{safe}"
        await self._hass.async_add_executor_job(_write, path, body)
        self._hass.bus.async_fire(
            f"{DOMAIN}_diagnostics_received",
            {"charger_id": grant.charger_id, "path": str(path), "size": len(body)},
        )
        return web.Response(status=200, text="OK\n")


async def _read_limited(read: object) -> bytes | None:
    """Read a body in chunks; None once it passes the size limit."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await read(65536):  # type: ignore[operator]
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _safe_folder(charger_id: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in charger_id) or "charger"


def _write(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
