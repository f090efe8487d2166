"""Data layer: real daily bars (bundled, Yahoo or your CSVs), validated, aligned on the NYSE calendar, as Backtrader feeds."""
from .calendar import first_session_of_next_month, next_session, nyse_sessions
from .cash import CASH_FEED, splice_cash
from .cerebro import FEED_NAMES, CostInfo, FeedSet, GuardedBroker, build_cerebro, make_broker, make_feed, prepare_feeds
from .errors import DataError, SignalOnlyFeedError
from .pandas_feed import TotalReturnData, adjusted_bars, is_cash, trade_from
from .bars import BUNDLED_SYMBOLS, PriceSet
from .prices import load_prices

__all__ = [
    "BUNDLED_SYMBOLS", "CASH_FEED", "FEED_NAMES", "CostInfo", "DataError", "FeedSet", "GuardedBroker", "PriceSet",
    "SignalOnlyFeedError", "TotalReturnData", "adjusted_bars", "build_cerebro", "is_cash", "first_session_of_next_month",
    "load_prices", "make_feed", "next_session", "nyse_sessions", "prepare_feeds", "splice_cash", "trade_from",
]
