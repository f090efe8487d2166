"""Bad inputs, as a hostile user would try them (issue 11): each gets exit code 2 and one error naming the culprit,
never a traceback; deliberate acceptance and short runs say so in the output. The CLI's ``main`` runs in-process
(captured output) for speed; two cases also run as real subprocesses."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yfinance

import feeds.yahoo as yahoo
from feeds.bars import BUNDLED_DIR, BUNDLED_SYMBOLS
from cli.main import main

ROOT = Path(__file__).resolve().parents[1]
PRICES = ["Open", "High", "Low", "Close", "Adj Close"]
YEAR_2019 = ["--start", "2019-01-01", "--end", "2019-12-31"]


def write_folder(folder: Path, edit=None, drop=()) -> str:
    """A csv:DIR copy of the bundled data; ``edit(symbol, frame)`` changes frames in place; ``drop`` leaves files out."""
    folder.mkdir(parents=True, exist_ok=True)
    for symbol in BUNDLED_SYMBOLS:
        if symbol not in drop:
            frame = pd.read_csv(BUNDLED_DIR / f"{symbol}.csv", dtype={"Date": str}).set_index("Date")
            if edit is not None:
                edit(symbol, frame)
            frame.to_csv(folder / f"{symbol}.csv")
    return f"csv:{folder}"


def iwm_times_100(symbol, frame):
    if symbol == "IWM":
        frame.loc["2019-05-31", PRICES] *= 100


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad")
    semicolon = base / "semicolon"
    write_folder(semicolon)
    spy = pd.read_csv(semicolon / "SPY.csv", dtype=str)
    (semicolon / "SPY.csv").write_text("\n".join([";".join(spy.columns)] + [";".join(r) for r in spy.values.tolist()]) + "\n")
    configs = base / "configs"
    configs.mkdir()
    (configs / "run5.toml").write_text("run = 5\n")
    (configs / "params5.toml").write_text("params = 5\n")
    (configs / "strategies5.toml").write_text("strategies = 5\n")
    (configs / "latin1.toml").write_bytes(b'[run]\nstart = "2019-01-01"\n# caf\xe9\n')
    return {
        "tick": write_folder(base / "tick", iwm_times_100),
        "no_sgov": write_folder(base / "no_sgov", drop=("SGOV",)),
        "semicolon": f"csv:{semicolon}",
        "configs": configs,
    }


# (name, argv with {placeholders}, words the error must contain)
ERRORS = [
    ("bad tick in csv", ["--source", "{tick}", *YEAR_2019], ["IWM", "2019-05-31", "14619", "rule:", "--accept-bar IWM:2019-05-31"]),
    ("slippage in percent", ["--slippage", "1.5"], ["--slippage 1.5", "fraction of price", "ceiling 0.05"]),
    ("commission in percent", ["--commission", "2"], ["--commission 2", "fraction of traded value", "ceiling 0.05"]),
    ("commission 5", ["--commission", "5"], ["--commission 5", "500%"]),
    ("per-share commission", ["--commission-per-share", "1"], ["--commission-per-share 1", "per share"]),
    ("negative cash", ["--cash", "-5"], ["--cash must be > 0"]),
    ("lookback beyond the data", ["--start", "2003-01-01", "--end", "2003-12-31", "--param", "rotation.lookback=1000",
                                  "--strategies", "rotation"], ["'rotation'", "lookback=1000", "2000-05-26", "2004-05-24"]),
    ("bad param value", ["--param", "rotation.lookback=abc"], ["'rotation'", "lookback", "'abc'"]),
    ("huge grid", ["sweep", "--grid", "lookback=1:5000:1", "--grid", "vix_level=10:1000:1"],
     ["4,955,000 combinations", "--max-combinations"]),
    ("bad value deep in a grid", ["sweep", "--grid", "lookback=21:252:21", "--grid", "vix_level=25,30,abc"],
     ["grid combination 3 of 36", "vix_level=abc", "'abc'"]),
    ("bad value in a walk-forward grid", ["walkforward", "--grid", "lookback=21,abc"], ["lookback=abc", "'abc'"]),
    ("run = 5", ["--config", "{configs}/run5.toml"], ["run5.toml", "run = 5", "table"]),
    ("params = 5", ["--config", "{configs}/params5.toml"], ["params5.toml", "params = 5", "table"]),
    ("strategies = 5", ["--config", "{configs}/strategies5.toml"], ["strategies5.toml", "strategies = 5"]),
    ("config is a folder", ["--config", "{configs}"], ["configs", "is a folder"]),
    ("config not UTF-8", ["--config", "{configs}/latin1.toml"], ["latin1.toml", "not UTF-8", "line 3"]),
    ("semicolon CSV", ["--source", "{semicolon}", *YEAR_2019], ["SPY", "SPY.csv", "not comma-separated", "semicolons"]),
    ("start before any data", ["--start", "1990-01-01", "--end", "1991-12-31"], ["1990-01-01", "before any data", "2000-05-26"]),
    ("start before the data", ["--start", "1999-01-01"], ["start 1999-01-01 is before the data", "IWM", "2000-05-26"]),
    ("malformed accept-bar", ["--accept-bar", "IWM-2019-05-31", *YEAR_2019], ["--accept-bar 'IWM-2019-05-31'", "SYMBOL:YYYY-MM-DD"]),
]


def fill(argv: list[str], folders: dict) -> list[str]:
    return [a.format(**{k: v for k, v in folders.items()}) for a in argv]


@pytest.mark.parametrize("name, argv, words", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_input_is_one_named_error(name, argv, words, folders, tmp_path, capsys):
    argv = fill(argv, folders)
    if argv[0] not in ("sweep", "walkforward"):
        argv = ["compare", *argv]
    code = main([*argv, "--output", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2, f"{name}: exit {code}\n{err}"
    assert "Traceback" not in out + err
    message = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(message) == 1, err
    for word in words:
        assert word in err, f"{name}: {word!r} not in {err!r}"
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_accepted_bar_is_listed_in_the_output(folders, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code = main(["compare", "--source", folders["tick"], *YEAR_2019, "--strategies", "buy-hold-iwm", "--no-plots",
                 "--accept-bar", "IWM:2019-05-31", "--output", str(out_dir)])
    out, err = capsys.readouterr()
    assert code == 0
    assert "note: bar accepted deliberately (--accept-bar IWM:2019-05-31)" in err
    assert any("accept-bar IWM:2019-05-31" in n for n in json.loads((out_dir / "comparison.json").read_text())["data notes"])
    assert "accept-bar IWM:2019-05-31" in (out_dir / "comparison.md").read_text()


def test_csv_folder_for_2019_needs_no_sgov(folders, tmp_path, capsys):
    code = main(["compare", "--source", folders["no_sgov"], *YEAR_2019, "--strategies", "rotation", "--no-plots",
                 "--output", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err


def test_one_day_run_prints_no_extrapolated_rate(tmp_path, capsys):
    code = main(["compare", "--start", "2019-06-03", "--end", "2019-06-03", "--strategies", "rotation,buy-hold-spy",
                 "--no-plots", "--output", str(tmp_path / "out")])
    out, _ = capsys.readouterr()
    table = out.split("Comparison")[1].split("\n\n")[0]
    assert code == 0 and "n/a" in table and "365" not in table and "shorter than a year" in out


def test_yahoo_offline_prints_one_line_per_ticker(tmp_path, monkeypatch, capfd):
    """yfinance 1.x offline: it logs '$TICKER: possibly delisted' lines and returns empty frames."""
    import logging

    def offline(tickers, start=None, end=None, **kwargs):
        for ticker in tickers:
            logging.getLogger("yfinance").error(f"${ticker}: possibly delisted; no price data found  (1d {start} -> {end})")
        columns = pd.MultiIndex.from_product([PRICES + ["Volume"], list(tickers)], names=["Price", "Ticker"])
        return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="Date"))

    monkeypatch.setattr(yfinance, "download", offline)
    monkeypatch.setattr(yahoo, "_today", lambda: pd.Timestamp("2025-01-02"))
    code = main(["compare", "--source", "yahoo", "--cache-dir", str(tmp_path / "cache"), *YEAR_2019, "--output", str(tmp_path / "out")])
    out, err = capfd.readouterr()
    assert code == 2 and "Traceback" not in err
    assert "possibly delisted" not in err.replace("yfinance said: possibly delisted", "")
    failed = [line for line in err.splitlines() if line.startswith("- ")]
    assert [line.split(":")[0] for line in failed] == ["- IWM", "- SPY", "- VIX"]
    assert "^VIX" in failed[2]


def test_bad_tick_in_yahoo_cache_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pytest.fail("the cache covers the request"))
    monkeypatch.setattr(yahoo, "_today", lambda: pd.Timestamp("2025-01-02"))
    cache = tmp_path / "cache"
    write_folder(cache, iwm_times_100)
    for symbol in BUNDLED_SYMBOLS:  # Yahoo was asked from 1995 (as far back as it goes) through 2024: no download needed
        (cache / f"{symbol}.json").write_text(json.dumps({"requested_from": "1995-01-01", "requested_through": "2024-12-31", "fetched": "2025-01-02"}))
    code = main(["compare", "--source", "yahoo", "--cache-dir", str(cache), *YEAR_2019, "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "IWM (yahoo (cache" in err and "suspicious bar: IWM Open on 2019-05-31" in err


@pytest.mark.parametrize("argv, words", [
    (["--commission", "2"], ["error: --commission 2 is above its ceiling 0.05"]),
    (["--config", "{configs}"], ["error: config file", "is a folder"]),
])
def test_real_subprocess(argv, words, folders, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "run_backtest.py"), *fill(argv, folders), "--output", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr


def test_yahoo_cache_is_asked_only_for_the_sessions_used(tmp_path, monkeypatch, capsys):
    """Offline, months after the cache was filled: a 2019 run reads IWM, SPY, VIX and BIL through 2019 from the cache
    and asks Yahoo for nothing (SGOV is not used before 2020-06)."""
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pytest.fail(f"unexpected download {a} {k}"))
    monkeypatch.setattr(yahoo, "_today", lambda: pd.Timestamp("2026-06-01"))
    cache = tmp_path / "cache"
    write_folder(cache, drop=("SGOV",))
    for symbol in ("SPY", "IWM", "VIX", "BIL"):
        (cache / f"{symbol}.json").write_text(json.dumps({"requested_from": "1995-01-01", "requested_through": "2024-12-31", "fetched": "2025-01-02"}))
    code = main(["compare", "--source", "yahoo", "--cache-dir", str(cache), *YEAR_2019, "--strategies", "rotation", "--no-plots",
                 "--output", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
