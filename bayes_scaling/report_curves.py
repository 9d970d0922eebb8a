"""The data and the fitted law, per law, as panels of points and posterior curves.

Pure NumPy over a ``Run``: what to draw, not how. ``report_figures`` draws it. Each
curve carries the law's value on a grid for every (thinned) posterior draw, so the
figure can shade any credible band.

- loss: loss vs compute C = 6 N D, with iso-N curves (one panel per group of a grouped fit);
- timescale, batch: the loss bowl of each setting, vs tau or vs B;
- bcrit: tokens to reach the target vs B per group: McCandlish's hyperbola;
- three_term: loss vs B at each (N, D).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import laws
from .arrays import cluster_log
from .defaults import default
from .run import Run, scalar_constant

# Points on each curve's grid.
GRID = 60
# How far (in log units) a bowl's or hyperbola's curve extends past its outermost rows.
PAD = 0.3
# Iso-N curves drawn on the loss-vs-compute panel: bins of log N, each with its curve.
ISO_N = 6


@dataclass(frozen=True)
class Curve:
    """The law along a grid: ``draws`` is (n_draws, len(x))."""

    label: str
    x: np.ndarray
    draws: np.ndarray
    colour: str = "k"


@dataclass(frozen=True)
class Points:
    """Observed rows."""

    label: str
    x: np.ndarray
    y: np.ndarray
    colour: str = "k"


@dataclass(frozen=True)
class Panel:
    """One axes: observed points and the law's curves, on log axes."""

    title: str
    xlabel: str
    ylabel: str
    curves: tuple[Curve, ...]
    points: tuple[Points, ...]


def thin(n_total: int, most: int | None = None) -> np.ndarray:
    """Evenly spaced draw indices, at most ``most`` (the defaults' ``report_draws``)."""
    most = int(most or default("report_draws"))
    return np.unique(np.linspace(0, n_total - 1, min(most, n_total)).astype(int))


def _grid(lo: float, hi: float, pad: float = PAD) -> np.ndarray:
    """A log-spaced grid over [lo, hi] widened by ``pad`` log units each side."""
    return np.exp(np.linspace(np.log(lo) - pad, np.log(hi) + pad, GRID))


def _observed(run: Run) -> np.ndarray:
    return np.exp(np.asarray(run.idata.observed_data[_obs_name(run)]))


def _obs_name(run: Run) -> str:
    return next(iter(run.idata.observed_data.data_vars))


def _const(run: Run, name: str) -> np.ndarray:
    return np.asarray(run.idata.constant_data[name])


def _draws(run: Run, name: str, idx: np.ndarray) -> np.ndarray:
    return run.draws(name)[idx]


def loss_panels(run: Run) -> list[Panel]:
    """Loss vs compute with iso-N curves; a grouped fit gets one panel per group."""
    n = np.exp(_const(run, "x") + scalar_constant(_const(run, "log_n_centre")))
    d = np.exp(_const(run, "z") + scalar_constant(_const(run, "log_d_centre")))
    loss = _observed(run)
    levels = run.summary.group_levels
    if levels and "row_group" in run.idata.constant_data:
        row_group = _const(run, "row_group")
        return [_loss_panel(run, n[row_group == i], d[row_group == i], loss[row_group == i], group=g, title=f"group {g}") for i, g in enumerate(levels)]
    title = "population-level law (this run folder has no per-row groups)" if levels else "loss vs compute"
    return [_loss_panel(run, n, d, loss, group=None, title=title)]


def _loss_panel(run: Run, n: np.ndarray, d: np.ndarray, loss: np.ndarray, *, group: str | None, title: str) -> Panel:
    log_n = np.log(n)
    edges = np.linspace(log_n.min(), log_n.max() + 1e-9, ISO_N + 1)
    which = np.clip(np.searchsorted(edges, log_n, side="right") - 1, 0, ISO_N - 1)
    idx = thin(run.draws("alpha").shape[0])
    curves, points = [], []
    for b in range(ISO_N):
        mine = which == b
        if not mine.any():
            continue
        colour = f"C{len(points) % 10}"
        size = float(np.exp(np.mean(log_n[mine])))
        grid_d = _grid(d[mine].min(), d[mine].max(), pad=0.5)
        pred = run.predict(np.full_like(grid_d, size), grid_d, group=group)
        curves.append(Curve(f"law at N={size:.3g}", 6 * size * grid_d, pred.draws[idx], colour))
        points.append(Points(f"runs with N in {np.exp(edges[b]):.2g}-{np.exp(edges[b + 1]):.2g}", 6 * n[mine] * d[mine], loss[mine], colour))
    return Panel(title, "compute C = 6 N D (FLOPs)", "loss (nats/token)", tuple(curves), tuple(points))


