"""A sweep's results as one Parquet file, written chunk by chunk, and read back with memory bounded by a chunk.

The grid and the chunks of results come from ``engines.grid`` (``Grid``: combination ``i`` is the ``i``-th of
``itertools.product`` over the keys; ``Chunk``: ``first``, ``columns``, ``extras``). ``ResultsWriter.add`` takes
chunks in any order (the workers' completion order) and writes them in grid order; a consumer that needs every chunk
(a statistic accumulated over the sweep) takes them from the same stream, before or after the writer.

The file (``sweep.parquet``), one row per combination in grid order:

- ``combination``: the grid index (int64, from 0);
- one column per grid key, its value (int64, float64, bool or string; null for "off"/None);
- the figure columns of the chunks, then the extras: a 1-D extra is a float64 column of its name, an (n, k) extra a
  fixed-size list column of k float64 (``read_extra`` gives it back as an (n, k) array).

Readers (``top_rows``, ``heatmap_cells``, ``distribution``) go through the file batch by batch
(``BATCH_ROWS``), so their memory does not grow with the grid.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.grid import Chunk, Grid

INDEX = "combination"
BATCH_ROWS = 65_536  # rows per read batch and per written row group (at most)
QUANTILES = (5, 25, 50, 75, 95)  # percentiles of the metric per parameter value (``distribution``)
HISTOGRAM_BINS = 1_024  # bins per parameter value from which ``distribution`` reads its percentiles


def _pa():
    import pyarrow

    return pyarrow


def param_arrays(grid: Grid, index: np.ndarray) -> dict:
    """Per key, the pyarrow array of each combination's value (typed by ``_arrow_values``)."""
    pa = _pa()
    return {key: _arrow_values(grid.values[k]).take(pa.array(grid.positions(key, index)))
            for k, key in enumerate(grid.keys)}


def _arrow_values(values: Sequence):
    """A grid key's values as one typed pyarrow array: int64, float64, bool or string (None -> null); a key that
    mixes kinds (numbers and words) as strings."""
    pa = _pa()
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.bool_())
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.int64())
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


class ResultsWriter:
    """Write a sweep's chunks into ``path`` (Parquet) in grid order, whatever order they arrive in.

    Chunks that arrive ahead of the next expected combination wait in memory (at most the tasks in flight); rows are
    written in row groups of up to ``BATCH_ROWS``. ``close()`` checks every combination of the grid was written
    (``ValueError`` otherwise). Use as a context manager; on an error the file is left incomplete for the caller's
    staging folder to discard (it is never the final output on its own)."""

    def __init__(self, path: str | Path, grid: Grid, *, row_group: int = BATCH_ROWS) -> None:
        self.path, self.grid, self.row_group = Path(path), grid, row_group
        self.next = 0  # the next combination to write
        self._waiting: dict[int, Chunk] = {}
        self._ready: list[Chunk] = []
        self._ready_rows = 0
        self._writer = None
        self._schema = None
        self._kinds: dict[str, str] | None = None

    def __enter__(self) -> "ResultsWriter":
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None:
            self.close()
        elif self._writer is not None:
            self._writer.close()
        return False

    def add(self, chunk: Chunk) -> None:
        if chunk.first < self.next or chunk.first in self._waiting:
            raise ValueError(f"results: combination {chunk.first} was written already")
        self._waiting[chunk.first] = chunk
        while self.next in self._waiting:
            ready = self._waiting.pop(self.next)
            self._ready.append(ready)
            self._ready_rows += ready.rows
            self.next += ready.rows
        if self._ready_rows >= self.row_group:
            self._flush()

    def _flush(self) -> None:
        if not self._ready:
            return
        import pyarrow.parquet as pq

        pa = _pa()
        first = self._ready[0].first
        index = np.arange(first, first + self._ready_rows, dtype=np.int64)
        arrays = {INDEX: pa.array(index), **param_arrays(self.grid, index)}
        if self._kinds is None:  # a column of whole numbers (e.g. Rebalances) stays int64 in every row group
            self._kinds = {n: "int" if np.issubdtype(np.asarray(v).dtype, np.integer) else "float"
                           for n, v in self._ready[0].columns.items()}
        for name, kind in self._kinds.items():
            arrays[name] = _figure_array(np.concatenate([np.asarray(c.columns[name]) for c in self._ready]), kind, name)
        for name in self._ready[0].extras:
            values = np.concatenate([np.asarray(c.extras[name], dtype=float) for c in self._ready])
            if values.ndim == 1:
                arrays[name] = pa.array(values)
            else:
                width = int(np.prod(values.shape[1:]))
                arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width)
        table = pa.table(arrays)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.path, self._schema, compression="zstd")
        elif table.schema != self._schema:
            raise ValueError(f"results: a chunk's columns differ from the first chunk's ({table.schema.names} vs "
                             f"{self._schema.names})")
        self._writer.write_table(table, row_group_size=self.row_group)
        self._ready, self._ready_rows = [], 0

    def close(self) -> Path:
        self._flush()
        if self._waiting or self.next != self.grid.size:
            missing = self.grid.size - self.next - sum(c.rows for c in self._waiting.values())
            if self._writer is not None:
                self._writer.close()
            raise ValueError(f"results: {missing:,} of {self.grid.size:,} combinations missing (from {self.next})")
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.path


