"""A sweep's pictures, readable at any grid size: the heatmap of a metric over two keys and the parameter-stability
view (each key's values against the spread of the metric over all the other keys).

Both are drawn from small summaries of the results file (``research.results.heatmap_cells`` and ``distribution``),
never from the table itself, and both stay within ``MAX_WIDTH_PX`` pixels wide: cells are printed only where they
are large enough to read, tick labels are thinned to what fits, and a key with more values than the picture has room
for is shown in groups of adjacent values (the title says so, and what each cell is the best of).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engines.params import format_param as label
from feeds.atomic import atomic_write

MAX_WIDTH_PX = 2_000
MAX_HEIGHT_PX = 1_500
DPI = 100
MAX_CELLS_X = 400  # columns drawn at most (more values: adjacent ones grouped, each cell their best)
MAX_CELLS_Y = 300
ANNOTATE_MIN_PX = (44, 16)  # a cell is printed when at least this wide and high (8-point figures fit)
TICK_PX = (28, 16)  # room per tick label on x (rotated) and y


def grouped(cells: np.ndarray, axis: int, limit: int) -> tuple[np.ndarray, int]:
    """``cells`` with runs of ``size`` adjacent entries along ``axis`` merged into their best (NaN ignored) so that at
    most ``limit`` remain; returns the merged array and ``size`` (1: nothing merged)."""
    n = cells.shape[axis]
    size = max(1, math.ceil(n / limit))
    if size == 1:
        return cells, 1
    groups = math.ceil(n / size)
    padded = np.full(cells.shape[:axis] + (groups * size,) + cells.shape[axis + 1:], np.nan)
    index = [slice(None)] * cells.ndim
    index[axis] = slice(0, n)
    padded[tuple(index)] = cells
    shape = cells.shape[:axis] + (groups, size) + cells.shape[axis + 1:]
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN group stays NaN
            return np.nanmax(padded.reshape(shape), axis=axis + 1), size


def group_labels(values: Sequence, size: int) -> list[str]:
    """Labels of ``values`` in groups of ``size``: the value itself, or "first..last" of the group."""
    if size == 1:
        return [label(v) for v in values]
    out = []
    for lo in range(0, len(values), size):
        part = values[lo:lo + size]
        out.append(label(part[0]) if len(part) == 1 else f"{label(part[0])}..{label(part[-1])}")
    return out


def tick_positions(n: int, room_px: float, per_label_px: float) -> list[int]:
    """Every ``step``-th of ``n`` positions, ``step`` chosen so that the labels fit in ``room_px``."""
    fits = max(1, int(room_px // per_label_px))
    step = max(1, math.ceil(n / fits))
    return list(range(0, n, step))


def heatmap_figure(cells: np.ndarray, x_values: Sequence, y_values: Sequence, x: str, y: str, metric: str, *,
                   aggregated: str, context: str = ""):
    """A heatmap of ``cells`` (shape (len(y_values), len(x_values))) at most ``MAX_WIDTH_PX`` wide.

    ``aggregated`` says what a cell is (e.g. "the best over lookback and allocation"), shown in the title with the
    grouping when a key has more values than ``MAX_CELLS_X``/``MAX_CELLS_Y``. Cells get their value (2 decimals,
    "n/a" for none) only when they are at least ``ANNOTATE_MIN_PX`` in size; tick labels are thinned to fit."""
    import matplotlib.pyplot as plt

    values, x_size = grouped(np.asarray(cells, dtype=float), 1, MAX_CELLS_X)
    values, y_size = grouped(values, 0, MAX_CELLS_Y)
    x_labels, y_labels = group_labels(list(x_values), x_size), group_labels(list(y_values), y_size)
    ny, nx = values.shape
    longest_y = max((len(t) for t in y_labels), default=1)
    longest_x = max((len(t) for t in x_labels), default=1)
    left_px, right_px, top_px = 70 + 7 * min(longest_y, 24), 150, 90
    width_px = int(min(MAX_WIDTH_PX, max(800, left_px + right_px + 60 * nx)))
    plot_w = width_px - left_px - right_px
    flat = tick_positions(nx, plot_w, 7 * longest_x + 12)
    rotate = len(flat) < nx  # not every label fits side by side: turned upright, thinned to fit
    xt = tick_positions(nx, plot_w, TICK_PX[0]) if rotate else flat
    bottom_px = 70 + (7 * min(longest_x, 24) if rotate else 0)
    height_px = int(min(MAX_HEIGHT_PX, max(480, top_px + bottom_px + 28 * ny)))
    plot_h = height_px - top_px - bottom_px
    fig = plt.figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    ax = fig.add_axes((left_px / width_px, bottom_px / height_px, plot_w / width_px, plot_h / height_px))
    cmap = plt.get_cmap("viridis").with_extremes(bad="#d9d9d9")  # cells without a value: grey
    image = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap=cmap, interpolation="nearest")
    cell_w, cell_h = plot_w / nx, plot_h / ny
    yt = tick_positions(ny, plot_h, TICK_PX[1])
    ax.set_xticks(xt, [x_labels[i] for i in xt], rotation=90 if rotate else 0, fontsize=8)
    ax.set_yticks(yt, [y_labels[i] for i in yt], fontsize=8)
    ax.set_xlabel(x + (f" (groups of {x_size} adjacent values)" if x_size > 1 else ""))
    ax.set_ylabel(y + (f" (groups of {y_size} adjacent values)" if y_size > 1 else ""))
    finite = values[np.isfinite(values)]
    if cell_w >= ANNOTATE_MIN_PX[0] and cell_h >= ANNOTATE_MIN_PX[1]:
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for i in range(ny):
            for j in range(nx):
                value = values[i, j]
                ax.text(j, i, "n/a" if math.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if not math.isnan(value) and value > middle else "white")
    grouping = [f"{k}: {size} adjacent values" for k, size in ((x, x_size), (y, y_size)) if size > 1]
    shown = "" if cell_w >= ANNOTATE_MIN_PX[0] and cell_h >= ANNOTATE_MIN_PX[1] else "; values in the colour bar only"
    ax.set_title((f"{context}: " if context else "") + f"{metric} by {x} and {y}\neach cell: {aggregated}"
                 + (f", grouped ({'; '.join(grouping)})" if grouping else "") + shown, fontsize=10, loc="left")
    cax = fig.add_axes(((left_px + plot_w + 20) / width_px, bottom_px / height_px, 18 / width_px, plot_h / height_px))
    fig.colorbar(image, cax=cax, label=metric)
    return fig


def stability_figure(spreads: Sequence, metric: str, *, context: str = "", combinations: int | None = None):
    """One panel per grid key (``research.results.Distribution``): for each of its values, the spread of ``metric``
    over every combination of the other keys with that value: the 5-95 and 25-75 percentile bands, the median and
    the best. A robust choice is a value whose whole band is high, not one whose best alone is."""
    import matplotlib.pyplot as plt

    n = len(spreads)
    columns = 1 if n == 1 else 2
    rows = math.ceil(n / columns)
    width_px = 1000 if columns == 1 else 1600
    height_px = min(MAX_HEIGHT_PX * 2, 190 + 330 * rows)
    top_px, bottom_px, gap_px = 75, 95, 105  # fixed margins (no tight_layout: it costs a whole extra drawing)
    panel_px = (height_px - top_px - bottom_px - gap_px * (rows - 1)) / rows
    fig, axes = plt.subplots(rows, columns, figsize=(width_px / DPI, height_px / DPI), dpi=DPI, squeeze=False,
                             gridspec_kw=dict(left=70 / width_px, right=1 - 25 / width_px, top=1 - top_px / height_px,
                                              bottom=bottom_px / height_px, hspace=gap_px / panel_px,
                                              wspace=0.12 if columns > 1 else 0.0))
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for number, (ax, spread) in enumerate(zip(axes.flat, spreads)):
        count = len(spread.values)
        pos = np.arange(count)
        q = spread.quantiles
        single = bool(np.all(spread.count <= 1))
        if not single:
            ax.fill_between(pos, q[:, 0], q[:, 4], color="tab:blue", alpha=0.15, linewidth=0, label="5-95th percentile")
            ax.fill_between(pos, q[:, 1], q[:, 3], color="tab:blue", alpha=0.30, linewidth=0, label="25-75th percentile")
            ax.plot(pos, q[:, 2], color="tab:blue", linewidth=1.4, label="median", marker="o" if count <= 12 else None,
                    markersize=3)
        marker = "o" if count <= 40 else None
        ax.plot(pos, spread.best, color="black", linewidth=0.9, marker=marker, markersize=3.5,
                label="best" if not single else metric)
        labels = [label(v) for v in spread.values]
        longest = max((len(t) for t in labels), default=1)
        plot_px = (width_px / columns) - 120
        ticks = tick_positions(count, plot_px, max(TICK_PX[0], 7 * longest + 10) if count <= 12 else TICK_PX[0])
        ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=0 if count <= 12 and longest <= 8 else 90, fontsize=8)
        ax.set_xlim(-0.5, count - 0.5)
        ax.set_xlabel(spread.key)
        ax.set_ylabel(metric)
        per_value = int(spread.count.max()) if len(spread.count) else 0
        ax.set_title(f"{spread.key}: {count} value(s), up to {per_value:,} combination(s) each", fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        if number == 0:
            ax.legend(fontsize=7, loc="best")
    total = f" ({combinations:,} combinations)" if combinations else ""
    if all(bool(np.all(spread.count <= 1)) for spread in spreads):
        what = f"{metric} by {', '.join(spread.key for spread in spreads)}{total}: one combination per value"
    else:
        what = (f"parameter stability of {metric}{total}\nper value of each parameter, the spread of the metric over all "
                "the other parameters (percentiles within 1/1,024 of the metric's range)")
    fig.suptitle((f"{context}: " if context else "") + what, fontsize=10, x=0.01, y=1 - 8 / height_px, ha="left", va="top")
    return fig


def save(fig, path: str | Path) -> Path:
    """``fig`` as PNG at ``path`` (atomically), then closed."""
    import matplotlib.pyplot as plt

    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    plt.close(fig)
    return Path(path)
