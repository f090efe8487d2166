"""A trend filter in your own file: SPY while its last close is above its 200-session average, else the cash sleeve.

    python run_backtest.py --module examples/trend_filter.py --strategies trend-filter,buy-hold-spy
    python run_backtest.py sweep --module examples/trend_filter.py --strategy trend-filter --engine fast \\
        --grid sessions=50:300:10 --grid asset=SPY,IWM --verify 2
    python run_backtest.py lookahead --module examples/trend_filter.py --strategies trend-filter
"""
from strategies import TargetWeights, check_choice, check_number, register, whole_or_zero


@register("trend-filter", description="SPY above its 200-session average, else cash (monthly)")
class TrendFilter(TargetWeights):
    """On each month's first session, at the open: ``asset`` when its last close is above the average of its last
    ``sessions`` closes (total return), else the cash sleeve SGOV."""

    params = (("asset", "SPY"), ("sessions", 200))
    history_params = ("sessions",)
    schedule = "monthly"

    @classmethod
    def history_needed(cls, params) -> int:
        return whole_or_zero(cls.param_values(params)["sessions"])  # closes before the first decision

    def validate_params(self) -> None:
        super().validate_params()
        check_choice(self, "asset", ("SPY", "IWM"))
        check_number(self, "sessions", lo=2, integer=True)

    def target_weights(self, known):
        closes = known.closes(self.p.asset, self.p.sessions)  # through yesterday's close, never today's
        above = bool(closes[-1] > closes.mean())
        known.note(close=closes[-1], average=closes.mean(), above=above)
        return {self.p.asset: 1.0} if above else {"SGOV": 1.0}
