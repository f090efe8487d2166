"""MonthlyWinRate: how often a month ended up, and how often it beat a benchmark feed."""
from __future__ import annotations

import pandas as pd

from . import stats
from .base import MeasuredAnalyzer


class MonthlyWinRate(MeasuredAnalyzer):
    """Share of calendar months with a positive return, overall and per year, and the share beating a benchmark.

    Month returns come from month-end portfolio values (the first month from the starting value); a partial
    first or last month counts as a month. A month "wins" when its return is > 0 and "beats" the benchmark
    when it is greater than the benchmark feed's close-to-close return over the same month (its close is a
    total-return price on this plugin's feeds).

    Params:
    - ``benchmark`` (None): a data feed or a data feed's name.

    ``get_analysis()`` keys:
    - ``Months``, ``Winning months``, ``Monthly win rate [%]``.
    - ``Benchmark`` (name or None), ``Months beating benchmark``, ``Beat benchmark rate [%]`` (None without one).
    - ``by_year``: {year: {``Months``, ``Winning months``, ``Monthly win rate [%]``, ``Months beating benchmark``,
      ``Beat benchmark rate [%]``}}.
    - ``returns``: pd.Series of month returns (fractions) by month end. ``benchmark_returns`` likewise or None.
    """

    params = (("benchmark", None),)

    def start(self) -> None:
        super().start()
        self._bench = self._find(self.p.benchmark)
        self._bench_close = self._bench.lines.close if self._bench is not None else None
        self._bench_closes: list[float] = []
        self._bench_start: float | None = None

    def _find(self, benchmark):
        if benchmark is None or not isinstance(benchmark, str):
            return benchmark
        for data in self.strategy.datas:
            if data._name == benchmark:
                return data
        names = ", ".join(d._name for d in self.strategy.datas)
        raise ValueError(f"MonthlyWinRate: benchmark {benchmark!r} is not a data feed; feeds are {names}")

    def next(self) -> None:
        if self._bench is not None:
            close = float(self._bench_close[0])
            if self.measuring():
                if self._bench_start is None:
                    self._bench_start = self._bench_closes[-1] if self._bench_closes else close
                    self._bench_closes = []
                self._bench_closes.append(close)
            else:
                self._bench_closes = [close]
        super().next()

    def stop(self) -> None:
        equity = self.equity()
        if len(equity) < 2:
            self.rets.update({"Months": 0, "Winning months": 0, "Monthly win rate [%]": None, "by_year": {}})
            return
        returns = stats.monthly_returns(equity)
        bench = None
        if self._bench is not None:
            curve = pd.Series([self._bench_start, *self._bench_closes], index=equity.index)
            bench = stats.monthly_returns(curve)
        self.rets.update(self._summary(returns, bench))
        self.rets["Benchmark"] = getattr(self._bench, "_name", None)
        # per year on plain arrays (the two series share their month-end index)
        years = returns.index.year.to_numpy()
        values = returns.to_numpy()
        bench_values = None if bench is None else bench.to_numpy()
        self.rets["by_year"] = {
            int(year): self._summary(values[years == year], None if bench_values is None else bench_values[years == year])
            for year in sorted(set(years.tolist()))
        }
        self.rets["returns"] = returns
        self.rets["benchmark_returns"] = bench

    @staticmethod
    def _summary(returns, bench) -> dict:
        """Counts and rates of ``returns`` (a Series or array) and, when given, of beating ``bench`` (aligned)."""
        months, wins = len(returns), int((returns > 0).sum())
        beat = None if bench is None else int((returns > bench).sum())
        return {
            "Months": months,
            "Winning months": wins,
            "Monthly win rate [%]": 100.0 * wins / months if months else None,
            "Months beating benchmark": beat,
            "Beat benchmark rate [%]": None if beat is None or not months else 100.0 * beat / months,
        }
