"""Running: one strategy on prepared feeds (Backtrader, ``engines.engine``), many at once (``engines.compare``,
``engines.shared_pass``), where runs execute (``engines.executors``), the vectorised fast engine
(``engines.fast``) and Backtrader's own per-run plot (``engines.btplot``).

Knows feeds, strategies and analyzers; knows nothing of research, reports or the command line.
"""
