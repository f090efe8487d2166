#!/usr/bin/env python3
"""Compare the IWM/SPY strategies on real data: ``python run_backtest.py --help`` lists every command and option."""
from __future__ import annotations

import importlib.util
import os
import sys

# The installed packages every command needs (import names); checked before anything imports them.
REQUIRED = ("backtrader", "pandas", "numpy", "matplotlib", "exchange_calendars")


def missing_packages() -> list[str]:
    """The ``REQUIRED`` packages this Python cannot import (e.g. the system Python instead of the project's .venv)."""
    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def one_blas_thread() -> None:
    """One BLAS thread per process unless the environment says otherwise; call before numpy is imported. The
    commands run their work in processes, one per core, and their arithmetic is mostly elementwise: BLAS's own
    threads only compete for the same cores (and an idle OpenBLAS pool slows the luck check's first products by
    ~50 ms after a sweep, see benchmarks/README.md)."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def main(argv: list[str] | None = None) -> int:
    one_blas_thread()
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
