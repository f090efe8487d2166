"""Parameter values: typed from the command line (``parse_value``, ``parse_param``), shown as the command line writes
them (``format_param``), and the error for a bad option or configuration (``ConfigError``)."""
from __future__ import annotations

import math

from .errors import DetailedError

def format_param(value) -> str:
    """A parameter value as the command line writes it: None as "off", numbers without trailing zeros."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "off"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class ConfigError(DetailedError, ValueError):
    """A bad configuration file or option: names the file, section and key (``details``: a traceback behind it, for
    --debug, e.g. of a --module file that fails to import)."""


def none_words(value):
    """TOML has no null: the strings "None"/"off" in a [params] table mean None (e.g. vix_level = "off")."""
    return None if isinstance(value, str) and value.strip().lower() in ("none", "null", "off") else value


def parse_value(text: str):
    """A command-line value as int, float, bool, None or str ("126" -> 126, "0.5" -> 0.5, "None"/"off" -> None)."""
    lowered = text.strip().lower()
    if lowered in ("none", "null", "off"):
        return None
    if lowered in ("true", "yes", "on"):
        return True
    if lowered == "false" or lowered == "no":
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_param(text: str) -> tuple[str, str, object]:
    """Parse ``STRATEGY.KEY=VALUE`` (e.g. "rotation.lookback=126") into (strategy, key, typed value)."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"--param {text!r}: expected STRATEGY.KEY=VALUE, e.g. rotation.lookback=126")
    target, value = text.split("=", 1)
    strategy, key = target.split(".", 1)
    if not strategy or not key:
        raise ConfigError(f"--param {text!r}: expected STRATEGY.KEY=VALUE, e.g. rotation.lookback=126")
    return strategy, key, parse_value(value)


