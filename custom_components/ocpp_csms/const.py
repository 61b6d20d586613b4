"""Constants of the OCPP Central System integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "ocpp_csms"
MANUFACTURER: Final = "OCPP Central System for Home Assistant"

CONF_TLS: Final = "tls"
CONF_CERTFILE: Final = "certfile"
CONF_KEYFILE: Final = "keyfile"
CONF_UNKNOWN_CHARGERS: Final = "unknown_chargers"
# Security profile 3: the user's own CA (both files), instead of the integration's.
CONF_CA_CERTFILE: Final = "ca_certfile"
CONF_CA_KEYFILE: Final = "ca_keyfile"

DEFAULT_HOST: Final = "0.0.0.0"
DEFAULT_PORT: Final = 9000

# Config subentries: one per admitted charger, and one per charger forwarded upstream.
SUBENTRY_CHARGER: Final = "charger"
SUBENTRY_UPSTREAM: Final = "upstream"
CONF_CHARGER_ID: Final = "charger_id"
CONF_PASSWORD_HASH: Final = "password_hash"
# Per charger: its OCPP security profile, 1, 2 or 3 (csms.host.SecurityProfile).
CONF_SECURITY_PROFILE: Final = "security_profile"
# Per-charger settings (in the charger's subentry).
CONF_DEFAULT_TAG: Final = "default_tag"
CONF_MAX_CURRENT: Final = "max_current"
# Load balancing: who is served first when the site is short of current.
CONF_PRIORITY: Final = "priority"
PRIORITIES: Final = {"low": -1, "normal": 0, "high": 1}
# Solar charging: whether the charger can switch a session between 1 and 3 phases.
CONF_PHASE_SWITCHING: Final = "phase_switching"
DEFAULT_REMOTE_TAG: Final = "HomeAssistant"  # the idTag of sessions started from Home Assistant
DEFAULT_MAX_CURRENT_A: Final = 32
# Below 6 A the IEC 61851 pilot signal cannot ask a car to charge.
MIN_CURRENT_A: Final = 6
MAX_CURRENT_LIMIT_A: Final = 80

# Options of a central system.
CONF_BASE_URL: Final = "base_url"  # where chargers reach Home Assistant for files

# Options: prices and the site, for session exports (OCPI CDRs) and cost sensors.
CONF_PRICE_PER_KWH: Final = "price_per_kwh"  # excluding VAT
CONF_CURRENCY: Final = "currency"
CONF_ADDRESS: Final = "address"
CONF_CITY: Final = "city"
CONF_POSTAL_CODE: Final = "postal_code"

# Options: the site (main fuse) for load balancing; no fuse means no balancing.
CONF_SITE_FUSE: Final = "site_fuse_a"
CONF_SITE_MARGIN: Final = "site_margin_a"
CONF_SITE_FAILSAFE: Final = "site_failsafe_a"
CONF_GRID_CURRENT: Final = ("grid_current_l1", "grid_current_l2", "grid_current_l3")
CONF_GRID_POWER: Final = "grid_power"
# Solar surplus: a power sensor of what the house exports (or, negated, the net grid power).
CONF_EXPORT_POWER: Final = "export_power"
CONF_EXPORT_NEGATIVE: Final = "export_negative"
# How long the surplus must cover the minimum before a solar session starts, and fall
# short before it pauses (minutes).
CONF_SOLAR_START_DELAY: Final = "solar_start_delay_min"
CONF_SOLAR_STOP_DELAY: Final = "solar_stop_delay_min"
# Metering (options): whether to set what chargers sample, which measurands, how often.
CONF_METER_CONFIGURE: Final = "meter_configure"
CONF_METER_MEASURANDS: Final = "meter_measurands"
CONF_METER_INTERVAL: Final = "meter_interval_s"
# Per charger: its metering as the central system's options say, or left as it is.
CONF_CHARGER_METERING: Final = "metering"
CHARGER_METERING_CENTRAL: Final = "central"
CHARGER_METERING_LEAVE: Final = "leave"
# Per charger: its own interval between readings (empty: the central system's).
CONF_CHARGER_METER_INTERVAL: Final = "meter_interval_s"
# Per charger: its quirk profile (csms.quirks), or chosen from its BootNotification.
CONF_QUIRKS: Final = "quirks"
DEFAULT_SOLAR_START_DELAY_MIN: Final = 2
DEFAULT_SOLAR_STOP_DELAY_MIN: Final = 5
DEFAULT_SITE_MARGIN_A: Final = 1.0

# Cheapest charging: the price sensor the site options name.
CONF_PRICE_SENSOR = "price_sensor"
# A charger's car: its own state-of-charge sensor and its battery's capacity, for a
# target state of charge in the cheapest mode.
CONF_CAR_SOC_SENSOR = "car_soc_sensor"
CONF_CAR_BATTERY_KWH = "car_battery_kwh"
