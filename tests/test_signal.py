"""The signal command: as of the last session the data hold (bundled, csv:DIR, yahoo) or --as-of, the next rebalance
from the NYSE calendar, a card for every built-in strategy checked against plain pandas, a clear error otherwise."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feeds import nyse_sessions
from feeds.bars import BUNDLED_DIR, BUNDLED_SYMBOLS
from cli.main import main

ROOT = Path(__file__).resolve().parent.parent
LAST = "2025-09-26"  # a Friday; the first session of October 2025 is Wednesday 2025-10-01


def _extend(frame: pd.DataFrame, sessions: pd.DatetimeIndex, rng: np.random.Generator, drift: float) -> pd.DataFrame:
    """Plausible bars after the bundled ones: a random walk of closes, total-return factor kept."""
    last = frame.iloc[-1]
    factor = last["Adj Close"] / last["Close"]
    closes = last["Close"] * np.exp(np.cumsum(rng.normal(drift, 0.01, len(sessions))))
    opens = np.r_[last["Close"], closes[:-1]]
    new = pd.DataFrame({"Open": opens, "High": np.maximum(opens, closes) * 1.002, "Low": np.minimum(opens, closes) * 0.998,
                        "Close": closes, "Adj Close": closes * factor, "Volume": last["Volume"]}, index=sessions)
    return pd.concat([frame, new])


def write_data(folder: Path, last: str = LAST, vix_last: str | None = None) -> Path:
    """The bundled CSVs extended to ``last`` (VIX to ``vix_last``), in the csv:DIR layout."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for symbol in BUNDLED_SYMBOLS:
        frame = pd.read_csv(BUNDLED_DIR / f"{symbol}.csv", index_col="Date", parse_dates=True)
        end = vix_last if symbol == "VIX" and vix_last else last
        sessions = nyse_sessions(frame.index[-1] + pd.Timedelta(days=1), end)
        frame = _extend(frame, sessions, rng, 0.0 if symbol in ("VIX", "BIL", "SGOV") else 0.0004)
        frame.index = frame.index.strftime("%Y-%m-%d")
        frame.index.name = "Date"
        frame.to_csv(folder / f"{symbol}.csv")
    return folder


@pytest.fixture(scope="module")
def later_data(tmp_path_factory) -> Path:
    return write_data(tmp_path_factory.mktemp("later"))


REAL_SPIKE = ["--accept-bar", "VIX:2024-12-18"]  # a real VIX spike the bar checks flag in data from outside the package


