"""The result of a fit: posterior, diagnostics, summary, and predictions from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

from .cards import ModelCard
from .errors import BadInputError
from .laws import chinchilla_log_loss, compute_optimal_split
from .model_loss import ND
from .sweep import SweepOptions

QUANTILES = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class ParamSummary:
    """Posterior summary of one scalar parameter (summary.json's ``params`` entries)."""

    mean: float
    sd: float
    q05: float
    q50: float
    q95: float
    r_hat: float
    ess_bulk: float
    ess_tail: float


@dataclass(frozen=True)
class Summary:
    """What summary.json holds (DESIGN.md, "Artifacts"), plus provenance."""

    law: str
    n_rows: int
    data_sha256: str
    seed: int
    versions: Mapping[str, str]
    timings_s: Mapping[str, float]
    converged: bool
    divergences: int
    params: Mapping[str, ParamSummary]
    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    ebfmi: tuple[float, ...]
    problems: tuple[str, ...]
    sampler: Mapping[str, object]
    data_path: str = ""
    card: str = ""
    groups: tuple[str, ...] = ()
    group_levels: tuple[str, ...] = ()
    n_runs_with_effect: int = 0
    n_hot_left_out: int = 0
    n_filtered_out: int = 0
    command: str = ""
    notes: tuple[str, ...] = ()  # what the fit left out and why
    extra: Mapping[str, object] = field(default_factory=dict)  # law-specific: settings, LOO comparisons
    sweep_options: SweepOptions | None = None  # how the sweep was loaded (absent in runs fitted before it was recorded)

    def to_json(self) -> dict:
        """A JSON-ready dict; the DESIGN.md keys come first."""
        d = asdict(self)
        d["params"] = {k: asdict(v) for k, v in self.params.items()}
        d["versions"], d["timings_s"], d["sampler"], d["extra"] = (
            dict(self.versions),
            dict(self.timings_s),
            dict(self.sampler),
            dict(self.extra),
        )
        for k in ("ebfmi", "problems", "groups", "group_levels", "notes"):
            d[k] = list(getattr(self, k))
        return d

    @classmethod
    def from_json(cls, d: Mapping) -> "Summary":
        """Inverse of ``to_json``."""
        d = dict(d)
        nan = float("nan")  # summary.json writes undefined numbers as null
        d["params"] = {k: ParamSummary(**{f: nan if x is None else x for f, x in v.items()}) for k, v in d["params"].items()}
        for k in ("rhat_max", "ess_bulk_min", "ess_tail_min"):
            d[k] = nan if d.get(k) is None else d[k]
        for k in ("ebfmi", "problems", "groups", "group_levels", "notes"):
            d[k] = tuple(d.get(k, ()))
        if isinstance(d.get("sweep_options"), Mapping):
            d["sweep_options"] = SweepOptions.from_json(d["sweep_options"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Prediction:
    """Predicted loss at given (N, D): posterior mean and quantiles, per point."""

    N: np.ndarray
    D: np.ndarray
    mean: np.ndarray
    q05: np.ndarray
    q50: np.ndarray
    q95: np.ndarray
    kind: str  # "law": the law's curve; "observed": a new run's observed loss (noise and run effect included)
    draws: np.ndarray = field(repr=False)  # (n_draws, n_points) losses


@dataclass(frozen=True)
class ComputeOptimum:
    """The loss-optimal (N, D) at a compute budget C = 6 N D, with bands over draws."""

    compute: float
    N: ParamSummary
    D: ParamSummary
    loss: ParamSummary


class LossLawDraws(NamedTuple):
    """The loss law's parameters per posterior draw, at the original scale: arrays of shape (n_draws,)."""

    E: np.ndarray
    A: np.ndarray
    B: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    b_n: np.ndarray | float = 0.0  # the data term's growth with N (B N^b_n D^-beta); 0 for Hoffmann's law

    def loss(self, n: np.ndarray, d: np.ndarray) -> np.ndarray:
        """L(N, D) per draw (draws along the last axis of the parameters, as given)."""
        return self.E + self.A * n**-self.alpha + self.B * n**self.b_n * d**-self.beta


def scalar_constant(v) -> float:
    """A scalar stored in constant_data (ArviZ keeps it as a one-element array)."""
    return float(np.asarray(v).ravel()[0])


def _band(x: np.ndarray) -> ParamSummary:
    q = np.quantile(x, QUANTILES)
    return ParamSummary(float(np.mean(x)), float(np.std(x)), *map(float, q), float("nan"), float("nan"), float("nan"))


@dataclass(frozen=True)
class Run:
    """A fitted law: the InferenceData, its summary and the card that produced it."""

    idata: az.InferenceData
    summary: Summary
    card: ModelCard

    def draws(self, name: str) -> np.ndarray:
        """All draws of a posterior variable, chains stacked: shape (chains*draws, ...)."""
        if name not in self.idata.posterior:
            raise BadInputError(f"no parameter {name!r}; have: {', '.join(self.idata.posterior.data_vars)}")
        v = np.asarray(self.idata.posterior[name])
        return v.reshape((-1,) + v.shape[2:])

    def _need_loss(self) -> None:
        if self.summary.law != "loss":
            raise BadInputError(
                f"predict and compute_optimal are for the loss law; this is a {self.summary.law} run: "
                "use bayes_scaling.hyper (tau_opt, lambda_opt, batch_opt, critical_batch)"
            )

    def _group_index(self, group: str | None) -> int | None:
        if group is None:
            return None
        levels = list(self.summary.group_levels)
        if group not in levels:
            raise BadInputError(f"unknown group {group!r}; groups in this fit: {', '.join(levels) or '(none)'}")
        return levels.index(group)

    def _param(self, name: str, g: int | None) -> np.ndarray:
        grouped = f"{name}_group"
        if g is not None and grouped in self.idata.posterior:
            return self.draws(grouped)[:, g]
        return self.draws(name)

    def predict(
        self,
        N: np.ndarray | float,
        D: np.ndarray | float,
        *,
        group: str | None = None,
        kind: str = "law",
        rng_key: jax.Array | None = None,
    ) -> Prediction:
        """Predicted loss at (N, D) with credible bands.

        ``kind="law"`` gives the law's curve (what the scaling law says);
        ``kind="observed"`` adds a new run's effect and the noise (what a new run
        would measure), and needs ``rng_key``. ``group=None`` on a grouped fit uses
        the population-level parameters.
        """
        self._need_loss()
        if kind not in ("law", "observed"):
            raise BadInputError(f"kind must be 'law' or 'observed', got {kind!r}")
        n, d = np.broadcast_arrays(np.asarray(N, dtype=float), np.asarray(D, dtype=float))
        if np.any(~np.isfinite(n)) or np.any(n <= 0) or np.any(~np.isfinite(d)) or np.any(d <= 0):
            raise BadInputError("N and D must be finite and > 0")
        g = self._group_index(group)
        const = self.idata.constant_data
        mn, md = float(const["log_n_centre"].values.ravel()[0]), float(const["log_d_centre"].values.ravel()[0])
        e, alpha, beta = self._param("e", g), self._param("alpha", g), self._param("beta", g)
        a_c, b_c = self.draws("a_c"), self.draws("b_c")
        x = np.log(n).ravel() - mn
        z = np.log(d).ravel() - md
        b_n = self._b_n()
        b_n = b_n[:, None] if np.ndim(b_n) else b_n
        mu = chinchilla_log_loss(x[None, :], z[None, :], e[:, None], a_c[:, None], alpha[:, None], b_c[:, None], beta[:, None], b_n)
        if kind == "observed":
            if rng_key is None:
                raise BadInputError("kind='observed' draws noise: pass rng_key=jax.random.key(...)")
            k_run, k_noise = jax.random.split(rng_key)
            if "sigma_run" in self.idata.posterior:
                mu = mu + self.draws("sigma_run")[:, None] * jax.random.normal(k_run, mu.shape)
            t = jax.random.t(k_noise, jnp.asarray(self.draws("nu"))[:, None], mu.shape)
            mu = mu + self.draws("sigma")[:, None] * t
        losses = np.asarray(jnp.exp(mu))
        q = np.quantile(losses, QUANTILES, axis=0)
        shape = n.shape
        return Prediction(
            N=n,
            D=d,
            mean=losses.mean(axis=0).reshape(shape),
            q05=q[0].reshape(shape),
            q50=q[1].reshape(shape),
            q95=q[2].reshape(shape),
            kind=kind,
            draws=losses,
        )

    def compute_optimal(self, compute: float, *, group: str | None = None) -> ComputeOptimum:
        """The compute-optimal N and D at ``compute`` FLOPs (C = 6ND), per posterior draw."""
        n_opt, d_opt, loss = self.compute_optimal_draws(compute, group=group)
        return ComputeOptimum(float(compute), _band(n_opt), _band(d_opt), _band(loss))

    def compute_optimal_draws(self, compute: float, *, group: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per posterior draw: the loss-optimal N, D at ``compute`` FLOPs and the law's loss there."""
        if not compute > 0:
            raise BadInputError(f"compute must be > 0, got {compute!r}")
        law = self.loss_law_draws(group=group)
        n_opt, d_opt = (np.asarray(v) for v in compute_optimal_split(compute, law.A, law.B, law.alpha, law.beta, b_n=law.b_n))
        return n_opt, d_opt, law.loss(n_opt, d_opt)

    def loss_law_draws(self, *, group: str | None = None) -> LossLawDraws:
        """Per posterior draw, L(N, D) = E + A N^-alpha + B N^b_n D^-beta at the original
        scale (a group's parameters where the fit has them, else the population's)."""
        self._need_loss()
        g = self._group_index(group)
        const = self.idata.constant_data
        mn, md = scalar_constant(const["log_n_centre"]), scalar_constant(const["log_d_centre"])
        alpha, beta = self._param("alpha", g), self._param("beta", g)
        b_n = self._b_n()
        A = np.exp(self.draws("a_c") + alpha * mn)
        B = np.exp(self.draws("b_c") - b_n * mn + beta * md)
        return LossLawDraws(np.exp(self._param("e", g)), A, B, alpha, beta, b_n)

    def run_effects(self) -> tuple[np.ndarray, list[str]]:
        """Each run's effect on log loss per draw, shape (draws, runs), and the runs' labels:
        the model's deterministic ``run_effect``, or sigma_run * z_run for a run folder saved
        before it existed; ((draws, 0), []) for a fit without run effects."""
        post = self.idata.posterior
        if "run_effect" in post and "run" in post["run_effect"].dims:
            return self.draws("run_effect"), [str(r) for r in post["run_effect"].coords["run"].values]
        if "z_run" in post:
            return self.draws("sigma_run")[:, None] * self.draws("z_run"), [str(r) for r in post["z_run"].coords["run"].values]
        return np.zeros((self.draws("sigma").shape[0], 0)), []

    def _b_n(self) -> np.ndarray | float:
        """Draws of the data term's growth with N, or 0 for a fit of Hoffmann's separable law."""
        return self.draws(ND) if ND in self.idata.posterior else 0.0

    def sweep_extent(self) -> tuple[float, float]:
        """The largest N and D of the rows a loss law was fitted to (what a plan extrapolates from)."""
        self._need_loss()
        const = self.idata.constant_data
        log_n = np.asarray(const["x"]) + scalar_constant(const["log_n_centre"])
        log_d = np.asarray(const["z"]) + scalar_constant(const["log_d_centre"])
        return float(np.exp(log_n.max())), float(np.exp(log_d.max()))
