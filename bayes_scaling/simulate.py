"""Simulated sweeps from known truths: for recovery tests, calibration and demos."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from .errors import BadInputError
from .laws import chinchilla_loss

# Besiroglu et al. 2024's point fit of the Chinchilla data (SCIENCE.md section 1).
BESIROGLU = dict(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)


@dataclass(frozen=True)
class LossTruth:
    """A known loss law and noise to simulate from."""

    E: float = BESIROGLU["E"]
    A: float = BESIROGLU["A"]
    B: float = BESIROGLU["B"]
    alpha: float = BESIROGLU["alpha"]
    beta: float = BESIROGLU["beta"]
    sigma: float = 0.01  # noise sd on log loss
    nu: float = math.inf  # Student-t degrees of freedom; inf = Gaussian
    sigma_run: float = 0.0  # run-level effect sd on log loss (shared by a run's branches)
    group_E: tuple[float, ...] = ()  # one E per group; empty = one ungrouped sweep

    def __post_init__(self) -> None:
        for f in ("E", "A", "B", "alpha", "beta"):
            if not getattr(self, f) > 0:
                raise BadInputError(f"truth: {f} must be > 0, got {getattr(self, f)!r}")
        if not (self.sigma >= 0 and self.sigma_run >= 0 and self.nu > 0):
            raise BadInputError("truth: sigma, sigma_run must be >= 0 and nu > 0")


@dataclass(frozen=True)
class SweepDesign:
    """Where the simulated runs sit: model sizes and tokens per parameter."""

    sizes: tuple[float, ...] = (4e7, 8e7, 1.6e8, 3.2e8, 6.4e8, 1.28e9, 2.56e9)
    tokens_per_param: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 80.0)
    wsd: bool = False  # True: one run per size, its D-points are cooldown branches sharing a run_id
    hot_every: int = 0  # with wsd: also emit hot checkpoints (before cooldown) at each branch point


def simulate_loss_sweep(truth: LossTruth, design: SweepDesign = SweepDesign(), *, rng_key: jax.Array) -> pd.DataFrame:
    """Rows (N, D, loss, run_id, phase[, group]) simulated from ``truth``.

    Hot checkpoints (``design.hot_every``) sit 3 % above the cooled-down loss, as
    a WSD run's constant-LR phase does before its cooldown (Hagele et al. 2024, Fig. 3).
    """
    groups = truth.group_E or (truth.E,)
    n_groups = len(groups)
    rows = []
    for g, E in enumerate(groups):
        for i, n in enumerate(design.sizes):
            for j, tpp in enumerate(design.tokens_per_param):
                run = f"g{g}-n{i}" if design.wsd else f"g{g}-n{i}-d{j}"
                rows.append((g, run, n, n * tpp, E, "cooldown_end" if design.wsd else "final"))
                if design.wsd and design.hot_every:
                    rows.append((g, run, n, n * tpp / 1.1, E, "hot"))
    g_idx, run_ids, n, d, e_vals, phase = (np.array(c) for c in zip(*rows, strict=True))
    k_run, k_noise = jax.random.split(rng_key)
    uniq, inverse = np.unique(run_ids, return_inverse=True)
    run_effect = truth.sigma_run * np.asarray(jax.random.normal(k_run, (len(uniq),)))[inverse]
    if math.isinf(truth.nu):
        noise = np.asarray(jax.random.normal(k_noise, (len(n),)))
    else:
        noise = np.asarray(jax.random.t(k_noise, truth.nu, (len(n),)))
    mean = np.asarray(chinchilla_loss(n, d, e_vals.astype(float), truth.A, truth.B, truth.alpha, truth.beta))
    hot = phase == "hot"
    mean = np.where(hot, mean * 1.03, mean)
    loss = mean * np.exp(run_effect + truth.sigma * noise)
    frame = pd.DataFrame({"N": n, "D": d, "loss": loss, "run_id": run_ids, "phase": phase})
    if n_groups > 1:
        frame["group"] = [f"g{i}" for i in g_idx]
    return frame


def read_truth(path: str | Path) -> tuple[LossTruth, SweepDesign]:
    """A truth file: a TOML with a ``[truth]`` table (LossTruth fields) and optional ``[design]``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError("no such truth file", file=str(path))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise BadInputError(f"not valid TOML: {err}", file=str(path)) from None
    t, d = raw.get("truth", {}), raw.get("design", {})
    known_t, known_d = {f.name for f in fields(LossTruth)}, {f.name for f in fields(SweepDesign)}
    for k in t:
        if k not in known_t:
            raise BadInputError(f"[truth] has unknown key {k!r}; valid: {', '.join(sorted(known_t))}", file=str(path))
    for k in d:
        if k not in known_d:
            raise BadInputError(f"[design] has unknown key {k!r}; valid: {', '.join(sorted(known_d))}", file=str(path))
    t = {k: tuple(v) if isinstance(v, list) else v for k, v in t.items()}
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return LossTruth(**t), SweepDesign(**d)
