"""The upstream allow-list's building blocks keep to what they promise."""

from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_settings import (
    DANGEROUS_COMMANDS,
    DEFAULT_ALLOWED_COMMANDS,
    SESSION_COMMANDS,
    UPSTREAM_COMMANDS_2X,
    UPSTREAM_COMMANDS_16,
    CommandPolicy,
    UpstreamSettings,
    upstream_commands,
)


def test_no_dangerous_command_is_allowed_by_default() -> None:
    assert not DEFAULT_ALLOWED_COMMANDS & DANGEROUS_COMMANDS
    assert SESSION_COMMANDS <= DEFAULT_ALLOWED_COMMANDS
    # Vendor-specific: it can reconfigure or reboot a charger.
    assert "DataTransfer" not in DEFAULT_ALLOWED_COMMANDS


def test_every_named_command_is_one_a_charger_receives() -> None:
    every = set(UPSTREAM_COMMANDS_16) | set(UPSTREAM_COMMANDS_2X)
    assert every >= DEFAULT_ALLOWED_COMMANDS
    assert every >= DANGEROUS_COMMANDS
    assert {"Reset", "UpdateFirmware", "ChangeConfiguration"} <= DANGEROUS_COMMANDS
    assert {"SetVariables", "SetNetworkProfile"} <= DANGEROUS_COMMANDS


def test_commands_follow_the_version() -> None:
    assert "RemoteStartTransaction" in upstream_commands(OcppVersion.V16)
    assert "RequestStartTransaction" in upstream_commands(OcppVersion.V201)
    assert "RemoteStartTransaction" not in upstream_commands(OcppVersion.V201)


def test_settings_default_to_mirror_only_with_the_safe_list() -> None:
    settings = UpstreamSettings("wss://backend.example/ocpp", "CP1", OcppVersion.V16)
    assert settings.policy is CommandPolicy.MIRROR_ONLY
    assert settings.allowed_commands == DEFAULT_ALLOWED_COMMANDS


def test_the_password_is_not_in_the_settings_repr() -> None:
    """A repr lands in logs and tracebacks (a failed start, a debugger, an assertion)."""
    settings = UpstreamSettings(
        "wss://backend.example/ocpp", "CP1", OcppVersion.V16, password="s3cret-pass"
    )
    assert "s3cret-pass" not in repr(settings)
    assert "s3cret-pass" not in str(settings)
    assert "CP1" in repr(settings)  # the rest is still shown
    assert settings.password == "s3cret-pass"
