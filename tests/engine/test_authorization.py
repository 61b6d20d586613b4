"""The tag registry's rules: who may charge where, and who may stop whose session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ocpp_csms.csms.authorization import (
    AuthorizationMode,
    AuthorizationStatus,
    Tag,
    TagChange,
    TagConflictError,
    TagRegistry,
    UnknownTagError,
)
from custom_components.ocpp_csms.csms.station import Station

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GARAGE = Station("garage")
STREET = Station("street")


def registry(*tags: Tag, mode: AuthorizationMode = AuthorizationMode.AUTOMATIC) -> TagRegistry:
    found = TagRegistry(clock=lambda: NOW, own_tags=lambda charger: ("HomeAssistant",))
    found.load(tags, mode)
    return found


def status(found: TagRegistry, id_tag: str, station: Station = GARAGE) -> AuthorizationStatus:
    return found.authorize(id_tag, station, 1).status


def test_known_tag_is_accepted_with_its_details() -> None:
    tags = registry(Tag("04A2B3C4", name="Anna", max_current_a=10))
    decision = tags.authorize("04A2B3C4", GARAGE, 1)
    assert decision.accepted
    assert (decision.name, decision.max_current_a, decision.known) == ("Anna", 10, True)


@pytest.mark.parametrize("presented", ["04a2b3c4", "04A2B3C4", " 04a2B3c4 "])
def test_tag_ids_are_case_insensitive(presented: str) -> None:
    assert status(registry(Tag("04A2B3C4")), presented) is AuthorizationStatus.ACCEPTED


def test_disabled_tag_is_blocked_and_gets_no_limit() -> None:
    tags = registry(Tag("T1", enabled=False, max_current_a=10))
    decision = tags.authorize("T1", GARAGE, 1)
    assert decision.status is AuthorizationStatus.BLOCKED
    assert decision.max_current_a is None


def test_expiry_is_exact_to_the_second() -> None:
    tags = registry(
        Tag("OLD", expiry=NOW - timedelta(seconds=1)),
        Tag("NOW", expiry=NOW),
        Tag("SOON", expiry=NOW + timedelta(seconds=1)),
    )
    assert status(tags, "OLD") is AuthorizationStatus.EXPIRED
    assert status(tags, "NOW") is AuthorizationStatus.EXPIRED
    assert status(tags, "SOON") is AuthorizationStatus.ACCEPTED
    assert tags.authorize("SOON", GARAGE, 1).expiry == NOW + timedelta(seconds=1)


def test_disabled_outranks_expired() -> None:
    tags = registry(Tag("T1", enabled=False, expiry=NOW - timedelta(days=1)))
    assert status(tags, "T1") is AuthorizationStatus.BLOCKED


def test_tag_valid_only_on_its_chargers() -> None:
    tags = registry(Tag("T1", chargers=frozenset({"garage"})), Tag("T2"))
    assert status(tags, "T1", GARAGE) is AuthorizationStatus.ACCEPTED
    assert status(tags, "T1", STREET) is AuthorizationStatus.NOT_AT_THIS_LOCATION
    assert status(tags, "T2", STREET) is AuthorizationStatus.ACCEPTED


def test_automatic_mode_accepts_all_until_the_first_tag() -> None:
    tags = registry()
    decision = tags.authorize("ANY", GARAGE, 1)
    assert decision.accepted
    assert not decision.known  # accepted, and still reported as unknown
    tags.add(Tag("T1"))
    assert status(tags, "ANY") is AuthorizationStatus.UNKNOWN


def test_known_tags_only_rejects_unknown_tags_even_without_tags() -> None:
    assert status(registry(mode=AuthorizationMode.KNOWN_TAGS), "ANY") is AuthorizationStatus.UNKNOWN


def test_accept_all_accepts_unknown_tags_but_known_rules_still_hold() -> None:
    tags = registry(Tag("T1", enabled=False), mode=AuthorizationMode.ACCEPT_ALL)
    assert status(tags, "ANY") is AuthorizationStatus.ACCEPTED
    assert status(tags, "T1") is AuthorizationStatus.BLOCKED


def test_own_remote_start_tag_and_free_vend_tokens_are_always_accepted() -> None:
    tags = registry(Tag("T1"), mode=AuthorizationMode.KNOWN_TAGS)
    assert tags.authorize("homeassistant", GARAGE, 1).known
    assert status(tags, "HomeAssistant") is AuthorizationStatus.ACCEPTED
    free = tags.authorize("", GARAGE, 1, token_type="NoAuthorization")
    assert free.accepted


def test_group_is_the_parent_or_the_tag_that_is_a_parent() -> None:
    tags = registry(Tag("MASTER"), Tag("KID", parent_id="master"), Tag("GUEST"))
    assert tags.authorize("KID", GARAGE, 1).parent_id == "master"
    assert tags.authorize("MASTER", GARAGE, 1).parent_id == "MASTER"
    assert tags.authorize("GUEST", GARAGE, 1).parent_id is None


def test_stop_rule_follows_the_group() -> None:
    tags = registry(
        Tag("MASTER"),
        Tag("KID", parent_id="MASTER"),
        Tag("SPOUSE", parent_id="MASTER"),
        Tag("GUEST"),
    )
    assert tags.may_stop("kid", "KID")  # the same tag, any case
    assert tags.may_stop("KID", "SPOUSE")
    assert tags.may_stop("KID", "MASTER")
    assert not tags.may_stop("KID", "GUEST")
    assert not tags.may_stop("GUEST", "UNKNOWN")


def test_changes_are_announced_and_say_when_they_narrow() -> None:
    tags = registry(Tag("T1"))
    changes: list[TagChange] = []
    unsubscribe = tags.subscribe(changes.append)
    tags.add(Tag("T2"))
    tags.update("t2", name="Guest")
    tags.update("T2", enabled=False)
    tags.update("T2", enabled=True)
    tags.update("T2", chargers=frozenset({"garage"}))
    tags.update("T2", expiry=NOW + timedelta(days=1))
    tags.remove("T2")
    unsubscribe()
    tags.add(Tag("T3"))
    assert [change.narrowed for change in changes] == [False, False, True, False, True, True, True]


def test_first_tag_in_automatic_mode_narrows() -> None:
    tags = registry()
    changes: list[TagChange] = []
    tags.subscribe(changes.append)
    tags.add(Tag("T1"))
    tags.set_mode(AuthorizationMode.ACCEPT_ALL)
    tags.set_mode(AuthorizationMode.KNOWN_TAGS)
    assert changes == [
        TagChange(narrowed=True),
        TagChange(tags_changed=False, narrowed=False),
        TagChange(tags_changed=False, narrowed=True),
    ]


def test_conflicts_and_unknown_tags_raise() -> None:
    tags = registry(Tag("T1"))
    with pytest.raises(TagConflictError):
        tags.add(Tag("t1"))
    with pytest.raises(UnknownTagError):
        tags.update("T9", name="x")
    with pytest.raises(UnknownTagError):
        tags.remove("T9")


def test_tag_round_trips_through_storage() -> None:
    tag = Tag(
        "04A2",
        name="Guest",
        enabled=False,
        expiry=NOW,
        parent_id="HOUSE",
        chargers=frozenset({"garage", "street"}),
        max_current_a=10.0,
        token_type="ISO15693",
    )
    assert Tag.from_dict(tag.to_dict()) == tag
    assert Tag.from_dict({"id_tag": "X"}) == Tag("X")
