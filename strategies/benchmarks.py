"""Reference portfolios: buy and hold SPY, buy and hold IWM, 50/50 SPY/IWM rebalanced monthly."""
from __future__ import annotations

from .base import PortfolioStrategy, check_choice
from .registry import register


class FixedWeights(PortfolioStrategy):
    """Holds fixed weights of named feeds, bought on the first measured session.

    Params:
    - ``weights`` ({"SPY": 1.0}): feed name -> fraction of portfolio value.
    - ``rebalance`` ("never"): "monthly" trades back to ``weights`` on each month's first session, at the open.
    """

    params = (("weights", {"SPY": 1.0}), ("rebalance", "never"))
    param_rules = {"weights": "feed -> weight in [0, 1], summing to <= 1"}
    signal_feeds = ()  # fixed weights read no signal

    def validate_params(self) -> None:
        super().validate_params()
        check_choice(self, "rebalance", ("never", "monthly"))
        weights = self.p.weights
        if not isinstance(weights, dict) or not weights:
            raise ValueError(f"FixedWeights: parameter weights must be a non-empty dict of feed -> weight, not {weights!r}")
        for name, weight in weights.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
                raise ValueError(f"FixedWeights: weight of {name!r} must be a number in [0, 1], not {weight!r}")
        if sum(weights.values()) > 1 + 1e-9:
            raise ValueError(f"FixedWeights: weights sum to {sum(weights.values()):.4f} > 1")

    def next_open(self) -> None:
        if self.warming_up():
            return
        if self.first_measured_session() or (self.p.rebalance == "monthly" and self.first_session_of_month()):
            self.rebalance(self.p.weights, at="open")


register("buy-hold-spy", FixedWeights, params={"weights": {"SPY": 1.0}}, description="Buy and hold SPY", benchmark=True)
register("buy-hold-iwm", FixedWeights, params={"weights": {"IWM": 1.0}}, description="Buy and hold IWM", benchmark=True)
register(
    "mix-50-50",
    FixedWeights,
    params={"weights": {"SPY": 0.5, "IWM": 0.5}, "rebalance": "monthly"},
    description="50/50 SPY/IWM, rebalanced monthly",
    benchmark=True,
)
