"""Shared fixtures. Expensive objects are session-scoped: the whole suite must stay under 5 minutes."""
from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pandas as pd
import pytest

from feeds.bars import BUNDLED_DIR


@pytest.fixture(scope="session")
def feedset():
    """Aligned feeds for 2010-01-01..2024-12-31 on the bundled data (with warm-up history)."""
    from feeds import prepare_feeds

    return prepare_feeds("2010-01-01", "2024-12-31")


@pytest.fixture(scope="session")
def raw_csv():
    """Read a bundled CSV with plain pandas, independently of the code under test: raw_csv("SPY")."""
    cache: dict[str, pd.DataFrame] = {}

    def read(symbol: str) -> pd.DataFrame:
        if symbol not in cache:
            cache[symbol] = pd.read_csv(BUNDLED_DIR / f"{symbol}.csv", index_col="Date", parse_dates=True)
        return cache[symbol].copy()

    return read


@pytest.fixture(scope="session")
def dask_scheduler():
    """The address of a local Dask cluster (2 worker processes), started once for the whole session."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address  # dashboard on a free port: 8787 may be taken by another cluster


@pytest.fixture
def clean_registry(monkeypatch):
    """Strategies registered (and user modules loaded) by a test are forgotten after it."""
    from strategies import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry.registered()))
    monkeypatch.setattr(registry, "_USER_MODULES", dict(registry._USER_MODULES))
