"""What a fitted law says beyond its data: at 10x, 100x and 1000x the largest run.

Loss law: the compute-optimal N and D and the loss there, at 10/100/1000 times the
largest compute C = 6ND in the data. Hyperparameter laws: the law's optimum at
10/100/1000 times the largest D (at the largest N): tau_opt, B_opt, B_crit (in D_min).
The bands are the law's own (kind "law"); for timescale and batch also what one new
setting should expect (its scatter about the law, ``sd_setting``, included).
Extrapolation bands are only as good as the law's form; ``bayes-scaling check`` (issue 8)
tests them on held-out large runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from . import hyper
from .run import ParamSummary, Run, _band, scalar_constant

# Multiples of the largest run in the data (the issue's).
FACTORS = (10.0, 100.0, 1000.0)
# Points along the extrapolation figure's curve.
GRID = 50


@dataclass(frozen=True)
class Extrapolation:
    """The law's prediction at ``factor`` times the data's largest ``x_name``."""

    factor: float
    x_name: str
    x: float
    values: tuple[tuple[str, ParamSummary], ...]  # (quantity, band)


@dataclass(frozen=True)
class ExtrapolationCurve:
    """The figure's content: draws of each band along ``x`` and the data behind them."""

    x: np.ndarray
    bands: dict[str, np.ndarray]  # label -> (n_draws, len(x))
    data_x: np.ndarray
    data_y: np.ndarray | None
    marks: np.ndarray
    xlabel: str
    ylabel: str


@dataclass(frozen=True)
class ExtrapolationResult:
    """Table rows, the figure's curve and a sentence saying what was extrapolated."""

    points: tuple[Extrapolation, ...]
    curve: ExtrapolationCurve
    text: str


def _loss(run: Run) -> ExtrapolationResult:
    const = run.idata.constant_data
    n = np.exp(np.asarray(const["x"]) + scalar_constant(const["log_n_centre"]))
    d = np.exp(np.asarray(const["z"]) + scalar_constant(const["log_d_centre"]))
    c = 6 * n * d
    c_max = float(c.max())
    points = []
    for f in FACTORS:
        n_opt, d_opt, loss = run.compute_optimal_draws(f * c_max)
        points.append(Extrapolation(f, "compute C = 6ND (FLOPs)", f * c_max, (("loss", _band(loss)), ("N_opt", _band(n_opt)), ("D_opt", _band(d_opt)))))
    grid = np.exp(np.linspace(np.log(c.min()), np.log(c_max * FACTORS[-1] * 2), GRID))
    losses = np.stack([run.compute_optimal_draws(float(g))[2] for g in grid], axis=1)
    curve = ExtrapolationCurve(grid, {"loss at the compute-optimal N, D": losses}, c, np.exp(np.asarray(run.idata.observed_data["log_loss"])), c_max * np.array(FACTORS), "compute C = 6 N D (FLOPs)", "loss (nats/token)")
    who = " (population-level parameters of the grouped fit)" if run.summary.group_levels else ""
    text = f"The largest run in the data used C = {c_max:.3g} FLOPs. Below: the law's loss at the compute-optimal split{who}, and that split."
    return ExtrapolationResult(tuple(points), curve, text)


def _hyper(run: Run, rng_key: jax.Array) -> ExtrapolationResult:
    law = run.summary.law
    const = run.idata.constant_data
    if law in ("timescale", "batch"):
        n_all, d_all = np.asarray(const["setting_N"]), np.asarray(const["setting_D"])
        optima = hyper.setting_optima(run)
        data_y = np.array([o.q50 for o in optima])
    elif law == "bcrit":
        d_all = np.median(run.draws("d_min"), axis=0)
        n_all = np.ones_like(d_all)
        data_y = np.median(run.draws("b_crit"), axis=0)
    else:  # three_term
        log_b = np.asarray(const["y"]) + float(np.asarray(const["centre"])[1])
        d_all = np.exp(np.asarray(const["w"]) + float(np.asarray(const["centre"])[2]) + log_b)
        n_all = np.exp(np.asarray(const["x"]) + float(np.asarray(const["centre"])[0]))
        data_y = None
    n_max, d_max = float(n_all.max()), float(d_all.max())
    grid = np.exp(np.linspace(np.log(d_all.min()), np.log(d_max * FACTORS[-1] * 2), GRID))
    xs = np.concatenate([grid, d_max * np.array(FACTORS)])

    k_setting = rng_key  # only a new setting's scatter is random; the law's band is its draws
    if law == "timescale":
        name, ylabel = "tau_opt", "tau_opt"
        bands = {"law": hyper.tau_opt(run, n_max, xs).draws, "a new setting": hyper.tau_opt(run, n_max, xs, kind="setting", rng_key=k_setting).draws}
    elif law == "batch":
        name, ylabel = "B_opt (tokens)", "B_opt (tokens)"
        bands = {"law": hyper.batch_opt(run, n_max, xs).draws, "a new setting": hyper.batch_opt(run, n_max, xs, kind="setting", rng_key=k_setting).draws}
    elif law == "bcrit":
        name, ylabel = "B_crit (tokens)", "B_crit (tokens)"
        bands = {"law": hyper.critical_batch(run, xs).draws}
    else:
        name, ylabel = "B_opt (tokens)", "implied B_opt (tokens)"
        bands = {"law": hyper.batch_opt(run, n_max, xs).draws}
    points = []
    for j, f in enumerate(FACTORS):
        col = GRID + j
        values = tuple((f"{name}, {label}", _band(draws[:, col])) for label, draws in bands.items())
        points.append(Extrapolation(f, "D_min (tokens)" if law == "bcrit" else "D (tokens)", f * d_max, values))
    if law != "timescale":
        # Widest band first, so the law's own band is drawn on top of a new setting's.
        shown = {k: v[:, :GRID] for k, v in reversed(bands.items())}
        curve = ExtrapolationCurve(grid, shown, d_all, data_y, d_max * np.array(FACTORS), "D_min (tokens)" if law == "bcrit" else "tokens D", ylabel)
    else:
        # tau_opt depends on D/N alone: drawn against it, every setting's optimum sits at its own x.
        tpp_max = d_max / n_max * FACTORS[-1] * 2
        tpp = np.exp(np.linspace(np.log((d_all / n_all).min()), np.log(tpp_max), GRID))
        shown = {"a new setting": hyper.tau_opt(run, 1.0, tpp, kind="setting", rng_key=k_setting).draws, "law": hyper.tau_opt(run, 1.0, tpp).draws}
        curve = ExtrapolationCurve(tpp, shown, d_all / n_all, data_y, d_max / n_max * np.array(FACTORS), "tokens per parameter D/N", ylabel)
    at = "" if law == "bcrit" else f" at the largest N in the data, {n_max:.3g}"
    text = f"The largest {'D_min' if law == 'bcrit' else 'D'} in the data is {d_max:.3g} tokens. Below: {name}{at}, at multiples of it."
    return ExtrapolationResult(tuple(points), curve, text)


def extrapolate(run: Run, *, rng_key: jax.Array | None = None) -> ExtrapolationResult:
    """The law at 10x, 100x and 1000x the data's largest run. ``rng_key`` draws the new
    settings' scatter (defaults to one derived from the fit's seed, so reports are reproducible)."""
    if run.summary.law == "loss":
        return _loss(run)
    key = jax.random.fold_in(jax.random.key(run.summary.seed), 2) if rng_key is None else rng_key
    return _hyper(run, key)
