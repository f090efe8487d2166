"""A strategy of your own, in your own file: run it with

    python run_backtest.py --module examples/my_strategy.py --strategies spy-in-winter,buy-hold-spy

It holds SPY from November to April and the cash sleeve (SGOV) from May to October ("sell in May").
"""
from strategies import PortfolioStrategy, check_choice, register


@register("spy-in-winter", description="SPY Nov-Apr, cash sleeve May-Oct")
class SpyInWinter(PortfolioStrategy):
    """Holds ``asset`` from November to April and the cash sleeve from May to October, switching at the month's open."""

    params = (("asset", "SPY"),)

    def validate_params(self) -> None:
        super().validate_params()
        check_choice(self, "asset", ("SPY", "IWM"))

    def next_open(self) -> None:
        if self.is_rebalance_day():
            winter = self.now().month in (11, 12, 1, 2, 3, 4)
            self.rebalance({self.p.asset: 1.0} if winter else {"SGOV": 1.0}, at="open")
