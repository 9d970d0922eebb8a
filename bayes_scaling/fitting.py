"""Fitting a law to a sweep: arrays from the sweep, NUTS, InferenceData, diagnostics."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Sequence

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from numpyro.handlers import substitute, trace
from numpyro.infer.util import constrain_fn

from .cards import ModelCard, SamplerSettings, load_card
from .defaults import pick
from .diagnostics import diagnose
from .errors import BadInputError
from .jaxsetup import ensure_configured
from .models import GROUPABLE, OBS, LossData, LossStructure, loss_model
from .programs import package_versions
from .run import ParamSummary, Run, Summary
from .sampler import CompiledSampler
from .sweep import Sweep

# Scalar parameters reported in summary.json, in this order (DESIGN.md names first).
_REPORTED = ("E", "A", "B", "alpha", "beta", "a", "b", "e", "sigma", "nu", "sigma_run", "tau_e", "tau_alpha", "tau_beta")
# Sampled (latent) sites: R-hat and ESS are checked on all of them.
_LATENT = ("e", "a_c", "b_c", "alpha", "beta", "sigma", "nu", "sigma_run", "tau_e", "tau_alpha", "tau_beta", "e_raw", "alpha_raw", "beta_raw", "z_run")


@dataclass(frozen=True)
class LossArrays:
    """Everything the loss model needs, as arrays, plus the labels behind the indices."""

    data: LossData
    log_loss: np.ndarray
    structure: LossStructure
    group_levels: tuple[str, ...]
    run_levels: tuple[str, ...]


def loss_arrays(sweep: Sweep, group_params: Sequence[str] = ("e",)) -> LossArrays:
    """Turn a validated sweep into the loss model's arrays (log N and log D centred)."""
    bad = [p for p in group_params if p not in GROUPABLE]
    if bad:
        raise BadInputError(f"--group-params: {bad[0]!r} cannot vary by group; valid: {', '.join(GROUPABLE)}")
    f = sweep.frame
    log_n, log_d = np.log(f["N"].to_numpy(float)), np.log(f["D"].to_numpy(float))
    labels = sweep.group_labels()
    group_levels, group = np.unique(labels, return_inverse=True) if sweep.groups else (np.array([""]), np.zeros(len(f), int))
    if sweep.groups and len(group_levels) < 2:
        raise BadInputError(f"--group {' '.join(sweep.groups)}: only one group ({group_levels[0]!r}) in the data; nothing to pool", file=sweep.path)
    # Only runs with several rows get an effect: a run seen once cannot tell its effect from noise.
    run_levels: np.ndarray = np.array([], dtype=object)
    run = np.zeros(len(f), dtype=int)
    if "run_id" in f.columns:
        ids = f["run_id"].astype(str).to_numpy()
        uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
        multi = counts >= 2
        run_levels = uniq[multi]
        slot = np.full(len(uniq), multi.sum())  # single-row runs point past the last effect (zero)
        slot[multi] = np.arange(multi.sum())
        run = slot[inverse]
    else:
        run[:] = 0
    structure = LossStructure(
        n_groups=len(group_levels) if sweep.groups else 1,
        n_runs=len(run_levels),
        group_params=tuple(group_params) if sweep.groups else (),
    )
    data = LossData(
        x=jnp.asarray(log_n - log_n.mean()),
        z=jnp.asarray(log_d - log_d.mean()),
        group=jnp.asarray(group, dtype=jnp.int32),
        run=jnp.asarray(run, dtype=jnp.int32),
        log_n_centre=jnp.asarray(log_n.mean()),
        log_d_centre=jnp.asarray(log_d.mean()),
    )
    return LossArrays(data, np.log(f["loss"].to_numpy(float)), structure, tuple(map(str, group_levels)), tuple(map(str, run_levels)))


