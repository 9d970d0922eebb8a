"""Simulated sweeps for the hyperparameter laws (SCIENCE.md sections 3-4).

Each law has a frozen truth (the law's parameters and noise), a design (the grid a
lab would run) and a ``simulate_*_sweep(truth, design, *, rng_key)`` returning one
row per run. Batch sizes and token counts are in TOKENS throughout. Noise comes from
``jax.random`` (keys split, never reused); everything else is NumPy.

``simulate.py`` re-exports these names and dispatches on the law.
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass, fields

import jax
import numpy as np
import pandas as pd

from .errors import BadInputError
from .laws import (
    adamw_timescale,
    batch_opt,
    bowl_log_loss,
    chinchilla_loss,
    critical_batch,
    log_tokens_to_target,
    tau_opt,
    three_term_log_loss,
)

# Besiroglu et al. 2024's point fit of the Chinchilla data (SCIENCE.md section 1): the
# base loss of every simulated setting.
BESIROGLU = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}

# Model sizes and tokens per parameter within Power Lines' 111M-3.3B, 20-1280 TPP range.
_POWER_LINES_SIZES = (1.1e8, 2.7e8, 6.1e8)
_POWER_LINES_TPP = (20.0, 80.0, 320.0)
# Zhang et al. 2024 (arXiv 2410.21676): 85M-1.2B models, batches of 64..16384
# sequences of 512 tokens, targets on the Chinchilla line (20 TPP).
_ZHANG_SIZES = (8.5e7, 1.51e8, 3.02e8, 6.04e8, 1.2e9)
_ZHANG_BATCHES = tuple(512.0 * 2.0**k for k in range(6, 15))
# Power Lines: B_opt = 0.0306 D^0.383 in 2048-token sequences (2nd-hand), so x2048 in tokens.
_BOPT_C_TOKENS = 0.0306 * 2048.0
# B_crit = c D_min^0.47 through Zhang et al.'s McCandlish B_crit ~1e6 tokens at
# D_min ~1.5e9 and ~5.7e6 at 2.2e10: the least-squares c in log space for slope 0.47.
_BCRIT_K = 0.47
_BCRIT_C = math.exp(
    np.mean([math.log(1e6) - _BCRIT_K * math.log(1.5e9), math.log(5.7e6) - _BCRIT_K * math.log(2.2e10)])
)


def _three_term_matched(b_opt_c: float, b_opt_k: float, data_b: float, data_beta: float) -> dict[str, float]:
    """C, beta, G, gamma giving B_opt = b_opt_c D^b_opt_k and, at B_opt, the data term data_b D^-data_beta.

    At B_opt the batch and step terms stand in the ratio gamma : beta and both fall as
    D^-(beta gamma / (beta + gamma)); matching that to Besiroglu's data term makes the
    three-term law reduce to Besiroglu's Chinchilla law along its own optimum.
    """
    beta = data_beta / b_opt_k
    gamma = beta * b_opt_k / (1.0 - b_opt_k)
    c = b_opt_k * data_b * b_opt_c**beta
    g = (1.0 - b_opt_k) * data_b * b_opt_c**-gamma
    return {"C": c, "beta": beta, "G": g, "gamma": gamma}


# Schaipp 2026 (arXiv 2607.01487, 2nd-hand): B_opt = 0.667 D^0.566, taken as tokens (in
# sequences it would put B_opt near 1e8 tokens at 1e9-token runs, which no lab uses).
_THREE_TERM = _three_term_matched(0.667, 0.566, BESIROGLU["B"], BESIROGLU["beta"])


def _check(
    owner: str, obj: object, *, positive: tuple[str, ...] = (), nonneg: tuple[str, ...] = (), real: tuple[str, ...] = ()
) -> None:
    """Raise BadInputError unless each named field is a finite number with the stated sign."""
    rules = [(name, "a finite number > 0", lambda v: v > 0) for name in positive]
    rules += [(name, "a finite number >= 0", lambda v: v >= 0) for name in nonneg]
    rules += [(name, "a finite number", lambda v: True) for name in real]
    for name, want, sign_ok in rules:
        v = getattr(obj, name)
        if not (isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and sign_ok(v)):
            raise BadInputError(f"{owner}: {name} must be {want}, got {v!r}")


def _check_nu(owner: str, nu: object) -> None:
    if not (isinstance(nu, numbers.Real) and not isinstance(nu, bool) and nu > 0):
        raise BadInputError(f"{owner}: nu must be > 0 (inf = Gaussian noise), got {nu!r}")


def _check_grids(owner: str, obj: object) -> None:
    """Every tuple field of a design: non-empty, finite, > 0; stored as a tuple of floats."""
    for f in fields(obj):
        v = getattr(obj, f.name)
        if not isinstance(v, tuple | list):
            continue
        if not v or not all(
            isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) and x > 0 for x in v
        ):
            raise BadInputError(f"{owner}: {f.name} must be a non-empty list of finite numbers > 0, got {v!r}")
        object.__setattr__(obj, f.name, tuple(float(x) for x in v))


def _noise(key: jax.Array, nu: float, n: int) -> np.ndarray:
    """Standard Normal draws, or Student-t with ``nu`` degrees of freedom when finite."""
    if math.isinf(nu):
        return np.asarray(jax.random.normal(key, (n,)), dtype=float)
    return np.asarray(jax.random.t(key, nu, (n,)), dtype=float)


def _loss_law_check(owner: str, obj: object) -> None:
    _check(owner, obj, positive=("loss_E", "loss_A", "loss_B", "loss_alpha", "loss_beta"))


def _base_loss(truth: object, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    t = truth
    return np.asarray(chinchilla_loss(n, d, t.loss_E, t.loss_A, t.loss_B, t.loss_alpha, t.loss_beta), dtype=float)


def _settings(sizes: tuple[float, ...], tpp: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(N, D, label) for every size x tokens-per-parameter setting, sizes outermost."""
    rows = [(n, n * r, f"n{i}-d{j}") for (i, n), (j, r) in itertools.product(enumerate(sizes), enumerate(tpp))]
    n, d, label = zip(*rows, strict=True)
    return np.array(n), np.array(d), list(label)


