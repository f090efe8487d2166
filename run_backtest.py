#!/usr/bin/env python3
"""Compare the IWM/SPY strategies on real data: ``python run_backtest.py --help`` lists every command and option."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from cli.main import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
