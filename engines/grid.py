"""A parameter grid known by index, slices of it as executor tasks, and the chunk of results a task sends back.

``Grid``: keys in command-line order, each with its values (None = "off"); combination ``i`` is the ``i``-th of
``itertools.product`` over the keys (the last key varies fastest). A combination is known by its index alone, so the
process that hands out work and collects results never holds the grid's combinations as dicts: a task carries a
``GridSlice`` (the grid, the fixed parameters, an index range) and the worker makes the dicts it runs.

``Chunk``: one task's results, the unit that streams from the workers to whoever consumes a sweep (the results file
``research.results.ResultsWriter``, a statistic accumulated over the sweep):

- ``first``: the grid index of the chunk's first combination (chunks cover consecutive combinations);
- ``columns``: figure name -> 1-D array, one value per combination in grid order (the comparison columns; NaN where
  a figure has no value);
- ``extras``: name -> array whose first axis is the combination (e.g. per-trial moments (n,), per-block moments
  (n, blocks)), for statistics computed over the whole sweep; empty unless an engine is asked for them. "best rows"
  (grid indexes) and "best excess returns" (one row each) are the exception: a chunk's few best combinations only.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np


def best_first(values: np.ndarray) -> np.ndarray:
    """Positions from best to worst value, as a sweep ranks its combinations: higher is better, NaN last, ties in
    grid order (the lower position first)."""
    values = np.asarray(values, dtype=float)
    keyed = np.where(np.isnan(values), -np.inf, values)
    return np.lexsort((np.arange(len(values)), -keyed))


@dataclass(frozen=True)
class Grid:
    """A parameter grid: ``keys`` and, per key, its ``values``; combinations in ``itertools.product`` order."""

    keys: tuple[str, ...]
    values: tuple[tuple, ...]

    @classmethod
    def of(cls, grid: "dict[str, list] | Grid") -> "Grid":
        return grid if isinstance(grid, Grid) else cls(tuple(grid), tuple(tuple(v) for v in grid.values()))

    def as_dict(self) -> dict[str, list]:
        return {k: list(v) for k, v in zip(self.keys, self.values)}

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.values)

    def __len__(self) -> int:
        return self.size

    def stride(self, key: str) -> int:
        """How many combinations apart two neighbouring values of ``key`` are."""
        k = self.keys.index(key)
        return math.prod(len(v) for v in self.values[k + 1:])

    def positions(self, key: str, index: np.ndarray) -> np.ndarray:
        """The position of each combination's value of ``key`` in its values, for grid indexes ``index``."""
        k = self.keys.index(key)
        return (np.asarray(index, dtype=np.int64) // self.stride(key)) % len(self.values[k])

    def combo(self, index: int) -> dict:
        """Combination ``index`` as a dict."""
        return self.combos(index, index + 1)[0]

    def combos(self, lo: int = 0, hi: int | None = None) -> list[dict]:
        """Combinations ``lo`` .. ``hi - 1`` as dicts (what ``itertools.product`` gives at those places)."""
        return list(self.iter(lo, hi))

    def iter(self, lo: int = 0, hi: int | None = None) -> Iterator[dict]:
        """Combinations ``lo`` .. ``hi - 1``, one dict at a time."""
        hi = self.size if hi is None else min(hi, self.size)
        if lo >= hi:
            return
        position = [int(self.positions(k, np.array([lo]))[0]) for k in self.keys]  # the odometer at ``lo``
        last = len(self.keys) - 1
        for _ in range(hi - lo):
            yield {key: self.values[k][position[k]] for k, key in enumerate(self.keys)}
            for k in range(last, -1, -1):  # advance the odometer, last key fastest
                position[k] += 1
                if position[k] < len(self.values[k]):
                    break
                position[k] = 0


@dataclass(frozen=True)
class GridSlice(Sequence):
    """Combinations ``lo`` .. ``hi - 1`` of ``grid``, each on top of the fixed parameters ``base``: a sequence of
    dicts made on demand (small to send to a worker, whatever its length)."""

    grid: Grid
    lo: int
    hi: int
    base: tuple = ()  # the fixed parameters as (key, value) pairs

    def __len__(self) -> int:
        return self.hi - self.lo

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return {**dict(self.base), **self.grid.combo(self.lo + i)}

    def __iter__(self) -> Iterator[dict]:
        base = dict(self.base)
        for combo in self.grid.iter(self.lo, self.hi):
            yield {**base, **combo}


@dataclass
class Chunk:
    """One task's results: ``columns`` and ``extras`` for combinations ``first`` .. ``first + rows - 1``."""

    first: int
    columns: dict[str, np.ndarray]
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @classmethod
    def of_rows(cls, first: int, rows: Sequence[dict], names: Sequence[str]) -> "Chunk":
        """A chunk from per-combination dicts, columns ``names``: int64 where every value is a whole number of type
        int (e.g. Rebalances), else float64 with NaN for None."""
        columns = {}
        for name in names:
            values = [r.get(name) for r in rows]
            if values and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
                columns[name] = np.array(values, dtype=np.int64)
            else:
                columns[name] = np.array([math.nan if v is None else float(v) for v in values], dtype=float)
        return cls(first, columns)
