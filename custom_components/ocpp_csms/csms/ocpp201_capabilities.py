"""What an OCPP 2.x station can do, read from the variables of its base report.

Its features, EVSEs, smart charging and local list limits in the version-neutral
`Capabilities` (1.6 feature words), and the variables that set what it samples.
"""

from __future__ import annotations

from .config_values import config_flag, config_integer, config_words
from .metering_setup import MeterKeys
from .station_facts import Capabilities


def _enabled(value: str | None) -> bool:
    return config_flag(value) is True


def capabilities_from(configuration: dict[str, str | None], read_only: set[str]) -> Capabilities:
    """What a 2.x station can do, from its reported variables (in 1.6 feature words)."""
    features = {"Core", "FirmwareManagement", "RemoteTrigger"}  # mandatory in 2.x
    for controller, feature in (
        ("SmartChargingCtrlr", "SmartCharging"),
        ("LocalAuthListCtrlr", "LocalAuthListManagement"),
        ("ReservationCtrlr", "Reservation"),
    ):
        if _enabled(configuration.get(f"{controller}/Enabled")) or _enabled(
            configuration.get(f"{controller}/Available")
        ):
            features.add(feature)
    evses = {
        int(match)
        for name in configuration
        if name.startswith("EVSE@") and (match := name[5:].split("/")[0].split(":")[0]).isdigit()
    }
    local_list = configuration.get("LocalAuthListCtrlr/Enabled")
    measurands_key = "SampledDataCtrlr/TxUpdatedMeasurands"
    return Capabilities(
        features=frozenset(features),
        number_of_evses=max(evses, default=0) or None,  # the highest id: ids may skip
        charging_rate_units=frozenset(
            config_words(configuration.get("SmartChargingCtrlr/RateUnit"))
        ),
        max_stack_level=config_integer(configuration.get("SmartChargingCtrlr/ProfileStackLevel")),
        local_list_enabled=config_flag(local_list),
        local_list_max_length=config_integer(configuration.get("LocalAuthListCtrlr/Entries")),
        meter_measurands=config_words(configuration.get(measurands_key)),
        meter_interval_s=config_integer(configuration.get("SampledDataCtrlr/TxUpdatedInterval")),
        meter_settings_writable=measurands_key in configuration and measurands_key not in read_only,
    )


METER_KEYS = MeterKeys(
    sampled="SampledDataCtrlr/TxUpdatedMeasurands",
    interval="SampledDataCtrlr/TxUpdatedInterval",
    edges=("SampledDataCtrlr/TxStartedMeasurands", "SampledDataCtrlr/TxEndedMeasurands"),
)