def _cards(capsys, argv) -> dict:
    if any(a.startswith(("csv:", "yahoo")) for a in argv):
        argv = [*argv, *REAL_SPIKE]
    assert main(["signal", "--json", *argv]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _trailing(path: Path, asof: str, lookback: int = 63) -> float:
    closes = pd.read_csv(path, index_col="Date", parse_dates=True)["Adj Close"].loc[:asof]
    return closes.iloc[-1] / closes.iloc[-1 - lookback] - 1


def test_signal_is_as_of_the_last_session_of_csv_data(later_data, capsys):
    card = _cards(capsys, ["--source", f"csv:{later_data}"])["rotation"]
    assert card["as of"] == LAST and card["next rebalance"] == "2025-10-01"
    r_iwm, r_spy = _trailing(later_data / "IWM.csv", LAST), _trailing(later_data / "SPY.csv", LAST)
    assert card["IWM return [%]"] == round(100 * r_iwm, 2) and card["SPY return [%]"] == round(100 * r_spy, 2)
    expected = "cash" if r_iwm < 0 and r_spy < 0 else "IWM" if r_iwm > r_spy else "SPY"
    assert card["asset at the next rebalance"].split(" ")[0] == expected


def test_signal_as_of_an_earlier_day(later_data, capsys):
    card = _cards(capsys, ["--source", f"csv:{later_data}", "--as-of", "2025-06-30"])["rotation"]
    assert card["as of"] == "2025-06-30" and card["next rebalance"] == "2025-07-01"
    assert card["IWM return [%]"] == round(100 * _trailing(later_data / "IWM.csv", "2025-06-30"), 2)
    # a day that is not a session reports the session before it; the next rebalance skips the holiday
    card = _cards(capsys, ["--source", f"csv:{later_data}", "--as-of", "2025-08-30"])["rotation"]
    assert card["as of"] == "2025-08-29" and card["next rebalance"] == "2025-09-02"
    assert main(["signal", "--source", f"csv:{later_data}", "--as-of", "2025-10-15", *REAL_SPIKE]) == 2
    assert "after the last session the data hold (2025-09-26" in capsys.readouterr().err


def test_signal_uses_the_last_session_all_feeds_share(tmp_path, capsys):
    data = write_data(tmp_path / "data", vix_last="2025-09-24")
    card = _cards(capsys, ["--source", f"csv:{data}"])["rotation"]
    assert card["as of"] == "2025-09-24"


def test_signal_from_yahoo_is_the_last_complete_session(later_data, tmp_path, monkeypatch, capsys):
    import yfinance

    from feeds import yahoo

    cache = tmp_path / "cache"
    shutil.copytree(later_data, cache)
    for symbol in BUNDLED_SYMBOLS:
        first = pd.read_csv(cache / f"{symbol}.csv", nrows=1)["Date"].iloc[0]
        (cache / f"{symbol}.json").write_text(json.dumps({"requested_from": "1995-01-01", "requested_through": LAST,
                                                           "fetched": "2025-09-29"}))
        assert first
    monkeypatch.setattr(yahoo, "_today", lambda: pd.Timestamp("2025-09-29"))  # Monday: Friday's bar is complete

    def refuse(*args, **kwargs):
        raise AssertionError("no download expected: the cache holds the last complete session")

    monkeypatch.setattr(yfinance, "download", refuse)
    card = _cards(capsys, ["--source", "yahoo", "--cache-dir", str(cache)])["rotation"]
    assert card["as of"] == LAST and card["next rebalance"] == "2025-10-01"


def _independent_levels(ratio: pd.Series, target=1.95, low=2.13, high=2.35, stop=2.35) -> tuple[bool, bool]:
    """The newsletter's rule (re-arm below the zone top) stepped by hand: (in trade, armed) after the last value."""
    in_trade, armed = False, True
    for value in ratio:
        if in_trade:
            if value > stop:
                in_trade, armed = False, False
            elif value <= target:
                in_trade = False
        else:
            armed = armed or value < high
            if armed and low <= value <= high:
                in_trade = True
    return in_trade, armed


def test_ratio_card_matches_the_csvs(raw_csv, capsys):
    cards = _cards(capsys, ["--strategies", "ratio-rotation,ratio-pair", "--as-of", "2023-06-30"])
    card = cards["ratio-rotation"]
    spy, iwm = raw_csv("SPY")["Close"], raw_csv("IWM")["Close"]
    ratio = (spy / iwm).loc[:"2023-06-30"]
    assert card["as of"] == "2023-06-30"
    assert card["SPY/IWM ratio (raw closes)"] == round(ratio.iloc[-1], 4)
    held_through, _ = _independent_levels(ratio.loc["2009-12-31":].iloc[:-1])  # steps on closes up to the day before
    assert card["trade on"] is held_through
    after, _ = _independent_levels(ratio.loc["2009-12-31":])
    event = None if after == held_through else "entry" if after else "stop" if ratio.iloc[-1] > 2.35 else "target"
    assert card["at the next open"] == ("no trade" if event is None else f"{event}: move to {'IWM' if after else 'SPY'}")
    assert card["holding at the close [% of value]"] == ({"IWM": "100%"} if held_through else {"SPY": "100%"})
    value = ratio.iloc[-1]
    zone = ("above the stop" if value > 2.35 else "in the entry zone" if value >= 2.13 else
            "between target and entry zone" if value > 1.95 else "at or below the target")
    assert card["zone"] == zone and card["next session"] == "2023-07-03"
    pair = cards["ratio-pair"]
    assert pair["trade on"] is held_through
    assert pair["position of the rule"] == ("long IWM 50% / short SPY 50% of value, equity in SGOV" if held_through else "cash (SGOV)")


def test_zscore_card_matches_the_csvs(raw_csv, capsys):
    card = _cards(capsys, ["--strategies", "ratio-z-rotation"])["ratio-z-rotation"]
    logs = np.log((raw_csv("SPY")["Close"] / raw_csv("IWM")["Close"]).loc[:"2024-12-31"].iloc[-252:])
    z = (logs.iloc[-1] - logs.mean()) / logs.std(ddof=0)
    assert card["z-score of log(SPY/IWM) over 252 sessions"] == round(z, 3)
    assert "entry z 1.5 (ratio ~" in card["levels"]


def test_every_built_in_strategy_has_a_card(capsys):
    from engines.compare import default_names
    from strategies import registered

    entries = registered()  # other tests may have registered strategies of their own: only the package's count here
    names = [n for n in default_names() if entries[n].cls.__module__.startswith("strategies.")]
    assert len(names) >= 8
    cards = _cards(capsys, ["--strategies", ",".join(names), "--as-of", "2024-06-28"])
    assert list(cards) == names
    assert all(card["as of"] == "2024-06-28" for card in cards.values())
    assert cards["buy-hold-spy"]["next rebalance"].startswith("none")
    assert cards["mix-50-50"]["next rebalance"] == "2024-07-01"
    assert main(["signal", "--strategies", "ratio-rotation", "--as-of", "2024-06-28"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("ratio-rotation: current signal") and "the next close would trigger" in text


def test_every_strategy_has_a_card(capsys, clean_registry, raw_csv):
    """signal --strategies trend-filter,rotation,spy-in-winter prints all three cards; the trend filter's last decision
    is the one pandas computes from the CSV (December 2024's first session: the 200 closes to 2024-11-29)."""
    code = main(["signal", "--module", str(ROOT / "examples" / "trend_filter.py"), "--module",
                 str(ROOT / "examples" / "my_strategy.py"), "--strategies", "trend-filter,rotation,spy-in-winter"])
    out = capsys.readouterr().out
    assert code == 0 and [line for line in out.splitlines() if line.endswith(": current signal")] == [
        "trend-filter: current signal", "rotation: current signal", "spy-in-winter: current signal"]
    close = raw_csv("SPY")["Adj Close"].loc[:"2024-11-29"]
    expected = (f"date 2024-12-02, close {close.iloc[-1]:.6g}, average {close.iloc[-200:].mean():.6g}, above "
                f"{'yes' if close.iloc[-1] > close.iloc[-200:].mean() else 'no'}, weights SPY 100%")
    trend = out.split("\n\n")[0]
    assert f"last decision                      {expected}" in trend
    assert "next decision session              2025-01-02" in trend
    winter = out.split("\n\n")[2]
    assert "last decision" in winter and "none recorded" in winter and "not declared" in winter
