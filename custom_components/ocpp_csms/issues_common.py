"""What this integration's repairs share: deleting a family of issues by their ids' prefix.

Each family names its issues `<kind>_<entry id>_<charger or tag>`, so one prefix holds a
central system's issues of one kind: removing the central system (or keeping only
some chargers) deletes them in one pass over the registry.
"""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN


def _keep_none(_rest: str) -> bool:
    return False


def async_delete_issues(
    hass: HomeAssistant, prefix: str, keep: Callable[[str], bool] = _keep_none
) -> None:
    """Delete this integration's issues whose id starts with `prefix`.

    `keep` is given the rest of each such id (the charger's or tag's part) and spares
    the issues it answers True for.
    """
    # A copy: deleting changes the registry's mapping.
    for domain, issue_id in list(ir.async_get(hass).issues):
        if (
            domain == DOMAIN
            and issue_id.startswith(prefix)
            and not keep(issue_id.removeprefix(prefix))
        ):
            ir.async_delete_issue(hass, DOMAIN, issue_id)
