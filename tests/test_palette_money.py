"""One colour per run name (stable across processes, distinct for the built-ins) and money on log axes."""
from __future__ import annotations

import subprocess
import sys

import matplotlib.colors
import pytest

from engines.money import money_label, money_ticks
from reports.palette import FIXED, run_colour


def test_run_colours_are_stable_across_processes_and_distinct():
    names = ["rotation", "my-own-idea", "trend-filter", "x"]
    code = "from reports.palette import run_colour; print(' '.join(run_colour(n) for n in %r))" % names
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.split()
    assert other == [run_colour(n) for n in names]
    builtins = list(FIXED.values())
    assert len(set(builtins)) == len(builtins)
    # distinct hues: every pair of built-in colours differs clearly in RGB
    rgb = [matplotlib.colors.to_rgb(c) for c in builtins]
    closest = min(sum((a - b) ** 2 for a, b in zip(x, y)) ** 0.5 for i, x in enumerate(rgb) for y in rgb[i + 1:])
    assert closest > 0.2
    assert run_colour("my-own-idea") not in builtins


@pytest.mark.parametrize("low, high, expected", [
    (95_000, 115_000, ["$95k", "$100k", "$105k", "$110k", "$115k"]),
    (50_000, 5_000_000, ["$50k", "$100k", "$200k", "$500k", "$1M", "$2M", "$5M"]),
    (70_000, 900_000, ["$70k", "$100k", "$150k", "$200k", "$300k", "$500k", "$700k"]),
])
def test_money_ticks_read_as_money(low, high, expected):
    ticks = money_ticks(low, high)
    assert [money_label(t) for t in ticks] == expected
    assert all(low <= t <= high for t in ticks)


def test_money_label_units():
    assert [money_label(v) for v in (950, 80_000, 1_250_000, 2e9, -1500)] == ["$950", "$80k", "$1.25M", "$2B", "-$1.5k"]
