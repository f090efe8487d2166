"""The measured equity curve and holdings that every analyzer here reads."""
from __future__ import annotations

import backtrader as bt
import pandas as pd

from feeds import is_cash, trade_from
from feeds.calendar import bar_date, bar_dates

from .lean import LeanAnalyzer

CASH = "cash"


class _Recorder:
    """The measured curve of one strategy, recorded once per bar however many analyzers read it.

    Speed: per bar it keeps numbers only (the bar's datetime number, value, cash, and each held position's size
    and close); dates, weight rows, the equity curve and the weights frame are built from them when read, and
    built once. The values are the same arithmetic as computing them bar by bar.
    """

    def __init__(self, strategy) -> None:
        self.strategy = strategy
        self._clock = strategy.datas[0].lines.datetime
        self._datas = list(strategy.datas)
        self._names = [d._name for d in self._datas]
        self._closes = [d.lines.close for d in self._datas]
        # Backtrader's own broker keeps positions in a dict: read it directly (what its getposition returns)
        self._direct_positions = type(strategy.broker).getposition is bt.brokers.BackBroker.getposition
        start = trade_from(strategy.datas)
        self.from_num = bt.date2num(start.to_pydatetime()) if start is not None else float("-inf")
        self.values: list[float] = []
        self._nums: list[float] = []
        self._cash: list[float] = []
        self._held: list[list[tuple[int, float, float]]] = []
        self._dates: list[pd.Timestamp] = []
        self._rows: list[dict] = []
        self._frames: dict[str, tuple[int, object]] = {}
        self.start_value: float = strategy.broker.startingcash
        self.start_date: pd.Timestamp | None = None
        self._last_unmeasured: tuple[float, float] | None = None
        self._bar = -1

    def measuring(self) -> bool:
        return self._clock[0] >= self.from_num

    def record(self) -> None:
        """Record this bar (once, whichever analyzer asks first)."""
        clock = self._clock
        bar = len(clock)
        if bar == self._bar:
            return
        self._bar = bar
        now = clock[0]
        broker = self.strategy.broker
        value = broker.getvalue()
        if now < self.from_num:
            self._last_unmeasured = (now, value)
            return
        if not self.values:
            if self._last_unmeasured is not None:
                self.start_date = pd.Timestamp(bar_date(self._last_unmeasured[0]))
                self.start_value = self._last_unmeasured[1]
            else:  # no warm-up: the starting cash, the day before the first session
                self.start_date = pd.Timestamp(bar_date(now, self._tz())) - pd.Timedelta(days=1)
        self._nums.append(now)
        self.values.append(value)
        self._cash.append(broker.getcash())
        held = []
        if self._direct_positions:
            positions = broker.positions
            for i, data in enumerate(self._datas):
                size = positions[data].size
                if size:
                    held.append((i, size, self._closes[i][0]))
        else:
            for i, data in enumerate(self._datas):
                size = self.strategy.getposition(data).size
                if size:
                    held.append((i, size, self._closes[i][0]))
        self._held.append(held)

    def _tz(self):
        return getattr(self._clock, "_tz", None)

    def date_index(self) -> pd.DatetimeIndex:
        """The date of each measured bar."""
        return self.built("dates", lambda: bar_dates(self._nums, self._tz()), copy=False)

    @property
    def dates(self) -> list[pd.Timestamp]:
        """The date of each measured bar, as a list (grown bar by bar when read during the run)."""
        missing = self._nums[len(self._dates):]
        if len(missing) > 64:
            self._dates.extend(self.date_index()[len(self._dates):])
        else:
            self._dates.extend(pd.Timestamp(bar_date(num, self._tz())) for num in missing)
        return self._dates

    def weight_row(self, i: int) -> dict:
        """Measured bar ``i``: {"cash": broker cash / value, <feed name>: position value / value (0.0 when not held)}."""
        value = self.values[i]
        row = {CASH: self._cash[i] / value if value else 0.0}
        positions = {j: size * close for j, size, close in self._held[i]}
        for j, name in enumerate(self._names):
            row[name] = positions[j] / value if value and j in positions else 0.0
        return row

    @property
    def weight_rows(self) -> list[dict]:
        """``weight_row`` of every measured bar."""
        self._rows.extend(self.weight_row(i) for i in range(len(self._rows), len(self.values)))
        return self._rows

    def weights_frame(self) -> pd.DataFrame:
        """The weight rows as a DataFrame by date (the same numbers, built column by column)."""
        values = self.values
        if not values:
            return pd.DataFrame([], index=pd.DatetimeIndex([]))
        columns = {CASH: [cash / value if value else 0.0 for cash, value in zip(self._cash, values)]}
        by_feed = [[0.0] * len(values) for _ in self._names]
        for i, held in enumerate(self._held):
            value = values[i]
            for j, size, close in held:
                by_feed[j][i] = size * close / value if value else 0.0
        for j, name in enumerate(self._names):
            columns[name] = by_feed[j]
        return pd.DataFrame(columns, index=self.date_index(), dtype="float64")

    def equity_series(self) -> pd.Series:
        """The starting value on ``start_date``, then each measured close's value."""
        index = pd.DatetimeIndex([self.start_date]).append(self.date_index())
        return pd.Series([self.start_value, *self.values], index=index, name="value")

    def built(self, key: str, build, copy: bool = True):
        """``build()``'s result, made once per recording length (and copied for each reader)."""
        size, frame = self._frames.get(key, (-1, None))
        if size != len(self.values):
            frame = build()
            self._frames[key] = (len(self.values), frame)
        return frame.copy() if copy else frame


class MeasuredAnalyzer(LeanAnalyzer):
    """Records, at each measured session's close, the portfolio value and each feed's weight.

    Measured sessions are those on or after ``feeds.trade_from(datas)`` (all sessions when the feeds carry no
    such param): warm-up bars, where strategies only read history, are not measured. The starting value is the
    portfolio value at the close before the first measured session (or the starting cash, dated the day before
    the first session, when there is no warm-up). All analyzers of one strategy share one recording.

    Reads: broker value and cash, every data's position and close. Gives subclasses: ``dates``, ``values``,
    ``weight_rows``, ``last_weights()``, ``start_value``, ``start_date``, ``measuring()``, ``equity()``, ``weights()``.
    """

    def start(self) -> None:
        recorder = getattr(self.strategy, "_measured_recorder", None)
        self._records = recorder is None  # the first analyzer to start records for all (it runs first each bar)
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
        if self._records:
            self._recorder.record()

    def equity(self) -> pd.Series:
        """Portfolio value by date: the starting value on ``start_date``, then each measured close."""
        if not self.values:
            return pd.Series(dtype=float, name="value")
        return self._recorder.built("equity", self._recorder.equity_series)

    def weights(self) -> pd.DataFrame:
        """Weight of each feed and of broker cash by measured date (fractions of portfolio value)."""
        return self._recorder.built("weights", self._recorder.weights_frame)

    def last_weights(self) -> dict:
        """The latest measured bar's weight row (see ``weights``)."""
        return self._recorder.weight_row(-1)

    def cash_names(self) -> set[str]:
        """Feeds that are cash (the cash sleeve), plus broker cash."""
        return {d._name for d in self.strategy.datas if is_cash(d)} | {CASH}
