"""Password checks: own threads, a cache of verified passwords, limits on failures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from custom_components.ocpp_csms.csms import password_gate
from custom_components.ocpp_csms.csms.credentials import (
    generate_password,
    hash_password,
    is_costly,
    verify_password,
)
from custom_components.ocpp_csms.csms.password_gate import (
    FAILURES_PER_CHARGER,
    FailureLimiter,
    PasswordGate,
    address_key,
)
from custom_components.ocpp_csms.csms.server import Verdict
from tests.chargers import PATIENCE_S, basic_auth_header, wait_for
from tests.engine.conftest import Running, StartSystem

_THREAD_PREFIX = "ocpp_csms_password"


class Hashing:
    """Stands in for `verify_password` in the gate: counts the PBKDF2 runs and their threads.

    With `hold`, each PBKDF2 run waits until it is set (the test sets it at the end).
    """

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.threads: list[str] = []
        self.hold = hold

    @property
    def calls(self) -> int:
        return len(self.threads)

    def __call__(self, stored_hash: str, password: str) -> bool:
        self.threads.append(threading.current_thread().name)
        if self.hold is not None and is_costly(stored_hash):
            assert self.hold.wait(PATIENCE_S)
        return verify_password(stored_hash, password)


MakeGate = Callable[..., PasswordGate]


@pytest.fixture
async def make_gate() -> AsyncIterator[MakeGate]:
    """Gates that are closed (their threads stopped) at the end of the test."""
    gates: list[PasswordGate] = []

    def _make(**bounds: Any) -> PasswordGate:
        gates.append(PasswordGate(**bounds))
        return gates[-1]

    yield _make
    for gate in gates:
        await gate.close()


@pytest.fixture
def hashing(monkeypatch: pytest.MonkeyPatch) -> Hashing:
    counter = Hashing()
    monkeypatch.setattr(password_gate, "verify_password", counter)
    return counter


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch, make_gate: MakeGate) -> Iterator[Hashing]:
    """Checks that block in their thread until the test ends (or releases them).

    Released before the gates close, which wait for the checks in progress.
    """
    counter = Hashing(threading.Event())
    monkeypatch.setattr(password_gate, "verify_password", counter)
    yield counter
    assert counter.hold is not None
    counter.hold.set()


async def attempt(running: Running, charger_id: str, password: str) -> int:
    """Open a connection as `charger_id` with `password`: the HTTP status answered."""
    try:
        async with connect(
            f"{running.url}/{charger_id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=basic_auth_header(charger_id, password),
            open_timeout=PATIENCE_S,
        ):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


# -- through the server --------------------------------------------------------------


async def test_wrong_passwords_beyond_the_limit_are_refused_without_hashing(
    start_system: StartSystem, hashing: Hashing
) -> None:
    """After the limit, a charger id gets 429 at once; other chargers are still checked."""
    running = await start_system()
    running.directory.admit("CP-1", hash_password("right-password-1"))
    running.directory.admit("CP-2", hash_password("right-password-2"))
    statuses = [await attempt(running, "CP-1", f"guess-{n}") for n in range(FAILURES_PER_CHARGER)]
    assert statuses == [401] * FAILURES_PER_CHARGER
    assert hashing.calls == FAILURES_PER_CHARGER
    for n in range(10):
        assert await attempt(running, "CP-1", f"more-{n}") == 429
    assert hashing.calls == FAILURES_PER_CHARGER
    # The right password too: nothing tells it apart without hashing.
    assert await attempt(running, "CP-1", "right-password-1") == 429
    assert hashing.calls == FAILURES_PER_CHARGER
    # Another charger from the same address is not held by CP-1's failures.
    assert await attempt(running, "CP-2", "right-password-2") == 101
    assert hashing.calls == FAILURES_PER_CHARGER + 1
    assert running.system.counters.refused == {"unauthorized": 5, "throttled": 11}


async def test_a_throttled_429_says_when_to_retry(
    start_system: StartSystem, hashing: Hashing
) -> None:
    """The refusal carries Retry-After, so a charger that reads it backs off."""
    running = await start_system()
    running.directory.admit("CP-1", hash_password("right-password-1"))
    for n in range(FAILURES_PER_CHARGER):
        await attempt(running, "CP-1", f"guess-{n}")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"{running.url}/CP-1", additional_headers=basic_auth_header("CP-1", "again")
        ):
            pass
    assert refused.value.response.status_code == 429
    assert int(refused.value.response.headers["Retry-After"]) > 0


async def test_a_verified_password_is_not_hashed_again(
    start_system: StartSystem, hashing: Hashing
) -> None:
    """Reconnecting costs no PBKDF2, even while someone guesses under the same id."""
    running = await start_system()
    running.directory.admit("CP-1", hash_password("right-password-1"))
    assert await attempt(running, "CP-1", "right-password-1") == 101
    assert hashing.calls == 1
    for _ in range(3):
        assert await attempt(running, "CP-1", "right-password-1") == 101
    assert hashing.calls == 1
    for n in range(FAILURES_PER_CHARGER + 2):
        await attempt(running, "CP-1", f"guess-{n}")
    assert hashing.calls == 1 + FAILURES_PER_CHARGER
    assert await attempt(running, "CP-1", "right-password-1") == 101
    assert hashing.calls == 1 + FAILURES_PER_CHARGER


async def test_a_changed_stored_hash_is_verified_afresh(
    start_system: StartSystem, hashing: Hashing
) -> None:
    """A new hash (new password, or the same one hashed again) is not answered from memory."""
    running = await start_system()
    running.directory.admit("CP-1", hash_password("first-password-1"))
    assert await attempt(running, "CP-1", "first-password-1") == 101
    running.directory.admit("CP-1", hash_password("first-password-1"))
    assert await attempt(running, "CP-1", "first-password-1") == 101
    assert hashing.calls == 2
    running.directory.admit("CP-1", hash_password("second-password-2"))
    assert await attempt(running, "CP-1", "first-password-1") == 401
    assert await attempt(running, "CP-1", "second-password-2") == 101
    assert hashing.calls == 4


async def test_checks_run_on_the_gates_own_threads_only(
    start_system: StartSystem, hashing: Hashing
) -> None:
    """Never the default executor (Home Assistant's); at most two threads; gone at stop."""
    running = await start_system()
    chargers = [f"CP-{n}" for n in range(8)]
    for charger_id in chargers:
        running.directory.admit(charger_id, hash_password(f"{charger_id}-password"))
    statuses = await asyncio.gather(
        *(attempt(running, charger_id, f"{charger_id}-password") for charger_id in chargers)
    )
    assert statuses == [101] * len(chargers)
    assert hashing.calls == len(chargers)
    assert all(name.startswith(_THREAD_PREFIX) for name in hashing.threads), hashing.threads
    assert len(set(hashing.threads)) <= password_gate.WORKERS
    await running.system.stop()
    await wait_for(
        lambda: not any(t.name.startswith(_THREAD_PREFIX) for t in threading.enumerate())
    )


# -- the gate on its own ---------------------------------------------------------------


async def test_too_many_waiting_checks_are_refused_at_once(
    held: Hashing, make_gate: MakeGate
) -> None:
    """Past the queue bound an attempt is BUSY without waiting; a released queue serves again."""
    gate = make_gate(workers=1, max_waiting=3)
    stored = hash_password("right-password-1")
    waiting = [
        asyncio.create_task(gate.check(f"CP-{n}", f"10.0.0.{n}", stored, "right-password-1"))
        for n in range(3)
    ]
    await wait_for(lambda: held.calls == 1)  # one runs, two wait
    assert await gate.check("CP-9", "10.0.0.9", stored, "right-password-1") is Verdict.BUSY
    assert held.hold is not None
    held.hold.set()
    assert await asyncio.gather(*waiting) == [Verdict.ALLOW] * 3
    assert await gate.check("CP-9", "10.0.0.9", stored, "right-password-1") is Verdict.ALLOW


async def test_checks_in_progress_count_against_the_limit(
    held: Hashing, make_gate: MakeGate
) -> None:
    """A burst of guesses sent at once is cut at the limit, before any check has ended."""
    gate = make_gate(per_charger=FailureLimiter(2, 60.0))
    stored = hash_password("right-password-1")
    burst = [
        asyncio.create_task(gate.check("CP-1", "10.0.0.9", stored, f"guess-{n}")) for n in range(2)
    ]
    await wait_for(lambda: held.calls == 2)
    assert await gate.check("CP-1", "10.0.0.9", stored, "guess-7") is Verdict.THROTTLED
    assert held.hold is not None
    held.hold.set()
    assert await asyncio.gather(*burst) == [Verdict.UNAUTHORIZED] * 2
    assert held.calls == 2


async def test_one_address_is_limited_across_charger_ids(
    hashing: Hashing, make_gate: MakeGate
) -> None:
    """Guessing across many ids from one address stops at the address's limit."""
    gate = make_gate(per_address=FailureLimiter(3, 60.0))
    stored = hash_password("right-password-1")
    verdicts = [await gate.check(f"CP-{n}", "192.0.2.1", stored, "guess") for n in range(6)]
    assert verdicts == [Verdict.UNAUTHORIZED] * 3 + [Verdict.THROTTLED] * 3
    assert hashing.calls == 3
    # The same /64 is the same source; another address is not held.
    v6 = [await gate.check(f"CP-{n}", f"2001:db8::{n}", stored, "guess") for n in range(5)]
    assert v6 == [Verdict.UNAUTHORIZED] * 3 + [Verdict.THROTTLED] * 2
    assert await gate.check("CP-0", "192.0.2.2", stored, "right-password-1") is Verdict.ALLOW


async def test_a_site_reconnecting_at_once_is_not_held_by_its_address(
    held: Hashing, make_gate: MakeGate
) -> None:
    """Many chargers behind one address, checked at once: in progress is not failed."""
    gate = make_gate(per_address=FailureLimiter(3, 60.0))
    stored = {n: hash_password(f"password-{n}") for n in range(6)}
    storm = [
        asyncio.create_task(gate.check(f"CP-{n}", "192.0.2.1", stored[n], f"password-{n}"))
        for n in range(6)
    ]
    await wait_for(lambda: held.calls == password_gate.WORKERS)
    assert held.hold is not None
    held.hold.set()
    assert await asyncio.gather(*storm) == [Verdict.ALLOW] * 6


async def test_a_generated_password_is_checked_at_once_under_the_same_limits(
    held: Hashing, make_gate: MakeGate
) -> None:
    """No thread and no queue for a generated password, even while PBKDF2 checks wait."""
    gate = make_gate(workers=1, max_waiting=1, per_charger=FailureLimiter(2, 60.0))
    costly = hash_password("chosen-password-1")
    queued = asyncio.create_task(gate.check("CP-0", "10.0.0.1", costly, "chosen-password-1"))
    await wait_for(lambda: held.calls == 1)  # the one thread is busy, the queue full
    assert await gate.check("CP-8", "10.0.0.8", costly, "chosen-password-1") is Verdict.BUSY

    password = generate_password()
    fast = hash_password(password, generated=True)
    assert await gate.check("CP-1", "10.0.0.2", fast, password) is Verdict.ALLOW
    assert held.threads[1:] == [threading.current_thread().name]  # on the loop
    # Wrong guesses are limited as any other.
    guesses = [await gate.check("CP-2", "10.0.0.3", fast, f"guess-{n}") for n in range(3)]
    assert guesses == [Verdict.UNAUTHORIZED] * 2 + [Verdict.THROTTLED]
    assert held.hold is not None
    held.hold.set()
    assert await queued is Verdict.ALLOW


@pytest.mark.parametrize("generated", [False, True])
def test_stored_hashes_verify_only_their_password(generated: bool) -> None:
    stored = hash_password("right-password-1", generated=generated)
    assert is_costly(stored) is not generated
    assert verify_password(stored, "right-password-1")
    assert not verify_password(stored, "right-password-2")
    assert not verify_password(stored, "\ud800")  # cannot be encoded: never a match
    assert not verify_password(stored.rsplit("$", 1)[0], "right-password-1")  # damaged
    assert not verify_password("md5$00$00", "right-password-1")  # unknown scheme


async def test_the_cache_is_bounded(hashing: Hashing, make_gate: MakeGate) -> None:
    """The least recently verified charger is forgotten first, and then hashed again."""
    gate = make_gate(cache_size=2)
    stored = {n: hash_password(f"password-{n}") for n in range(3)}

    async def check(n: int) -> Verdict:
        return await gate.check(f"CP-{n}", "10.0.0.1", stored[n], f"password-{n}")

    for n in (0, 1, 2):
        assert await check(n) is Verdict.ALLOW
    assert hashing.calls == 3
    assert await check(2) is Verdict.ALLOW
    assert await check(1) is Verdict.ALLOW
    assert hashing.calls == 3
    assert await check(0) is Verdict.ALLOW
    assert hashing.calls == 4


def test_failures_leave_the_window() -> None:
    """Once the window has passed, the key may try again; a success clears it."""
    now = [0.0]
    limiter = FailureLimiter(2, 60.0, clock=lambda: now[0])
    for _ in range(2):
        limiter.begin("CP-1")
        limiter.end("CP-1", failed=True)
    assert limiter.blocked("CP-1")
    now[0] = 59.0
    assert limiter.blocked("CP-1")
    now[0] = 60.5
    assert not limiter.blocked("CP-1")
    limiter.begin("CP-1")
    limiter.end("CP-1", failed=True)
    limiter.forget("CP-1")
    assert not limiter.blocked("CP-1")


def test_the_limiter_is_bounded() -> None:
    """Only the most recently seen keys are remembered."""
    limiter = FailureLimiter(1, 60.0, max_keys=3)
    for n in range(10):
        limiter.begin(f"10.0.0.{n}")
        limiter.end(f"10.0.0.{n}", failed=True)
    assert [limiter.blocked(f"10.0.0.{n}") for n in range(10)] == [False] * 7 + [True] * 3
    assert len(limiter._keys) == 3


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("unknown address", "unknown address"),
    ],
)
def test_address_key(address: str, key: str) -> None:
    """IPv6 hosts are limited by their /64; IPv4-mapped addresses as IPv4."""
    assert address_key(address) == key


