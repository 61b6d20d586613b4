"""Solar surplus charging: who charges on the surplus, when they start and stop, phases."""

from __future__ import annotations

from custom_components.ocpp_csms.csms.solar import (
    ChargingMode,
    SolarCap,
    SolarSession,
    SolarSettings,
    SurplusSharing,
)

SETTINGS = SolarSettings(start_delay_s=120, stop_delay_s=300, hysteresis_a=1, switch_interval_s=600)
THREE_PHASE_MIN_W = 6 * 230 * 3  # 4,140 W


def car(
    key: str = "A/1",
    mode: ChargingMode = ChargingMode.SOLAR_ONLY,
    *,
    amps: float = 0.0,
    phases: int = 3,
    arrival: float = 0.0,
    switches: bool = False,
    max_a: float = 16.0,
) -> SolarSession:
    """A session drawing `amps` on each of its `phases`."""
    return SolarSession(
        key,
        mode,
        volts=230.0,
        phases=phases,
        drawing_w=amps * 230.0 * phases,
        max_a=max_a,
        arrival=arrival,
        can_switch_phases=switches,
    )


def test_solar_only_waits_for_a_lasting_surplus_then_follows_it() -> None:
    sharing = SurplusSharing(SETTINGS)
    assert sharing.caps([car()], 4000, now=0) == {"A/1": SolarCap(0.0, 3)}  # below 4,140 W
    assert sharing.caps([car()], 5000, now=10) == {"A/1": SolarCap(0.0, 3)}  # enough: wait
    assert sharing.caps([car()], 5000, now=100) == {"A/1": SolarCap(0.0, 3)}
    assert sharing.caps([car()], 5000, now=130) == {"A/1": SolarCap(7.2, 3)}  # 5,000 / 690
    # Charging at 7.2 A, the house exports 1,000 W more: the surplus is both.
    assert sharing.caps([car(amps=7.2)], 1000, now=140) == {"A/1": SolarCap(8.6, 3)}
    assert sharing.surplus_w == 1000 + 7.2 * 690


def test_a_passing_cloud_does_not_start_or_stop_the_car() -> None:
    sharing = SurplusSharing(SETTINGS)
    sharing.caps([car()], 5000, now=0)
    sharing.caps([car()], 1000, now=60)  # the surplus went: the start clock restarts
    assert sharing.caps([car()], 5000, now=130) == {"A/1": SolarCap(0.0, 3)}
    assert sharing.caps([car()], 5000, now=249) == {"A/1": SolarCap(0.0, 3)}
    assert sharing.caps([car()], 5000, now=250) == {"A/1": SolarCap(7.2, 3)}
    # Short of the minimum, it charges at the minimum until the stop delay has passed.
    assert sharing.caps([car(amps=7.2)], -3000, now=200) == {"A/1": SolarCap(6.0, 3)}
    assert sharing.caps([car(amps=6)], -1000, now=400) == {"A/1": SolarCap(6.0, 3)}
    assert sharing.caps([car(amps=6)], 1000, now=450) == {"A/1": SolarCap(7.4, 3)}  # back
    assert sharing.caps([car(amps=6)], -1000, now=460) == {"A/1": SolarCap(6.0, 3)}
    assert sharing.caps([car(amps=6)], -1000, now=759) == {"A/1": SolarCap(6.0, 3)}
    assert sharing.caps([car(amps=6)], -1000, now=760) == {"A/1": SolarCap(0.0, 3)}  # 300 s
    assert sharing.caps([car()], 0, now=770) == {"A/1": SolarCap(0.0, 3)}


def test_solar_plus_minimum_never_goes_below_the_minimum() -> None:
    sharing = SurplusSharing(SETTINGS)
    minimum = ChargingMode.SOLAR_MINIMUM
    assert sharing.caps([car(mode=minimum)], 0, now=0) == {"A/1": SolarCap(6.0, 3)}
    assert sharing.caps([car(mode=minimum, amps=6)], 3000, now=1) == {"A/1": SolarCap(10.3, 3)}
    assert sharing.caps([car(mode=minimum)], None, now=2) == {"A/1": SolarCap(6.0, 3)}
    assert sharing.caps([car(mode=minimum)], 50_000, now=3) == {"A/1": SolarCap(16.0, 3)}


