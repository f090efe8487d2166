"""12-month dual momentum in your own file: the stronger of SPY and IWM over the last 252 sessions, if it beat the
cash sleeve over them; else the cash sleeve. Decided on each month's first session, traded at its open.

    python run_backtest.py --module examples/dual_momentum.py --strategies dual-momentum,buy-hold-spy
    python run_backtest.py sweep --module examples/dual_momentum.py --strategy dual-momentum --engine fast \\
        --grid lookback=21:252:21 --verify 2
"""
from strategies import TargetWeights, check_number, register, whole_or_zero


@register("dual-momentum", description="Stronger of SPY/IWM over 12 months if it beat cash, else cash (monthly)")
class DualMomentum(TargetWeights):
    """Relative momentum picks the asset (SPY or IWM) with the higher total return over the last ``lookback``
    sessions; absolute momentum holds it only when that return beats the cash sleeve's (SGOV, BIL before
    2020-06), else the cash sleeve."""

    params = (("lookback", 252),)
    history_params = ("lookback",)
    schedule = "monthly"

    @classmethod
    def history_needed(cls, params) -> int:
        return whole_or_zero(cls.param_values(params)["lookback"]) + 1  # lookback returns need lookback + 1 closes

    def validate_params(self) -> None:
        super().validate_params()
        check_number(self, "lookback", lo=1, integer=True)

    def target_weights(self, known):
        spy = known.trailing_return("SPY", self.p.lookback)
        iwm = known.trailing_return("IWM", self.p.lookback)
        cash = known.trailing_return("SGOV", self.p.lookback)
        best, best_return = ("IWM", iwm) if iwm > spy else ("SPY", spy)
        hold = best if best_return > cash else "SGOV"
        known.note(spy_return=spy, iwm_return=iwm, cash_return=cash, asset=hold)
        return {hold: 1.0}