async def test_guessing_from_elsewhere_does_not_lock_the_real_charger_out(
    hashing: Hashing, make_gate: MakeGate
) -> None:
    """Failures count per charger id and address: an attacker holds only itself."""
    gate = make_gate(per_charger=FailureLimiter(2, 60.0), per_address=FailureLimiter(3, 60.0))
    stored = hash_password("right-password-1")
    guesses = [await gate.check("CP-1", "203.0.113.5", stored, f"g{n}") for n in range(3)]
    assert guesses == [Verdict.UNAUTHORIZED] * 2 + [Verdict.THROTTLED]
    # The charger itself, at home, after Home Assistant restarted (nothing cached).
    assert await gate.check("CP-1", "192.168.1.20", stored, "right-password-1") is Verdict.ALLOW


async def test_a_success_clears_its_addresss_failures(
    hashing: Hashing, make_gate: MakeGate
) -> None:
    """A site behind one address: a charger with a stale password holds up no other."""
    gate = make_gate(per_address=FailureLimiter(2, 60.0))
    stored = hash_password("right-password-1")
    assert await gate.check("OLD-1", "192.0.2.1", stored, "stale") is Verdict.UNAUTHORIZED
    assert await gate.check("CP-2", "192.0.2.1", stored, "right-password-1") is Verdict.ALLOW
    assert await gate.check("OLD-1", "192.0.2.1", stored, "stale") is Verdict.UNAUTHORIZED
    assert await gate.check("CP-3", "192.0.2.1", stored, "right-password-1") is Verdict.ALLOW
