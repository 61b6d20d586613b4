"""Every charger's upstream link (see `upstream`), and the hook their connections get.

A charger without an upstream gets no hook at all: forwarding then costs nothing. A
connection's hook names the charger, not its link, so a link that is replaced (new
settings) loses nothing the charger sends meanwhile: that is held and relayed to the
new link once it has started. Every link's queue writes its file on one shared thread
(`QueueWriter`), in group commits.

A link whose policy lets the upstream's word on tags count has an
`UpstreamAuthorization` here too, which the central system consults (`decide`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .adapter import RepeatedAnswer
from .authorization import AuthorizationDecision
from .rpc_types import AnsweredHook
from .schemas import VersionSchemas
from .station import OcppVersion
from .upstream import UpstreamLink
from .upstream_authorization import AUTHORIZE_TIMEOUT_S, UpstreamAuthorization, honours_upstream
from .upstream_policy import ChargerAccess, UpstreamCommand, bounded_reports
from .upstream_queue import UpstreamQueue
from .upstream_settings import Backoff, UpstreamSettings, UpstreamState, UpstreamStatus
from .upstream_writer import QueueWriter

_LOGGER = logging.getLogger(__name__)

# Messages held for a charger while its link is being replaced (then relayed).
MAX_HELD_WHILE_CHANGING = 1000
# The 1.6 starts relayed lately, per charger: as many as a charger's repeated starts
# are recognised (`ocpp16._RECENT_STARTS`).
MAX_RELAYED_STARTS = 50


@dataclass(slots=True)
class _Retry:
    """A link whose queue file did not open: what its status shows meanwhile."""

    on_status: Callable[[UpstreamStatus], None] | None
    error: str
    dropped: int = 0
    task: asyncio.Task[None] | None = None

    def report(self, status: UpstreamStatus) -> None:
        if self.on_status is None:
            return
        try:
            self.on_status(status)
        except Exception:
            # As a link's own listener: its failure must not end the retries.
            _LOGGER.exception("The upstream status listener failed")


def _describe(error: Exception) -> str:
    return f"Queue file: {type(error).__name__}: {error}"[:200]


class Upstreams:
    """Every charger's upstream link, by charger id; none configured costs nothing."""

    def __init__(
        self,
        schemas: Callable[[], Awaitable[Mapping[OcppVersion, VersionSchemas]]],
        *,
        call_timeout: float,
        chargers: ChargerAccess | None = None,
    ) -> None:
        """Prepare; `schemas` gives the validators (loaded off the loop).

        Without `chargers`, no upstream's command reaches a charger.
        """
        self._schemas = schemas
        self._call_timeout = call_timeout
        self._chargers = chargers
        self._links: dict[str, UpstreamLink] = {}
        self._writer = QueueWriter()
        self._authorizations: dict[str, UpstreamAuthorization] = {}
        # How long a charger's answer on a tag we do not know may wait for its upstream.
        self.authorize_timeout = AUTHORIZE_TIMEOUT_S
        # What chargers sent while their link was stopped and started again, with the
        # version of the connection it came on.
        self._held: dict[str, list[tuple[OcppVersion, str, dict[str, Any], dict[str, Any]]]] = {}
        # The transaction ids of the 1.6 StartTransactions relayed lately, per charger
        # (a dict for its order): a start sent again is relayed only if the first was
        # not (see `_relay`).
        self._relayed_starts: dict[str, dict[Any, None]] = {}
        # One change of links at a time: a charger's removal racing its link's start
        # would otherwise leave a link running that nobody ends. Changes are rare.
        self._changing = asyncio.Lock()
        self._stopped = False
        # Links whose queue file did not open, tried again (see `_retry_start`), and
        # the waits between tries.
        self._retries: dict[str, _Retry] = {}
        self.open_backoff: Callable[[], Backoff] = Backoff

    async def set(
        self,
        charger_id: str,
        settings: UpstreamSettings | None,
        *,
        queue_path: Path | None = None,
        on_status: Callable[[UpstreamStatus], None] | None = None,
        on_command: Callable[[UpstreamCommand], None] | None = None,
    ) -> None:
        """Start (or replace, or with None end) a charger's link; its queue is in `queue_path`.

        `on_command` is told of the upstream's commands (a bounded number a minute).
        """
        if settings is not None and queue_path is None:
            raise ValueError("an upstream needs a file for its queue")
        async with self._changing:
            if self._stopped:
                return  # the central system stopped: no link may outlive it
            await self._set(charger_id, settings, queue_path, on_status, on_command)

    async def _set(
        self,
        charger_id: str,
        settings: UpstreamSettings | None,
        queue_path: Path | None,
        on_status: Callable[[UpstreamStatus], None] | None,
        on_command: Callable[[UpstreamCommand], None] | None,
    ) -> None:
        # Held on from a start that failed (see `_retry_start`): relayed by this link.
        self._held.setdefault(charger_id, [])
        await self._cancel_retry(charger_id)
        try:
            self._authorizations.pop(charger_id, None)
            if (old := self._links.pop(charger_id, None)) is not None:
                await old.stop()
            if settings is None or queue_path is None:
                self._relayed_starts.pop(charger_id, None)
                return
            new_link = functools.partial(
                self._new_link,
                charger_id,
                settings,
                (await self._schemas())[settings.version],
                queue_path,
                on_status=on_status,
                on_command=on_command,
            )
            link = new_link()
            try:
                await link.start()
            except Exception as error:
                # Its queue file cannot be opened (yet): the charger's messages are held
                # meanwhile, and the status says why (see `_retry_start`).
                self._start_failed(charger_id, error, on_status, new_link)
                return
            self._started(charger_id, link)
        finally:
            if charger_id not in self._retries:
                del self._held[charger_id]

    def _new_link(
        self,
        charger_id: str,
        settings: UpstreamSettings,
        schemas: VersionSchemas,
        queue_path: Path,
        *,
        on_status: Callable[[UpstreamStatus], None] | None,
        on_command: Callable[[UpstreamCommand], None] | None,
    ) -> UpstreamLink:
        return UpstreamLink(
            charger_id,
            settings,
            schemas,
            UpstreamQueue(queue_path, writer=self._writer),
            call_timeout=self._call_timeout,
            on_status=on_status,
            chargers=self._chargers,
            on_command=None if on_command is None else bounded_reports(on_command),
        )

    def _started(self, charger_id: str, link: UpstreamLink) -> None:
        """A link runs: it takes the charger's messages, those held first."""
        self._links[charger_id] = link
        if honours_upstream(link.settings.policy):
            self._authorizations[charger_id] = UpstreamAuthorization(
                charger_id,
                link.settings.version,
                link.ask,
                lambda: link.booted,
                timeout=self.authorize_timeout,
            )
        for message in self._held.get(charger_id, ()):
            self._relay(charger_id, *message)

    def _start_failed(
        self,
        charger_id: str,
        error: Exception,
        on_status: Callable[[UpstreamStatus], None] | None,
        new_link: Callable[[], UpstreamLink],
    ) -> None:
        _LOGGER.error(
            "The upstream queue of charger %s cannot be opened (%r); trying again",
            charger_id,
            error,
        )
        retry = _Retry(on_status, _describe(error))
        retry.task = asyncio.create_task(
            self._retry_start(charger_id, retry, new_link), name=f"upstream start {charger_id}"
        )
        self._retries[charger_id] = retry
        retry.report(self._retry_status(charger_id, retry))

    async def _retry_start(
        self, charger_id: str, retry: _Retry, new_link: Callable[[], UpstreamLink]
    ) -> None:
        """Open the queue again, ever later (`open_backoff`), until it opens or is replaced.

        Changes of links (`set`, `stop`) cancel this; it changes them under their lock.
        """
        backoff = self.open_backoff()
        while True:
            await asyncio.sleep(backoff.next())
            async with self._changing:
                link = new_link()
                try:
                    await link.start()
                except Exception as error:
                    if (reason := _describe(error)) != retry.error:
                        _LOGGER.error(
                            "The upstream queue of charger %s still cannot be opened (%r)",
                            charger_id,
                            error,
                        )
                        retry.error = reason
                        retry.report(self._retry_status(charger_id, retry))
                    continue
                _LOGGER.info("The upstream queue of charger %s is open now", charger_id)
                del self._retries[charger_id]
                self._started(charger_id, link)
                del self._held[charger_id]
                return

    async def _cancel_retry(self, charger_id: str) -> None:
        if (retry := self._retries.pop(charger_id, None)) is not None and retry.task:
            retry.task.cancel()
            await asyncio.wait({retry.task})

    def _retry_status(self, charger_id: str, retry: _Retry) -> UpstreamStatus:
        held = len(self._held.get(charger_id, ()))
        return UpstreamStatus(
            UpstreamState.CONNECTING, queued=held, dropped=retry.dropped, last_error=retry.error
        )

    def hook_for(self, charger_id: str, version: OcppVersion | None) -> AnsweredHook | None:
        """What a connection of this charger tells of what it answered (None: nothing).

        Only a connection in the upstream's version is forwarded: there is no
        translation between versions. A connection made while the charger's link is
        being replaced is held for the new link (which takes only its own version);
        the owner hooks it again once the change is done.
        """
        if version is None:
            return None
        link = self._links.get(charger_id)
        if link is None:
            if charger_id in self._held:
                return functools.partial(self._relay, charger_id, version)
            return None
        if version is not link.settings.version:
            _LOGGER.warning(
                "Charger %s speaks %s, its upstream %s: not forwarded",
                charger_id,
                version,
                link.settings.version,
            )
            return None
        return functools.partial(self._relay, charger_id, version)

    def _relay(
        self,
        charger_id: str,
        version: OcppVersion,
        action: str,
        request: dict[str, Any],
        answer: dict[str, Any],
    ) -> None:
        if isinstance(answer, RepeatedAnswer) and (
            action != "StartTransaction" or self._relayed_before(charger_id, answer)
        ):
            return  # the charger sent it again (it missed our answer): relayed once already
        link = self._links.get(charger_id)
        if link is not None:
            if link.settings.version is version and not self._asked_already(
                charger_id, action, request
            ):
                link.relay(action, request, answer)
                if action == "StartTransaction":
                    self._relayed(charger_id, answer)
            return
        held = self._held.get(charger_id)
        if held is None:
            return
        if len(held) < MAX_HELD_WHILE_CHANGING:
            held.append((version, action, request, answer))
        elif (retry := self._retries.get(charger_id)) is not None:
            retry.dropped += 1  # shown: its queue has not opened for a long while

    def _relayed_before(self, charger_id: str, answer: dict[str, Any]) -> bool:
        """Whether the start this answer repeats was relayed.

        It was not when our first answer never reached the charger (the answered hook
        runs once the answer is out): the charger sends it again after reconnecting,
        and that is the upstream's only chance to hear of the session.
        """
        relayed = self._relayed_starts.get(charger_id)
        return relayed is not None and answer.get("transactionId") in relayed

    def _relayed(self, charger_id: str, answer: dict[str, Any]) -> None:
        relayed = self._relayed_starts.setdefault(charger_id, {})
        relayed[answer.get("transactionId")] = None
        while len(relayed) > MAX_RELAYED_STARTS:
            del relayed[next(iter(relayed))]

    def _asked_already(self, charger_id: str, action: str, request: dict[str, Any]) -> bool:
        """Whether this is an Authorize of a tag the upstream was asked just now."""
        if action != "Authorize" or (auth := self._authorizations.get(charger_id)) is None:
            return False
        return auth.holds_relay(request)

    def decide(
        self,
        charger_id: str,
        version: OcppVersion | None,
        id_tag: str,
        token_type: str | None,
        local: AuthorizationDecision,
    ) -> AuthorizationDecision | Awaitable[AuthorizationDecision]:
        """The answer on a tag: `local`, or its upstream's (see `upstream_authorization`)."""
        if local.known or not self._authorizations:
            return local
        authorization = self._authorizations.get(charger_id)
        if authorization is None or version is not authorization.version:
            return local
        return authorization.decide(id_tag, token_type, local)

    def authorization(self, charger_id: str) -> UpstreamAuthorization | None:
        """A charger's upstream as the second word on tags, when its policy says so."""
        return self._authorizations.get(charger_id)

    def status(self, charger_id: str) -> UpstreamStatus | None:
        """A charger's upstream status, None when it has no upstream."""
        link = self._links.get(charger_id)
        if link is None and (retry := self._retries.get(charger_id)) is not None:
            return self._retry_status(charger_id, retry)
        return None if link is None else link.status

    async def stop(self) -> None:
        """End every link (their queues stay in their files); none starts afterwards."""
        async with self._changing:
            self._stopped = True
            for charger_id in list(self._retries):
                await self._cancel_retry(charger_id)
            links, self._links = list(self._links.values()), {}
            self._held.clear()  # nothing will relay them: chargers still sending hold none
            self._authorizations.clear()
            try:
                # One link failing to stop must not leave the others, or the writer's
                # thread, running.
                results = await asyncio.gather(
                    *(link.stop() for link in links), return_exceptions=True
                )
                for link, result in zip(links, results, strict=True):
                    if isinstance(result, BaseException):
                        _LOGGER.error(
                            "The upstream link of charger %s did not stop cleanly: %r",
                            link.charger_id,
                            result,
                        )
            finally:
                await self._writer.close()
