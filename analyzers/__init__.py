"""Analyzers that work for any strategy and any data names; they measure only after the warm-up.

``add_standard_analyzers(cerebro, benchmark)`` adds the set the runner's comparison table reads.
"""
from .equity import EquityCurve
from .exposure import Exposure
from .fills import FILL_COLUMNS, Fills, fills_frame
from .performance import Performance
from .switches import SwitchCount, holding_label
from .winrate import MonthlyWinRate

__all__ = ["EquityCurve", "Exposure", "FILL_COLUMNS", "Fills", "fills_frame", "MonthlyWinRate", "Performance", "SwitchCount", "add_standard_analyzers", "holding_label"]


def add_standard_analyzers(cerebro, benchmark=None, riskfree: "float | str" = "cash") -> None:
    """Add EquityCurve "equity", Performance "performance", MonthlyWinRate "winrate" (vs ``benchmark``, a feed
    name), SwitchCount "switches", Exposure "exposure" and Fills "fills" to ``cerebro``."""
    cerebro.addanalyzer(EquityCurve, _name="equity")
    cerebro.addanalyzer(Performance, _name="performance", riskfree=riskfree)
    cerebro.addanalyzer(MonthlyWinRate, _name="winrate", benchmark=benchmark)
    cerebro.addanalyzer(SwitchCount, _name="switches")
    cerebro.addanalyzer(Exposure, _name="exposure")
    cerebro.addanalyzer(Fills, _name="fills")
