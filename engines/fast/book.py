"""Market arrays and the accounting of many runs at once: cash and whole-share positions, sized and filled the
way ``strategies.base.PortfolioStrategy.rebalance`` and Backtrader's broker (``feeds.build_cerebro``) do it.

Every array has one row per combination. What follows the event-driven engine exactly:
- sizing: ``value = (cash + sum(size x price)) x (1 - cash_buffer)``; ``target = trunc(weight x value / price)``;
- ``_fit_cash``: buys trimmed (the cash sleeve first, then the other buys scaled and floored) so that cash after
  every order, with commission and slippage, stays >= 0;
- fills: sells before buys; slippage ``price x (1 +/- slippage)`` capped at the bar's high/low (``slip_match``);
  commission ``|size| x (price x commission + per_share)``; cash moves by ``-size x price - commission``;
- ``fill="open"``: orders fill in the same session at its open; ``"close"``: created at a close, filled by the
  broker at the next session at that close (``coc``), the slippage cap read from the next bar;
- cash added by a strategy at a close (``broker.add_cash``, e.g. a short's borrow cost) reaches the cash after
  the next session's fills, as Backtrader applies it when it next values the portfolio.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from feeds import CASH_FEED, FeedSet

TRADED = ("IWM", "SPY", CASH_FEED)  # the traded feeds, in the Cerebro's feed order (VIX is signal only)
IWM, SPY, SLEEVE = 0, 1, 2


@dataclass(frozen=True)
class Market:
    """A FeedSet as numpy arrays: sessions x traded feeds (IWM, SPY, cash sleeve), plus VIX and raw closes.

    ``first``: index of the first measured session (the feeds' ``trade_from``); earlier rows are warm-up.
    ``month_start``: True on a session whose calendar month differs from the previous session's (and on row 0).
    """

    dates: pd.DatetimeIndex
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    raw_close: np.ndarray
    vix: np.ndarray
    first: int
    month_start: np.ndarray

    @classmethod
    def from_feeds(cls, feeds: FeedSet) -> "Market":
        bars = feeds.bars

        def stack(column: str) -> np.ndarray:
            return np.ascontiguousarray(np.column_stack([bars[n][column].to_numpy(dtype=float) for n in TRADED]))

        dates = feeds.sessions
        months = dates.year * 12 + dates.month
        month_start = np.ones(len(dates), dtype=bool)
        month_start[1:] = months[1:] != months[:-1]
        return cls(dates, stack("open"), stack("high"), stack("low"), stack("close"), stack("raw_close"),
                   bars["VIX"]["close"].to_numpy(dtype=float) if "VIX" in bars else np.full(len(dates), np.nan),
                   int(dates.searchsorted(feeds.start)), month_start)

    @property
    def sessions(self) -> int:
        return len(self.dates)


def named_weights(weights: np.ndarray) -> dict[str, float]:
    """One run's feed weights (IWM, SPY, cash sleeve) as {feed name: weight}, zero weights left out, as in
    ``rebalance_log``."""
    return {name: float(w) for name, w in zip(TRADED, weights) if w}


def curves(n: int, measured: int, cash: float) -> np.ndarray:
    """The value curves of ``n`` runs, runs x (starting value + ``measured`` closes), every cell set to ``cash``.
    Filled in memory order before the per-session writes (a few values per run at a time, far apart): touched in
    order, fresh memory can be mapped in large pages; the scattered first touches cost a fresh worker up to a few
    tenths of a second of system time per chunk on the benchmark's virtual machine."""
    values = np.empty((n, measured + 1))
    values.fill(float(cash))
    return values


def require_history(market: Market, active_from: np.ndarray, combos: list[dict], strategy: str) -> None:
    """ValueError, as the Backtrader engine's measured ``prenext``, when a run's first decision would fall after
    the first measured session for want of warm-up bars."""
    late = np.flatnonzero(active_from > market.first)
    if len(late):
        r = int(late[0])
        raise ValueError(
            f"{strategy} {combos[r]}: on the measured session {market.dates[market.first].date()} its indicators still "
            f"lack history (they need {int(active_from[r]) + 1} bars, the feeds have {market.first + 1} so far), so a "
            "decision would be skipped; load more warm-up or declare it in history_needed()")


class Book:
    """Cash and positions of ``n`` runs, with their costs; records fills and the figures the analyzers need.

    ``record=True`` also keeps every fill as (run, session of the price, feed, signed size, price, commission).
    """

    def __init__(self, n: int, cash: float, cash_buffer: np.ndarray, *, commission: float = 0.0,
                 per_share: float = 0.0, slippage: float = 0.0, record: bool = False) -> None:
        self.n = n
        self.cash = np.full(n, float(cash))
        self.pos = np.zeros((len(TRADED), n))  # shares, one row per traded feed
        self.keep = 1.0 - np.asarray(cash_buffer, dtype=float)
        self.commission, self.per_share, self.slip = float(commission), float(per_share), float(slippage)
        self.added = np.zeros(n)  # broker.add_cash waiting for the next valuation
        self._adding = False
        self.filled = np.zeros(n, dtype=bool)  # a fill in the current session
        self.any_filled = False  # some row may have ``filled`` set (a cheap test before reading it)
        self.traded = np.zeros(n)  # |size x price| of measured fills
        self.queued: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []  # close-fill orders for the next bar
        self.fills: list[tuple] | None = [] if record else None

    @classmethod
    def for_combos(cls, combos: list[dict], settings, *, record: bool = False) -> "Book":
        """A book for full parameter sets ``combos`` (each with its ``cash_buffer``) under ``settings``' cash and costs."""
        return cls(len(combos), settings.cash, np.array([float(c["cash_buffer"]) for c in combos]),
                   commission=settings.commission, per_share=settings.commission_per_share,
                   slippage=settings.slippage, record=record)

    # Rows are increasing run indexes. The arithmetic goes feed by feed over 1-D columns, in feed order (numpy's
    # row-wise reductions over 3 columns are several times slower), and every run at once reads and writes the
    # arrays in place (``_at``) instead of gathering and scattering them.
    def _at(self, rows: np.ndarray) -> np.ndarray | slice:
        return slice(None) if len(rows) == self.n else rows

    def fee(self, sizes: np.ndarray, prices) -> np.ndarray:
        """The commission of fills of ``sizes`` shares at ``prices`` (``feeds.CostInfo``: |size| x (price x
        commission + per_share))."""
        return np.abs(sizes) * (prices * self.commission + self.per_share)

    # -- sizing (PortfolioStrategy.rebalance) ---------------------------------------------------------------
    def orders(self, rows: np.ndarray, weights: np.ndarray, prices: np.ndarray) -> np.ndarray:
        """Share deltas (rows x feeds) that take ``rows`` to ``weights`` at ``prices``, fitted to cash."""
        at = self._at(rows)
        cash = self.cash[at]
        held = [self.pos[j, at] for j in range(len(TRADED))]
        value = cash.copy()
        for j, size in enumerate(held):
            value += size * prices[j]
        value *= self.keep[at]
        deltas = np.trunc(weights * value[:, None] / prices)
        for j, size in enumerate(held):
            deltas[:, j] -= size
        return self._fit_cash(cash, deltas, prices)

    def _cash_after(self, cash: np.ndarray, deltas: np.ndarray, prices: np.ndarray) -> np.ndarray:
        out = cash.copy()
        charged = bool(self.commission or self.per_share)
        for j in range(len(TRADED)):
            d = deltas[:, j]
            fill = prices[j] * np.where(d > 0, 1 + self.slip, 1 - self.slip) if self.slip else prices[j]
            cost = d * fill
            if charged:  # uncharged, the fee is |d| x 0: adding it changes no nonzero cost
                cost += self.fee(d, fill)
            out -= np.where(d != 0, cost, 0.0)
        return out

    def _fit_cash(self, cash: np.ndarray, deltas: np.ndarray, prices: np.ndarray) -> np.ndarray:
        shortfall = -self._cash_after(cash, deltas, prices)
        short = shortfall > 0
        if not short.any():
            return deltas
        deltas = deltas.copy()
        sleeve = deltas[:, SLEEVE]
        unit = prices[SLEEVE] * (1 + self.slip)
        cut_rows = short & (sleeve > 0)
        cut = np.where(cut_rows, np.minimum(sleeve, np.ceil(np.where(cut_rows, shortfall, 0.0) / unit)), 0.0)
        deltas[:, SLEEVE] = sleeve - cut
        shortfall = -self._cash_after(cash, deltas, prices)
        still = short & (shortfall > 0)
        if still.any():
            buys = np.where(deltas > 0, deltas * prices, 0.0).sum(axis=1)
            keep = np.where(buys > 0, np.maximum(0.0, 1.0 - shortfall / np.where(buys > 0, buys, 1.0)), 1.0)
            scaled = np.where(deltas > 0, np.floor(deltas * keep[:, None]), deltas)
            deltas = np.where(still[:, None], scaled, deltas)
        return deltas

    # -- fills (Backtrader's broker) ------------------------------------------------------------------------
    def execute(self, rows: np.ndarray, deltas: np.ndarray, prices: np.ndarray, bar: int, market: Market,
                measuring: bool, priced_at: int) -> None:
        """Fill ``deltas`` at ``prices`` (slipped, capped at ``bar``'s high/low). Backtrader fills the sells before
        the buys; the cash after all of them is the same (``_fit_cash`` keeps it >= 0 throughout), summed here
        per run in feed order."""
        if self.slip:
            buy = np.minimum(prices * (1 + self.slip), market.high[bar])
            sell = np.maximum(prices * (1 - self.slip), market.low[bar])
            fill = np.where(deltas > 0, buy, sell)
        else:
            fill = None
        at = self._at(rows)
        spent = traded = filled = None
        for j in range(len(TRADED)):
            d = deltas[:, j]
            price = prices[j] if fill is None else fill[:, j]
            moved = d * price
            cost = moved + self.fee(d, price)
            self.pos[j, at] += d
            if spent is None:
                spent, traded, filled = cost, np.abs(moved), d != 0
            else:
                spent += cost
                traded += np.abs(moved)
                filled |= d != 0
        self.cash[at] -= spent
        self.filled[at] |= filled
        self.any_filled = True
        if measuring:
            self.traded[at] += traded
        if self.fills is not None:
            fill = np.broadcast_to(prices, deltas.shape) if fill is None else fill
            fee = self.fee(deltas, fill)
            for selling in (True, False):
                for j in range(len(TRADED)):
                    for k in np.flatnonzero(deltas[:, j] < 0 if selling else deltas[:, j] > 0):
                        self.fills.append((int(rows[k]), priced_at, j, float(deltas[k, j]), float(fill[k, j]), float(fee[k, j])))

    def rebalance(self, rows: np.ndarray, weights: np.ndarray, bar: int, market: Market, *, at: str, measuring: bool) -> None:
        """``rebalance()`` for ``rows`` at ``bar``'s open (filled now) or close (queued for the next bar)."""
        if not len(rows):
            return
        prices = market.open[bar] if at == "open" else market.close[bar]
        deltas = self.orders(rows, weights, prices)
        if at == "open":
            self.execute(rows, deltas, prices, bar, market, measuring, bar)
        else:
            self.queued.append((rows, deltas, prices, bar))

    def add_cash(self, rows: np.ndarray, amounts: np.ndarray) -> None:
        """``broker.add_cash`` at a close: reaches the cash at the next ``broker_step``."""
        self.added[rows] += amounts
        self._adding = True

    def broker_step(self, bar: int, market: Market, measuring: bool) -> None:
        """Backtrader's ``broker.next`` for ``bar`` after the open-fill orders: queued close-fill orders, then added
        cash."""
        for rows, deltas, prices, created in self.queued:
            self.execute(rows, deltas, prices, bar, market, measuring, created)
        self.queued = []
        if self._adding:
            self.cash += self.added
            self.added[:] = 0.0
            self._adding = False

    def value(self, bar: int, market: Market) -> np.ndarray:
        """Portfolio value at ``bar``'s close: cash plus each position at its close, summed in feed order."""
        close = market.close[bar]
        value = self.cash.copy()
        for j in range(len(TRADED)):
            value += self.pos[j] * close[j]
        return value
