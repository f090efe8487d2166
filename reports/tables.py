"""Tables and files of a comparison: the terminal table, claims vs measured, and the output folder."""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from engines.engine import COLUMN_FORMATS, COMPARISON_COLUMNS, DEFAULT_FORMAT, RunResult, RunSettings
from engines.params import format_param
from feeds import FeedSet
from feeds.atomic import atomic_write_text


def write_table(table: pd.DataFrame, folder: Path, stem: str, meta: dict, param_columns=()) -> list[Path]:
    """CSV and JSON (with the settings) of a results table, atomically. In the CSV, ``param_columns`` are written
    as the command line writes them (None as "off"); the JSON keeps null."""

    document = {**meta, "rows": json.loads(table.to_json(orient="records"))}
    shown = table.assign(**{c: table[c].map(format_param) for c in param_columns})
    return [
        atomic_write_text(folder / f"{stem}.csv", shown.to_csv(index=False)),
        atomic_write_text(folder / f"{stem}.json", json.dumps(document, indent=2, default=str) + "\n"),
    ]


def write_stitched(stitched: pd.Series, benchmark: pd.Series, path: str | Path) -> Path:
    """walkforward_equity.csv: date, the stitched out-of-sample value [$] and the buy-and-hold benchmark [$]."""
    frame = pd.DataFrame({"stitched out-of-sample value [$]": stitched, f"{benchmark.name} [$]": benchmark})
    frame.index = frame.index.strftime("%Y-%m-%d")
    return atomic_write_text(path, frame.rename_axis("date").to_csv())


PUBLISHED_PERIOD = ("2010-01-01", "2024-12-31")


# The rotation's published signal card, 2010-2024. Claims to test, not targets.
# (figure, published value, the comparison column measuring it)
ROTATION_CLAIMS = (
    ("Monthly win rate [%]", "61", "Monthly win rate [%]"),
    ("CAGR [%]", "15.2", "CAGR [%]"),
    ("Max drawdown [%]", "-16.8", "Max drawdown [%]"),
    ("Trades (rebalances)", "180", "Rebalances"),
    ("Switches per year", "4-6", "Switches per year"),
)


def comparison_table(results: Sequence[RunResult]) -> pd.DataFrame:
    """One row per run, the comparison columns (units in their names)."""
    rows = {r.name: {c: r.metrics.get(c) for c in COMPARISON_COLUMNS} for r in results}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(COMPARISON_COLUMNS)).rename_axis("Run")


def claims_table(rotation: RunResult, settings: RunSettings, intervals: dict | None = None) -> pd.DataFrame:
    """The published claims next to this run's figures, for the same period when the settings use it. With
    ``intervals`` ({comparison column: (low, high)}, the run's 95% bootstrap intervals), two more columns: the
    interval, and whether the published figure lies inside it ("yes"/"no"; "n/a" for figures without one)."""
    period = f"{settings.start}..{settings.end}"
    rows = []
    for label, claim, column in ROTATION_CLAIMS:
        value = rotation.metrics.get(column)
        row = {"Figure": label, "Published (2010-2024)": claim, f"Measured ({period})": value}
        if intervals is not None:
            low, high = intervals.get(column, (math.nan, math.nan))
            known = not (math.isnan(low) or math.isnan(high))
            row["95% interval"] = f"{format_cell(column, low)} .. {format_cell(column, high)}" if known else "n/a"
            row["Published inside?"] = ("yes" if low <= float(claim) <= high else "no") if known else "n/a"
        rows.append(row)
    return pd.DataFrame(rows).set_index("Figure")


def claims_display(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims table as strings, each measured figure in the format of the comparison column it comes from."""
    formats = {label: column for label, _, column in ROTATION_CLAIMS}
    return pd.DataFrame(
        {c: [v if isinstance(v, str) else format_cell(formats.get(fig, ""), v) for fig, v in claims[c].items()] for c in claims.columns},
        index=claims.index,
    )


def claims_caveat(settings: RunSettings) -> str | None:
    """A line saying the period differs from the published one, or None."""
    if (settings.start, settings.end) != PUBLISHED_PERIOD:
        return (
            f"note: this run covers {settings.start}..{settings.end}; the published claims are for "
            f"{PUBLISHED_PERIOD[0]}..{PUBLISHED_PERIOD[1]}, so the columns are not like for like"
        )
    return None


def format_cell(column: str, value) -> str:
    """One cell as printed: the column's format (``COLUMN_FORMATS``, also for names ending in one of its columns,
    e.g. "out-of-sample Final value [$]"; else 2 decimals); "n/a" for missing (e.g. annualised figures of a
    run shorter than a year)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    spec = COLUMN_FORMATS.get(column) or next((f for c, f in COLUMN_FORMATS.items() if column.endswith(" " + c)), DEFAULT_FORMAT)
    text = spec.format(value)
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # no "-0.00"


def display_table(table: pd.DataFrame, param_columns=()) -> pd.DataFrame:
    """The table as strings: ``param_columns`` by ``format_param``, every other column in its one format."""
    return pd.DataFrame(
        {c: [format_param(v) if c in param_columns else format_cell(str(c), v) for v in table[c]] for c in table.columns},
        index=table.index,
    )


def format_table(table: pd.DataFrame, param_columns=(), index: bool = True) -> str:
    """Plain-text table: one format per column (see ``format_cell``), parameters as ``format_param``."""
    return display_table(table, param_columns).to_string(index=index)


