"""Reading the values of a charger's configuration, which are all text."""

from __future__ import annotations


def config_words(value: str | None) -> tuple[str, ...]:
    """The items of a comma-separated configuration value."""
    return tuple(word.strip() for word in (value or "").split(",") if word.strip())


def config_integer(value: str | None) -> int | None:
    """An integer configuration value, or None when it is none."""
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def config_flag(value: str | None) -> bool | None:
    """A boolean configuration value ("true" / "false"), or None when it is neither."""
    return {"true": True, "false": False}.get((value or "").strip().lower())
