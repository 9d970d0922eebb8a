"""Simulation-based calibration (Talts et al. 2018, arXiv 1804.06788).

Draw a truth from the prior, simulate a sweep from the model at that truth, fit the
model to the sweep, and record the truth's rank among the posterior draws. If the
model's computation is right (sampler, parameterisation, likelihood as simulated),
each quantity's rank is uniform over 0..L for L draws; a noise model that is wrong,
a sampler that misses a region, or a bug in a law shows as a U, a hump or a slope.

The sweep's *design* (which N, D, B, ... were run) is fixed and shaped like a real
sweep: the law's simulator's default design (``simulate_hyper``, ``simulate``), read
through the same ``law_arrays`` as a fit. Everything drawn by the model -- exponents,
prefactors, noise scale and tail, run, setting and group effects -- comes from the
prior of the model card. Two data-derived anchors are held fixed as part of the
design rather than recomputed from each simulated sweep: the bowl laws' per-setting
reference loss ``m_hat`` and the bcrit law's per-group ``lhat`` (see the README:
SBC checks the model given those anchors, not the empirical choice of them).

Every fit of a law runs the same compiled NUTS program (``fitting._sampler``: traced and
compiled once, exported to the cache folder, then called with each simulated sweep's
observations). Running the fits instead as lanes of one vectorised NUTS (``jax.vmap``
of NumPyro's functional kernels) was tried: lanes in lock-step wait for the deepest
tree of the batch, and on the same 80 loss-law fits (1 chain, 150 + 150 iterations)
the vectorised program took 323 s and the reused sampler 368 s on a loaded 2-core
machine: 12 % in one noisy measurement, not worth a second NUTS driver to maintain.
"""

from __future__ import annotations

import functools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import Predictive
from numpyro.infer.util import constrain_fn

from .arrays import LawArrays, law_arrays
from .cards import LAWS, ModelCard, SamplerSettings, load_card
from .defaults import pick
from .errors import BadInputError
from .jaxsetup import ensure_configured
from .fitting import _sampler
from .simulate import LossTruth, SweepDesign, simulate_sweep
from .sweep import Sweep, load_sweep

# Hierarchy scales worth calibrating besides the card's own list.
_ALSO_RANKED = ("sigma_run",)


