"""Checking charger passwords without letting connection attempts stall the host.

A check of a password the user chose is PBKDF2 (`credentials.verify_password`): tens of
milliseconds of CPU on a fast machine, hundreds on a small one (a password we generated
verifies in microseconds, on the loop, under the same limits). Run for every attempt on a shared
executor, a flood of wrong passwords or a storm of chargers reconnecting at once fills
that executor and the host's own work waits behind it. So a `PasswordGate`
- runs checks on two threads of its own (PBKDF2 releases the GIL: two cores at most);
- remembers, per charger and stored hash, a keyed digest of the password last verified,
  so a charger that reconnects costs one HMAC instead of PBKDF2; a new stored hash has
  another key, so a changed password is verified afresh;
- refuses without hashing once a charger id from one address, or an address, has
  failed too often in the last minute (under one id and address, checks in progress
  count as failures until they succeed, so a burst of guesses sent at once is cut too;
  not under one address, which a whole site of chargers may share when they all
  reconnect). Per id *and* address, so that guessing under a charger's id from
  elsewhere cannot lock the real charger out; and a success from an address clears
  its failures, so a site behind one NAT is not held up by a charger with a stale
  password;
- refuses without queueing once too many checks are waiting.
Everything it remembers is bounded.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .credentials import is_costly, verify_password
from .server import Verdict

# Two threads: twice the throughput of one in a storm, while a four-core host keeps two
# cores for itself.
WORKERS = 2
# Checks running or queued. Past this a new attempt is refused (HTTP 503) rather than
# queued: 32 checks on two threads wait at most ~4 s on a slow host (~0.25 s each),
# well inside a charger's handshake timeout, and ~0.6 s on a fast one.
MAX_WAITING = 32
# Chargers remembered with their last verified password: more than any site has.
CACHE_SIZE = 2000
# Failed checks allowed in FAILURE_WINDOW_S per charger id and per address. A charger
# with a wrong password retrying every 10 s costs 5 checks a minute; one address
# guessing across ids costs 20. A charger given the right password after failing waits
# at most a minute; one whose right password was verified since the start gets in from
# the cache even while its id is held.
FAILURE_WINDOW_S = 60.0
FAILURES_PER_CHARGER = 5
FAILURES_PER_ADDRESS = 20
# Ids and addresses whose failures are remembered, each (least recently seen forgotten).
MAX_TRACKED = 4096


@dataclass(slots=True)
class _Attempts:
    failures: deque[float] = field(default_factory=deque)
    in_progress: int = 0


class FailureLimiter:
    """Counts failed attempts per key in a sliding window, for a bounded number of keys."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        max_keys: int = MAX_TRACKED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`limit` failures (or attempts in progress) per `window_s` per key."""
        self._limit = limit
        self._window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, _Attempts] = OrderedDict()

    def blocked(self, key: str) -> bool:
        """Whether `key` has used up its attempts for now."""
        attempts = self._keys.get(key)
        if attempts is None:
            return False
        horizon = self._clock() - self._window_s
        while attempts.failures and attempts.failures[0] <= horizon:
            attempts.failures.popleft()
        return len(attempts.failures) + attempts.in_progress >= self._limit

    def begin(self, key: str) -> None:
        """An attempt of `key` starts; it counts as a failure until `end`."""
        self._touch(key).in_progress += 1

    def end(self, key: str, *, failed: bool) -> None:
        """An attempt of `key` started with `begin` ended."""
        attempts = self._keys.get(key)
        if attempts is not None:  # else forgotten meanwhile (bounded memory)
            attempts.in_progress = max(0, attempts.in_progress - 1)
        if failed:
            self.failed(key)

    def failed(self, key: str) -> None:
        """An attempt of `key` failed; it counts for the window."""
        failures = self._touch(key).failures
        failures.append(self._clock())
        if len(failures) > self._limit:
            failures.popleft()  # more than the limit tells nothing more

    def _touch(self, key: str) -> _Attempts:
        attempts = self._keys.get(key)
        if attempts is None:
            attempts = self._keys[key] = _Attempts()
            while len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        return attempts

    def forget(self, key: str) -> None:
        """`key` proved itself: its earlier failures no longer count."""
        attempts = self._keys.get(key)
        if attempts is not None and attempts.in_progress == 0:
            del self._keys[key]
        elif attempts is not None:
            attempts.failures.clear()


