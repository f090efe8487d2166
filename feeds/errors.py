"""Errors raised by the data layer. Each message names the symbol, file, column, row or date at fault."""
from __future__ import annotations


class DataError(ValueError):
    """Bad or missing market data: the message says which symbol, file, row, column or date."""


class SignalOnlyFeedError(RuntimeError):
    """A strategy tried to place an order on a feed that is for signals only (e.g. VIX)."""