def _json_ready(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return str(value.date())
    return value


def write_outputs(
    folder: Path,
    results: Sequence[RunResult],
    settings: RunSettings,
    feeds: FeedSet,
    config_toml: str,
    claims: pd.DataFrame | None,
) -> list[Path]:
    """Write comparison.csv/.json/.md, claims.csv (if any), equity.csv, config.toml and data.md, atomically."""
    folder = Path(folder)
    table = comparison_table(results)
    written = [
        atomic_write_text(folder / "comparison.csv", table.to_csv()),
        atomic_write_text(folder / "config.toml", config_toml),
    ]
    runs = [
        {
            "name": r.name,
            "params": {k: _json_ready(v) for k, v in r.params.items()},
            "metrics": {k: _json_ready(v) for k, v in r.metrics.items()},
            "rejected_orders": r.rejected_orders,
        }
        for r in results
    ]
    document = {
        "settings": settings.__dict__,
        "period": {"first session": str(feeds.start.date()), "last session": str(feeds.end.date())},
        "data sources": feeds.sources,
        "data notes": list(feeds.notes),
        "runs": runs,
    }
    if claims is not None:
        document["claims vs measured"] = {
            fig: {col: _json_ready(val) for col, val in row.items()} for fig, row in claims.iterrows()
        }
        written.append(atomic_write_text(folder / "claims.csv", claims.to_csv()))
    written.append(atomic_write_text(folder / "comparison.json", json.dumps(document, indent=2, default=str) + "\n"))
    equity = pd.DataFrame({r.name: r.equity for r in results})
    written.append(atomic_write_text(folder / "equity.csv", equity.to_csv()))
    md = ["# Strategy comparison", "", f"Period {feeds.start.date()} .. {feeds.end.date()}, "
          f"cash {settings.cash:,.0f}, commission {settings.commission}, per share {settings.commission_per_share}, "
          f"slippage {settings.slippage}, source {settings.source}.", "", markdown(table)]
    if claims is not None:
        md += ["", "## Rotation: published claims vs measured", "", markdown(claims_display(claims))]
    md += ["", "## Data", "", markdown(feeds.coverage().astype(str))]
    md += [""] + [f"- {note}" for note in feeds.notes]
    written.append(atomic_write_text(folder / "comparison.md", "\n".join(md) + "\n"))
    return written


def markdown(table: pd.DataFrame, param_columns=()) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency), cells formatted as ``format_table``."""
    shown = display_table(table, param_columns)
    header = [table.index.name or ""] + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in shown.iterrows():
        lines.append("| " + " | ".join([str(index), *row]) + " |")
    return "\n".join(lines)


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """``date`` as YYYY-MM-DD text (dates, Timestamps or strings in, one spelling out)."""
    if "date" in frame.columns and len(frame):
        frame = frame.assign(date=pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d"))
    return frame


def trades_table(results: Sequence[RunResult]) -> pd.DataFrame:
    """Every fill of every run: date, run, symbol, side, size (shares), price, value, commission, reason."""
    from analyzers import FILL_COLUMNS

    frames = [_dated(r.trades).assign(run=r.name) for r in results if len(r.trades)]
    columns = ["date", "run", *[c for c in FILL_COLUMNS if c != "date"]]
    if not frames:
        return pd.DataFrame(columns=columns)
    table = pd.concat(frames, ignore_index=True)[columns]
    return table.assign(size=table["size"].round().astype("int64"))


def decisions_table(results: Sequence[RunResult]) -> pd.DataFrame:
    """Every decision of every run with its inputs: date, run, then each strategy's fields (a dict field such as
    the rotation's ``weights`` becomes one column per key, ``weight IWM`` ...). Runs without decisions add no row."""
    frames = []
    for r in results:
        if not len(r.decisions):
            continue
        frame = _dated(r.decisions.copy())
        for column in [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, dict)).any()]:
            singular = column[:-1] if column.endswith("s") else column
            expanded = pd.DataFrame([v if isinstance(v, dict) else {} for v in frame[column]], index=frame.index)
            expanded = expanded.reindex(sorted(expanded.columns), axis=1).fillna(0.0)
            frame = pd.concat([frame.drop(columns=column), expanded.add_prefix(f"{singular} ")], axis=1)
        frames.append(frame.assign(run=r.name))
    if not frames:
        return pd.DataFrame(columns=["date", "run"])
    table = pd.concat(frames, ignore_index=True)
    return table[["date", "run", *[c for c in table.columns if c not in ("date", "run")]]]


def weights_table(results: Sequence[RunResult], drop=()) -> pd.DataFrame:
    """Each run's weights at every measured close (fractions of portfolio value, shorts negative; ``cash`` is
    broker cash): date, run, one column per feed (``drop``: e.g. signal-only feeds, never held)."""
    frames = []
    for r in results:
        if len(r.weights):
            frame = r.weights.drop(columns=[c for c in drop if c in r.weights.columns])
            frames.append(frame.rename_axis("date").reset_index().pipe(_dated).assign(run=r.name))
    if not frames:
        return pd.DataFrame(columns=["date", "run"])
    table = pd.concat(frames, ignore_index=True).fillna(0.0)
    feeds = [c for c in table.columns if c not in ("date", "run", "cash")]
    return table[["date", "run", *feeds, *(["cash"] if "cash" in table.columns else [])]]


def write_run_tables(folder: Path, results: Sequence[RunResult], drop=()) -> list[Path]:
    """trades.csv, decisions.csv and weights.csv of ``results`` in ``folder``, atomically."""
    folder = Path(folder)
    return [
        atomic_write_text(folder / "trades.csv", trades_table(results).to_csv(index=False)),
        atomic_write_text(folder / "decisions.csv", decisions_table(results).to_csv(index=False)),
        atomic_write_text(folder / "weights.csv", weights_table(results, drop).to_csv(index=False)),
    ]


