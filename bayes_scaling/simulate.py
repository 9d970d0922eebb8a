"""Simulated sweeps from known truths: for recovery tests, calibration and demos.

The loss law lives here; the hyperparameter laws (timescale, batch, bcrit, three_term)
in ``simulate_hyper`` and are re-exported. ``simulate_sweep`` and ``read_law_truth``
serve any law by name.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import pandas as pd

from .errors import BadInputError
from .laws import chinchilla_loss
from .simulate_hyper import (
    BESIROGLU,
    BatchDesign,
    BatchTruth,
    BcritDesign,
    BcritTruth,
    ThreeTermDesign,
    ThreeTermTruth,
    TimescaleDesign,
    TimescaleTruth,
    simulate_batch_sweep,
    simulate_bcrit_sweep,
    simulate_three_term_sweep,
    simulate_timescale_sweep,
)

__all__ = [
    "BESIROGLU",
    "SIMULATORS",
    "BatchDesign",
    "BatchTruth",
    "BcritDesign",
    "BcritTruth",
    "LossTruth",
    "SweepDesign",
    "ThreeTermDesign",
    "ThreeTermTruth",
    "TimescaleDesign",
    "TimescaleTruth",
    "read_law_truth",
    "read_truth",
    "simulate_batch_sweep",
    "simulate_bcrit_sweep",
    "simulate_loss_sweep",
    "simulate_sweep",
    "simulate_three_term_sweep",
    "simulate_timescale_sweep",
]


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
    raw = _load_toml(path)
    return _build(raw.get("truth", {}), raw.get("design", {}), LossTruth, SweepDesign, path)


class _Law(NamedTuple):
    truth: type
    design: type
    simulate: Any  # (truth, design, *, rng_key) -> DataFrame


# One entry per law: its truth, its design and its simulator.
SIMULATORS: dict[str, _Law] = {
    "loss": _Law(LossTruth, SweepDesign, simulate_loss_sweep),
    "timescale": _Law(TimescaleTruth, TimescaleDesign, simulate_timescale_sweep),
    "batch": _Law(BatchTruth, BatchDesign, simulate_batch_sweep),
    "bcrit": _Law(BcritTruth, BcritDesign, simulate_bcrit_sweep),
    "three_term": _Law(ThreeTermTruth, ThreeTermDesign, simulate_three_term_sweep),
}


def _law(law: str) -> _Law:
    if law not in SIMULATORS:
        raise BadInputError(f"unknown law {law!r}; valid: {', '.join(SIMULATORS)}")
    return SIMULATORS[law]


def read_law_truth(law: str, path: str | Path | None = None) -> tuple[Any, Any]:
    """(truth, design) for ``law`` from a TOML with ``[truth]`` and ``[design]`` tables; None = defaults.

    Unknown tables or keys raise BadInputError naming the valid ones. An optional
    top-level ``law = "..."`` must agree with ``law``.
    """
    spec = _law(law)
    if path is None:
        return spec.truth(), spec.design()
    path = Path(path)
    raw = _load_toml(path)
    for k in raw:
        if k not in ("law", "truth", "design"):
            raise BadInputError(f"unknown top-level key {k!r}; valid: design, law, truth", file=str(path))
    if "law" in raw and raw["law"] != law:
        raise BadInputError(f"the file is for law {raw['law']!r}, not {law!r}", file=str(path))
    return _build(raw.get("truth", {}), raw.get("design", {}), spec.truth, spec.design, path)


def simulate_sweep(law: str, truth: Any = None, design: Any = None, *, rng_key: jax.Array) -> pd.DataFrame:
    """Simulate ``law``'s sweep; ``truth`` and ``design`` default to the law's defaults."""
    spec = _law(law)
    truth = spec.truth() if truth is None else truth
    design = spec.design() if design is None else design
    for obj, cls, what in ((truth, spec.truth, "truth"), (design, spec.design, "design")):
        if not isinstance(obj, cls):
            raise BadInputError(f"law {law!r} needs a {cls.__name__} as {what}, got {type(obj).__name__}")
    return spec.simulate(truth, design, rng_key=rng_key)


def _load_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BadInputError("no such truth file", file=str(path))
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise BadInputError(f"not valid TOML: {err}", file=str(path)) from None


def _build(t: dict[str, Any], d: dict[str, Any], truth_cls: type, design_cls: type, path: Path) -> tuple[Any, Any]:
    """Instantiate truth and design from their tables, refusing unknown keys."""
    for table, values, cls in (("truth", t, truth_cls), ("design", d, design_cls)):
        if not isinstance(values, dict):
            raise BadInputError(f"[{table}] must be a table", file=str(path))
        known = {f.name for f in fields(cls)}
        for k in values:
            if k not in known:
                raise BadInputError(
                    f"[{table}] has unknown key {k!r}; valid: {', '.join(sorted(known))}", file=str(path)
                )
    t = {k: tuple(v) if isinstance(v, list) else v for k, v in t.items()}
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return truth_cls(**t), design_cls(**d)
