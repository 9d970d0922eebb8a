"""The report's figures, drawn with ``matplotlib.figure.Figure`` on the Agg canvas (never
pyplot: no global state, no display). Each function returns a ``Figure``; ``png`` turns
it into bytes for the page and the figure files.
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

from .defaults import default
from .published import Published
from .report_curves import Panel

# Credible bands drawn around every curve: 90 % light, 50 % dark (the two).
BANDS = ((0.05, 0.95, 0.15), (0.25, 0.75, 0.30))
# Resolution of the PNGs: sharp on a laptop screen, 30-200 kB per figure.
DPI = 100
# Points of the pair plot, thinned from the posterior: enough to see a ridge, few enough to draw fast.
PAIR_POINTS = 1000


def plain(text: str) -> str:
    """Text as matplotlib should show it: a ``$`` would start mathtext, a leading ``_``
    would hide a legend entry."""
    text = str(text).replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def new_figure(width: float, height: float, *, constrained: bool = True) -> Figure:
    """A figure on the Agg canvas; constrained layout unless the caller spaces a grid
    itself (constrained layout is most of a report's time on grids of 20+ axes)."""
    fig = Figure(figsize=(width, height), layout="constrained" if constrained else None)
    FigureCanvasAgg(fig)
    return fig


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def tidy_log(ax, which: str = "y") -> None:
    """On a log axis spanning less than a decade or so (a loss axis), label a few round
    numbers (2.4, 2.6, ...) instead of matplotlib's minor ticks in scientific notation."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    if not (lo > 0 and hi / lo < 20):
        axis.set_minor_formatter(NullFormatter())  # decades only: minor labels would collide
        return
    ticks = [t for t in MaxNLocator(4).tick_values(lo, hi) if lo <= t <= hi]
    digits = next((d for d in range(2, 8) if len({f"{t:.{d}g}" for t in ticks}) == len(ticks)), 8)
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.{digits}g}"))
    axis.set_minor_formatter(NullFormatter())


def _draw_panel(ax, panel: Panel, *, legend: bool) -> None:
    for c in panel.curves:
        for lo, hi, alpha in BANDS:
            q = np.quantile(c.draws, [lo, hi], axis=0)
            ax.fill_between(c.x, q[0], q[1], color=c.colour, alpha=alpha, lw=0)
        ax.plot(c.x, np.median(c.draws, axis=0), color=c.colour, lw=1.2, label=plain(c.label))
    for p in panel.points:
        ax.scatter(p.x, p.y, s=12, color=p.colour, edgecolor="white", linewidth=0.4, zorder=3, label=plain(p.label))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.2)
    tidy_log(ax, "y")
    tidy_log(ax, "x")
    ax.set_title(plain(panel.title), fontsize=8)
    if legend:
        ax.legend(fontsize=6, loc="best")


def panels_figures(panels: list[Panel]) -> list[Figure]:
    """Small multiples, ``report_panels`` to a figure; one panel gets a figure to itself."""
    if len(panels) == 1:
        fig = new_figure(7.5, 5.0)
        ax = fig.add_subplot()
        _draw_panel(ax, panels[0], legend=True)
        ax.set_xlabel(plain(panels[0].xlabel))
        ax.set_ylabel(plain(panels[0].ylabel))
        return [fig]
    per = int(default("report_panels"))
    figures = []
    for start in range(0, len(panels), per):
        chunk = panels[start : start + per]
        cols = min(4, len(chunk))
        rows = math.ceil(len(chunk) / cols)
        fig = new_figure(2.6 * cols, 2.2 * rows + 0.4, constrained=False)
        axes = fig.subplots(rows, cols, squeeze=False)
        fig.subplots_adjust(left=0.07, right=0.99, bottom=0.5 / (2.2 * rows + 0.4) + 0.03, top=1 - 0.3 / (2.2 * rows + 0.4), wspace=0.3, hspace=0.45)
        for i, ax in enumerate(axes.ravel()):
            if i >= len(chunk):
                ax.set_axis_off()
                continue
            # Several curves per panel (iso-N): the first panel's legend names them for all.
            _draw_panel(ax, chunk[i], legend=i == 0 and len(chunk[i].curves) > 1)
            ax.tick_params(which="both", labelsize=6)
        fig.supxlabel(plain(chunk[0].xlabel), fontsize=8)
        fig.supylabel(plain(chunk[0].ylabel), fontsize=8)
        figures.append(fig)
    return figures


def density_figure(draws: dict[str, np.ndarray], marks: dict[str, tuple[Published, ...]]) -> Figure:
    """Posterior density of each parameter with its 90 % interval and the published values."""
    fig = new_figure(3.0 * len(draws), 2.8)
    axes = fig.subplots(1, len(draws), squeeze=False)[0]
    for ax, (name, x) in zip(axes, draws.items(), strict=True):
        # A prefactor whose posterior spans decades is drawn in log10, where it is not a spike.
        logged = bool(np.all(x > 0)) and np.quantile(x, 0.99) > 10 * np.quantile(x, 0.01)
        shown = np.log10(x) if logged else x
        ax.hist(shown, bins=60, density=True, color="C0", alpha=0.55)
        lo, hi = np.quantile(shown, [0.05, 0.95])
        ax.axvspan(lo, hi, color="C0", alpha=0.08, label="90 % interval")
        for j, p in enumerate(marks.get(name, ())):
            at = np.log10(p.value) if logged else p.value
            ax.axvline(at, color=f"C{j + 1}", ls="--", lw=1.2, label=plain(f"{p.source}: {p.value:g}"))
        ax.set_title(plain(f"log10 {name}" if logged else name), fontsize=9)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper right")
    return fig


def pair_figure(draws: dict[str, np.ndarray], diverging: np.ndarray) -> Figure:
    """Pairs of the law's parameters (thinned draws); divergent draws in red."""
    names = list(draws)
    k = len(names)
    fig = new_figure(1.7 * k + 0.5, 1.7 * k + 0.5, constrained=False)
    axes = fig.subplots(k, k, squeeze=False)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.08, top=0.98, wspace=0.08, hspace=0.08)
    n = len(next(iter(draws.values())))
    idx = np.unique(np.linspace(0, n - 1, min(PAIR_POINTS, n)).astype(int))
    bad = np.flatnonzero(diverging)
    for i, yi in enumerate(names):
        for j, xj in enumerate(names):
            ax = axes[i, j]
            ax.tick_params(labelsize=5)
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(draws[xj], bins=40, color="C0", alpha=0.6)
                ax.set_yticks([])
            else:
                ax.scatter(draws[xj][idx], draws[yi][idx], s=2, alpha=0.3, color="C0", rasterized=True)
                if bad.size:
                    ax.scatter(draws[xj][bad], draws[yi][bad], s=6, color="red", label="divergent")
            if i == k - 1:
                ax.set_xlabel(plain(xj), fontsize=7)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(plain(yi), fontsize=7)
            elif i != j:
                ax.set_yticklabels([])
    return fig


