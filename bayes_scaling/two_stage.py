"""The papers' two-stage least-squares baselines for the hyperparameter laws.

Stage 1 finds one optimum (or one critical batch) per setting; stage 2 regresses
those point estimates on the setting's covariates by ordinary least squares. This is
how Power Lines (Bergsma et al. 2025, arXiv 2505.13738) fit tau_opt and B_opt across
(N, D), and how Zhang et al. 2024 (arXiv 2410.21676) fit B_crit per model size and
then a power law. It is the baseline the Bayesian fits are compared against: its
stage-2 intervals treat the stage-1 optima as exact, so they ignore stage-1
uncertainty (and "argmin" optima are quantised to the sweep grid).

NumPy and SciPy only: no JAX, no pandas.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.stats

from .errors import BadInputError

OPTIMA = ("vertex", "argmin")
# A vertex needs a parabola through >= 3 distinct x; a hyperbola (2 parameters) with
# residual dof needs >= 3 distinct batch sizes.
_MIN_DISTINCT = 3


@dataclass(frozen=True)
class TwoStageFit:
    """Stage-2 OLS of per-setting optima on [1, covariates].

    ``cov``, ``lower`` and ``upper`` are for [intercept, slopes...]; the intervals are
    ``level`` Student-t intervals with ``dof`` = n_settings - p - 1.
    """

    intercept: float
    slopes: tuple[float, ...]
    cov: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    x_opt: np.ndarray  # stage 1: the optimum of each setting (log scale)
    level: float
    dof: int


@dataclass(frozen=True)
class TwoStageBcrit:
    """Per-group B_crit and D_min (stage 1) and the power law log B_crit = log c + k log D_min (stage 2).

    Per-group arrays follow ``groups`` (sorted unique labels); ``*_se`` are standard
    errors of the natural logs, ``*_lower``/``*_upper`` ``level`` intervals in tokens.
    """

    groups: tuple
    b_crit: np.ndarray
    d_min: np.ndarray
    log_b_crit_se: np.ndarray
    log_d_min_se: np.ndarray
    b_crit_lower: np.ndarray
    b_crit_upper: np.ndarray
    d_min_lower: np.ndarray
    d_min_upper: np.ndarray
    log_bcrit_c: float
    bcrit_k: float
    cov: np.ndarray  # of [log_bcrit_c, bcrit_k]
    lower: np.ndarray
    upper: np.ndarray
    level: float
    dof: int


def two_stage_bowl(
    x: np.ndarray,
    log_loss: np.ndarray,
    setting: np.ndarray,
    covariates: np.ndarray,
    *,
    level: float = 0.9,
    optimum: str = "vertex",
) -> TwoStageFit:
    """Fit each setting's optimum, then regress the optima on the setting covariates.

    ``x`` is the log of the swept quantity per row (log tau, log B), ``setting`` an
    integer index 0..S-1 per row, ``covariates`` an (S, p) array (e.g. log(D/N) for
    the timescale; log D and log N for the batch size). Stage 1, ``optimum``:
    "vertex" fits log loss = a x^2 + b x + c per setting and takes -b / 2a (exact
    when the bowl is quadratic; may extrapolate past the grid); "argmin" takes the x
    of the lowest observed loss, what many papers do, quantised to the grid. Stage 2
    is OLS with classic s^2 (X'X)^-1 covariance.
    """
    _check_level(level)
    if optimum not in OPTIMA:
        raise BadInputError(f"optimum must be one of {', '.join(OPTIMA)}, got {optimum!r}")
    x, y = _vector("x", x), _vector("log_loss", log_loss)
    setting = np.asarray(setting)
    if setting.ndim != 1 or len(setting) != len(x) or len(y) != len(x):
        raise BadInputError(
            f"x, log_loss and setting must be 1-D of one length, got {len(x)}, {len(y)}, {setting.shape}"
        )
    if not np.issubdtype(setting.dtype, np.integer):
        raise BadInputError(f"setting must be integer indices, got dtype {setting.dtype}")
    cov_x = np.asarray(covariates, dtype=float)
    cov_x = cov_x[:, None] if cov_x.ndim == 1 else cov_x
    if cov_x.ndim != 2 or not np.all(np.isfinite(cov_x)):
        raise BadInputError(f"covariates must be a finite (n_settings, p) array, got shape {cov_x.shape}")
    n_settings = cov_x.shape[0]
    if len(setting) and (setting.min() < 0 or setting.max() >= n_settings):
        raise BadInputError(f"setting indices must lie in 0..{n_settings - 1} (one row of covariates each)")
    find = _vertex if optimum == "vertex" else _argmin
    x_opt = np.array([find(s, x[setting == s], y[setting == s]) for s in range(n_settings)])
    coef, cov, lower, upper, dof = _ols(x_opt, cov_x, level)
    return TwoStageFit(float(coef[0]), tuple(float(c) for c in coef[1:]), cov, lower, upper, x_opt, level, dof)


def two_stage_bcrit(B: np.ndarray, tokens: np.ndarray, group: np.ndarray, *, level: float = 0.9) -> TwoStageBcrit:
    """Fit the McCandlish hyperbola per group, then a power law of B_crit in D_min.

    Stage 1 (McCandlish et al. 2018, arXiv 1812.06162, eq. 2.11; Zhang et al. 2024 per
    model size): steps S = tokens / B obey S = S_min (1 + B_crit / B), equivalently
    D = D_min (1 + B / B_crit) with D_min = S_min B_crit. Fitted by least squares in
    log S over (log S_min, log B_crit) with ``scipy.optimize.curve_fit``; standard errors
    from its covariance, ``level`` t-intervals on n_g - 2 dof. Stage 2 (Zhang et al.'s
    power law; Power Lines' B_crit ~ D^0.47): OLS of log B_crit on log D_min.
    """
    _check_level(level)
    b, d = _vector("B", B), _vector("tokens", tokens)
    group = np.asarray(group)
    if len(b) != len(d) or group.shape != b.shape:
        raise BadInputError(f"B, tokens and group must be 1-D of one length, got {len(b)}, {len(d)}, {group.shape}")
    if np.any(b <= 0) or np.any(d <= 0):
        raise BadInputError("B and tokens must be > 0")
    labels, idx = np.unique(group, return_inverse=True)
    per_group = np.array([_hyperbola(str(g), b[idx == i], d[idx == i], level) for i, g in enumerate(labels)])
    log_bc, log_dm, se_bc, se_dm, half_bc, half_dm = per_group.T
    coef, cov, lower, upper, dof = _ols(log_bc, log_dm[:, None], level)
    return TwoStageBcrit(
        groups=tuple(labels.tolist()),
        b_crit=np.exp(log_bc),
        d_min=np.exp(log_dm),
        log_b_crit_se=se_bc,
        log_d_min_se=se_dm,
        b_crit_lower=np.exp(log_bc - half_bc),
        b_crit_upper=np.exp(log_bc + half_bc),
        d_min_lower=np.exp(log_dm - half_dm),
        d_min_upper=np.exp(log_dm + half_dm),
        log_bcrit_c=float(coef[0]),
        bcrit_k=float(coef[1]),
        cov=cov,
        lower=lower,
        upper=upper,
        level=level,
        dof=dof,
    )


def _check_level(level: float) -> None:
    if not (isinstance(level, float | int) and 0 < level < 1):
        raise BadInputError(f"level must be in (0, 1), got {level!r}")


def _vector(name: str, values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or not np.all(np.isfinite(v)):
        raise BadInputError(f"{name} must be a 1-D array of finite numbers, got shape {v.shape}")
    return v


def _vertex(s: int, x: np.ndarray, y: np.ndarray) -> float:
    """-b / 2a of the least-squares parabola; x centred so the fit is well conditioned."""
    if len(np.unique(x)) < _MIN_DISTINCT:
        raise BadInputError(f"setting {s}: a vertex needs >= {_MIN_DISTINCT} distinct x, got {len(np.unique(x))}")
    m = x.mean()
    xc = x - m
    (a, b, _), *_ = np.linalg.lstsq(np.column_stack([xc**2, xc, np.ones_like(xc)]), y, rcond=None)
    if not a > 0:
        raise BadInputError(f"setting {s}: the fitted parabola opens downward (a = {a:.3g}); no minimum")
    return float(m - b / (2 * a))


def _argmin(s: int, x: np.ndarray, y: np.ndarray) -> float:
    if len(x) == 0:
        raise BadInputError(f"setting {s}: no rows")
    return float(x[np.argmin(y)])


def _ols(
    y: np.ndarray, covariates: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """OLS of y on [1, covariates]: coefficients, s^2 (X'X)^-1, t-interval bounds, dof."""
    n, p = covariates.shape
    dof = n - p - 1
    if dof < 1:
        raise BadInputError(f"stage 2 needs more settings than coefficients: {n} settings, {p + 1} coefficients")
    X = np.column_stack([np.ones(n), covariates])
    coef, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    if rank < p + 1:
        raise BadInputError("stage 2: the covariates are collinear across settings (with the intercept)")
    resid = y - X @ coef
    cov = (resid @ resid / dof) * np.linalg.inv(X.T @ X)
    half = scipy.stats.t.ppf(0.5 + level / 2, dof) * np.sqrt(np.diag(cov))
    return coef, cov, coef - half, coef + half, dof


def _hyperbola(g: str, b: np.ndarray, d: np.ndarray, level: float) -> tuple[float, ...]:
    """(log B_crit, log D_min, their SEs, their interval half-widths) for one group."""
    n_distinct = len(np.unique(b))
    if n_distinct < _MIN_DISTINCT:
        raise BadInputError(f"group {g}: the hyperbola needs >= {_MIN_DISTINCT} distinct batch sizes, got {n_distinct}")
    log_b, log_s = np.log(b), np.log(d / b)
    p0 = _hyperbola_start(b, d)

    def model(lb: np.ndarray, log_s_min: float, log_b_crit: float) -> np.ndarray:
        return log_s_min + np.logaddexp(0.0, log_b_crit - lb)  # log(1 + B_crit / B)

    try:
        with warnings.catch_warnings():
            # "Covariance could not be estimated": B_crit far outside the grid; say so.
            warnings.simplefilter("error", scipy.optimize.OptimizeWarning)
            popt, pcov = scipy.optimize.curve_fit(model, log_b, log_s, p0=p0)
    except (RuntimeError, scipy.optimize.OptimizeWarning) as err:  # RuntimeError: no convergence
        raise BadInputError(f"group {g}: the hyperbola fit failed ({err})") from None
    # log D_min = log S_min + log B_crit; its variance adds the covariance twice.
    var_bc = pcov[1, 1]
    var_dm = pcov[0, 0] + pcov[1, 1] + 2 * pcov[0, 1]
    if not (np.isfinite(var_bc) and np.isfinite(var_dm)):
        raise BadInputError(f"group {g}: B_crit is not identified (it lies far outside the batch grid)")
    se_bc, se_dm = math.sqrt(max(var_bc, 0.0)), math.sqrt(max(var_dm, 0.0))
    t = scipy.stats.t.ppf(0.5 + level / 2, len(b) - 2)
    return popt[1], popt[0] + popt[1], se_bc, se_dm, t * se_bc, t * se_dm


def _hyperbola_start(b: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """(log S_min, log B_crit) to start from: D = D_min + (D_min / B_crit) B is linear in B."""
    (intercept, slope), *_ = np.linalg.lstsq(np.column_stack([np.ones_like(b), b]), d, rcond=None)
    if slope > 0 and intercept > 0:
        b_crit = intercept / slope
        return math.log(intercept / b_crit), math.log(b_crit)
    # Far from the hyperbola's bend: start mid-grid, at half the fewest steps seen.
    b_crit = math.exp(np.median(np.log(b)))
    return math.log(np.min(d / b) / 2), math.log(b_crit)
