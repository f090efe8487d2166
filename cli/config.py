"""Run configuration: a TOML file with the same settings as the command line, so a comparison is one shareable file.

Example::

    [run]
    start = "2010-01-01"
    end = "2024-12-31"
    cash = 100000
    commission = 0.0005          # fraction of traded value
    commission_per_share = 0.0
    slippage = 0.0002            # fraction of price
    source = "bundled"           # bundled | yahoo | csv:DIR
    accept_bars = []             # bars the data checks flag, accepted deliberately: ["IWM:2019-05-31"]
    modules = []                 # strategy files (relative to this file) or module names, like --module
    output = "output/latest"
    plots = true

    [strategies]
    names = ["rotation", "ratio-rotation", "buy-hold-spy"]

    [params.rotation]
    lookback = 126
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from engines.params import ConfigError, none_words

RUN_KEYS = {
    "start": str,
    "end": str,
    "cash": (int, float),
    "commission": (int, float),
    "commission_per_share": (int, float),
    "slippage": (int, float),
    "source": str,
    "cache_dir": str,
    "output": str,
    "plots": bool,
    "jobs": int,
    "benchmark": str,
    "riskfree": str,
    "accept_bars": list,
    "modules": list,
}


SECTIONS = ("run", "strategies", "params", "sweep", "walkforward")


def load_config(path: str | Path) -> dict:
    """Read and check a TOML config. Returns {"run": {...}, "strategies": [...], "params": {name: {...}}, "sweep": {...}, "walkforward": {...}}."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path}: is a folder, not a TOML file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (some Windows editors write one) is not content
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    for section in SECTIONS:
        if section in raw and not isinstance(raw[section], dict):
            raise ConfigError(f"config file {path}: {section} = {raw[section]!r} must be a table: write [{section}] and its keys below it")
    for section, key in (("sweep", "grid"), ("walkforward", "grid")):
        if key in raw.get(section, {}) and not isinstance(raw[section][key], dict):
            raise ConfigError(f"config file {path}: [{section}] {key} must be a table: write [{section}.{key}] with KEY = [values] below it")
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    run = raw.get("run", {})
    for key, value in run.items():
        if key not in RUN_KEYS:
            raise ConfigError(f"config file {path}: unknown key [run] {key}; known: {', '.join(RUN_KEYS)}")
        kind = RUN_KEYS[key]
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise ConfigError(f"config file {path}: [run] {key} = {value!r} has the wrong type")
        if kind is list and not all(isinstance(v, str) for v in value):
            example = "my_strategies.py" if key == "modules" else "IWM:2019-05-31"
            raise ConfigError(f"config file {path}: [run] {key} must be a list of strings like \"{example}\"")
    strategies = raw.get("strategies", {})
    extra = sorted(set(strategies) - {"names"})
    if extra:
        raise ConfigError(f"config file {path}: unknown key [strategies] {', '.join(extra)}; use names = [...]")
    names = strategies.get("names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"config file {path}: [strategies] names must be a list of strategy names")
    params = raw.get("params", {})
    for name, table in params.items():
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: [params.{name}] must be a table of key = value")
    return {
        "run": dict(run),
        "strategies": list(names),
        "params": {k: {key: none_words(v) for key, v in table.items()} for k, table in params.items()},
        "sweep": dict(raw.get("sweep", {})),
        "walkforward": dict(raw.get("walkforward", {})),
    }


def to_toml(config: dict) -> str:
    """Render a resolved config (the load_config layout) back to TOML, for the output folder."""

    def fmt(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if value is None:
            return '"None"'
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(fmt(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{json_key(k)} = {fmt(v)}" for k, v in value.items()) + " }"
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    def json_key(key: str) -> str:
        return key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'

    lines = ["[run]"]
    lines += [f"{k} = {fmt(v)}" for k, v in config.get("run", {}).items() if v is not None]
    lines += ["", "[strategies]", f"names = {fmt(config.get('strategies', []))}"]
    for name, table in config.get("params", {}).items():
        if table:
            lines += ["", f"[params.{json_key(name)}]"] + [f"{json_key(k)} = {fmt(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


