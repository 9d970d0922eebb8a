"""The time-compute front as a figure: loss band, model size and batch against time.

Agg canvas on a ``Figure``, never ``pyplot`` (as ``figures.py``).
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .plan import Plan
from .plan_front import FrontPoint


def front_figure(p: Plan, front: tuple[FrontPoint, ...]) -> Figure:
    """Three panels against time (or compute, without hardware): the loss with its 90 %
    band, N and B of the best plan; one line per compute cap; a star at the plan."""
    timed = p.time_hours is not None
    fig = Figure(figsize=(11.5, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3, sharex=True)
    x_of = (lambda f: f.time_hours) if timed else (lambda f: f.compute_flops)
    groups = sorted({f.compute_cap for f in front}) if timed else [None]
    for k, cap in enumerate(groups):  # the plan itself sits on its compute cap's line
        pts = sorted((f for f in front if cap is None or f.compute_cap == cap), key=x_of)
        if not pts:
            continue
        x = np.array([x_of(f) for f in pts])
        colour = f"C{k}"
        label = f"compute cap {cap:.2g} FLOPs" if cap is not None else "best plan at each compute cap"
        axes[0].fill_between(x, [f.loss.q05 for f in pts], [f.loss.q95 for f in pts], color=colour, alpha=0.18, lw=0)
        axes[0].plot(x, [f.loss.q50 for f in pts], "o-", color=colour, ms=3, lw=1.3, label=label)
        axes[1].plot(x, [f.N for f in pts], "o-", color=colour, ms=3, lw=1.3)
        axes[2].plot(x, [f.B for f in pts], "o-", color=colour, ms=3, lw=1.3)
    xp = p.time_hours if timed else p.compute_flops
    for ax, y in zip(axes, (p.loss.q50, p.N, p.B), strict=True):
        ax.plot([xp], [y], "*", color="black", ms=13, zorder=5, label="this plan" if ax is axes[0] else None)
        ax.set_xscale("log")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_xlabel("training time (hours)" if timed else "compute (FLOPs)")
    axes[0].errorbar([xp], [p.loss.q50], yerr=[[p.loss.q50 - p.loss.q05], [p.loss.q95 - p.loss.q50]], color="black", capsize=3, lw=1)
    axes[0].set_ylabel("final loss: median and 90 % band")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("model size N (parameters)")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("batch size B (tokens)")
    axes[0].legend(fontsize=7, loc="upper right")
    limits = "deadline and compute cap" if timed else "compute cap"
    front_name = "the time-compute front" if timed else "without hardware, the front runs along compute alone"
    fig.suptitle(f"Best plan by {p.objective.label} under each {limits} ({front_name})", fontsize=10)
    return fig
