"""Form fields the flows share."""

from __future__ import annotations

from homeassistant.helpers import selector

from .const import MAX_CURRENT_LIMIT_A, MIN_CURRENT_A


def amps_selector(
    minimum: float = MIN_CURRENT_A, maximum: float = MAX_CURRENT_LIMIT_A
) -> selector.NumberSelector:
    """A current in whole amperes, typed into a box."""
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=1,
            unit_of_measurement="A",
            mode=selector.NumberSelectorMode.BOX,
        )
    )
