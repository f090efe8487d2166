"""Every bad input to ``load_prices`` gets a DataError naming the symbol, file, row and date (no deep traceback).

Bad files are small CSVs in ``tmp_path`` made from real bundled rows, loaded with ``source=f"csv:{tmp_path}"``.
"""
from __future__ import annotations

import pandas as pd
import pytest

from feeds import DataError, load_prices
from feeds.bars import BUNDLED_DIR

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"


def real_lines(symbol: str = "SPY", start: str = "2024-01-02", end: str = "2024-01-31") -> list[str]:
    """Header plus the bundled file's lines for ``start``..``end``, unchanged."""
    lines = (BUNDLED_DIR / f"{symbol}.csv").read_text().splitlines()
    assert lines[0] == HEADER
    return [lines[0]] + [ln for ln in lines[1:] if start <= ln[:10] <= end]


def write(folder, lines: list[str], symbol: str = "SPY"):
    path = folder / f"{symbol}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def set_field(line: str, column: str, value: str) -> str:
    fields = line.split(",")
    fields[HEADER.split(",").index(column)] = value
    return ",".join(fields)


def load(folder, symbol="SPY", start=None, end=None):
    return load_prices(symbol, start, end, source=f"csv:{folder}")


def test_good_csv_folder_loads_like_bundled(tmp_path):
    write(tmp_path, real_lines())
    got = load(tmp_path).frames["SPY"]
    ref = pd.read_csv(BUNDLED_DIR / "SPY.csv", index_col="Date", parse_dates=True).loc["2024-01-02":"2024-01-31"]
    assert len(got) == 21
    assert got["Close"].tolist() == ref["Close"].tolist()
    assert load(tmp_path).sources["SPY"] == f"csv:{tmp_path / 'SPY.csv'}"


@pytest.mark.parametrize(
    "edit, pattern",
    [
        # (line number in file to change, column, new value) -> message
        ((6, "Close", ""), r"SPY \(.*SPY\.csv\): NaN in column Close at row 6 \(2024-01-08\)"),
        ((4, "Volume", ""), r"NaN in column Volume at row 4 \(2024-01-04\)"),
        ((8, "Low", "0"), r"non-positive Low 0\.0 at row 8 \(2024-01-10\)"),
        ((9, "Adj Close", "-1.5"), r"non-positive Adj Close -1\.5 at row 9 \(2024-01-11\)"),
        ((3, "High", "400.0"), r"High 400\.0 < Low .* at row 3 \(2024-01-03\)"),
        ((5, "Open", "abc"), r"column Open is not a number at row 5 \(2024-01-05\): 'abc'"),
        ((7, "Date", "2024-13-45"), r"column Date at row 7 is not a date .*'2024-13-45'"),
        ((7, "Date", ""), r"column Date at row 7 is not a date"),
        ((10, "Volume", "-5"), r"negative Volume at row 10 \(2024-01-12\)"),
        ((11, "Close", "999.0"), r"Close 999\.0 outside \[Low, High\] at row 11 \(2024-01-16\)"),
    ],
)
def test_bad_values_are_named_by_file_row_and_date(tmp_path, edit, pattern):
    lines = real_lines()
    row, column, value = edit
    lines[row - 1] = set_field(lines[row - 1], column, value)
    path = write(tmp_path, lines)
    with pytest.raises(DataError, match=pattern) as err:
        load(tmp_path)
    assert str(path) in str(err.value)


def test_duplicated_date(tmp_path):
    lines = real_lines()
    lines.insert(5, lines[4])  # rows 5 and 6 are both 2024-01-05
    write(tmp_path, lines)
    with pytest.raises(DataError, match=r"SPY .*duplicated date at row 6 \(2024-01-05\)"):
        load(tmp_path)


def test_unsorted_dates(tmp_path):
    lines = real_lines()
    lines[4], lines[5] = lines[5], lines[4]
    write(tmp_path, lines)
    with pytest.raises(DataError, match=r"dates not sorted ascending at row 6 \(2024-01-05\), after 2024-01-08"):
        load(tmp_path)