def _constrain(model, args, kwargs, z: dict, spec: SamplerSettings) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Constrained values, deterministic sites and pointwise log-likelihood of every draw."""

    def one(z1):
        params = constrain_fn(model, args, kwargs, z1, return_deterministic=True)
        tr = trace(substitute(model, data=params)).get_trace(*args, **kwargs)
        return params, tr[OBS]["fn"].log_prob(tr[OBS]["value"])

    flat = {k: jnp.reshape(v, (-1,) + v.shape[2:]) for k, v in z.items()}
    params, loglik = jax.jit(jax.vmap(one))(flat)
    shape = (spec.chains, spec.draws)
    samples = {k: np.asarray(v).reshape(shape + v.shape[1:]) for k, v in params.items()}
    return samples, np.asarray(loglik).reshape(shape + loglik.shape[1:])


# One compiled sampler per (card, structure, settings); reused across fits in a process,
# so a refit of same-shaped data skips tracing and compilation.
@functools.lru_cache(maxsize=32)
def _sampler(card: ModelCard, structure: LossStructure, spec: SamplerSettings) -> CompiledSampler:
    model_key = f"loss|{card.source}|{structure!r}"
    return CompiledSampler(functools.partial(loss_model, card=card, structure=structure), spec, model_key)


def _versions() -> dict[str, str]:
    out = package_versions(("bayes-scaling", "numpyro", "jax", "jaxlib", "arviz", "numpy", "pandas"))
    out["backend"] = jax.default_backend()
    return out


def _param_summary(x: np.ndarray, r: float, b: float, t: float) -> ParamSummary:
    q = np.quantile(x, (0.05, 0.5, 0.95))
    return ParamSummary(float(x.mean()), float(x.std(ddof=1)), float(q[0]), float(q[1]), float(q[2]), float(r), float(b), float(t))


def _spec(card: ModelCard, chains: int | None, warmup: int | None, draws: int | None) -> SamplerSettings:
    """Sampler settings: the caller's, else the card's, else the defaults table."""
    s = card.sampler
    spec = SamplerSettings(
        chains=int(chains if chains is not None else s.chains or pick("chains", None)),
        warmup=int(warmup if warmup is not None else s.warmup),
        draws=int(draws if draws is not None else s.draws),
        target_accept=float(s.target_accept),
        dense_mass=bool(s.dense_mass),
        max_tree_depth=int(s.max_tree_depth),
    )
    if spec.chains < 1 or spec.draws < 1 or spec.warmup < 0:
        raise BadInputError(f"need chains >= 1, draws >= 1, warmup >= 0; got {spec.chains}, {spec.draws}, {spec.warmup}")
    return spec


def _inference_data(arrays: LossArrays, samples: dict, loglik: np.ndarray, raw) -> az.InferenceData:
    """The run's InferenceData: posterior, sample_stats, log_likelihood, observed and constant data."""
    coords = {"row": np.arange(len(arrays.log_loss))}
    dims = {OBS: ["row"], "x": ["row"], "z": ["row"]}
    if arrays.structure.n_groups > 1:
        coords["group"] = list(arrays.group_levels)
        for p in GROUPABLE:
            dims[f"{p}_raw"] = ["group"]
            dims[f"{p}_group"] = ["group"]
    if arrays.structure.n_runs:
        coords["run"] = list(arrays.run_levels)
        dims["z_run"] = ["run"]
    return az.from_dict(
        posterior=samples,
        sample_stats={
            "diverging": raw.diverging,
            "energy": raw.energy,
            "n_steps": raw.num_steps,
            "acceptance_rate": raw.accept_prob,
            "step_size": raw.step_size,
        },
        log_likelihood={OBS: loglik},
        observed_data={OBS: arrays.log_loss},
        constant_data={
            "x": np.asarray(arrays.data.x),
            "z": np.asarray(arrays.data.z),
            "log_n_centre": float(arrays.data.log_n_centre),
            "log_d_centre": float(arrays.data.log_d_centre),
        },
        coords=coords,
        dims=dims,
    )


def _params(idata: az.InferenceData, arrays: LossArrays) -> dict[str, ParamSummary]:
    """summary.json's ``params``: every reported scalar, and per-group values as ``name[group]``."""
    reported = [k for k in _REPORTED if k in idata.posterior]
    _, rhat, bulk, tail = diagnose(idata, reported)
    params = {k: _param_summary(np.asarray(idata.posterior[k]).ravel(), rhat[k], bulk[k], tail[k]) for k in reported}
    if arrays.structure.n_groups > 1:
        for p in arrays.structure.group_params:
            name = f"{p}_group"
            values = np.asarray(idata.posterior[name])
            _, rg, bg, tg = diagnose(idata, [name])
            for i, level in enumerate(arrays.group_levels):
                params[f"{p}[{level}]"] = _param_summary(values[..., i].ravel(), rg[name][i], bg[name][i], tg[name][i])
    return params


def fit(
    sweep: Sweep,
    *,
    card: ModelCard | str | None = None,
    group_params: Sequence[str] = ("e",),
    chains: int | None = None,
    warmup: int | None = None,
    draws: int | None = None,
    seed: int | None = None,
    progress: bool | None = None,
    command: str = "",
) -> Run:
    """Fit the sweep's law with NUTS and return a ``Run`` with diagnostics.

    Settings left as ``None`` come from the model card's ``[sampler]`` table, then
    from ``bayes_scaling.defaults``. ``progress=None`` shows progress on a terminal.
    """
    ensure_configured()
    card = load_card(sweep.law) if card is None else (load_card(card) if isinstance(card, str) else card)
    if card.law != sweep.law:
        raise BadInputError(f"model card {card.name!r} is for law {card.law!r}, the sweep was loaded for {sweep.law!r}")
    spec = _spec(card, chains, warmup, draws)
    seed = int(pick("seed", seed))
    arrays = loss_arrays(sweep, group_params)
    sampler = _sampler(card, arrays.structure, spec)
    args, kwargs = (arrays.data,), {"log_loss": jnp.asarray(arrays.log_loss)}
    raw = sampler.run(jax.random.key(seed), args, kwargs, progress=progress)

    t0 = time.perf_counter()
    samples, loglik = _constrain(sampler.model, args, kwargs, raw.z, spec)
    idata = _inference_data(arrays, samples, loglik, raw)
    diag, _, _, _ = diagnose(idata, [k for k in _LATENT if k in idata.posterior])
    params = _params(idata, arrays)
    post_s = time.perf_counter() - t0
    summary = Summary(
        law=sweep.law,
        n_rows=sweep.n_rows,
        data_sha256=sweep.data_sha256,
        seed=seed,
        versions=_versions(),
        timings_s={"compile": round(raw.compile_s, 3), "sample": round(raw.sample_s, 3), "postprocess": round(post_s, 3)},
        converged=diag.converged,
        divergences=diag.divergences,
        params=params,
        rhat_max=diag.rhat_max,
        ess_bulk_min=diag.ess_bulk_min,
        ess_tail_min=diag.ess_tail_min,
        ebfmi=diag.ebfmi,
        problems=diag.problems,
        sampler=spec._asdict(),
        data_path=sweep.path,
        card=card.name,
        groups=sweep.groups,
        group_levels=arrays.group_levels if sweep.groups else (),
        n_runs_with_effect=arrays.structure.n_runs,
        n_hot_left_out=sweep.n_hot_left_out,
        n_filtered_out=sweep.n_filtered_out,
        command=command,
    )
    return Run(idata=idata, summary=summary, card=card)
