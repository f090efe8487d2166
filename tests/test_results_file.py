"""The sweep's Parquet results file: chunks in any order written in grid order; top rows, heatmap cells and the
per-value distribution read back in small batches equal pandas on the whole table."""
from __future__ import annotations

import itertools
import random

import numpy as np
import pandas as pd
import pytest

from engines.grid import Chunk, Grid, GridSlice
from research.results import QUANTILES, ResultsWriter, batches, distribution, heatmap_cells, read_extra, top_rows

GRID = {"lookback": [21, 42, 63, 84, 105], "vix_level": [25.0, 30.0, None], "timing": ["rebalance", "daily"],
        "cash_rule": [True, False]}


def test_grid_index_arithmetic_is_itertools_product():
    grid = Grid.of(GRID)
    every = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    assert grid.size == len(every) == 60
    assert grid.combos() == every
    assert grid.combos(7, 23) == every[7:23] and grid.combos(59, 99) == every[59:]
    part = GridSlice(grid, 7, 23, (("lookback", 1), ("allocation", 0.5)))  # the grid goes on top of fixed params
    assert list(part) == [{"allocation": 0.5, **c} for c in every[7:23]] == part[:] and len(part) == 16
    assert part[-1] == {"allocation": 0.5, **every[22]}
    index = np.arange(60)
    for k, key in enumerate(GRID):
        assert [GRID[key][p] for p in grid.positions(key, index)] == [c[key] for c in every]


def _table(grid: Grid, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    metric = rng.normal(size=grid.size)
    metric[rng.choice(grid.size, 5, replace=False)] = np.nan
    metric[10] = metric[11] = np.nanmax(metric) + 1.0  # a tie: grid order decides
    return pd.DataFrame({"combination": np.arange(grid.size), **pd.DataFrame(grid.combos()),
                         "CAGR [%]": metric, "Sharpe": rng.normal(size=grid.size)})


@pytest.fixture
def written(tmp_path):
    grid = Grid.of(GRID)
    table = _table(grid)
    moments = np.arange(grid.size * 4, dtype=float).reshape(grid.size, 4)
    cuts = [0, 4, 9, 10, 25, 26, 41, 60]
    chunks = [Chunk(lo, {c: table[c].to_numpy()[lo:hi] for c in ("CAGR [%]", "Sharpe")},
                    {"mean": moments[lo:hi, 0], "blocks": moments[lo:hi]}) for lo, hi in zip(cuts, cuts[1:])]
    random.Random(5).shuffle(chunks)  # completion order is not grid order
    path = tmp_path / "sweep.parquet"
    with ResultsWriter(path, grid, row_group=16) as writer:
        for chunk in chunks:
            writer.add(chunk)
    return path, grid, table, moments


def test_file_holds_every_row_in_grid_order_with_typed_params_and_extras(written):
    path, grid, table, moments = written
    back = pd.read_parquet(path)
    assert list(back.columns) == ["combination", *GRID, "CAGR [%]", "Sharpe", "mean", "blocks"]
    pd.testing.assert_frame_equal(back[table.columns].astype({"vix_level": float}), table, check_dtype=False)
    assert back["lookback"].dtype == np.int64 and back["cash_rule"].dtype == bool and back["vix_level"].isna().sum() == 20
    parts = list(batches(path, batch_rows=7))
    assert sum(len(b) for b in parts) == 60 and max(len(b) for b in parts) <= 7
    assert np.array_equal(np.concatenate([read_extra(b, "blocks") for b in parts]), moments)
    assert np.array_equal(np.concatenate([read_extra(b, "mean") for b in parts]), moments[:, 0])


def test_missing_or_repeated_chunks_are_refused(tmp_path):
    grid = Grid.of({"a": [1, 2, 3]})
    writer = ResultsWriter(tmp_path / "x.parquet", grid)
    writer.add(Chunk(0, {"m": np.array([1.0])}))
    with pytest.raises(ValueError, match="written already"):
        writer.add(Chunk(0, {"m": np.array([1.0])}))
    writer.add(Chunk(2, {"m": np.array([3.0])}))
    with pytest.raises(ValueError, match="1 of 3 combinations missing"):
        writer.close()


def test_top_rows_heatmap_and_distribution_equal_pandas_on_the_whole_table(written, monkeypatch):
    path, grid, table, _ = written
    import research.results as results

    monkeypatch.setattr(results, "BATCH_ROWS", 8)  # many batches: the merge across batches is exercised
    monkeypatch.setattr(results.batches, "__defaults__", (None, 8))
    top = top_rows(path, "CAGR [%]", 7)
    expected = table.sort_values(["CAGR [%]", "combination"], ascending=[False, True], na_position="last").head(7)
    assert list(top["combination"]) == list(expected["combination"]) and list(top["combination"][:2]) == [10, 11]

    cells = heatmap_cells(path, grid, "lookback", "vix_level", "CAGR [%]")
    pivot = table.assign(vix_level=table["vix_level"].fillna(-1)).pivot_table(
        index="vix_level", columns="lookback", values="CAGR [%]", aggfunc="max")
    assert np.allclose(cells, pivot.loc[[25.0, 30.0, -1]].to_numpy(), equal_nan=True)

    for spread in distribution(path, grid, "CAGR [%]"):
        for position, value in enumerate(spread.values):
            rows = table[table[spread.key].isna()] if value is None else table[table[spread.key] == value]
            metric = rows["CAGR [%]"].dropna().to_numpy()
            assert spread.count[position] == len(metric)
            assert spread.best[position] == metric.max() and spread.worst[position] == metric.min()
            assert spread.mean[position] == pytest.approx(metric.mean())
            exact = np.percentile(metric, QUANTILES, method="inverted_cdf")
            assert np.all(np.abs(spread.quantiles[position] - exact) <= spread.bin_width + 1e-12)


def test_walkforward_best_of_a_chunk_stream_is_max_of_value_then_index():
    from research.walkforward import best_in

    values = [np.nan, 1.0, 3.0, 2.0, 3.0, np.nan, 0.5, 3.0, -1.0, np.nan]
    chunks = [Chunk(lo, {"Sharpe": np.array(values[lo:hi]), "Rebalances": np.arange(lo, hi)})
              for lo, hi in ((6, 10), (0, 3), (3, 6))]  # out of grid order
    expected = max((v, i) for i, v in enumerate(values) if v == v)  # highest value, then the highest index
    assert best_in(iter(chunks), "Sharpe") == (expected[0], expected[1], {"Sharpe": 3.0, "Rebalances": 7})
    assert best_in([Chunk(0, {"Sharpe": np.array([np.nan, np.nan])})], "Sharpe") is None