@pytest.mark.parametrize("column", ["Adj Close", "Volume", "High"])
def test_missing_column(tmp_path, column):
    frame = pd.read_csv(BUNDLED_DIR / "SPY.csv").head(10).drop(columns=[column])
    frame.to_csv(tmp_path / "SPY.csv", index=False)
    with pytest.raises(DataError, match=rf"SPY \(.*SPY\.csv\): missing column\(s\) {column};"):
        load(tmp_path)


def test_missing_date_column_and_empty_file(tmp_path):
    pd.read_csv(BUNDLED_DIR / "SPY.csv").head(5).drop(columns=["Date"]).to_csv(tmp_path / "SPY.csv", index=False)
    with pytest.raises(DataError, match=r"SPY \(.*SPY\.csv\): missing column Date"):
        load(tmp_path)
    (tmp_path / "SPY.csv").write_text("")
    with pytest.raises(DataError, match=r"SPY \(.*SPY\.csv\): the file is empty"):
        load(tmp_path)
    (tmp_path / "SPY.csv").write_text(HEADER + "\n")
    with pytest.raises(DataError, match=r"SPY \(.*SPY\.csv\): no rows"):
        load(tmp_path)


def test_requested_range_outside_the_data(tmp_path):
    write(tmp_path, real_lines())
    with pytest.raises(DataError, match=r"SPY \(.*\): requested start 2023-12-01 is before the first row 2024-01-02"):
        load(tmp_path, start="2023-12-01", end="2024-01-31")
    with pytest.raises(DataError, match=r"SPY \(.*\): requested end 2024-02-15 is after the last row 2024-01-31"):
        load(tmp_path, start="2024-01-02", end="2024-02-15")
    # a start on a holiday just before the data is fine: only sessions count
    assert len(load(tmp_path, start="2024-01-01", end="2024-01-31").frames["SPY"]) == 21
    with pytest.raises(DataError, match=r"start 2024-01-31 is after end 2024-01-02"):
        load(tmp_path, start="2024-01-31", end="2024-01-02")
    with pytest.raises(DataError, match=r"start 'soon' is not a date"):
        load(tmp_path, start="soon")


def test_bundled_range_and_unknown_symbol():
    with pytest.raises(DataError, match=r"IWM \(.*IWM\.csv\): requested start 2000-01-03 is before the first row 2000-05-26"):
        load_prices("IWM", "2000-01-03", "2000-12-29")
    with pytest.raises(DataError, match=r"SPY .*requested end 2025-03-31 is after the last row 2024-12-31"):
        load_prices("SPY", "2024-01-02", "2025-03-31")
    with pytest.raises(DataError, match=r"unknown symbol\(s\) QQQ for source 'bundled'; it has SPY, IWM, VIX, BIL, SGOV"):
        load_prices(["SPY", "QQQ"], "2024-01-02", "2024-12-31")


def test_csv_folder_and_file_missing(tmp_path):
    with pytest.raises(DataError, match=r"folder .*nowhere does not exist"):
        load_prices("SPY", source=f"csv:{tmp_path / 'nowhere'}")
    write(tmp_path, real_lines())
    with pytest.raises(DataError, match=r"unknown symbol IWM for source 'csv:.*': no file .*IWM\.csv \(found: SPY\)"):
        load_prices(["SPY", "IWM"], source=f"csv:{tmp_path}")


@pytest.mark.parametrize("symbol", ["../SPY", "..", "a/b", "SPY\\..\\x", " ", "SPY SPY", [42]])
def test_symbol_that_could_escape_a_folder(tmp_path, symbol):
    write(tmp_path, real_lines())
    with pytest.raises(DataError, match=r"symbol .* (could escape|is not a non-empty string)"):
        load_prices(symbol, source=f"csv:{tmp_path}")


def test_unknown_source():
    with pytest.raises(DataError, match=r"unknown source 'google': use 'bundled', 'yahoo' or 'csv:DIR'"):
        load_prices("SPY", source="google")
