"""The cash sleeve: one continuous total-return feed named SGOV, with BIL before SGOV's first bar."""
from __future__ import annotations

import pandas as pd

from .pandas_feed import adjusted_bars

CASH_FEED = "SGOV"
# SGOV's first bar (the bundled data's): a run ending before it needs no SGOV data, only BIL. When the source
# has SGOV, the splice is on its own first bar.
SGOV_FIRST_BAR = pd.Timestamp("2020-06-01")
IDLE_CASH_NOTE = (
    "SGOV (cash sleeve) before {first}: no cash ETF exists before BIL's first bar, "
    "so the cash state holds idle cash earning 0% from {start} to {last}"
)


def splice_cash(bil: pd.DataFrame | None, sgov: pd.DataFrame | None, sessions: pd.DatetimeIndex) -> tuple[pd.DataFrame, list[str]]:
    """Adjusted bars for the cash sleeve on ``sessions`` and notes describing how they were made.

    Reads raw bars of BIL and SGOV (either may be None when not needed). Writes adjusted bars
    (see ``adjusted_bars``): BIL up to and including SGOV's first session, SGOV after it, SGOV scaled so
    its level on that first session equals BIL's: the return on the splice day is BIL's, every later one
    SGOV's, and the level never jumps. Sessions before BIL's first bar are flat at BIL's first adjusted
    close (0% return) with zero volume, and a note says so. ``raw_close`` and ``volume`` are those of whichever ETF
    the row comes from (raw_close jumps at the splice; it is not used for cash).
    """
    notes: list[str] = []
    first_needed = sessions[0]
    if sgov is not None and len(sgov) and sgov.index[0] <= first_needed:
        sleeve = adjusted_bars(sgov)
        notes.append(f"SGOV (cash sleeve): SGOV {sleeve.index[0].date()}..")
    else:
        if bil is None or not len(bil):
            raise ValueError(f"the cash sleeve needs BIL before SGOV's first bar, from {first_needed.date()}")
        sleeve = adjusted_bars(bil)
        if sgov is not None and len(sgov):
            splice = sgov.index[0]
            if splice not in sleeve.index:
                raise ValueError(f"cannot splice BIL into SGOV: BIL has no bar on SGOV's first session {splice.date()}")
            tail = adjusted_bars(sgov)
            scale = sleeve.at[splice, "close"] / tail.at[splice, "close"]
            for col in ("open", "high", "low", "close"):
                tail[col] = tail[col] * scale
            tail.loc[splice] = sleeve.loc[splice]  # the splice day is BIL's bar
            sleeve = pd.concat([sleeve.loc[sleeve.index < splice], tail.loc[tail.index >= splice]])
            notes.append(
                f"SGOV (cash sleeve): BIL {bil.index[0].date()}..{(splice - pd.Timedelta(days=1)).date()} "
                f"(and the splice day {splice.date()}), SGOV after it, joined without a jump"
            )
        else:
            notes.append(f"SGOV (cash sleeve): BIL {bil.index[0].date()}.. (no SGOV data used)")
        if sleeve.index[0] > first_needed:
            idle = sessions[sessions < sleeve.index[0]]
            level = sleeve["close"].iloc[0]
            flat = pd.DataFrame(
                {"open": level, "high": level, "low": level, "close": level, "volume": 0.0, "raw_close": sleeve["raw_close"].iloc[0]},
                index=idle,
            )
            sleeve = pd.concat([flat, sleeve])
            notes.append(IDLE_CASH_NOTE.format(first=sleeve.index[len(idle)].date(), start=idle[0].date(), last=idle[-1].date()))
    return sleeve.loc[(sleeve.index >= sessions[0]) & (sleeve.index <= sessions[-1])], notes
