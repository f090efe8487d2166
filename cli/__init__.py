"""The command line: ``run_backtest.py [compare|signal|list|sweep|walkforward|lookahead] [options]``.

The top layer: only this package and ``run_backtest.py`` know the command line, and nothing imports them.
"""
