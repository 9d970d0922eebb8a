"""Fitting a law to a sweep: arrays from the sweep, NUTS, InferenceData, diagnostics."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Callable, NamedTuple, Sequence

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from numpyro.handlers import substitute, trace
from numpyro.infer.util import constrain_fn

from .arrays import LawArrays, law_arrays
from .cards import ModelCard, SamplerSettings, load_card
from .compare import loo_compare
from .defaults import pick
from .diagnostics import diagnose
from .errors import BadInputError
from .jaxsetup import ensure_configured
from .model_loss import LossStructure
from .programs import package_versions
from .run import ParamSummary, Run, Summary
from .sampler import CompiledSampler
from .sweep import Sweep

# Scalars reported in summary.json after the card's own list (hierarchy scales of the loss law).
_ALSO_REPORTED = ("sigma_run", "tau_e", "tau_alpha", "tau_beta")


def _constrain(
    model, args, kwargs, z: dict, spec: SamplerSettings, obs: str, rng_key: jax.Array
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Constrained values, deterministic sites, pointwise log-likelihood and one posterior
    predictive replicate of the observations for every draw."""

    def one(z1, k):
        params = constrain_fn(model, args, kwargs, z1, return_deterministic=True)
        tr = trace(substitute(model, data=params)).get_trace(*args, **kwargs)
        fn = tr[obs]["fn"]
        return params, fn.log_prob(tr[obs]["value"]), fn.sample(k)

    flat = {k: jnp.reshape(v, (-1,) + v.shape[2:]) for k, v in z.items()}
    keys = jax.random.split(rng_key, spec.chains * spec.draws)
    params, loglik, replicate = jax.jit(jax.vmap(one))(flat, keys)
    shape = (spec.chains, spec.draws)
    samples = {k: np.asarray(v).reshape(shape + v.shape[1:]) for k, v in params.items()}
    return samples, np.asarray(loglik).reshape(shape + loglik.shape[1:]), np.asarray(replicate).reshape(shape + replicate.shape[1:])


# One compiled sampler per (card, structure, settings); reused across fits in a process,
# so a refit of same-shaped data skips tracing and compilation.
@functools.lru_cache(maxsize=32)
def _sampler(model: Callable, card: ModelCard, structure: NamedTuple, spec: SamplerSettings) -> CompiledSampler:
    model_key = f"{model.__module__}.{model.__name__}|{card.source}|{structure!r}"
    return CompiledSampler(functools.partial(model, card=card, structure=structure), spec, model_key)


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
        init=s.init,
    )
    if spec.chains < 1 or spec.draws < 1 or spec.warmup < 0:
        raise BadInputError(f"need chains >= 1, draws >= 1, warmup >= 0; got {spec.chains}, {spec.draws}, {spec.warmup}")
    return spec


def _inference_data(arrays: LawArrays, samples: dict, loglik: np.ndarray, replicate: np.ndarray, raw) -> az.InferenceData:
    """The run's InferenceData: posterior, posterior_predictive, sample_stats, log_likelihood,
    observed and constant data."""
    return az.from_dict(
        posterior=samples,
        posterior_predictive={arrays.obs_name: replicate},
        sample_stats={
            "diverging": raw.diverging,
            "energy": raw.energy,
            "n_steps": raw.num_steps,
            "acceptance_rate": raw.accept_prob,
            "step_size": raw.step_size,
        },
        log_likelihood={arrays.obs_name: loglik},
        observed_data={arrays.obs_name: arrays.obs},
        constant_data=dict(arrays.constant),
        coords={"row": np.arange(len(arrays.obs)), **arrays.coords},
        dims={arrays.obs_name: ["row"], **arrays.dims},
    )


def _params(idata: az.InferenceData, arrays: LawArrays, card: ModelCard) -> dict[str, ParamSummary]:
    """summary.json's ``params``: every reported scalar, and per-group values as ``name[group]``."""
    post = idata.posterior
    reported = [k for k in (*card.params, *_ALSO_REPORTED) if k in post and post[k].ndim == 2]
    _, rhat, bulk, tail = diagnose(idata, reported)
    params = {k: _param_summary(np.asarray(post[k]).ravel(), rhat[k], bulk[k], tail[k]) for k in reported}
    structure = arrays.structure
    if isinstance(structure, LossStructure) and structure.n_groups > 1:
        for p in structure.group_params:
            name = f"{p}_group"
            values = np.asarray(post[name])
            _, rg, bg, tg = diagnose(idata, [name])
            for i, level in enumerate(arrays.group_levels):
                params[f"{p}[{level}]"] = _param_summary(values[..., i].ravel(), rg[name][i], bg[name][i], tg[name][i])
    return params


