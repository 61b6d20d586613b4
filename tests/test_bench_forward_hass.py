"""`scripts/bench forward-hass`: its peers' new modes, subentries, arithmetic, a tiny run."""

from __future__ import annotations

import asyncio
import json

import pytest

from custom_components.ocpp_csms.const import SUBENTRY_UPSTREAM
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_settings import CommandPolicy
from custom_components.ocpp_csms.upstream.settings import settings_from
from devtools.bench_forward import read_line, start_peer
from devtools.bench_forward_hass import (
    Upstream,
    Window,
    forward_hass,
    forward_hass_figures,
    forward_hass_table,
    upstream_subentries,
)

URL = "ws://127.0.0.1:9/ocpp"


def test_each_forwarded_charger_gets_an_upstream_subentry_as_the_flow_stores_it() -> None:
    subentries = upstream_subentries(["FF-000", "FF-001"], URL)

    assert [sub["unique_id"] for sub in subentries] == ["upstream/FF-000", "upstream/FF-001"]
    assert {sub["subentry_type"] for sub in subentries} == {SUBENTRY_UPSTREAM}
    assert len({sub["subentry_id"] for sub in subentries}) == 2
    settings = settings_from(subentries[1]["data"])
    assert settings is not None
    assert settings.url == URL
    assert settings.charge_point_id == "FF-001"
    assert settings.version is OcppVersion.V16
    assert settings.policy is CommandPolicy.MIRROR_ONLY
    assert settings.password is None


def test_the_figures_are_medians_per_meter_values_and_their_ratio() -> None:
    # 1,000 MeterValues a window; idle 1 % of a core over 2 s takes 20 µs off each.
    plain = [Window(1000, cpu, 2.0, 0.01) for cpu in (0.2, 0.22, 0.3)]
    forwarded = [Window(1000, cpu, 2.0, 0.01) for cpu in (0.25, 0.275, 0.4)]

    figures = forward_hass_figures(10, 100, plain, forwarded)

    cpu = figures["cpu_us_per_meter_values"]
    assert (cpu["without"], cpu["forwarded"]) == (220.0, 275.0)
    assert figures["ratio"] == 1.25
    assert figures["target"]["met"]
    net = figures["net_cpu_us_per_meter_values"]
    assert (net["without"], net["forwarded"]) == (200.0, 255.0)
    assert net["ratio"] == pytest.approx(1.275, abs=0.006)  # rounded to two places
    assert figures["idle_cpu_percent"] == 1.0
    assert f"| 1.25 (met); {net['ratio']} |" in forward_hass_table(figures)


def test_a_window_too_short_for_a_tick_gives_no_ratio_rather_than_failing() -> None:
    figures = forward_hass_figures(1, 1, [Window(1, 0.0, 1.0, 0.0)], [Window(1, 0.01, 1.0, 0.0)])

    assert figures["ratio"] is None
    assert not figures["target"]["met"]
    assert "MISSED" in forward_hass_table(figures)


@pytest.mark.timeout(120)
async def test_held_chargers_under_a_prefix_and_an_upstream_that_counts_its_answers() -> None:
    upstream = await Upstream.start()
    try:
        assert await upstream.answered() == 0
        peers = await start_peer(
            "chargers", "--url", upstream.url.removesuffix("/ocpp"), "--chargers", "2",
            "--messages", "5", "--prefix", "T-", "--hold", password="secret",
        )  # fmt: skip
        assert peers.stdin is not None
        assert await read_line(peers) == "ready"
        peers.stdin.write(b"go\n")
        assert json.loads(await read_line(peers)) == {"done": 10}
        # Each charger: a boot, a start, five MeterValues; "until" waits for them.
        assert await upstream.answered(14, timeout_s=30) == 14
        await asyncio.sleep(0.2)
        assert peers.returncode is None  # held until stdin closes
        peers.stdin.close()
        assert await asyncio.wait_for(peers.wait(), 30) == 0
    finally:
        await upstream.stop()


@pytest.mark.timeout(300)  # Home Assistant starts once (about 10 s), four windows
async def test_a_tiny_run_in_home_assistant_relays_every_forwarded_meter_values() -> None:
    # A window raises when the upstream answered other than every forwarded MeterValues
    # (or any of the chargers never forwarded), so finishing is the check.
    figures = await forward_hass(chargers=2, messages=50, rounds=2, delayed_work_s=0)

    assert figures["rounds"] == 2
    cpu = figures["cpu_us_per_meter_values"]
    assert len(cpu["rounds_without"]) == len(cpu["rounds_forwarded"]) == 2
    assert cpu["forwarded"] > 0
    assert "Home Assistant" in forward_hass_table(figures)
