"""The logbook's sentences in Home Assistant's language, from our translation files.

Home Assistant has no translation category for logbook lines, and hassfest accepts only
the categories it knows at the top of `translations/<language>.json`. The sentences live
in `common` (keys `logbook_*`, beside the calendar's `calendar_*`): the category for an
integration's own strings, any slug to a string, which may hold `{placeholders}`.

The logbook describes events synchronously, so the strings are loaded at set-up
(`async_load_phrases`) into Home Assistant's translation cache, and read from it per
line; a language the user chooses later is loaded when it is chosen. A language we have
no file for gets English, as Home Assistant builds each language's strings over the
English ones.

Numbers have one decimal and the separator the language's file gives
(`decimal_separator`): 12.3 kWh in English, 12,3 kWh in German.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import EVENT_CORE_CONFIG_UPDATE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.translation import (
    async_get_cached_translations,
    async_get_translations,
)

from .const import DOMAIN

CATEGORY = "common"
FALLBACK_LANGUAGE = "en"


async def async_load_phrases(hass: HomeAssistant) -> None:
    """Load the strings of Home Assistant's language (and English), now and when it changes.

    Once, from the integration's set-up: the listener lasts as long as Home Assistant.
    """

    @callback
    def language_changed(data: Mapping[str, Any]) -> bool:
        return "language" in data

    async def load(event: Event[Mapping[str, Any]]) -> None:
        await async_get_translations(hass, str(event.data["language"]), CATEGORY, [DOMAIN])

    hass.bus.async_listen(EVENT_CORE_CONFIG_UPDATE, load, event_filter=language_changed)
    await async_get_translations(hass, hass.config.language, CATEGORY, [DOMAIN])


@callback
def phrase(hass: HomeAssistant, name: str, **placeholders: str) -> str:
    """The sentence `logbook_<name>` with its placeholders filled in.

    The bare name if the cache has it in no language (never loaded: only in a test).
    """
    text = _text(hass, name) or name
    try:
        return text.format(**placeholders)
    except KeyError, IndexError, ValueError:
        # A translation with a placeholder the code does not give: say it unfilled.
        return text


@callback
def decimal(hass: HomeAssistant, value: float) -> str:
    """`value` with one decimal, written with the language's decimal separator."""
    return f"{value:.1f}".replace(".", _text(hass, "decimal_separator", prefix="") or ".")


def _text(hass: HomeAssistant, name: str, prefix: str = "logbook_") -> str | None:
    """The string `logbook_<name>` in Home Assistant's language, else in English."""
    key = f"component.{DOMAIN}.{CATEGORY}.{prefix}{name}"
    for language in (hass.config.language, FALLBACK_LANGUAGE):
        if text := async_get_cached_translations(hass, language, CATEGORY, DOMAIN).get(key):
            return text
    return None