def _figure_array(values: np.ndarray, kind: str, name: str):
    """A figure column as pyarrow: float64, or int64 with nulls where ``values`` are NaN (``kind`` "int")."""
    pa = _pa()
    if kind == "float":
        return pa.array(np.asarray(values, dtype=float))
    if np.issubdtype(values.dtype, np.integer):
        return pa.array(values.astype(np.int64))
    missing = np.isnan(values)
    whole = np.where(missing, 0.0, values)
    if not np.all(whole == np.round(whole)):
        raise ValueError(f"results: column {name!r} holds whole numbers in its first rows and fractions later")
    return pa.array(whole.astype(np.int64), mask=missing)


# -- reading ------------------------------------------------------------------------------------------------------
def batches(path: str | Path, columns: Sequence[str] | None = None, batch_rows: int = BATCH_ROWS) -> Iterator:
    """The file's rows as pyarrow RecordBatches of at most ``batch_rows`` rows (``columns`` only, when given)."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as file:
        yield from file.iter_batches(batch_size=batch_rows, columns=list(columns) if columns else None)


def row_count(path: str | Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def column_names(path: str | Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).schema_arrow.names


def read_extra(batch, name: str) -> np.ndarray:
    """An extra of a batch as numpy: (n,) for a plain column, (n, k) for a fixed-size list column."""
    column = batch.column(name)
    if hasattr(column.type, "list_size"):
        return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), column.type.list_size)
    return column.to_numpy(zero_copy_only=False)


def _floats(batch, name: str) -> np.ndarray:
    return np.asarray(batch.column(name).to_numpy(zero_copy_only=False), dtype=float)


def top_rows(path: str | Path, metric: str, count: int = 10, columns: Sequence[str] | None = None):
    """The ``count`` rows with the highest ``metric`` (NaN never ranked before a number; ties in grid order) as a
    DataFrame in rank order, read batch by batch (memory: one batch and ``count`` rows)."""
    import pandas as pd

    best = None
    for batch in batches(path, columns):
        values = _floats(batch, metric)
        take = min(count, len(values))
        key = np.where(np.isnan(values), -np.inf, values)
        candidates = np.argpartition(-key, take - 1)[:take] if take < len(values) else np.arange(len(values))
        part = batch.take(candidates).to_pandas()
        best = part if best is None else pd.concat([best, part], ignore_index=True)
        best = _ranked(best, metric).head(count)
    if best is None:
        return pd.DataFrame(columns=list(columns) if columns else column_names(path))
    return best.reset_index(drop=True)


def _ranked(frame, metric: str):
    return frame.sort_values([metric, INDEX], ascending=[False, True], na_position="last", kind="stable")


def heatmap_cells(path: str | Path, grid: Grid, x: str, y: str, metric: str) -> np.ndarray:
    """The best ``metric`` over the other keys for each (``y`` value, ``x`` value): an array of shape
    (len(y values), len(x values)), NaN where no combination has a value."""
    nx, ny = len(grid.values[grid.keys.index(x)]), len(grid.values[grid.keys.index(y)])
    cells = np.full(ny * nx, np.nan)
    for batch in batches(path, [INDEX, metric]):
        index = batch.column(INDEX).to_numpy()
        np.fmax.at(cells, grid.positions(y, index) * nx + grid.positions(x, index), _floats(batch, metric))
    return cells.reshape(ny, nx)


@dataclass
class Distribution:
    """Per grid key, per value: how ``metric`` is spread over all combinations that have that value.

    ``best``, ``worst``, ``mean`` and ``count`` (combinations with a value) are exact; ``quantiles`` (shape (values,
    len(QUANTILES))) are read off a histogram of ``HISTOGRAM_BINS`` equal bins over the metric's whole range, so each
    is within one bin (``bin_width``) of the exact percentile of the values (the inverse of their empirical
    distribution, numpy's ``method="inverted_cdf"``)."""

    key: str
    values: tuple
    count: np.ndarray
    best: np.ndarray
    worst: np.ndarray
    mean: np.ndarray
    quantiles: np.ndarray
    bin_width: float


def distribution(path: str | Path, grid: Grid, metric: str, bins: int = HISTOGRAM_BINS) -> list[Distribution]:
    """``Distribution`` of ``metric`` for every key of ``grid``: two passes over the file (range, then histograms),
    memory of one batch plus ``bins`` counts per value."""
    low, high = math.inf, -math.inf
    for batch in batches(path, [metric]):
        values = _floats(batch, metric)
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    if low > high:  # no value at all
        low, high = 0.0, 1.0
    width = (high - low) / bins if high > low else 1.0
    sizes = [len(v) for v in grid.values]
    counts = [np.zeros((n, bins), dtype=np.int64) for n in sizes]
    best = [np.full(n, np.nan) for n in sizes]
    worst = [np.full(n, np.nan) for n in sizes]
    total = [np.zeros(n) for n in sizes]
    for batch in batches(path, [INDEX, metric]):
        index, values = batch.column(INDEX).to_numpy(), _floats(batch, metric)
        finite = np.isfinite(values)
        index, values = index[finite], values[finite]
        slot = np.minimum(((values - low) / width).astype(np.int64), bins - 1)
        for k, key in enumerate(grid.keys):
            where = grid.positions(key, index)
            np.add.at(counts[k], (where, slot), 1)
            np.fmax.at(best[k], where, values)
            np.fmin.at(worst[k], where, values)
            np.add.at(total[k], where, values)
    out = []
    for k, key in enumerate(grid.keys):
        n = counts[k].sum(axis=1)
        out.append(Distribution(key, grid.values[k], n, best[k], worst[k],
                                np.divide(total[k], n, out=np.full(len(n), np.nan), where=n > 0),
                                _histogram_quantiles(counts[k], low, width, best[k], worst[k]), width))
    return out


def _histogram_quantiles(counts: np.ndarray, low: float, width: float, best: np.ndarray, worst: np.ndarray) -> np.ndarray:
    """Percentiles ``QUANTILES`` per row of bin ``counts``, interpolated inside the bin they fall in and kept within
    the row's exact worst..best."""
    out = np.full((counts.shape[0], len(QUANTILES)), np.nan)
    cumulative = counts.cumsum(axis=1)
    for row in range(counts.shape[0]):
        n = cumulative[row, -1]
        if not n:
            continue
        for j, q in enumerate(QUANTILES):
            rank = q / 100.0 * n
            b = int(np.searchsorted(cumulative[row], rank, side="left"))
            b = min(b, counts.shape[1] - 1)
            before = cumulative[row, b - 1] if b else 0
            inside = counts[row, b]
            share = (rank - before) / inside if inside else 0.5
            out[row, j] = min(max(low + (b + share) * width, worst[row]), best[row])
    return out


# -- what a sweep's outputs are made from -------------------------------------------------------------------------
TOP_ROWS = 100  # rows of the ranked table kept for the report and sweep.json (the file holds them all)


@dataclass
class SweepSummary:
    """Everything a sweep's printout, pictures and report show, read from its results file (``summarize``): small
    whatever the grid's size.

    ``top``: the ``TOP_ROWS`` best rows by ``metric`` (with their ``combination``); ``cells``: ``heatmap_cells`` over
    ``x`` and ``y`` (None with fewer than two keys); ``spreads``: ``distribution`` of ``metric`` for every key."""

    path: Path
    grid: Grid
    metric: str
    top: "object"
    x: str | None
    y: str | None
    cells: np.ndarray | None
    spreads: list[Distribution]

    @property
    def count(self) -> int:
        return self.grid.size

    @property
    def aggregated(self) -> str:
        """What one heatmap cell is, in words."""
        others = [k for k in self.grid.keys if k not in (self.x, self.y)]
        return f"the best over {', '.join(others)}" if others else "one combination"


def summarize(path: str | Path, grid: Grid, metric: str, x: str | None = None, y: str | None = None,
              top: int = TOP_ROWS) -> SweepSummary:
    """``SweepSummary`` of the results file ``path``: three passes over it, batch by batch."""
    cells = heatmap_cells(path, grid, x, y, metric) if x and y else None
    return SweepSummary(Path(path), grid, metric, top_rows(path, metric, top), x, y, cells, distribution(path, grid, metric))


def write_csv(path: str | Path, target: str | Path, param_columns: Sequence[str], format_param) -> Path:
    """The results file as CSV at ``target`` (written batch by batch into a temporary file, then renamed): every
    column but ``combination`` and the extras, parameters written by ``format_param`` (None as "off")."""
    from feeds.atomic import atomic_write

    names = [n for n in column_names(path) if n != INDEX]
    import pyarrow.parquet as pq

    schema = pq.ParquetFile(path).schema_arrow
    plain = [n for n in names if not hasattr(schema.field(n).type, "list_size")]

    def write(tmp) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            header = True
            for batch in batches(path, plain):
                frame = batch.to_pandas()
                for column in param_columns:
                    frame[column] = [format_param(v) for v in frame[column].astype(object)]
                frame.to_csv(out, index=False, header=header)
                header = False

    atomic_write(target, write)
    return Path(target)
