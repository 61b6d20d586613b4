"""A minimal OCPP-J central system for the forwarding tests: records, answers, misbehaves.

It answers what a 1.6 or 2.x charger sends with fixed payloads (StartTransaction with
transaction ids from 9001 on, so they differ from ours), or with `replies` set per
action, or with CALLERRORs (`errors`), or not at all (`silent`), or only once told
(`held`, `release`); can be taken down (HTTP 503 and its connections closed) and
brought back, checks a Basic password, and can send CALLs of its own and collect their
answers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

_ANSWERS: dict[str, dict[str, Any]] = {
    "BootNotification": {
        "status": "Accepted",
        "currentTime": "2026-01-01T00:00:00Z",
        "interval": 300,
    },
    "Heartbeat": {"currentTime": "2026-01-01T00:00:00Z"},
    "Authorize": {"idTagInfo": {"status": "Accepted"}},
    "StopTransaction": {},
}


@dataclass
class FakeUpstream:
    """The server; `calls` are (charge point id, action, payload) in the order received."""

    password: str | None = None
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    answers: dict[str, list[Any]] = field(default_factory=dict)
    down: bool = False
    boot_status: str = "Accepted"
    # Answers by action instead of the fixed ones, and actions left unanswered.
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    # Actions whose answers wait until `release` (what `held_calls` holds).
    held: set[str] = field(default_factory=set)
    held_calls: list[tuple[ServerConnection, str, str]] = field(default_factory=list)
    # CALLERROR codes to answer per action, one per CALL, before answering as usual.
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Connections that ended (closed by either side), once all their frames were read.
    ended: int = 0
    _server: Server | None = None
    _sockets: set[ServerConnection] = field(default_factory=set)
    _transaction_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(9001))
    _call_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/ocpp"

    @property
    def connected(self) -> bool:
        """Whether a connection is open now."""
        return bool(self._sockets)

    def actions(self, *only: str) -> list[str]:
        return [action for _, action, _ in self.calls if not only or action in only]

    def of(self, action: str) -> list[dict[str, Any]]:
        return [payload for _, name, payload in self.calls if name == action]

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._gate,
            select_subprotocol=lambda _c, offered: offered[0] if offered else None,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def go_down(self) -> None:
        """Refuse new connections and close the open ones."""
        self.down = True
        for socket in list(self._sockets):
            await socket.close()

    def _gate(self, _connection: ServerConnection, request: Request) -> Response | None:
        if self.down:
            return _refusal(HTTPStatus.SERVICE_UNAVAILABLE)
        if self.password is not None:
            expected = base64.b64encode(f"UP-1:{self.password}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                return _refusal(HTTPStatus.UNAUTHORIZED)
        return None

    async def _handle(self, socket: ServerConnection) -> None:
        self._sockets.add(socket)
        charge_point = socket.request.path.rsplit("/", 1)[-1] if socket.request else ""
        try:
            async for frame in socket:
                message = json.loads(frame)
                if message[0] == 2:
                    self.calls.append((charge_point, message[2], message[3]))
                    if message[2] in self.silent:
                        continue
                    if message[2] in self.held:
                        self.held_calls.append((socket, message[1], message[2]))
                        continue
                    if codes := self.errors.get(message[2]):
                        await socket.send(json.dumps([4, message[1], codes.pop(0), "", {}]))
                        continue
                    answer = self._answer(message[2])
                    await socket.send(json.dumps([3, message[1], answer]))
                else:
                    self.answers.setdefault(message[1], []).append(message)
        except Exception:
            pass
        finally:
            self._sockets.discard(socket)
            self.ended += 1

    def _answer(self, action: str) -> dict[str, Any]:
        if action in self.replies:
            return self.replies[action]
        if action == "BootNotification":
            return _ANSWERS[action] | {"status": self.boot_status}
        if action == "StartTransaction":
            return {
                "transactionId": next(self._transaction_ids),
                "idTagInfo": {"status": "Accepted"},
            }
        if action == "TransactionEvent":
            return {}
        return _ANSWERS.get(action, {})

    async def release(self) -> None:
        """Answer the calls held so far (see `held`), as usual."""
        calls, self.held_calls = self.held_calls, []
        for socket, unique_id, action in calls:
            await socket.send(json.dumps([3, unique_id, self._answer(action)]))

    async def send_calls(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Send CALLs on every open connection at once; the answers, in order."""
        return await self.answers_to(await self.post(calls))

    async def post(self, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Send CALLs on every open connection without waiting; their message ids."""
        ids = []
        for action, payload in calls:
            ids.append(f"call-{next(self._call_ids)}")
            for socket in list(self._sockets):
                await socket.send(json.dumps([2, ids[-1], action, payload]))
        return ids

    async def answers_to(self, ids: list[str]) -> list[Any]:
        """The answers (whole frames) to CALLs sent, once all came."""
        async with asyncio.timeout(30):
            while not all(unique_id in self.answers for unique_id in ids):
                await asyncio.sleep(0.01)
        return [self.answers[unique_id][0] for unique_id in ids]

    async def send_call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """Send one CALL; its answer (the whole frame)."""
        [answer] = await self.send_calls([(action, payload)])
        return list(answer)


def _refusal(status: HTTPStatus) -> Response:
    body = status.phrase.encode()
    return Response(status.value, status.phrase, Headers({"Content-Length": str(len(body))}), body)


@contextlib.asynccontextmanager
async def fake_upstream(**kwargs: Any) -> AsyncIterator[FakeUpstream]:
    """A started fake upstream, stopped at the end."""
    upstream = FakeUpstream(**kwargs)
    await upstream.start()
    try:
        yield upstream
    finally:
        await upstream.stop()
