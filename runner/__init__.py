"""The runner: runs registered strategies on prepared feeds, compares them, reports and plots.

Only this package and ``run_backtest.py`` know the command line.
"""