@dataclass(frozen=True)
class SbcSettings:
    """How many simulations and how each is fitted (``None``: the defaults table)."""

    sims: int | None = None
    chains: int | None = None
    warmup: int | None = None
    draws: int | None = None  # per chain, before thinning
    thin: int | None = None
    bins: int | None = None
    alpha: float | None = None
    noise_factor: float = 1.0  # > 1: simulate with sigma x this, fit the card as it is (a negative control)

    def resolved(self) -> "SbcSettings":
        """Every ``None`` replaced by its default, and the values checked."""
        s = SbcSettings(
            sims=int(pick("sbc_sims", self.sims)),
            chains=int(pick("sbc_chains", self.chains)),
            warmup=int(pick("sbc_warmup", self.warmup)),
            draws=int(pick("sbc_draws", self.draws)),
            thin=int(pick("sbc_thin", self.thin)),
            bins=int(pick("sbc_bins", self.bins)),
            alpha=float(pick("sbc_alpha", self.alpha)),
            noise_factor=float(self.noise_factor),
        )
        if s.sims < 2 or s.chains < 1 or s.warmup < 1 or s.draws < 1 or s.thin < 1:
            raise BadInputError(f"need sims >= 2 and chains, warmup, draws, thin >= 1; got {s.sims}, {s.chains}, {s.warmup}, {s.draws}, {s.thin}")
        if s.draws % s.thin:
            raise BadInputError(f"--draws ({s.draws}) must be a multiple of --thin ({s.thin})")
        if s.ranks_range % s.bins:
            raise BadInputError(f"the {s.ranks_range} possible ranks (chains x draws / thin) must split evenly into {s.bins} bins")
        if not 0 < s.alpha < 1 or not s.noise_factor > 0:
            raise BadInputError(f"need 0 < alpha < 1 and noise_factor > 0; got {s.alpha}, {s.noise_factor}")
        return s

    @property
    def ranks_range(self) -> int:
        """L + 1, the number of possible ranks: L = chains x draws / thin - 1 draws are ranked
        against (one draw is dropped so that L + 1 splits evenly into bins)."""
        return self.chains * (self.draws // self.thin)


class ParamCalibration(NamedTuple):
    """One quantity's calibration over the simulations."""

    name: str
    ranks: np.ndarray  # int, one per simulation, in 0..L
    p_value: float  # chi-square test of uniform ranks over ``bins`` equal bins
    passed: bool  # p_value >= the law's Bonferroni level
    coverage_50: float  # share of simulations whose central 50 % interval holds the truth
    coverage_90: float
    same_as: str | None  # another quantity with identical ranks (a monotone function of it), tested once


class SbcResult(NamedTuple):
    """A law's simulation-based calibration."""

    law: str
    settings: SbcSettings
    params: tuple[ParamCalibration, ...]
    passed: bool
    level: float  # per-quantity level: alpha / number of distinct quantities
    n_rows: int  # rows of the simulated sweeps' design
    design: str
    divergences: np.ndarray  # per simulation, after warm-up, all chains
    rhat_max: np.ndarray  # per simulation, over every latent value (NaN with one chain)
    timings_s: dict[str, float]
    card: str

    @property
    def draws_ranked(self) -> int:
        """L: the posterior draws each truth is ranked among."""
        return self.settings.ranks_range - 1


# --- the design ---------------------------------------------------------------------


def design_arrays(law: str, sweep: Sweep | None = None) -> tuple[LawArrays, str]:
    """The fixed design of ``law``'s simulated sweeps, as a fit reads it, and a description.

    ``sweep``: the rows of a real sweep as the design (its observations only fill the
    anchors ``m_hat``/``lhat``). Default: for the loss law a warmup-stable-decay sweep
    (7 model sizes 40M-2.6B, each one run with cooldown branches at 5-80 tokens per
    parameter) so that run effects are calibrated too; for the other laws their
    simulator's default design.
    """
    if law not in LAWS:
        raise BadInputError(f"unknown law {law!r}; valid: {', '.join(LAWS)}")
    if sweep is not None:
        if sweep.law != law:
            raise BadInputError(f"the design sweep was loaded for law {sweep.law!r}, not {law!r}", file=sweep.path)
        arrays = law_arrays(sweep)
        return arrays, f"the rows of {sweep.path}; {len(arrays.obs)} rows"
    truth, design = (LossTruth(sigma_run=0.005), SweepDesign(wsd=True)) if law == "loss" else (None, None)
    # The simulator's own noise only fills the design's anchors (m_hat, lhat); its key is fixed.
    frame = simulate_sweep(law, truth, design, rng_key=jax.random.key(0))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{law}.csv"
        frame.to_csv(path, index=False)
        arrays = law_arrays(load_sweep(path, law=law))
    described = {
        "loss": "7 WSD runs (N 4e7-2.56e9), cooldown branches at 5, 10, 20, 40, 80 tokens/param",
    }.get(law, f"the {law} simulator's default design")
    return arrays, f"{described}; {len(arrays.obs)} rows"


# --- simulation ---------------------------------------------------------------------


def _model(arrays: LawArrays, card: ModelCard) -> Callable:
    return functools.partial(arrays.model, card=card, structure=arrays.structure)


def simulate_from_prior(arrays: LawArrays, card: ModelCard, sims: int, *, noise_factor: float = 1.0, rng_key: jax.Array) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(truths, observations): ``sims`` draws of every site from the prior and the sweep
    simulated at each. With ``noise_factor`` != 1 the observations are simulated with
    the noise scale ``sigma`` multiplied by it, while the truths keep the prior's sigma:
    the fitted model is then wrong about the noise (a negative control)."""
    k_prior, k_obs = jax.random.split(rng_key)
    model = _model(arrays, card)
    prior = {k: np.asarray(v) for k, v in Predictive(model, num_samples=sims)(k_prior, arrays.data).items()}
    obs = prior[arrays.obs_name]
    if noise_factor != 1.0:
        latent = _latent_names(model, arrays)
        wrong = {k: jnp.asarray(prior[k]) for k in latent}
        wrong["sigma"] = wrong["sigma"] * noise_factor
        obs = np.asarray(Predictive(model, posterior_samples=wrong, return_sites=[arrays.obs_name])(k_obs, arrays.data)[arrays.obs_name])
    if not np.all(np.isfinite(obs)):
        raise FloatingPointError(f"{int((~np.isfinite(obs)).sum())} simulated observations are not finite")
    return prior, obs


def _latent_names(model: Callable, arrays: LawArrays) -> list[str]:
    from numpyro.handlers import seed, trace

    tr = trace(seed(model, 0)).get_trace(arrays.data)
    return [k for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"] and k != arrays.obs_name]


# --- ranks and tests ----------------------------------------------------------------


def chi2_uniform_p(ranks: np.ndarray, n_values: int, bins: int) -> float:
    """p-value of Pearson's chi-square test that ``ranks`` (in 0..n_values-1) are uniform,
    over ``bins`` equal bins (``n_values`` a multiple of ``bins``)."""
    counts = np.bincount(np.asarray(ranks) * bins // n_values, minlength=bins)
    expected = len(ranks) / bins
    stat = float(((counts - expected) ** 2 / expected).sum())
    # The chi-square survival function with bins - 1 degrees of freedom.
    return float(jax.scipy.special.gammaincc((bins - 1) / 2.0, stat / 2.0))


def _ranked_names(card: ModelCard, prior: dict[str, np.ndarray], sims: int) -> list[str]:
    names = [k for k in (*card.params, *_ALSO_RANKED) if k in prior and prior[k].shape == (sims,)]
    return list(dict.fromkeys(names))


def _posterior(model: Callable, arrays: LawArrays, z: dict[str, np.ndarray], obs: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Constrained draws (and deterministic sites) of ``names``, shaped (sims, chains, kept)."""
    sims, chains, kept = next(iter(z.values())).shape[:3]
    flat = {k: jnp.asarray(v.reshape((sims * chains * kept,) + v.shape[3:])) for k, v in z.items()}
    lane_obs = jnp.asarray(np.repeat(obs, chains * kept, axis=0))

    def one(z1, y):
        values = constrain_fn(model, (arrays.data,), {arrays.obs_name: y}, z1, return_deterministic=True)
        return {k: values[k] for k in names}

    out = jax.jit(jax.vmap(one))(flat, lane_obs)
    return {k: np.asarray(v).reshape(sims, chains, kept) for k, v in out.items()}


class _Fits(NamedTuple):
    z: dict[str, np.ndarray]  # thinned unconstrained draws, (sims, chains, kept, ...)
    divergences: np.ndarray  # per simulation, after warm-up
    rhat_max: np.ndarray  # per simulation (NaN with one chain)
    compile_s: float
    sample_s: float


def _fit_all(arrays: LawArrays, card: ModelCard, spec: SamplerSettings, obs: np.ndarray, thin: int, *, rng_key: jax.Array, progress) -> _Fits:
    """Fit every simulated sweep with one compiled sampler (``fitting._sampler``)."""
    sampler = _sampler(arrays.model, card, arrays.structure, spec)
    keys = jax.random.split(rng_key, len(obs))
    kept: dict[str, list[np.ndarray]] = {}
    divergences = np.zeros(len(obs), dtype=int)
    rhat = np.full(len(obs), np.nan)
    compile_s = 0.0
    t1 = time.perf_counter()
    for i in range(len(obs)):
        raw = sampler.run(keys[i], (arrays.data,), {arrays.obs_name: jnp.asarray(obs[i])}, progress=False)
        compile_s += raw.compile_s
        for k, v in raw.z.items():
            kept.setdefault(k, []).append(v[:, thin - 1 :: thin])
        divergences[i] = int(raw.diverging.sum())
        if spec.chains > 1:  # on every draw of every latent site, before thinning
            rhat[i] = _rhat(raw.z)
        if progress is not None:
            progress(i + 1, len(obs))
    z = {k: np.stack(v) for k, v in kept.items()}
    return _Fits(z, divergences, rhat, compile_s, time.perf_counter() - t1 - compile_s)


def calibrate(
    law: str,
    settings: SbcSettings = SbcSettings(),
    *,
    card: ModelCard | str | None = None,
    design: Sweep | None = None,
    rng_key: jax.Array,
    progress: Callable[[int, int], None] | None = None,
) -> SbcResult:
    """Simulation-based calibration of ``law``'s model card (default: the shipped card) on
    ``design``'s rows (default: ``design_arrays``'s sweep shaped like a real one)."""
    ensure_configured()
    s = settings.resolved()
    card = load_card(law) if card is None else (load_card(card) if isinstance(card, str) else card)
    if card.law != law:
        raise BadInputError(f"model card {card.name!r} is for law {card.law!r}, not {law!r}")
    arrays, described = design_arrays(law, design)
    model = _model(arrays, card)
    k_sim, k_fit = jax.random.split(rng_key)
    t0 = time.perf_counter()
    prior, obs = simulate_from_prior(arrays, card, s.sims, noise_factor=s.noise_factor, rng_key=k_sim)
    simulate_s = time.perf_counter() - t0
    spec = SamplerSettings(
        chains=s.chains,
        warmup=s.warmup,
        draws=s.draws,
        target_accept=card.sampler.target_accept,
        dense_mass=card.sampler.dense_mass,
        max_tree_depth=card.sampler.max_tree_depth,
        init=card.sampler.init,
    )
    fits = _fit_all(arrays, card, spec, obs, s.thin, rng_key=k_fit, progress=progress)
    names = _ranked_names(card, prior, s.sims)
    post = _posterior(model, arrays, fits.z, obs, names)

    n_values = s.ranks_range
    ranked: dict[str, np.ndarray] = {}
    calib_input = {}
    for k in names:
        draws = post[k].reshape(s.sims, -1)[:, : n_values - 1]  # L = n_values - 1 draws
        ranks = (draws < prior[k][:, None]).sum(axis=1)
        q = np.quantile(draws, (0.05, 0.25, 0.75, 0.95), axis=1)
        truth = prior[k]
        calib_input[k] = (ranks, float(np.mean((q[1] <= truth) & (truth <= q[2]))), float(np.mean((q[0] <= truth) & (truth <= q[3]))))
        ranked[k] = ranks
    # A quantity with the same ranks as one before it (E and e = log E) is tested once.
    same: dict[str, str | None] = {}
    for i, k in enumerate(names):
        same[k] = next((j for j in names[:i] if same[j] is None and np.array_equal(ranked[j], ranked[k])), None)
    distinct = [k for k in names if same[k] is None]
    level = s.alpha / len(distinct)
    params = []
    for k in names:
        ranks, c50, c90 = calib_input[k]
        p = chi2_uniform_p(ranks, n_values, s.bins)
        params.append(ParamCalibration(k, ranks, p, bool(p >= level), c50, c90, same[k]))
    return SbcResult(
        law=law,
        settings=s,
        params=tuple(params),
        passed=all(p.passed for p in params if p.same_as is None),
        level=level,
        n_rows=len(arrays.obs),
        design=described,
        divergences=fits.divergences,
        rhat_max=fits.rhat_max,
        timings_s={"simulate": round(simulate_s, 3), "compile": round(fits.compile_s, 3), "sample": round(fits.sample_s, 3), "total": round(time.perf_counter() - t0, 3)},
        card=card.name,
    )


def _rhat(z: dict[str, np.ndarray]) -> float:
    """The largest rank-normalised split R-hat over every latent value of one fit."""
    values = az.rhat(az.convert_to_dataset({k: v for k, v in z.items()}))
    return float(max(np.nanmax(np.asarray(v)) for v in values.data_vars.values()))
