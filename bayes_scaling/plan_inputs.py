"""What a plan rests on: posterior draws of the laws it combines, or the published values it assumes.

The loss law is required; the timescale, optimal-batch and critical-batch laws are
optional, and each one not given is replaced by a published point value from the
defaults table (no uncertainty), which the plan then lists as assumed. Draws of laws
fitted separately are independent, so they are paired at random (with an explicit key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import numpy as np

from .defaults import DEFAULTS, pick
from .errors import BadInputError
from .run import Run

PARTS = ("loss", "timescale", "batch", "bcrit")
# How an assumed law reads on screen, from its defaults-table values.
_FORMULA = {
    "timescale": "tau_opt = {0:.4g} (D/N)^{1:.3g}",
    "batch": "B_opt = {0:.4g} D^{1:.3g} N^{2:.3g} tokens, no loss below it",
    "bcrit": "B_crit = {0:.4g} D_min^{1:.3g} tokens",
}


class PlanLaws(NamedTuple):
    """Per-draw parameters of every law a plan uses: arrays of shape (n_draws,), or (1,)
    for a law assumed at a point value (it broadcasts against the others)."""

    loss_E: np.ndarray
    loss_A: np.ndarray
    loss_B: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    tau_c: np.ndarray
    tau_m: np.ndarray
    bopt_c: np.ndarray
    bopt_k: np.ndarray
    bopt_n: np.ndarray
    bopt_curv: np.ndarray  # log-loss curvature in log B below B_opt (the batch law's bowl); 0: flat
    bcrit_c: np.ndarray
    bcrit_k: np.ndarray
    loss_b_n: np.ndarray = np.zeros(1)  # the data term's growth with N (B N^b_n D^-beta); 0: Hoffmann's law

    @property
    def n_draws(self) -> int:
        """The number of joint draws (the longest field)."""
        return max(np.shape(v)[0] for v in self)

    def take(self, idx: np.ndarray) -> PlanLaws:
        """The joint draws ``idx`` (point-valued laws stay points)."""
        return PlanLaws(*(v if v.shape[0] == 1 else v[idx] for v in self))

    @classmethod
    def point(cls, **values: float) -> PlanLaws:
        """One draw from known values (a simulated truth); every field must be given."""
        missing = [f for f in cls._fields if f not in values and f not in cls._field_defaults]
        if missing:
            raise BadInputError(f"PlanLaws.point needs {', '.join(missing)}")
        return cls(**{f: np.array([float(values[f])]) for f in cls._fields if f in values})


@dataclass(frozen=True)
class PlanInputs:
    """The laws' draws and where each came from."""

    laws: PlanLaws
    sources: dict[str, str]  # part -> "runs/NAME (law, 4000 draws)" or "assumed: ..."
    assumed: tuple[str, ...]  # parts replaced by published point values
    lr: float | None  # peak learning rate the weight decay is set for
    lr_source: str
    extent: tuple[float, float] | None = None  # largest N and D the loss law was fitted to
    converged: dict[str, bool] | None = None  # per given run


def _check_law(run: Run, part: str, laws: tuple[str, ...]) -> None:
    if run.summary.law not in laws:
        raise BadInputError(
            f"the {part} input must be a run of the {' or '.join(laws)} law; {run.summary.data_path or 'this run'} is a {run.summary.law} run"
        )


def _indices(n_have: int, n: int, key: jax.Array) -> np.ndarray:
    """n draw indices out of n_have: without replacement when there are enough."""
    return np.asarray(jax.random.choice(key, n_have, (n,), replace=n > n_have))


