"""Predictions from fitted hyperparameter laws: tau_opt, lambda_opt, B_opt, B_crit with bands.

Each function takes a ``Run`` of the matching law and returns ``Band`` records
(posterior quantiles per point). ``kind="law"`` is the power law itself;
``kind="setting"`` adds a new setting's own deviation from it (``sd_setting``),
which is what one new (N, D) should expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import numpy as np

from . import laws
from .errors import BadInputError
from .run import QUANTILES, Run

KINDS = ("law", "setting")


@dataclass(frozen=True)
class Band:
    """Posterior of a quantity at one or more points: mean and 5/50/95 % quantiles."""

    mean: np.ndarray
    q05: np.ndarray
    q50: np.ndarray
    q95: np.ndarray
    draws: np.ndarray = field(repr=False)  # (n_draws, *shape)

    @classmethod
    def of(cls, draws: np.ndarray, shape: tuple[int, ...]) -> Band:
        """Summarise ``draws`` (n_draws, n_points) and reshape to ``shape``."""
        q = np.quantile(draws, QUANTILES, axis=0)
        return cls(draws.mean(axis=0).reshape(shape), q[0].reshape(shape), q[1].reshape(shape), q[2].reshape(shape), draws)


@dataclass(frozen=True)
class LambdaOpt:
    """The weight decay that puts a run at tau_opt, and that tau_opt."""

    weight_decay: Band
    tau_opt: Band


@dataclass(frozen=True)
class SettingOptimum:
    """A fitted setting's own optimum (tau_opt or B_opt) with its band."""

    label: str
    N: float
    D: float
    q05: float
    q50: float
    q95: float


def _need(run: Run, *names: str) -> None:
    if run.summary.law not in names:
        raise BadInputError(f"this needs a run of the {' or '.join(names)} law; {run.summary.card!r} is a {run.summary.law} run")


def _positive(**arrays) -> tuple[list[np.ndarray], tuple[int, ...]]:
    values = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in arrays.values()))
    for name, v in zip(arrays, values, strict=True):
        if np.any(~np.isfinite(v)) or np.any(v <= 0):
            raise BadInputError(f"{name} must be finite and > 0, got {v.ravel()[:3].tolist()}")
    return [v.ravel() for v in values], values[0].shape


def _deviation(run: Run, kind: str, n_points: int, rng_key: jax.Array | None) -> np.ndarray:
    """Per-draw log deviation of a new setting from the law (zero for kind='law')."""
    if kind not in KINDS:
        raise BadInputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    sd = run.draws("sd_setting")[:, None]
    if kind == "law":
        return np.zeros((sd.shape[0], n_points))
    if rng_key is None:
        raise BadInputError("kind='setting' draws a new setting's deviation: pass rng_key=jax.random.key(...)")
    return sd * np.asarray(jax.random.normal(rng_key, (sd.shape[0], n_points)))


def tau_opt(run: Run, N, D, *, kind: str = "law", rng_key: jax.Array | None = None) -> Band:
    """tau_opt = tau_c (D/N)^tau_m at each (N, D)."""
    _need(run, "timescale")
    (n, d), shape = _positive(N=N, D=D)
    t = np.asarray(laws.tau_opt(n[None], d[None], run.draws("tau_c")[:, None], run.draws("tau_m")[:, None]))
    return Band.of(t * np.exp(_deviation(run, kind, n.size, rng_key)), shape)


def lambda_opt(run: Run, N, D, B, lr, *, kind: str = "law", rng_key: jax.Array | None = None) -> LambdaOpt:
    """The optimal AdamW weight decay lambda = B / (lr D tau_opt) for new (N, D, B, lr); B, D in tokens."""
    _need(run, "timescale")
    (n, d, b, lr_), shape = _positive(N=N, D=D, B=B, lr=lr)
    t = tau_opt(run, n, d, kind=kind, rng_key=rng_key).draws
    wd = b[None] / (lr_[None] * d[None] * t)
    return LambdaOpt(Band.of(wd, shape), Band.of(t, shape))


def batch_opt(run: Run, N, D, *, kind: str = "law", rng_key: jax.Array | None = None) -> Band:
    """B_opt (tokens) at (N, D), from a batch run or the implied optimum of a three_term run."""
    _need(run, "batch", "three_term")
    (n, d), shape = _positive(N=N, D=D)
    bopt_n = run.draws("bopt_n")[:, None] if "bopt_n" in run.idata.posterior else 0.0
    b = np.asarray(laws.batch_opt(n[None], d[None], run.draws("bopt_c")[:, None], run.draws("bopt_k")[:, None], bopt_n))
    if run.summary.law == "batch":
        b = b * np.exp(_deviation(run, kind, n.size, rng_key))
    return Band.of(b, shape)


def critical_batch(run: Run, D_min) -> Band:
    """B_crit (tokens) = bcrit_c D_min^bcrit_k, McCandlish's definition (twice the minimum tokens)."""
    _need(run, "bcrit")
    (d,), shape = _positive(D_min=D_min)
    return Band.of(np.asarray(laws.critical_batch(d[None], run.draws("bcrit_c")[:, None], run.draws("bcrit_k")[:, None])), shape)


def setting_optima(run: Run) -> list[SettingOptimum]:
    """Each fitted setting's own optimum: tau_opt (timescale) or B_opt in tokens (batch)."""
    _need(run, "timescale", "batch")
    opt = np.exp(run.draws("log_opt"))
    q = np.quantile(opt, QUANTILES, axis=0)
    const = run.idata.constant_data
    labels = [str(s) for s in run.idata.posterior.coords["setting"].values]
    n, d = np.asarray(const["setting_N"]), np.asarray(const["setting_D"])
    return [SettingOptimum(lab, float(n[i]), float(d[i]), float(q[0, i]), float(q[1, i]), float(q[2, i])) for i, lab in enumerate(labels)]