# --- AdamW timescale (Power Lines) ---------------------------------------------------


@dataclass(frozen=True)
class TimescaleTruth:
    """tau_opt = tau_c (D/N)^tau_m; log loss a bowl in log tau about each setting's optimum."""

    tau_c: float = 1.084  # Power Lines (2nd-hand): tau_opt ~0.22 at 20 TPP
    tau_m: float = -0.527
    curvature: float = 0.01  # log loss per (log tau)^2: 0.5 % worse a factor 2 off the optimum
    sigma_setting: float = 0.1  # sd of a setting's log tau_opt about the law
    sigma: float = 0.003  # noise sd on log loss (one seed per run)
    nu: float = math.inf  # Student-t degrees of freedom; inf = Gaussian
    loss_E: float = BESIROGLU["E"]
    loss_A: float = BESIROGLU["A"]
    loss_B: float = BESIROGLU["B"]
    loss_alpha: float = BESIROGLU["alpha"]
    loss_beta: float = BESIROGLU["beta"]

    def __post_init__(self) -> None:
        _check(
            "timescale truth", self, positive=("tau_c", "curvature"), nonneg=("sigma_setting", "sigma"), real=("tau_m",)
        )
        _check_nu("timescale truth", self.nu)
        _loss_law_check("timescale truth", self)


@dataclass(frozen=True)
class TimescaleDesign:
    """A lab's grid: every (size, TPP) setting runs the SAME lr x wd x B grid.

    With a fixed weight-decay grid the optimum drifts toward the grid's low edge as
    TPP grows (tau_opt falls, D grows), as in real sweeps: at these defaults the optimal
    weight decay runs from ~0.36 (110M, 20 TPP) to ~0.017 (610M, 320 TPP).
    """

    sizes: tuple[float, ...] = _POWER_LINES_SIZES
    tokens_per_param: tuple[float, ...] = _POWER_LINES_TPP
    lr: tuple[float, ...] = (3e-3,)
    wd: tuple[float, ...] = tuple(0.0125 * 2.0**k for k in range(7))  # 0.0125 .. 0.8
    B: tuple[float, ...] = (2.0**19,)  # tokens (256 sequences of 2048)

    def __post_init__(self) -> None:
        _check_grids("timescale design", self)


