"""Figures of fitted hyperparameter laws: each setting's own optimum against the law's band.

Built on ``matplotlib.figure.Figure`` with the Agg canvas, never ``pyplot``: no global
state, no display needed, safe in threads and in tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import hyper
from .cards import LAWS_WITH_FIGURE
from .errors import BadInputError
from .run import QUANTILES, Run

# Points along the law's band.
_GRID_POINTS = 60
# Extend the law's band this far (in log units) past the outermost settings.
_PAD = 0.25


def _grid(values: np.ndarray) -> np.ndarray:
    lo, hi = np.log(values.min()) - _PAD, np.log(values.max()) + _PAD
    return np.exp(np.linspace(lo, hi, _GRID_POINTS))


def _points(ax, x: np.ndarray, q: np.ndarray, labels: list[str], colours: list) -> None:
    """Posterior medians with 90 % bars; ``q`` is (3, n): q05, q50, q95."""
    for i in range(len(x)):
        ax.errorbar(x[i], q[1, i], yerr=[[q[1, i] - q[0, i]], [q[2, i] - q[1, i]]], fmt="o", color=colours[i], capsize=3, ms=5, label=labels[i])


def _band(ax, x: np.ndarray, band: hyper.Band, colour: str, label: str) -> None:
    ax.fill_between(x, band.q05, band.q95, color=colour, alpha=0.18, lw=0)
    ax.plot(x, band.q50, color=colour, lw=1.5, label=label)


def _by_size(n: np.ndarray) -> tuple[list, dict]:
    sizes = sorted(set(np.round(n, -3)))
    palette = [f"C{i % 10}" for i in range(len(sizes))]
    return [palette[sizes.index(v)] for v in np.round(n, -3)], dict(zip(sizes, palette, strict=True))


def optima_figure(run: Run) -> Figure:
    """tau_opt vs D/N (timescale), B_opt vs D (batch) or B_crit vs D_min (bcrit)."""
    law = run.summary.law
    if law not in LAWS_WITH_FIGURE:
        raise BadInputError(f"no optima figure for the {law} law; laws with one: {', '.join(LAWS_WITH_FIGURE)}")
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    s = run.summary
    if law in ("timescale", "batch"):
        optima = hyper.setting_optima(run)
        n = np.array([o.N for o in optima])
        d = np.array([o.D for o in optima])
        q = np.array([[o.q05 for o in optima], [o.q50 for o in optima], [o.q95 for o in optima]])
        colours, size_colour = _by_size(n)
        x = d / n if law == "timescale" else d
        _points(ax, x, q, [f"N={v:.3g}" for v in n], colours)
        grid = _grid(x)
        if law == "timescale":
            ref = float(np.exp(np.mean(np.log(n))))  # tau_opt depends on D/N only
            band = hyper.tau_opt(run, ref, grid * ref)
            _band(ax, grid, band, "k", f"law: tau_c (D/N)^tau_m, tau_m {s.params['tau_m'].q50:.3f}")
            ax.set_xlabel("tokens per parameter D/N")
            ax.set_ylabel("tau_opt = B / (lr wd D)")
        else:
            ax.set_xlabel("tokens D")
            ax.set_ylabel("B_opt (tokens)")
            if "bopt_n" in run.idata.posterior:  # B_opt depends on N: one band per size
                for size, colour in size_colour.items():
                    _band(ax, grid, hyper.batch_opt(run, size, grid), colour, f"law at N={size:.3g}")
            else:
                band = hyper.batch_opt(run, float(np.median(n)), grid)  # N plays no part
                _band(ax, grid, band, "k", f"law: bopt_c D^bopt_k, bopt_k {s.params['bopt_k'].q50:.3f}")
        title = f"{law} law: each setting's optimum (median, 90 % band) and the law"
    else:
        b = run.draws("b_crit")
        d_min = np.median(run.draws("d_min"), axis=0)
        q = np.quantile(b, QUANTILES, axis=0)
        labels = [str(v) for v in run.idata.posterior.coords["group"].values]
        _points(ax, d_min, q, labels, [f"C{i % 10}" for i in range(len(labels))])
        grid = _grid(d_min)
        _band(ax, grid, hyper.critical_batch(run, grid), "k", f"law: bcrit_c D_min^bcrit_k, bcrit_k {s.params['bcrit_k'].q50:.3f}")
        ax.set_xlabel("D_min: fewest tokens to reach the target")
        ax.set_ylabel("B_crit (tokens; D = 2 D_min there)")
        title = "bcrit law: each group's B_crit (median, 90 % band) and the law"
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.25)
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="best")
    ax.set_title(title + ("" if s.converged else "\nNOT CONVERGED: do not trust"), fontsize=9, color="k" if s.converged else "red")
    return fig


def save_optima_figure(run: Run, path: str | Path) -> Path:
    """Write ``optima_figure(run)`` as a PNG."""
    path = Path(path)
    optima_figure(run).savefig(path, dpi=130)
    return path