def test_without_an_export_reading_there_is_no_surplus() -> None:
    sharing = SurplusSharing(SETTINGS)
    for now in (0, 200, 400):
        assert sharing.caps([car(amps=10)], None, now=now) == {"A/1": SolarCap(0.0, 3)}
    assert sharing.surplus_w == 0


def test_charging_sessions_share_equally_and_newcomers_take_what_is_left() -> None:
    sharing = SurplusSharing(SETTINGS)
    first, second = car("A/1", arrival=1), car("B/1", arrival=2)
    sharing.caps([first, second], 10_000, now=0)  # A waits (and holds 4,140 W), B waits
    caps = sharing.caps([first, second], 10_000, now=120)
    assert caps == {"A/1": SolarCap(14.4, 3), "B/1": SolarCap(0.0, 3)}  # A first, 9,936 W
    # A can take no more than 16 A (11,040 W); B starts on what A leaves, once it lasts.
    a_16 = car("A/1", amps=16, arrival=1)
    caps = sharing.caps([a_16, second], 3000, now=130)  # 14,040 W: 3,000 W left
    assert caps == {"A/1": SolarCap(16.0, 3), "B/1": SolarCap(0.0, 3)}
    sharing.caps([a_16, second], 5000, now=140)  # 5,000 W left: B's clock starts
    caps = sharing.caps([a_16, second], 5000, now=260)
    assert caps == {"A/1": SolarCap(16.0, 3), "B/1": SolarCap(7.2, 3)}
    # Both charging: they share equally.
    b_16 = car("B/1", amps=16, arrival=2)
    caps = sharing.caps([a_16, b_16], -8000, now=390)  # 22,080 - 8,000 = 14,080 W
    assert caps == {"A/1": SolarCap(10.2, 3), "B/1": SolarCap(10.2, 3)}


def test_a_waiting_session_holds_its_share_so_two_do_not_start_on_one_surplus() -> None:
    sharing = SurplusSharing(SETTINGS)
    cars = [car("A/1", arrival=1), car("B/1", arrival=2)]
    sharing.caps(cars, 6000, now=0)
    assert sharing.caps(cars, 6000, now=120) == {
        "A/1": SolarCap(8.6, 3),
        "B/1": SolarCap(0.0, 3),
    }


def test_phase_switching_starts_on_one_phase_and_moves_to_three_when_it_lasts() -> None:
    sharing = SurplusSharing(SETTINGS)
    one = car(switches=True)
    sharing.caps([one], 2000, now=0)  # 1,380 W needed on one phase
    assert sharing.caps([one], 2000, now=120) == {"A/1": SolarCap(8.6, 1)}
    drawing = car(amps=8.6, phases=1, switches=True)  # 1,978 W
    # 5,000 W: three phases need 7 A x 690 W/A = 4,830 W; the car rests 600 s first.
    assert sharing.caps([drawing], 3000, now=200) == {"A/1": SolarCap(16.0, 1)}
    assert sharing.caps([drawing], 3000, now=719) == {"A/1": SolarCap(16.0, 1)}
    assert sharing.caps([drawing], 3000, now=720) == {"A/1": SolarCap(7.2, 3)}
    # Too little for three phases: down to one at once (it has rested long enough).
    three = car(amps=7.2, switches=True)  # 4,968 W
    assert sharing.caps([three], -2000, now=1400) == {"A/1": SolarCap(12.9, 1)}
    # ... but not again before it has rested.
    drawing = car(amps=12.9, phases=1, switches=True)  # 2,967 W
    assert sharing.caps([drawing], 4000, now=1500) == {"A/1": SolarCap(16.0, 1)}


def test_a_charger_that_cannot_switch_stays_on_its_phases() -> None:
    sharing = SurplusSharing(SETTINGS)
    sharing.caps([car()], 2000, now=0)
    assert sharing.caps([car()], 2000, now=200) == {"A/1": SolarCap(0.0, 3)}
    single = car(phases=1)  # a one-phase car: 1,380 W is its minimum
    sharing.caps([single], 2000, now=300)
    assert sharing.caps([single], 2000, now=420) == {"A/1": SolarCap(8.6, 1)}


def test_sessions_that_ended_are_forgotten() -> None:
    sharing = SurplusSharing(SETTINGS)
    sharing.caps([car()], 5000, now=0)
    sharing.caps([car()], 5000, now=120)
    assert sharing.caps([], 5000, now=130) == {}
    assert sharing.caps([car()], 5000, now=140) == {"A/1": SolarCap(0.0, 3)}  # waits anew