def plan_inputs(
    loss: Run,
    *,
    timescale: Run | None = None,
    batch: Run | None = None,
    bcrit: Run | None = None,
    group: str | None = None,
    lr: float | None = None,
    n_draws: int | None = None,
    rng_key: jax.Array,
    names: dict[str, str] | None = None,
) -> PlanInputs:
    """Pair the draws of the given runs; assume published values for the laws not given.

    ``batch`` may be a batch or three_term run (its B_opt law); ``lr`` defaults to the
    median peak learning rate of the timescale run's sweep (its tau_opt holds there).
    ``names`` labels the runs in ``sources`` (the CLI passes their folders).
    """
    names = names or {}
    _check_law(loss, "loss", ("loss",))
    for part, run, laws in (("timescale", timescale, ("timescale",)), ("batch", batch, ("batch", "three_term")), ("bcrit", bcrit, ("bcrit",))):
        if run is not None:
            _check_law(run, part, laws)
    n_loss = loss.draws("alpha").shape[0]
    n = min(int(pick("plan_draws", n_draws)), n_loss)
    if n < 1:
        raise BadInputError(f"n_draws must be >= 1, got {n_draws!r}")
    keys = jax.random.split(rng_key, 4)
    law = loss.loss_law_draws(group=group)
    idx = _indices(n_loss, n, keys[0])
    fields: dict[str, np.ndarray] = {
        "loss_E": law.E[idx], "loss_A": law.A[idx], "loss_B": law.B[idx], "alpha": law.alpha[idx], "beta": law.beta[idx],
        "loss_b_n": np.asarray(law.b_n)[idx] if np.ndim(law.b_n) else np.zeros(1),
    }
    sources = {"loss": f"{names.get('loss', 'loss run')} (loss law{', group ' + repr(group) if group else ''}, {n} of {n_loss} draws)"}
    assumed: list[str] = []
    given = {"timescale": timescale, "batch": batch, "bcrit": bcrit}
    params = {"timescale": ("tau_c", "tau_m"), "batch": ("bopt_c", "bopt_k", "bopt_n", "bopt_curv"), "bcrit": ("bcrit_c", "bcrit_k")}
    default_names = {"timescale": "tau_law", "batch": "bopt_law", "bcrit": "bcrit_law"}
    for k, part in zip(keys[1:], ("timescale", "batch", "bcrit"), strict=True):
        run = given[part]
        if run is None:
            d = DEFAULTS[default_names[part]]
            fields |= {p: np.array([float(v)]) for p, v in zip(params[part], d.value, strict=True)}
            assumed.append(part)
            sources[part] = f"assumed {_FORMULA[part].format(*d.value)}, a point value without uncertainty ({d.why.split(': ', 1)[1].rstrip('.')})"
            continue
        n_have = run.draws(params[part][0]).shape[0]
        i = _indices(n_have, n, k)
        for p in params[part]:
            if p == "bopt_curv":  # the batch law's population curvature; a three_term run has no bowl
                fields[p] = np.exp(run.draws("k_log"))[i] if "k_log" in run.idata.posterior else np.zeros(n)
            else:  # bopt_n is absent from a batch law fitted without its N term
                fields[p] = run.draws(p)[i] if p in run.idata.posterior else np.zeros(n)
        sources[part] = f"{names.get(part, part + ' run')} ({run.summary.law} law, {n} draws of {n_have})"
    if lr is None and timescale is not None:
        lr = float(np.median(np.asarray(timescale.idata.constant_data["lr"])))
        lr_source = "the median peak learning rate of the timescale sweep"
    elif lr is not None:
        if not (np.isfinite(lr) and lr > 0):
            raise BadInputError(f"lr must be finite and > 0, got {lr!r}")
        lr_source = "given"
    else:
        lr_source = "not given: pass lr (or a timescale run) to get the weight decay"
    converged = {part: run.summary.converged for part, run in (("loss", loss), *given.items()) if run is not None}
    return PlanInputs(
        laws=PlanLaws(**fields),
        sources=sources,
        assumed=tuple(assumed),
        lr=None if lr is None else float(lr),
        lr_source=lr_source,
        extent=loss.sweep_extent(),
        converged=converged,
    )