def fit(
    sweep: Sweep,
    *,
    card: ModelCard | str | None = None,
    group_params: Sequence[str] = ("e",),
    n_term: bool = True,
    compare: bool = True,
    chains: int | None = None,
    warmup: int | None = None,
    draws: int | None = None,
    seed: int | None = None,
    progress: bool | None = None,
    command: str = "",
) -> Run:
    """Fit the sweep's law with NUTS and return a ``Run`` with diagnostics.

    ``group_params`` (loss law): parameters that vary by ``--group``. ``n_term``
    (batch law): include the bopt_n log N term. ``compare``: also fit the rival model
    and put a PSIS-LOO comparison in ``summary.extra["loo"]`` -- for the batch law the
    same law without its N term, for three_term the batch law on the same rows.
    Sampler settings left as ``None`` come from the model card's ``[sampler]`` table,
    then from ``bayes_scaling.defaults``. ``progress=None`` shows progress on a terminal.
    """
    settings = dict(chains=chains, warmup=warmup, draws=draws, seed=seed, progress=progress)
    run = _fit_one(sweep, card=card, group_params=group_params, n_term=n_term, command=command, **settings)
    rival = None
    if compare and sweep.law == "batch" and "bopt_n" in run.idata.posterior:
        rival = ("with bopt_n", "without bopt_n", lambda: _fit_one(sweep, n_term=False, **settings))
    elif compare and sweep.law == "three_term":
        rival = ("three_term", "batch", lambda: _fit_one(dataclasses.replace(sweep, law="batch"), **settings))
    if rival is None:
        return run
    name_a, name_b, fit_rival = rival
    notes = list(run.summary.notes)
    extra = dict(run.summary.extra)
    try:
        other = fit_rival()
    except BadInputError as err:
        notes.append(f"no LOO comparison with the {name_b} model: {err}")
    else:
        extra["loo"] = loo_compare(name_a, run.idata, name_b, other.idata).to_json()
        extra["loo_rival_converged"] = other.summary.converged
        if not other.summary.converged:
            notes.append(f"the {name_b} model fitted for the LOO comparison did not converge: {'; '.join(other.summary.problems)}")
    return dataclasses.replace(run, summary=dataclasses.replace(run.summary, notes=tuple(notes), extra=extra))


def _fit_one(
    sweep: Sweep,
    *,
    card: ModelCard | str | None = None,
    group_params: Sequence[str] = ("e",),
    n_term: bool = True,
    chains: int | None = None,
    warmup: int | None = None,
    draws: int | None = None,
    seed: int | None = None,
    progress: bool | None = None,
    command: str = "",
) -> Run:
    """One NUTS fit of one model (see ``fit``)."""
    ensure_configured()
    card = load_card(sweep.law) if card is None else (load_card(card) if isinstance(card, str) else card)
    if card.law != sweep.law:
        raise BadInputError(f"model card {card.name!r} is for law {card.law!r}, the sweep was loaded for {sweep.law!r}")
    spec = _spec(card, chains, warmup, draws)
    seed = int(pick("seed", seed))
    arrays = law_arrays(sweep, group_params=group_params, n_term=n_term)
    sampler = _sampler(arrays.model, card, arrays.structure, spec)
    args, kwargs = (arrays.data,), {arrays.obs_name: jnp.asarray(arrays.obs)}
    raw = sampler.run(jax.random.key(seed), args, kwargs, progress=progress)

    t0 = time.perf_counter()
    # The replicates' key is folded from the seed rather than split from it, so that adding
    # them left the sampler's stream, and every posterior of a given seed, as it was.
    ppc_key = jax.random.fold_in(jax.random.key(seed), 1)
    samples, loglik, replicate = _constrain(sampler.model, args, kwargs, raw.z, spec, arrays.obs_name, ppc_key)
    idata = _inference_data(arrays, samples, loglik, replicate, raw)
    idata.constant_data["sweep_row"] = ("row", arrays.rows)
    if sweep.file_rows is not None:  # the row of the file, as error messages and reports name it
        idata.constant_data["file_row"] = ("row", np.asarray(sweep.file_rows)[arrays.rows])
    # Convergence is judged on every sampled (latent) site.
    diag, _, _, _ = diagnose(idata, sorted(raw.z))
    params = _params(idata, arrays, card)
    post_s = time.perf_counter() - t0
    summary = Summary(
        law=sweep.law,
        n_rows=len(arrays.rows),
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
        n_runs_with_effect=getattr(arrays.structure, "n_runs", 0),
        n_hot_left_out=sweep.n_hot_left_out,
        n_filtered_out=sweep.n_filtered_out,
        command=command,
        notes=arrays.notes,
        extra=dict(arrays.extra),
        sweep_options=sweep.options,
    )
    return Run(idata=idata, summary=summary, card=card)
