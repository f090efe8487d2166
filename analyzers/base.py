"""The measured equity curve and holdings that every analyzer here reads."""
from __future__ import annotations

import backtrader as bt
import pandas as pd

from feeds import is_cash, trade_from

CASH = "cash"


class _Recorder:
    """The measured curve of one strategy, recorded once per bar however many analyzers read it."""

    def __init__(self, strategy) -> None:
        self.strategy = strategy
        start = trade_from(strategy.datas)
        self.from_num = bt.date2num(start.to_pydatetime()) if start is not None else float("-inf")
        self.dates: list[pd.Timestamp] = []
        self.values: list[float] = []
        self.weight_rows: list[dict] = []
        self.start_value: float = strategy.broker.startingcash
        self.start_date: pd.Timestamp | None = None
        self._last_unmeasured: tuple[float, float] | None = None
        self._bar = -1

    def measuring(self) -> bool:
        return self.strategy.datas[0].datetime[0] >= self.from_num

    def record(self) -> None:
        """Record this bar (once, whichever analyzer asks first)."""
        bar = len(self.strategy.datas[0])
        if bar == self._bar:
            return
        self._bar = bar
        clock = self.strategy.datas[0].datetime
        value = self.strategy.broker.getvalue()
        if not self.measuring():
            self._last_unmeasured = (clock[0], value)
            return
        date = pd.Timestamp(clock.date(0))
        if not self.dates:
            if self._last_unmeasured is not None:
                self.start_date = pd.Timestamp(bt.num2date(self._last_unmeasured[0]).date())
                self.start_value = self._last_unmeasured[1]
            else:  # no warm-up: the starting cash, the day before the first session
                self.start_date = date - pd.Timedelta(days=1)
        self.dates.append(date)
        self.values.append(value)
        row = {CASH: self.strategy.broker.getcash() / value if value else 0.0}
        for data in self.strategy.datas:
            size = self.strategy.getposition(data).size
            row[data._name] = size * data.close[0] / value if value and size else 0.0
        self.weight_rows.append(row)


class MeasuredAnalyzer(bt.Analyzer):
    """Records, at each measured session's close, the portfolio value and each feed's weight.

    Measured sessions are those on or after ``feeds.trade_from(datas)`` (all sessions when the feeds carry no
    such param): warm-up bars, where strategies only read history, are not measured. The starting value is the
    portfolio value at the close before the first measured session (or the starting cash, dated the day before
    the first session, when there is no warm-up). All analyzers of one strategy share one recording.

    Reads: broker value and cash, every data's position and close. Gives subclasses: ``dates``, ``values``,
    ``weight_rows``, ``start_value``, ``start_date``, ``measuring()``, ``equity()``, ``weights()``.
    """

    def start(self) -> None:
        recorder = getattr(self.strategy, "_measured_recorder", None)
        if recorder is None:
            recorder = self.strategy._measured_recorder = _Recorder(self.strategy)
        self._recorder = recorder
        self._from = trade_from(self.strategy.datas)

    dates = property(lambda self: self._recorder.dates)
    values = property(lambda self: self._recorder.values)
    weight_rows = property(lambda self: self._recorder.weight_rows)
    start_value = property(lambda self: self._recorder.start_value)
    start_date = property(lambda self: self._recorder.start_date)

    def measuring(self) -> bool:
        return self._recorder.measuring()

    def next(self) -> None:
        self._recorder.record()

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
