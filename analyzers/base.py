"""The measured equity curve and holdings that every analyzer here reads."""
from __future__ import annotations

import backtrader as bt
import pandas as pd

from feeds import is_cash, trade_from

CASH = "cash"


class MeasuredAnalyzer(bt.Analyzer):
    """Records, at each measured session's close, the portfolio value and each feed's weight.

    Measured sessions are those on or after ``feeds.trade_from(datas)`` (all sessions when the feeds carry no
    such param): warm-up bars, where strategies only read history, are not measured. The starting value is the
    portfolio value at the close before the first measured session (or the starting cash, dated the day before
    the first session, when there is no warm-up).

    Reads: broker value and cash, every data's position and close. Writes (for subclasses): ``dates``,
    ``values``, ``weight_rows``, ``start_value``, ``start_date``.
    """

    def start(self) -> None:
        self._from = trade_from(self.strategy.datas)
        self.dates: list[pd.Timestamp] = []
        self.values: list[float] = []
        self.weight_rows: list[dict] = []
        self.start_value: float = self.strategy.broker.startingcash
        self.start_date: pd.Timestamp | None = None
        self._last_unmeasured: tuple[pd.Timestamp, float] | None = None

    def measuring(self) -> bool:
        now = self.strategy.datas[0].datetime.datetime(0)
        return self._from is None or now >= self._from

    def next(self) -> None:
        date = pd.Timestamp(self.strategy.datas[0].datetime.date(0))
        value = self.strategy.broker.getvalue()
        if not self.measuring():
            self._last_unmeasured = (date, value)
            return
        if not self.dates:
            if self._last_unmeasured is not None:
                self.start_date, self.start_value = self._last_unmeasured
            else:  # no warm-up: the starting cash, the day before the first session
                self.start_date = date - pd.Timedelta(days=1)
        self.dates.append(date)
        self.values.append(value)
        row = {CASH: self.strategy.broker.getcash() / value if value else 0.0}
        for data in self.strategy.datas:
            size = self.strategy.getposition(data).size
            row[data._name] = size * data.close[0] / value if value and size else 0.0
        self.weight_rows.append(row)

    def equity(self) -> pd.Series:
        """Portfolio value by date: the starting value on ``start_date``, then each measured close."""
        if not self.dates:
            return pd.Series(dtype=float, name="value")
        return pd.Series([self.start_value, *self.values], index=pd.DatetimeIndex([self.start_date, *self.dates]), name="value")

    def weights(self) -> pd.DataFrame:
        """Weight of each feed and of broker cash by measured date (fractions of portfolio value)."""
        return pd.DataFrame(self.weight_rows, index=pd.DatetimeIndex(self.dates))

    def cash_names(self) -> set[str]:
        """Feeds that are cash (the cash sleeve), plus broker cash."""
        return {d._name for d in self.strategy.datas if is_cash(d)} | {CASH}