def simulate_timescale_sweep(
    truth: TimescaleTruth = TimescaleTruth(), design: TimescaleDesign = TimescaleDesign(), *, rng_key: jax.Array
) -> pd.DataFrame:
    """Rows (N, D, B, lr, wd, loss, run_id, phase) of a weight-decay sweep.

    Per setting s: log tau_opt_s = log tau_opt(N, D) + sigma_setting z_s; per run
    log loss = log L_chin(N, D) + curvature (log tau - log tau_opt_s)^2 + sigma eps,
    with tau = B / (lr wd D) (Power Lines, arXiv 2505.13738).
    """
    n_s, d_s, labels = _settings(design.sizes, design.tokens_per_param)
    grid = list(itertools.product(range(len(n_s)), enumerate(design.B), enumerate(design.lr), enumerate(design.wd)))
    s_idx = np.array([g[0] for g in grid])
    b, lr, wd = (np.array([g[k][1] for g in grid]) for k in (1, 2, 3))
    run_id = [f"{labels[s]}-b{ib}-lr{il}-wd{iw}" for s, (ib, _), (il, _), (iw, _) in grid]
    k_setting, k_noise = jax.random.split(rng_key)
    z = np.asarray(jax.random.normal(k_setting, (len(n_s),)), dtype=float)
    log_tau_opt = np.log(np.asarray(tau_opt(n_s, d_s, truth.tau_c, truth.tau_m))) + truth.sigma_setting * z
    n, d = n_s[s_idx], d_s[s_idx]
    log_tau = np.log(np.asarray(adamw_timescale(b, lr, wd, d)))
    bowl = np.asarray(bowl_log_loss(log_tau, 0.0, truth.curvature, log_tau_opt[s_idx]))
    log_loss = np.log(_base_loss(truth, n, d)) + bowl + truth.sigma * _noise(k_noise, truth.nu, len(grid))
    return pd.DataFrame(
        {"N": n, "D": d, "B": b, "lr": lr, "wd": wd, "loss": np.exp(log_loss), "run_id": run_id, "phase": "final"}
    )


# --- Optimal batch size (Power Lines) ------------------------------------------------


@dataclass(frozen=True)
class BatchTruth:
    """B_opt = bopt_c D^bopt_k N^bopt_n tokens; log loss a bowl in log B about each setting's optimum."""

    bopt_c: float = _BOPT_C_TOKENS  # 0.0306 per 2048-token sequence, in tokens
    bopt_k: float = 0.383  # Power Lines (2nd-hand)
    bopt_n: float = 0.0  # Power Lines: B_opt does not depend on N
    curvature: float = 0.01  # log loss per (log B)^2 (weight decay re-tuned per B)
    sigma_setting: float = 0.1  # sd of a setting's log B_opt about the law
    sigma: float = 0.003  # noise sd on log loss
    nu: float = math.inf
    loss_E: float = BESIROGLU["E"]
    loss_A: float = BESIROGLU["A"]
    loss_B: float = BESIROGLU["B"]
    loss_alpha: float = BESIROGLU["alpha"]
    loss_beta: float = BESIROGLU["beta"]

    def __post_init__(self) -> None:
        _check(
            "batch truth",
            self,
            positive=("bopt_c", "curvature"),
            nonneg=("sigma_setting", "sigma"),
            real=("bopt_k", "bopt_n"),
        )
        _check_nu("batch truth", self.nu)
        _loss_law_check("batch truth", self)


@dataclass(frozen=True)
class BatchDesign:
    """Every (size, TPP) setting runs the same batch grid: powers of 2 in tokens.

    At the defaults B_opt runs from ~2.4e5 tokens (110M, 20 TPP) to ~1.4e6 (610M, 320 TPP).
    """

    sizes: tuple[float, ...] = _POWER_LINES_SIZES
    tokens_per_param: tuple[float, ...] = _POWER_LINES_TPP
    B: tuple[float, ...] = tuple(2.0**k for k in range(16, 23))  # 65k .. 4.2M tokens

    def __post_init__(self) -> None:
        _check_grids("batch design", self)