def ppc_figure(observed: np.ndarray, q: np.ndarray, loo_pit: np.ndarray | None, what: str) -> Figure:
    """Observed values against their posterior predictive 90 % intervals (``q``: rows q05,
    q50, q95), and the LOO-PIT histogram (uniform when the predictive distribution is calibrated)."""
    fig = new_figure(10.0, 3.8)
    ax, ax_pit = fig.subplots(1, 2)
    inside = (observed >= q[0]) & (observed <= q[2])
    ax.errorbar(q[1], observed, xerr=[q[1] - q[0], q[2] - q[1]], fmt="none", ecolor="0.6", lw=0.8)
    ax.scatter(q[1][inside], observed[inside], s=8, color="C0", zorder=3, label="inside its 90 % interval")
    ax.scatter(q[1][~inside], observed[~inside], s=14, color="C3", zorder=3, label="outside")
    lims = [min(q[0].min(), observed.min()), max(q[2].max(), observed.max())]
    ax.plot(lims, lims, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    tidy_log(ax, "x")
    tidy_log(ax, "y")
    ax.set_xlabel(plain(f"posterior predictive median of {what}"), fontsize=8)
    ax.set_ylabel(plain(f"observed {what}"), fontsize=8)
    ax.set_title(f"{inside.mean():.0%} of {len(observed)} rows inside their 90 % predictive interval", fontsize=9)
    ax.legend(fontsize=7)
    if loo_pit is None:
        ax_pit.set_axis_off()
        ax_pit.text(0.5, 0.5, "LOO-PIT unavailable", ha="center", va="center")
        return fig
    bins = 10 if len(loo_pit) >= 50 else 5
    ax_pit.hist(loo_pit, bins=bins, range=(0, 1), color="C0", alpha=0.6)
    expected = len(loo_pit) / bins
    sd = math.sqrt(len(loo_pit) * (1 / bins) * (1 - 1 / bins))
    ax_pit.axhspan(expected - 1.645 * sd, expected + 1.645 * sd, color="0.5", alpha=0.2, label="90 % range if uniform")
    ax_pit.axhline(expected, color="k", lw=0.8)
    ax_pit.set_xlabel("LOO-PIT", fontsize=8)
    ax_pit.set_title("LOO-PIT: flat if calibrated (U: too narrow, hump: too wide)", fontsize=9)
    ax_pit.legend(fontsize=7)
    return fig


def pareto_k_figure(k: np.ndarray, good: float) -> Figure:
    """Pareto k of each row's PSIS-LOO weights, with the thresholds."""
    fig = new_figure(7.0, 2.8)
    ax = fig.add_subplot()
    colour = np.where(k > 1, "C3", np.where(k > good, "C1", "C0"))
    ax.scatter(np.arange(len(k)), k, s=10, c=colour)
    ax.axhline(good, color="C1", ls="--", lw=0.8, label=f"k = {good:.2f}: estimate unreliable above")
    ax.axhline(1.0, color="C3", ls="--", lw=0.8, label="k = 1")
    ax.set_xlabel("row (in fit order)", fontsize=8)
    ax.set_ylabel("Pareto k", fontsize=8)
    ax.legend(fontsize=7)
    return fig


def extrapolation_figure(x: np.ndarray, bands: dict[str, np.ndarray], data_x: np.ndarray, data_y: np.ndarray | None, marks: np.ndarray, xlabel: str, ylabel: str) -> Figure:
    """A law's prediction beyond the data: ``bands`` maps a label to (n_draws, len(x)) draws."""
    fig = new_figure(7.5, 4.4)
    ax = fig.add_subplot()
    for i, (label, draws) in enumerate(bands.items()):
        for lo, hi, alpha in BANDS:
            q = np.quantile(draws, [lo, hi], axis=0)
            ax.fill_between(x, q[0], q[1], color=f"C{i}", alpha=alpha, lw=0)
        ax.plot(x, np.median(draws, axis=0), color=f"C{i}", lw=1.2, label=plain(label))
    if data_y is not None:
        ax.scatter(data_x, data_y, s=8, color="0.3", zorder=3, label="data")
    ax.axvspan(data_x.min(), data_x.max(), color="0.5", alpha=0.08, label="range of the data")
    for m in marks:
        ax.axvline(m, color="0.4", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.2)
    tidy_log(ax, "y")
    ax.set_xlabel(plain(xlabel), fontsize=8)
    ax.set_ylabel(plain(ylabel), fontsize=8)
    ax.legend(fontsize=7)
    return fig
