"""Money on axes: readable ticks for a log-scale portfolio value ($80k, $100k, $200k), in PNG and HTML alike."""
from __future__ import annotations

import math

# Mantissas per decade, from sparse to dense: the first giving at least ``min_ticks`` ticks in range is used.
_MANTISSAS = ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0), (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0))


def money_label(value: float) -> str:
    """``$950``, ``$80k``, ``$1.25M``: dollars with k/M/B and up to 3 significant digits after the unit."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{sign}${value / size:.5g}{unit}"
    return f"{sign}${value:.5g}"


def money_ticks(low: float, high: float, min_ticks: int = 4, max_ticks: int = 9) -> list[float]:
    """Tick values for a log axis from ``low`` to ``high`` (both > 0): round numbers (1, 2, 5 ... per decade), the
    sparsest set with at least ``min_ticks`` in range and at most ``max_ticks``; for a narrow range, evenly
    spaced round steps (a one-year run from $95k to $115k gets $95k, $100k, $105k, $110k, $115k)."""
    if not (low > 0 and high > low):
        return [low] if low > 0 else []
    best: list[float] = []
    for mantissas in _MANTISSAS:
        ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
                 for m in mantissas if low <= m * 10.0 ** e <= high]
        if len(ticks) > max_ticks:
            break
        best = ticks
        if len(ticks) >= min_ticks:
            return ticks
    if len(best) >= min_ticks:
        return best
    # narrow range: a round linear step giving about min_ticks..max_ticks ticks
    span = high - low
    for step in sorted({m * 10.0 ** e for e in range(math.floor(math.log10(span)) - 2, math.floor(math.log10(span)) + 1)
                        for m in (1.0, 2.0, 2.5, 5.0)}, reverse=True):
        ticks = [k * step for k in range(math.ceil(low / step), math.floor(high / step) + 1)]
        if len(ticks) >= min_ticks:
            return ticks if len(ticks) <= max_ticks else ticks[:: math.ceil(len(ticks) / max_ticks)]
    return best
