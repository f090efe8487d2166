"""The strategy registry: a taken name is refused naming both classes and where they come from; user modules
loaded with --module run on Dask workers too (a sweep on a LocalCluster equals the same sweep in this process)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from feeds import prepare_feeds
from engines.engine import RunSettings
from research.sweep import run_sweep
from strategies import PortfolioStrategy, register, registry

ROOT = Path(__file__).resolve().parent.parent


def test_a_taken_name_is_refused_naming_both_sides(clean_registry):
    class Dup(PortfolioStrategy):
        pass

    with pytest.raises(ValueError) as error:
        register("rotation", Dup)
    assert str(error.value) == (
        f"register('rotation'): test_a_taken_name_is_refused_naming_both_sides.<locals>.Dup ({__name__}) "
        "cannot take the name 'rotation': it is already used by RelativeStrengthRotation (strategies.rotation); "
        "register it under another name"
    )


def test_a_user_file_never_takes_a_builtin_name_even_when_loaded_first(tmp_path):
    path = tmp_path / "dup.py"
    path.write_text('from strategies import PortfolioStrategy, register\n\n@register("rotation")\nclass X(PortfolioStrategy):\n    pass\n')
    done = subprocess.run([sys.executable, str(ROOT / "run_backtest.py"), "list", "--module", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == (
        f"error: register('rotation'): X ({path.resolve()}) cannot take the name 'rotation': it is already used by "
        "RelativeStrengthRotation (strategies.rotation); register it under another name")


def test_two_files_claiming_one_name_are_named_and_reloading_a_file_is_fine(clean_registry, tmp_path):
    source = 'from strategies import PortfolioStrategy, register\n\n@register("{name}")\nclass {cls}(PortfolioStrategy):\n    pass\n'
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text(source.format(name="my-idea", cls="Mine"))
    second.write_text(source.format(name="my-idea", cls="Theirs"))
    registry.load_user_module(str(first))
    registry.load_user_module(str(first))  # the same file again: the same class, no error
    assert registry.get("my-idea").cls.__module__ == "user_strategies_first"
    with pytest.raises(ValueError, match=rf"Theirs \({second.resolve()}\) cannot take the name 'my-idea': it is already "
                                         rf"used by Mine \({first.resolve()}\)"):
        registry.load_user_module(str(second))


def test_module_strategy_sweeps_on_a_dask_local_cluster(clean_registry, tmp_path, dask_scheduler):
    path = tmp_path / "winter_idea.py"  # a file the workers have never seen
    path.write_text(textwrap.dedent((ROOT / "examples" / "my_strategy.py").read_text()).replace("spy-in-winter", "winter-idea"))
    registry.load_user_module(str(path))
    feeds = prepare_feeds("2019-01-01", "2020-12-31")
    settings = RunSettings(start="2019-01-01", end="2020-12-31")
    grid = {"asset": ["SPY", "IWM"]}
    local = run_sweep("winter-idea", grid, feeds, settings, jobs=1, progress=False)
    on_dask = run_sweep("winter-idea", grid, feeds, settings, executor="dask", scheduler=dask_scheduler, progress=False)
    pd.testing.assert_frame_equal(on_dask, local)
    assert local["CAGR [%]"].notna().all() and local["CAGR [%]"].nunique() == 2