def simulate_batch_sweep(
    truth: BatchTruth = BatchTruth(), design: BatchDesign = BatchDesign(), *, rng_key: jax.Array
) -> pd.DataFrame:
    """Rows (N, D, B, loss, run_id, phase) of a batch-size sweep.

    log B_opt_s = log B_opt(N, D) + sigma_setting z_s;
    log loss = log L_chin(N, D) + curvature (log B - log B_opt_s)^2 + sigma eps.
    """
    n_s, d_s, labels = _settings(design.sizes, design.tokens_per_param)
    grid = list(itertools.product(range(len(n_s)), enumerate(design.B)))
    s_idx = np.array([s for s, _ in grid])
    b = np.array([v for _, (_, v) in grid])
    run_id = [f"{labels[s]}-b{ib}" for s, (ib, _) in grid]
    k_setting, k_noise = jax.random.split(rng_key)
    z = np.asarray(jax.random.normal(k_setting, (len(n_s),)), dtype=float)
    log_b_opt = (
        np.log(np.asarray(batch_opt(n_s, d_s, truth.bopt_c, truth.bopt_k, truth.bopt_n))) + truth.sigma_setting * z
    )
    n, d = n_s[s_idx], d_s[s_idx]
    bowl = np.asarray(bowl_log_loss(np.log(b), 0.0, truth.curvature, log_b_opt[s_idx]))
    log_loss = np.log(_base_loss(truth, n, d)) + bowl + truth.sigma * _noise(k_noise, truth.nu, len(grid))
    return pd.DataFrame({"N": n, "D": d, "B": b, "loss": np.exp(log_loss), "run_id": run_id, "phase": "final"})


# --- Critical batch size (McCandlish; Zhang et al.) ----------------------------------


@dataclass(frozen=True)
class BcritTruth:
    """B_crit = bcrit_c D_min^bcrit_k tokens; tokens to target D = D_min (1 + B / B_crit)."""

    bcrit_c: float = _BCRIT_C  # ~62: B_crit ~1.3e6 tokens at D_min 1.5e9, ~4.5e6 at 2.2e10
    bcrit_k: float = _BCRIT_K  # Power Lines (2nd-hand)
    sigma_group: float = 0.1  # sd of a size's log B_crit about the law
    sigma: float = 0.05  # noise sd on log tokens-to-target (interpolated from loss curves)
    nu: float = math.inf

    def __post_init__(self) -> None:
        _check("bcrit truth", self, positive=("bcrit_c",), nonneg=("sigma_group", "sigma"), real=("bcrit_k",))
        _check_nu("bcrit truth", self.nu)


@dataclass(frozen=True)
class BcritDesign:
    """Zhang et al.'s design: per size one target loss, reached at D_min = TPP_target N."""

    sizes: tuple[float, ...] = _ZHANG_SIZES
    tokens_per_param_target: float = 20.0
    B: tuple[float, ...] = _ZHANG_BATCHES  # 64 .. 16384 sequences of 512 tokens

    def __post_init__(self) -> None:
        _check("bcrit design", self, positive=("tokens_per_param_target",))
        _check_grids("bcrit design", self)


def simulate_bcrit_sweep(
    truth: BcritTruth = BcritTruth(), design: BcritDesign = BcritDesign(), *, rng_key: jax.Array
) -> pd.DataFrame:
    """Rows (N, B, tokens_to_target, steps_to_target, target_loss, D, run_id).

    Per size g: D_min = TPP_target N, log B_crit_g = log critical_batch(D_min) + sigma_group z_g;
    per batch log D = log D_min + log(1 + B / B_crit_g) + sigma eps (McCandlish et al. 2018,
    arXiv 1812.06162). ``target_loss`` is Besiroglu's L(N, D_min); ``D`` = tokens_to_target.
    """
    n_g = np.array(design.sizes)
    d_min = design.tokens_per_param_target * n_g
    grid = list(itertools.product(range(len(n_g)), enumerate(design.B)))
    g_idx = np.array([g for g, _ in grid])
    b = np.array([v for _, (_, v) in grid])
    k_group, k_noise = jax.random.split(rng_key)
    z = np.asarray(jax.random.normal(k_group, (len(n_g),)), dtype=float)
    log_b_crit = np.log(np.asarray(critical_batch(d_min, truth.bcrit_c, truth.bcrit_k))) + truth.sigma_group * z
    log_d = np.asarray(log_tokens_to_target(np.log(b), np.log(d_min)[g_idx], log_b_crit[g_idx]))
    tokens = np.exp(log_d + truth.sigma * _noise(k_noise, truth.nu, len(grid)))
    p = BESIROGLU
    target = np.asarray(chinchilla_loss(n_g, d_min, p["E"], p["A"], p["B"], p["alpha"], p["beta"]), dtype=float)
    return pd.DataFrame(
        {
            "N": n_g[g_idx],
            "B": b,
            "tokens_to_target": tokens,
            "steps_to_target": tokens / b,
            "target_loss": target[g_idx],
            "D": tokens,
            "run_id": [f"n{g}-b{ib}" for g, (ib, _) in grid],
        }
    )


