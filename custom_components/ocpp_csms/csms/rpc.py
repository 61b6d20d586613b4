"""OCPP-J remote procedure calls over one WebSocket connection.

This is the framing layer: it turns text frames into CALL / CALLRESULT / CALLERROR,
answers the charger's CALLs through a dispatcher, and hands the answers to the central
system's own CALLs to `OutgoingCalls` (`rpc_calls`), which it extends. Its vocabulary
(codes, `Reply`, `CallOutcome`) is in `rpc_types`. It knows no message semantics.

Rules it enforces, because the protocol and real chargers demand them:
- every frame that is not a valid CALL gets the CALLERROR its version prescribes, and
  the connection survives;
- only one outgoing CALL is in flight at a time, and every call is bounded by a
  timeout and ends in a typed outcome (never an exception, never a hang);
- handlers answer synchronously with a `Reply`; follow-up work that needs to talk to
  the charger goes in `Reply.after`, run as a task once the answer is on the wire
  (awaiting a CALL inside a handler would wait for an answer the charger cannot send
  before it gets ours).

A handler may also return an awaitable `Reply`. A charger's connection awaits it before
reading the next frame (its messages are handled in order). A connection made with
`background_answers` (the upstream's: its commands wait for the charger) answers it from
a task instead and reads on; its dispatcher bounds how many such answers it starts.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from .boundary import Decoded, FrameError, decode_frame
from .leniency import repair
from .log_budget import LogBudget, shorten
from .rpc_calls import OutgoingCalls
from .rpc_types import (
    MSG_CALL,
    MSG_CALLERROR,
    MSG_CALLRESULT,
    MSG_CALLRESULTERROR,
    MSG_SEND,
    AnsweredHook,
    CallError,
    CallOutcome,
    Dispatcher,
    ErrorCode,
    Handler,
    OutcomeStatus,
    Reply,
    WebSocketLike,
    violation_code,
)
from .schemas import VersionSchemas, problem_of
from .station import OcppVersion

_LOGGER = logging.getLogger(__name__)

# `json.dumps` with separators builds an encoder per call; every frame we send uses this.
_ENCODER = json.JSONEncoder(separators=(",", ":"))

# What broken frames may make us log: a few lines per charger per ten minutes, and a
# bound for all chargers together (see `LogBudget`).
FRAME_LOG_BUDGET = LogBudget(per_source=5, overall=60, period_s=600.0)


class _Ended:
    """The dispatcher of a conversation that has ended: no frame reaches it any more."""

    def handler_for(self, action: str) -> Handler | None:
        return None

    def accept_quirks(self, action: str, quirks: list[str]) -> None:
        pass

    def refused(self, action: str, kind: str) -> None:
        pass


_ENDED = _Ended()


class RpcConnection(OutgoingCalls):
    """One charger's OCPP-J conversation (our own CALLs: see `OutgoingCalls`)."""

    def __init__(
        self,
        websocket: WebSocketLike,
        schemas: VersionSchemas,
        dispatcher: Dispatcher,
        *,
        label: str,
        call_timeout: float,
        background_answers: bool = False,
    ) -> None:
        """Bind the conversation to a socket; `serve` starts reading."""
        super().__init__(call_timeout)
        self._ws = websocket
        self._schemas = schemas
        self._dispatcher = dispatcher
        self._label = label
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        # See `AnsweredHook`; None (the rule) costs one test per answered CALL.
        self.on_answered: AnsweredHook | None = None
        self._background_answers = background_answers
        # Set once we first answered the charger (a CALL, or a broken frame): it has had
        # its say, and from then on it listens.
        self.first_answer_sent = asyncio.Event()
        # What to answer a frame whose framing is broken; 1.6 has no RpcFrameworkError.
        is_16 = not schemas.version.is_2x
        self._framing_error = (
            ErrorCode.FORMATION_VIOLATION if is_16 else ErrorCode.RPC_FRAMEWORK_ERROR
        )

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._closed

    async def serve(self) -> None:
        """Read and handle frames until the connection closes."""
        try:
            async for frame in self._ws:
                await self._on_frame(frame)
                if self._awaited_answer:
                    # The answer to our call in flight: one per call we made, so it
                    # cannot flood, and whoever waits for it goes on at once.
                    self._awaited_answer = False
                    if (after := self.after_answer) is not None:
                        await self._after_answer(after)
                    continue
                # Frames already received come without suspending, so a charger that
                # sends many at once would hold the loop for all of them: give every
                # other charger (and Home Assistant) a turn after each.
                await asyncio.sleep(0)
        except ConnectionClosed:
            pass
        finally:
            self._shut_down()
            # The dispatcher (the station's adapter) holds this connection: let go of
            # it, so that a connection that ended is freed by reference counting at
            # once instead of waiting for the cycle collector (see `StationAdapter.serve`).
            self._dispatcher = _ENDED

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket; a call in flight ends as OFFLINE."""
        self._shut_down()
        await self._ws.close(code, reason)

    def _shut_down(self) -> None:
        self._closed = True
        self._drop_call_in_flight()
        for task in self._tasks:
            task.cancel()

    def spawn(self, work: Awaitable[None]) -> None:
        """Run follow-up work as a task owned by this connection."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self._log(logging.ERROR, "follow-up work failed", exc_info=error)

    # -- incoming frames --------------------------------------------------------------

    async def _on_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            try:
                frame = frame.decode()
            except UnicodeDecodeError:
                await self._send_error("-1", self._framing_error, "Frame is not UTF-8 text")
                return
        try:
            decoded = decode_frame(frame)
        except FrameError:
            await self._send_error("-1", self._framing_error, "Frame is not valid JSON")
            return
        message = decoded.value
        if not isinstance(message, list) or len(message) < 3 or not isinstance(message[1], str):
            await self._send_error(
                _unique_id_of(message), self._framing_error, "Not an OCPP-J message"
            )
            return
        kind, unique_id = message[0], message[1]
        if kind not in (MSG_CALL, MSG_CALLRESULT, MSG_CALLERROR):
            await self._on_unknown_message_type(kind, unique_id)
            return
        action = message[2] if kind == MSG_CALL and isinstance(message[2], str) else ""
        if not self._schemas.knows_action(action):
            action = ""  # never a charger's arbitrary text in a log line or a count
        if decoded.violation is not None:
            await self._on_unsafe(kind, unique_id, action, decoded)
            return
        if decoded.repairs:
            self._dispatcher.accept_quirks(action or self._pending_action, decoded.repairs)
        if kind == MSG_CALL:
            await self._on_call(unique_id, message)
        elif kind == MSG_CALLRESULT:
            payload = message[2] if isinstance(message[2], dict) else {}
            self._on_answer(unique_id, CallOutcome(OutcomeStatus.RESULT, payload))
        else:
            code = message[2] if isinstance(message[2], str) else "GenericError"
            description = message[3] if len(message) > 3 and isinstance(message[3], str) else ""
            self._on_answer(
                unique_id,
                CallOutcome(OutcomeStatus.ERROR, error_code=code, error_description=description),
            )

    async def _on_unknown_message_type(self, kind: Any, unique_id: str) -> None:
        if self._schemas.version is OcppVersion.V21 and kind in (
            MSG_CALLRESULTERROR,
            MSG_SEND,
        ):
            # 2.1's answer-less messages: an error about our answer, and a SEND. Neither
            # may be answered; we use neither.
            self._log(logging.DEBUG, "ignoring a message of type %s", kind)
            return
        code = self._framing_error
        if self._schemas.version.is_2x:
            code = ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED
        await self._send_error(unique_id, code, "Unknown message type")

    async def _on_unsafe(self, kind: Any, unique_id: str, action: str, decoded: Decoded) -> None:
        """A frame holding a value no reader may see (see `boundary`)."""
        self._dispatcher.refused(action or self._pending_action, "unsafe_value")
        # The path inside the payload: a CALL's payload is its fourth element.
        path = decoded.violation_path.partition("/")[2] if kind == MSG_CALL else ""
        self._log(
            logging.WARNING,
            "refused %s: %s at '%s'",
            action or "an answer",
            decoded.violation,
            shorten(path),
        )
        if kind == MSG_CALL:
            await self._send_error(
                unique_id,
                ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                str(decoded.violation),
                {"path": shorten(path)},
            )
        elif kind == MSG_CALLRESULT:
            self._on_answer(
                unique_id,
                CallOutcome(
                    OutcomeStatus.ERROR,
                    error_code=ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                    error_description=str(decoded.violation),
                ),
            )
        else:
            self._on_answer(unique_id, CallOutcome(OutcomeStatus.ERROR, error_code="GenericError"))

    async def _on_call(self, unique_id: str, message: list[Any]) -> None:
        if len(message) != 4 or not isinstance(message[2], str) or not isinstance(message[3], dict):
            await self._send_error(unique_id, self._framing_error, "A CALL has 4 elements")
            return
        action: str = message[2]
        payload: dict[str, Any] = message[3]
        if not self._schemas.knows_action(action):
            await self._send_error(
                unique_id, ErrorCode.NOT_IMPLEMENTED, f"{shorten(action, 50)} is not an OCPP action"
            )
            return
        handler = self._dispatcher.handler_for(action)
        if handler is None:
            await self._send_error(
                unique_id, ErrorCode.NOT_SUPPORTED, f"{action} is not supported here"
            )
            return
        if errors := self._schemas.request_errors(action, payload):
            problem = problem_of(errors[0])
            try:
                repaired = repair(self._schemas, action, payload, errors)
            except Exception:
                # A repair that trips over an unforeseen shape: refuse the message, as if
                # no quirk explained it, and keep the connection.
                self._log(logging.ERROR, "repairing %s failed", action, exc_info=True)
                repaired = None
            if repaired is None:
                self._dispatcher.refused(action, f"schema_{problem.kind}")
                self._log(
                    logging.WARNING,
                    "%s breaks its schema: %s at '%s'",
                    action,
                    shorten(problem.message),
                    shorten(problem.path),
                )
                await self._send_error(
                    unique_id,
                    violation_code(problem.kind, is_16=not self._schemas.version.is_2x),
                    shorten(problem.message),
                    {"path": shorten(problem.path), "keyword": problem.kind},
                )
                return
            payload, quirks = repaired
            self._dispatcher.accept_quirks(action, quirks)
        try:
            reply = handler(payload)
        except Exception as error:
            await self._refuse_call(unique_id, action, error)
            return
        if not inspect.isawaitable(reply):
            await self._answer(unique_id, action, payload, reply)
        elif self._background_answers:
            self.spawn(self._answer_later(unique_id, action, payload, reply))
        else:
            await self._answer_later(unique_id, action, payload, reply)

    async def _answer_later(
        self, unique_id: str, action: str, payload: dict[str, Any], pending: Awaitable[Reply]
    ) -> None:
        """Answer a CALL once its handler's awaitable is done."""
        try:
            reply = await pending
        except Exception as error:
            await self._refuse_call(unique_id, action, error)
            return
        await self._answer(unique_id, action, payload, reply)

    async def _refuse_call(self, unique_id: str, action: str, error: Exception) -> None:
        """A handler failed: its CallError goes as it is, anything else as InternalError."""
        if isinstance(error, CallError):
            await self._send_error(unique_id, error.code, error.description, error.details)
            return
        self._log(logging.ERROR, "error while handling %s", action, exc_info=error)
        await self._send_error(unique_id, ErrorCode.INTERNAL_ERROR, "Internal error")

    async def _answer(
        self, unique_id: str, action: str, payload: dict[str, Any], reply: Reply
    ) -> None:
        if await self._send([MSG_CALLRESULT, unique_id, reply.payload]):
            self.first_answer_sent.set()
            if (hook := self.on_answered) is not None:
                self._tell_answered(hook, action, payload, reply.payload)
            if reply.after:
                self.spawn(reply.after())

    async def _after_answer(self, after: Callable[[], Awaitable[None]]) -> None:
        try:
            await after()
        except Exception:
            # Its caller's work (forwarding) must not end the conversation; its calls
            # are bounded by their own timeouts.
            self._log(logging.ERROR, "the after-answer hook failed", exc_info=True)

    def _tell_answered(
        self, hook: AnsweredHook, action: str, payload: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        try:
            hook(action, payload, answer)
        except Exception:
            # Whoever listens (forwarding) must never cost the charger its conversation.
            self._log(logging.ERROR, "the answered hook failed on %s", action, exc_info=True)

    def _log(self, level: int, message: str, *args: Any, exc_info: Any = None) -> None:
        """Log about this charger's frames within the shared budget (see `LogBudget`).

        Tracebacks too: a charger that trips a bug with every frame must not write one
        per frame.
        """
        if not _LOGGER.isEnabledFor(level):
            return
        left_out = FRAME_LOG_BUDGET.take(self._label)
        if left_out is None:
            return
        if left_out:
            message += f" ({left_out} similar lines left out)"
        _LOGGER.log(level, "%s: " + message, self._label, *args, exc_info=exc_info)

    async def _send_error(
        self,
        unique_id: str,
        code: ErrorCode,
        description: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        if await self._send([MSG_CALLERROR, unique_id, str(code), description, details or {}]):
            self.first_answer_sent.set()

    async def _send(self, frame: list[Any]) -> bool:
        """Send a frame; False when the connection is already gone."""
        try:
            await self._ws.send(_ENCODER.encode(frame))
        except ConnectionClosed:
            self._shut_down()
            return False
        return True


def _unique_id_of(message: Any) -> str:
    """The message id to name in a CALLERROR about a malformed message, if it has one."""
    if isinstance(message, list) and len(message) > 1 and isinstance(message[1], str):
        return message[1]
    return "-1"
