"""Cost settings: one check (feeds.cerebro.check_costs) with units and ceilings, shared by build_cerebro and the runner."""
from __future__ import annotations

import pytest

from feeds.cerebro import MAX_COMMISSION_PER_SHARE, MAX_COST_FRACTION, build_cerebro, check_costs
from cli.main import main


@pytest.mark.parametrize("key, value, unit", [
    ("commission", 2.0, "fraction of traded value"), ("commission", 0.0501, "fraction of traded value"),
    ("slippage", 1.5, "fraction of price"), ("commission_per_share", 0.5, "money per share"),
])
def test_above_ceiling_refused_with_unit(key, value, unit):
    with pytest.raises(ValueError, match=rf"{key} {value:g} is above its ceiling .*{unit}"):
        check_costs(**{key: value})
    with pytest.raises(ValueError, match=rf"{key} {value:g} is above its ceiling"):
        build_cerebro("2019-01-01", "2019-02-01", **{key: value})


def test_ceilings_themselves_accepted():
    check_costs(commission=MAX_COST_FRACTION, slippage=MAX_COST_FRACTION, commission_per_share=MAX_COMMISSION_PER_SHARE)


@pytest.mark.parametrize("argv, culprit", [
    (["--slippage", "1.5"], "--slippage 1.5 is above its ceiling 0.05"),
    (["--commission", "2"], "--commission 2 is above its ceiling 0.05"),
    (["--commission-per-share", "1"], "--commission-per-share 1 is above its ceiling 0.1"),
    (["--commission", "-0.001"], "--commission must be >= 0"),
])
def test_command_line_refuses_before_running(argv, culprit, capsys, tmp_path):
    assert main(["compare", *argv, "--no-plots", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert culprit in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
