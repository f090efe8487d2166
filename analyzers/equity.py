"""EquityCurve: the portfolio value and holdings at every measured session."""
from __future__ import annotations

from .base import MeasuredAnalyzer


class EquityCurve(MeasuredAnalyzer):
    """Portfolio value and weights per measured session (warm-up excluded).

    ``get_analysis()`` keys:
    - ``equity``: pd.Series, portfolio value at each measured close, preceded by the starting value on the
      session before the first measured one.
    - ``weights``: pd.DataFrame, one column per data feed (position value / portfolio value, negative = short)
      plus ``cash`` (uninvested broker cash / portfolio value), one row per measured session.
    """

    def stop(self) -> None:
        self.rets["equity"] = self.equity()
        self.rets["weights"] = self.weights()