def address_key(address: str) -> str:
    """The unit an address is limited by: the address, or its /64 for IPv6.

    One IPv6 host usually holds a whole /64, so limiting single addresses would not
    limit it at all.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class PasswordGate:
    """Verifies charger passwords on its own threads, with a cache and limits."""

    def __init__(
        self,
        *,
        workers: int = WORKERS,
        max_waiting: int = MAX_WAITING,
        cache_size: int = CACHE_SIZE,
        per_charger: FailureLimiter | None = None,
        per_address: FailureLimiter | None = None,
    ) -> None:
        """Set the bounds; threads start with the first check."""
        self._workers = workers
        self._max_waiting = max_waiting
        self._cache_size = cache_size
        self._per_charger = per_charger or FailureLimiter(FAILURES_PER_CHARGER, FAILURE_WINDOW_S)
        self._per_address = per_address or FailureLimiter(FAILURES_PER_ADDRESS, FAILURE_WINDOW_S)
        self._executor: ThreadPoolExecutor | None = None
        self._waiting = 0
        # Digests, not passwords: the key lives only in this process's memory.
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    async def check(
        self, charger_id: str, address: str, stored_hash: str, password: str
    ) -> Verdict:
        """ALLOW, UNAUTHORIZED (wrong), THROTTLED (too many failures) or BUSY (queue full)."""
        cache_key = (charger_id, stored_hash)
        digest = self._digest(password)
        known = self._verified.get(cache_key)
        # Before the limits: a charger verified earlier gets in even while someone
        # else guesses passwords under its id.
        if known is not None and hmac.compare_digest(known, digest):
            self._verified.move_to_end(cache_key)
            return Verdict.ALLOW
        source = address_key(address)
        charger_key = f"{charger_id}@{source}"
        if self._per_charger.blocked(charger_key) or self._per_address.blocked(source):
            return Verdict.THROTTLED
        if is_costly(stored_hash) and self._waiting >= self._max_waiting:
            return Verdict.BUSY
        if await self._verify(charger_key, source, stored_hash, password):
            self._remember(cache_key, digest)
            return Verdict.ALLOW
        return Verdict.UNAUTHORIZED

    async def _verify(self, charger_key: str, source: str, stored_hash: str, password: str) -> bool:
        verified: bool | None = None
        self._per_charger.begin(charger_key)
        try:
            verified = await self._run_check(stored_hash, password)
        finally:
            # Only a check that ran to its end is evidence of a wrong password.
            self._per_charger.end(charger_key, failed=verified is False)
            if verified is False:
                self._per_address.failed(source)
        if verified:
            self._per_charger.forget(charger_key)
            self._per_address.forget(source)
        return verified is True

    async def _run_check(self, stored_hash: str, password: str) -> bool:
        if not is_costly(stored_hash):
            return verify_password(stored_hash, password)  # microseconds: no thread hop
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            # Cancelled while still queued (the handshake timed out), it is never run.
            return await loop.run_in_executor(
                self._threads(), verify_password, stored_hash, password
            )
        finally:
            self._waiting -= 1

    def _threads(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._workers, thread_name_prefix="ocpp_csms_password"
            )
        return self._executor

    def _digest(self, password: str) -> bytes:
        return hmac.digest(self._key, password.encode("utf-8", "surrogatepass"), "sha256")

    def _remember(self, cache_key: tuple[str, str], digest: bytes) -> None:
        self._verified[cache_key] = digest
        self._verified.move_to_end(cache_key)
        while len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)

    async def close(self) -> None:
        """Forget what was verified and stop the threads; checks still queued never run.

        Waits (off the loop) for a check in progress: one PBKDF2 at most.
        """
        executor, self._executor = self._executor, None
        self._verified.clear()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
            await asyncio.to_thread(executor.shutdown)