# --- Three-term law (Schaipp 2026) ---------------------------------------------------


@dataclass(frozen=True)
class ThreeTermTruth:
    """L = E + A N^-alpha + C B^-beta + G K^-gamma, K = D/B steps.

    Defaults: Besiroglu's E, A, alpha; C, beta, G, gamma chosen so that B_opt =
    0.667 D^0.566 tokens AND, at B_opt, the batch and step terms sum to Besiroglu's
    data term 2085 D^-0.366: along its optimum the law is Besiroglu's Chinchilla law.
    """

    E: float = BESIROGLU["E"]
    A: float = BESIROGLU["A"]
    alpha: float = BESIROGLU["alpha"]
    C: float = _THREE_TERM["C"]  # ~909
    beta: float = _THREE_TERM["beta"]  # ~0.646
    G: float = _THREE_TERM["G"]  # ~1274
    gamma: float = _THREE_TERM["gamma"]  # ~0.843
    sigma: float = 0.01  # noise sd on log loss
    nu: float = math.inf

    def __post_init__(self) -> None:
        _check("three-term truth", self, positive=("E", "A", "alpha", "C", "beta", "G", "gamma"), nonneg=("sigma",))
        _check_nu("three-term truth", self.nu)


@dataclass(frozen=True)
class ThreeTermDesign:
    """Every (size, TPP) setting runs the same batch grid, optimal or not (the law uses all).

    At the defaults B_opt runs from ~1.3e5 tokens (110M, 20 TPP) to ~1.6e6 (610M, 320 TPP,
    past the grid's edge); losses span 2.4-4.7 nats, the worst a 2,100-step run. The law's
    bowls are steep (~3 % a factor 2 below B_opt): its curvature in log B is beta gamma.
    """

    # Five sizes, not three: with three, E and the size term's A, alpha trade off along
    # a ridge NUTS cannot cross (136 divergences, R-hat 1.28 on the default truth).
    sizes: tuple[float, ...] = (5e7, 1.1e8, 2.7e8, 6.1e8, 1.4e9)
    tokens_per_param: tuple[float, ...] = _POWER_LINES_TPP
    B: tuple[float, ...] = tuple(2.0**k for k in range(15, 21))  # 33k .. 1M tokens

    def __post_init__(self) -> None:
        _check_grids("three-term design", self)


def simulate_three_term_sweep(
    truth: ThreeTermTruth = ThreeTermTruth(), design: ThreeTermDesign = ThreeTermDesign(), *, rng_key: jax.Array
) -> pd.DataFrame:
    """Rows (N, D, B, loss, run_id, phase): loss = exp(three_term_log_loss) exp(sigma eps)."""
    n_s, d_s, labels = _settings(design.sizes, design.tokens_per_param)
    grid = list(itertools.product(range(len(n_s)), enumerate(design.B)))
    s_idx = np.array([s for s, _ in grid])
    b = np.array([v for _, (_, v) in grid])
    n, d = n_s[s_idx], d_s[s_idx]
    t = truth
    logs = (math.log(t.E), math.log(t.A), t.alpha, math.log(t.C), t.beta, math.log(t.G), t.gamma)
    log_mean = np.asarray(three_term_log_loss(np.log(n), np.log(b), np.log(d / b), *logs))
    loss = np.exp(log_mean + t.sigma * _noise(rng_key, t.nu, len(grid)))
    return pd.DataFrame(
        {
            "N": n,
            "D": d,
            "B": b,
            "loss": loss,
            "run_id": [f"{labels[s]}-b{ib}" for s, (ib, _) in grid],
            "phase": "final",
        }
    )