def bowl_panels(run: Run) -> list[Panel]:
    """Each setting's rows and its fitted bowl: loss vs tau (timescale) or vs B (batch)."""
    law = run.summary.law
    x, setting, loss = _const(run, "x"), _const(run, "row_setting").astype(int), _observed(run)
    idx = thin(run.draws("m").shape[0])
    m, log_k, log_opt = (_draws(run, v, idx) for v in ("m", "log_k", "log_opt"))
    labels = [str(s) for s in run.idata.posterior.coords["setting"].values]
    what = "tau = B / (lr wd D)" if law == "timescale" else "batch size B (tokens)"
    panels = []
    for s, label in enumerate(labels):
        mine = setting == s
        g = _grid(np.exp(x[mine].min()), np.exp(x[mine].max()))
        mu = laws.bowl_log_loss(np.log(g)[None], m[:, s, None], np.exp(log_k[:, s, None]), log_opt[:, s, None])
        panels.append(Panel(label, what, "loss", (Curve("fitted bowl", g, np.exp(np.asarray(mu))),), (Points("runs", np.exp(x[mine]), loss[mine]),)))
    return panels


def bcrit_panels(run: Run) -> list[Panel]:
    """Tokens to reach the target vs batch size, per group, with D = D_min (1 + B/B_crit)."""
    log_b, group, tokens = _const(run, "log_b"), _const(run, "row_group").astype(int), _observed(run)
    idx = thin(run.draws("log_d_min").shape[0])
    log_d_min, log_b_crit = _draws(run, "log_d_min", idx), _draws(run, "log_b_crit", idx)
    labels = [str(g) for g in run.idata.posterior.coords["group"].values]
    panels = []
    for g, label in enumerate(labels):
        mine = group == g
        grid = _grid(np.exp(log_b[mine].min()), np.exp(log_b[mine].max()))
        mu = laws.log_tokens_to_target(np.log(grid)[None], log_d_min[:, g, None], log_b_crit[:, g, None])
        curve = Curve("D_min (1 + B / B_crit)", grid, np.exp(np.asarray(mu)))
        panels.append(Panel(label, "batch size B (tokens)", "tokens to reach the target", (curve,), (Points("runs", np.exp(log_b[mine]), tokens[mine]),)))
    return panels


def three_term_panels(run: Run) -> list[Panel]:
    """Loss vs batch size at each (N, D), with the three-term law along B at that (N, D)."""
    x, y, w, centre = (_const(run, v) for v in ("x", "y", "w", "centre"))
    loss = _observed(run)
    log_n, log_b = x + centre[0], y + centre[1]
    log_d = w + centre[2] + log_b
    d_cluster = cluster_log(np.exp(log_d), float(default("setting_rel_tol")))
    keys = sorted(set(zip(np.round(log_n, 6), d_cluster, strict=True)))
    idx = thin(run.draws("e").shape[0])
    p = {v: _draws(run, v, idx)[:, None] for v in ("e", "a_c", "alpha", "c_c", "beta", "g_c", "gamma")}
    panels = []
    for key in keys:
        mine = (np.round(log_n, 6) == key[0]) & (d_cluster == key[1])
        ln, ld = float(log_n[mine].mean()), float(log_d[mine].mean())
        grid = _grid(np.exp(log_b[mine].min()), np.exp(log_b[mine].max()))
        lg = np.log(grid)[None]
        mu = laws.three_term_log_loss(ln - centre[0], lg - centre[1], ld - lg - centre[2], p["e"], p["a_c"], p["alpha"], p["c_c"], p["beta"], p["g_c"], p["gamma"])
        title = f"N={np.exp(ln):.3g}, D={np.exp(ld):.3g}"
        panels.append(Panel(title, "batch size B (tokens)", "loss", (Curve("three-term law", grid, np.exp(np.asarray(mu))),), (Points("runs", np.exp(log_b[mine]), loss[mine]),)))
    return panels


PANELS = {"loss": loss_panels, "timescale": bowl_panels, "batch": bowl_panels, "bcrit": bcrit_panels, "three_term": three_term_panels}


def law_panels(run: Run) -> list[Panel]:
    """The data-and-law panels of ``run``'s law."""
    return PANELS[run.summary.law](run)
