"""One colour per run name, the same in every PNG and in report.html, and from one run of the tool to the next.

The built-in strategies and the shipped examples have fixed, well-separated hues (the benchmarks dark); any other
name gets a colour from ``EXTRA`` chosen by a stable hash of the name (not Python's ``hash``, which changes per
process), so a user's strategy keeps its colour across runs, machines and reports.
"""
from __future__ import annotations

import hashlib

FIXED = {
    "rotation": "#1f77b4",          # blue
    "ratio-rotation": "#ff7f0e",    # orange
    "ratio-z-rotation": "#8c564b",  # brown
    "ratio-pair": "#2ca02c",        # green
    "ratio-z-pair": "#9467bd",      # purple
    "buy-hold-spy": "#222222",      # near black: the benchmark
    "buy-hold-iwm": "#d62728",      # red
    "mix-50-50": "#17becf",         # cyan
    "trend-filter": "#e377c2",      # pink
    "spy-in-winter": "#bcbd22",     # olive
}
# Distinct from FIXED and from each other (dark enough on white for a 1.5 px line).
EXTRA = ("#6a3d9a", "#b15928", "#1b9e77", "#e7298a", "#66a61e", "#a6761d", "#0b5394", "#cc4c02", "#7f7f00",
         "#c51b7d", "#01665e", "#8c2d04", "#3f007d", "#5b8c00", "#993404", "#08519c")


def run_colour(name: str) -> str:
    """The hex colour of run ``name`` (``FIXED`` for the built-ins, else ``EXTRA`` by an MD5 of the name)."""
    if name in FIXED:
        return FIXED[name]
    digest = int(hashlib.md5(name.encode("utf-8")).hexdigest(), 16)
    return EXTRA[digest % len(EXTRA)]


def run_colours(names) -> dict[str, str]:
    """``run_colour`` of each name."""
    return {name: run_colour(name) for name in names}


# Holdings in allocation charts: one colour per feed, the same in PNG and HTML.
HOLDING_COLOURS = {"IWM": "#d62728", "SPY": "#1f77b4", "SGOV": "#9bbb59", "SGOV + cash": "#9bbb59", "BIL": "#9bbb59",
                   "cash": "#bbbbbb", "VIX": "#7f7f7f"}


def holding_colour(name: str) -> str:
    """The colour of a holding (feed) in allocation charts; other feeds as ``run_colour``."""
    return HOLDING_COLOURS.get(name) or run_colour(name)
