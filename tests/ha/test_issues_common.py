"""Deleting a family of this integration's repairs by their ids' prefix, and its users."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.ocpp_csms.client_certificates.issues import (
    RenewalIssues,
    async_delete_certificate_issues,
)
from custom_components.ocpp_csms.const import DOMAIN
from custom_components.ocpp_csms.issues_common import async_delete_issues
from custom_components.ocpp_csms.sessions.meter_issues import async_delete_register_issues
from custom_components.ocpp_csms.upstream.issues import async_delete_credential_issues


def _raise(hass: HomeAssistant, domain: str, issue_id: str) -> None:
    ir.async_create_issue(
        hass,
        domain,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="x",
    )


def _left(hass: HomeAssistant) -> set[tuple[str, str]]:
    return set(ir.async_get(hass).issues)


async def test_only_this_integrations_issues_with_the_prefix_go(hass: HomeAssistant) -> None:
    for domain, issue_id in (
        (DOMAIN, "kind_E1_CP-1"),
        (DOMAIN, "kind_E1_CP-2"),
        (DOMAIN, "kind_E10_CP-1"),  # another entry whose id starts alike
        (DOMAIN, "other_E1_CP-1"),
        ("another_domain", "kind_E1_CP-1"),
    ):
        _raise(hass, domain, issue_id)
    async_delete_issues(hass, "kind_E1_")
    assert _left(hass) == {
        (DOMAIN, "kind_E10_CP-1"),
        (DOMAIN, "other_E1_CP-1"),
        ("another_domain", "kind_E1_CP-1"),
    }


async def test_keep_is_given_the_rest_of_the_id_and_spares_those_it_names(
    hass: HomeAssistant,
) -> None:
    for charger_id in ("CP-1", "CP-2", "CP-3"):
        _raise(hass, DOMAIN, f"kind_E1_{charger_id}")
    asked: list[str] = []

    def keep(rest: str) -> bool:
        asked.append(rest)
        return rest == "CP-2"

    async_delete_issues(hass, "kind_E1_", keep=keep)
    assert sorted(asked) == ["CP-1", "CP-2", "CP-3"]
    assert _left(hass) == {(DOMAIN, "kind_E1_CP-2")}


async def test_each_family_deletes_its_own_issues_of_one_central_system(
    hass: HomeAssistant,
) -> None:
    families = ("client_certificate", "meter_register", "upstream_credentials")
    for family in families:
        for entry_id in ("E1", "E2"):
            _raise(hass, DOMAIN, f"{family}_{entry_id}_CP-1")
    async_delete_certificate_issues(hass, "E1")
    async_delete_register_issues(hass, "E1")
    async_delete_credential_issues(hass, "E1")
    assert _left(hass) == {(DOMAIN, f"{family}_E2_CP-1") for family in families}


async def test_certificate_issues_of_chargers_off_profile_3_go(hass: HomeAssistant) -> None:
    for charger_id in ("CP-1", "CP-2"):
        _raise(hass, DOMAIN, f"client_certificate_E1_{charger_id}")
    _raise(hass, DOMAIN, "client_certificate_E2_CP-2")
    RenewalIssues(hass, "E1", index=None).keep_only({"CP-1"})  # type: ignore[arg-type]
    assert _left(hass) == {
        (DOMAIN, "client_certificate_E1_CP-1"),
        (DOMAIN, "client_certificate_E2_CP-2"),
    }
