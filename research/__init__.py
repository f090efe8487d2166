"""Research over many runs: parameter sweeps (``research.sweep``), walk-forward (``research.walkforward``) and the
look-ahead detector (``research.lookahead``). Built on ``engines``; knows nothing of reports or the command line.
"""
