#!/usr/bin/env python3
"""Compare the IWM/SPY strategies on real data: ``python run_backtest.py --help`` lists every command and option."""
from __future__ import annotations

import importlib.util
import sys

# The installed packages every command needs (import names); checked before anything imports them.
REQUIRED = ("backtrader", "pandas", "numpy", "matplotlib", "exchange_calendars")


def missing_packages() -> list[str]:
    """The ``REQUIRED`` packages this Python cannot import (e.g. the system Python instead of the project's .venv)."""
    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def main(argv: list[str] | None = None) -> int:
    missing = missing_packages()
    if missing:
        print(f"error: this Python ({sys.executable}) does not have the project's packages ({', '.join(missing)} "
              "missing). Run `make run` once (it creates .venv and installs them), then run commands as "
              "`.venv/bin/python run_backtest.py ...` or after `source .venv/bin/activate`", file=sys.stderr)
        return 2
    from cli.main import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
