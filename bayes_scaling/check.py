"""Extrapolation check: refit a run without some rows and ask how well it predicts them.

Users extrapolate to larger runs, so the rows held out are usually the largest N or
compute (leave-future-out, Burkner, Gabry and Vehtari 2020, arXiv 1902.06281;
SCIENCE.md section 5). For each held-out row the refit's posterior predictive of what a
run there would measure -- the law, the run's effect and the Student-t noise, exactly
as the model's likelihood -- is compared with what was measured: the share of rows
inside their 50 % and 90 % intervals, each row's PIT, and the relative error of the
predictive median.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .arrays import loss_arrays
from .defaults import default
from .errors import BadInputError, UsageError
from .fitting import fit
from .laws import chinchilla_log_loss
from .model_loss import GROUPABLE, ND
from .run import Run, scalar_constant
from .sweep import Sweep, SweepOptions, load_sweep

# Laws whose posterior predictive of a new row ``check`` knows how to draw. The
# hyperparameter laws' likelihoods (settings' bowls, tokens-to-target) are not
# reproduced here, and a check that guessed them would measure the guess.
SUPPORTED_LAWS = ("loss",)
# The predictive quantiles stored per row: the 90 % (q05-q95) and 50 % (q25-q75)
# central intervals the issue asks about, and the median.
PREDICTIVE_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# The column a holdout expression may use besides the sweep's own: C = 6 N D (SCIENCE.md section 1).
COMPUTE = "compute"
# Where a held-out row's run effect comes from.
EFFECT_FITTED, EFFECT_NEW, EFFECT_NONE = "fitted", "new", "none"


class Coverage(NamedTuple):
    """How well held-out rows sit in their predictive intervals."""

    coverage_50: float  # share of rows with q25 <= observed <= q75
    coverage_90: float  # share of rows with q05 <= observed <= q95
    median_abs_rel_error: float  # median over rows of |q50 - observed| / observed


class CheckRow(NamedTuple):
    """One held-out row: what was measured and what the refit predicted there."""

    file_row: int  # 1-based data row of the CSV
    N: float
    D: float
    compute: float  # 6 N D
    run_id: str
    group: str
    run_effect: str  # "fitted": its run's effect from training rows; "new": a new run's effect drawn; "none": no effect, as the model
    observed: float
    q05: float
    q25: float
    q50: float
    q75: float
    q95: float
    pit: float  # share of predictive draws at or below the observed loss


@dataclass(frozen=True)
class Check:
    """The result of ``check``: coverage, errors, each held-out row, and the refit's health."""

    holdout: str
    n_train: int
    n_holdout: int
    coverage_50: float
    coverage_90: float
    median_abs_rel_error: float
    rows: tuple[CheckRow, ...]
    train_compute: tuple[float, ...]  # the refit's rows, for the figure
    train_loss: tuple[float, ...]
    converged: bool
    problems: tuple[str, ...]
    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    seed: int  # the refit's (the original run's)
    predictive_seed: int | None  # the key of the predictive draws, when given as a seed
    sampler: Mapping[str, object]
    data_path: str
    data_sha256: str
    run_fingerprint: str  # of the checked run's summary, so a report can tell a stale check
    run_command: str
    command: str = ""
    notes: tuple[str, ...] = ()
    refit: Run | None = field(default=None, repr=False, compare=False)  # None when read back from check.json


def coverage(observed: np.ndarray, q: np.ndarray) -> Coverage:
    """Coverage of the 50 % and 90 % intervals and the median relative error of the median.

    ``q`` has one row per ``PREDICTIVE_QUANTILES`` entry (q05, q25, q50, q75, q95) and one
    column per held-out row. An interval includes its end points.

    >>> import numpy as np
    >>> q = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0]])
    >>> coverage(np.array([2.0, 4.5]), q)
    Coverage(coverage_50=0.5, coverage_90=1.0, median_abs_rel_error=0.5833333333333333)
    """
    observed = np.asarray(observed, dtype=float)
    q = np.asarray(q, dtype=float)
    if q.shape != (len(PREDICTIVE_QUANTILES), observed.size) or observed.size == 0:
        raise ValueError(f"need quantiles of shape ({len(PREDICTIVE_QUANTILES)}, n >= 1) for n observations; got {q.shape} and {observed.size}")
    inside_50 = (q[1] <= observed) & (observed <= q[3])
    inside_90 = (q[0] <= observed) & (observed <= q[4])
    rel = np.abs(q[2] - observed) / observed
    return Coverage(float(inside_50.mean()), float(inside_90.mean()), float(np.median(rel)))


def run_fingerprint(run: Run) -> str:
    """sha256 of the run's summary as JSON: changes whenever the run is refitted."""
    text = json.dumps(run.summary.to_json(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def holdout_mask(frame: pd.DataFrame, expr: str, *, file: str = "") -> np.ndarray:
    """Which rows of a sweep's frame ``expr`` holds out: a pandas query (``engine="python"``,
    as ``--where``) over the sweep's columns and ``compute`` = 6 N D.

    ``"compute >= compute.quantile(0.9)"`` holds out the largest decile of compute;
    ``"N > 1e9"`` every run above a billion parameters.
    """
    if not expr or not expr.strip():
        raise UsageError("--holdout needs an expression, e.g. \"compute >= compute.quantile(0.9)\"")
    if COMPUTE in frame.columns:
        raise BadInputError(f"the sweep has its own column {COMPUTE!r}; the holdout expression's {COMPUTE!r} is 6 N D. Rename the column in the file", file=file or None, column=COMPUTE)
    trial = frame.assign(**{COMPUTE: 6.0 * frame["N"].to_numpy(float) * frame["D"].to_numpy(float)})
    try:
        mask = trial.eval(expr, engine="python")
    except Exception as err:  # pandas raises many types for a bad expression
        raise BadInputError(f"--holdout {expr!r} could not be applied: {type(err).__name__}: {err}", file=file or None) from None
    mask = np.asarray(mask)
    if mask.shape != (len(frame),) or mask.dtype != bool:
        raise BadInputError(f"--holdout {expr!r} must give True or False for each row (a comparison such as \"N > 1e9\"); it gave {mask.dtype} of shape {mask.shape}", file=file or None)
    return mask


def reload_sweep(run: Run, *, data_path: str | Path | None = None, options: SweepOptions | None = None) -> Sweep:
    """The sweep ``run`` was fitted to, reloaded with the options the fit recorded (or
    ``options``), after checking that the file is the one fitted (its sha256) and that the
    same rows come out."""
    s = run.summary
    if s.law not in SUPPORTED_LAWS:
        raise UsageError(f"check supports the {', '.join(SUPPORTED_LAWS)} law; this is a {s.law} run")
    options = options or s.sweep_options
    if options is None:
        raise UsageError("this run folder does not record how its sweep was loaded (fitted by an older bayes-scaling); refit it, or pass options=SweepOptions(...)")
    path = Path(data_path or s.data_path)
    if not path.is_file():
        raise BadInputError("the run's data file is not there (moved?); pass its new place with --data", file=str(path))
    sweep = load_sweep(path, **options.load_kwargs())
    if sweep.data_sha256 != s.data_sha256:
        raise BadInputError(f"the data file changed since the fit: sha256 {sweep.data_sha256[:12]}..., the fit's {s.data_sha256[:12]}...; refit the run first", file=str(path))
    fitted_rows = run.idata.constant_data["file_row"].values if "file_row" in run.idata.constant_data else None
    if sweep.n_rows != s.n_rows or (fitted_rows is not None and not np.array_equal(np.asarray(sweep.file_rows), np.asarray(fitted_rows))):
        raise BadInputError(f"reloading gives {sweep.n_rows} rows, the fit used {s.n_rows} (other options than the fit's?)", file=str(path))
    return sweep


def _group_params(run: Run) -> tuple[str, ...]:
    """The parameters that varied by group in the fit: those with per-group draws."""
    return tuple(p for p in GROUPABLE if f"{p}_group" in run.idata.posterior)


def predictive_log_loss(refit: Run, held: pd.DataFrame, groups: np.ndarray, effect_runs: frozenset[str], *, rng_key: jax.Array) -> tuple[np.ndarray, tuple[str, ...]]:
    """Posterior predictive draws of log loss at ``held``'s rows, shape (draws, rows), and
    where each row's run effect came from.

    As the model's likelihood: the law (a group's own parameters where it has them), plus
    the run's effect -- its fitted draws when the run has rows in training; a new draw
    from Normal(0, sigma_run), shared by the run's held-out rows, when the run is wholly
    held out (or its training rows were too few for an effect) but would have an effect
    in the full data (``effect_runs``); none otherwise -- plus Student-t noise. Where the
    model constrains its run effects (a ``run_effect`` site kept off the law's directions),
    a new run's effect is still Normal(0, sigma_run): the constraint removes a few
    directions shared by all the runs, not a single new run's freedom.
    """
    const = refit.idata.constant_data
    x = np.log(held["N"].to_numpy(float)) - scalar_constant(const["log_n_centre"])
    z = np.log(held["D"].to_numpy(float)) - scalar_constant(const["log_d_centre"])
    levels = list(refit.summary.group_levels)
    params = {}
    for p in ("e", "alpha", "beta"):
        if f"{p}_group" in refit.idata.posterior:
            params[p] = refit.draws(f"{p}_group")[:, [levels.index(g) for g in groups]]
        else:
            params[p] = refit.draws(p)[:, None]
    b_n = refit.draws(ND)[:, None] if ND in refit.idata.posterior else 0.0
    mu = np.array(chinchilla_log_loss(x[None, :], z[None, :], params["e"], refit.draws("a_c")[:, None], params["alpha"], refit.draws("b_c")[:, None], params["beta"], b_n))
    n_draws, n_rows = mu.shape
    k_run, k_noise = jax.random.split(rng_key)
    fitted, labels = refit.run_effects()
    slot = {r: i for i, r in enumerate(labels)}
    run_ids = held["run_id"].astype(str).to_numpy() if "run_id" in held.columns else np.full(n_rows, "", dtype=object)
    new_runs = sorted({r for r in run_ids if r not in slot and r in effect_runs})
    has_scale = "sigma_run" in refit.idata.posterior
    new = np.asarray(jax.random.normal(k_run, (n_draws, len(new_runs)))) * (refit.draws("sigma_run")[:, None] if has_scale else 0.0)
    kinds = []
    for i, r in enumerate(run_ids):
        if r in slot:
            mu[:, i] += fitted[:, slot[r]]
            kinds.append(EFFECT_FITTED)
        elif r in effect_runs and has_scale:
            mu[:, i] += new[:, new_runs.index(r)]
            kinds.append(EFFECT_NEW)
        else:
            kinds.append(EFFECT_NONE)
    t = np.asarray(jax.random.t(k_noise, jnp.asarray(refit.draws("nu"))[:, None], (n_draws, n_rows)))
    return mu + refit.draws("sigma")[:, None] * t, tuple(kinds)


def _held_out(sweep: Sweep, holdout: str) -> np.ndarray:
    """The rows ``holdout`` holds out, refused when the check could not be made of them."""
    file = sweep.path
    held = holdout_mask(sweep.frame, holdout, file=file)
    n_held, n_train = int(held.sum()), int((~held).sum())
    if n_held == 0:
        raise BadInputError(f"--holdout {holdout!r} holds out no row of the {sweep.n_rows} fitted; nothing to check", file=file)
    min_train = int(default("check_min_train_rows"))
    if n_train < min_train:
        raise BadInputError(f"--holdout {holdout!r} holds out {n_held} of {sweep.n_rows} rows, leaving {n_train} to refit; the refit needs at least {min_train}", file=file)
    labels = sweep.group_labels()
    missing = sorted(set(labels[held]) - set(labels[~held]))
    if missing:
        raise BadInputError(f"--holdout {holdout!r} holds out every row of group {missing[0]!r}; the refit would know nothing of its parameters", file=file)
    return held


def _score(refit: Run, sweep: Sweep, held: np.ndarray, effect_runs: frozenset[str], rng_key: jax.Array) -> tuple[tuple[CheckRow, ...], Coverage, tuple[str, ...]]:
    """Each held-out row against its posterior predictive; the coverage; notes on run effects."""
    frame = sweep.frame[held].reset_index(drop=True)
    groups = sweep.group_labels()[held]
    log_draws, kinds = predictive_log_loss(refit, frame, groups, effect_runs, rng_key=rng_key)
    observed = frame["loss"].to_numpy(float)
    # Quantiles in log space, then exp: Student-t draws can overflow exp, quantiles cannot.
    q = np.exp(np.quantile(log_draws, PREDICTIVE_QUANTILES, axis=0))
    pit = np.mean(log_draws <= np.log(observed)[None, :], axis=0)
    n, d = frame["N"].to_numpy(float), frame["D"].to_numpy(float)
    run_ids = frame["run_id"].astype(str).to_numpy() if "run_id" in frame.columns else np.full(len(frame), "", dtype=object)
    file_rows = np.asarray(sweep.file_rows)[held]
    rows = tuple(
        CheckRow(int(file_rows[i]), float(n[i]), float(d[i]), float(6.0 * n[i] * d[i]), str(run_ids[i]), str(groups[i]), kinds[i],
                 float(observed[i]), *(float(v) for v in q[:, i]), float(pit[i]))
        for i in range(len(frame))
    )
    why = {EFFECT_FITTED: "a fitted run effect (their run has training rows)",
           EFFECT_NEW: "a new run effect drawn (their run has no fitted effect: wholly held out, or one training row)"}
    notes = tuple(f"{kinds.count(k)} held-out rows with {text}" for k, text in why.items() if k in kinds)
    return rows, coverage(observed, q), notes


def check(
    run: Run,
    holdout: str,
    *,
    rng_key: jax.Array,
    predictive_seed: int | None = None,
    data_path: str | Path | None = None,
    options: SweepOptions | None = None,
    progress: bool | None = None,
    command: str = "",
) -> Check:
    """Refit ``run`` without the rows ``holdout`` selects and check its predictions of them.

    The refit uses the run's card, seed and sampler settings on the sweep reloaded as the
    fit loaded it (``reload_sweep``); ``rng_key`` draws the predictive noise and new runs'
    effects (``predictive_seed``, when it came from a seed, is recorded). Everything is
    validated before any sampling. An unconverged refit is returned all the same, with
    ``converged=False``.
    """
    sweep = reload_sweep(run, data_path=data_path, options=options)
    held = _held_out(sweep, holdout)
    group_params = _group_params(run) or ("e",)
    # Which runs the model gives an effect when fitted to all the rows: a wholly held-out run
    # among them gets a new run's effect, as the model would give it.
    effect_runs = frozenset(loss_arrays(sweep, group_params=group_params).run_levels)
    train = dataclasses.replace(sweep, frame=sweep.frame[~held].reset_index(drop=True), file_rows=np.asarray(sweep.file_rows)[~held], options=None)
    s = run.summary
    refit = fit(train, card=run.card, group_params=group_params, compare=False, chains=int(s.sampler["chains"]), warmup=int(s.sampler["warmup"]),
                draws=int(s.sampler["draws"]), seed=s.seed, progress=progress, command=command)
    note = f"refitted by check without the {int(held.sum())} rows of --holdout {holdout!r}"
    refit = dataclasses.replace(refit, summary=dataclasses.replace(refit.summary, notes=(*refit.summary.notes, note)))
    rows, cov, notes = _score(refit, sweep, held, effect_runs, rng_key)
    t, rs = train.frame, refit.summary
    return Check(
        holdout=holdout,
        n_train=train.n_rows,
        n_holdout=len(rows),
        coverage_50=cov.coverage_50,
        coverage_90=cov.coverage_90,
        median_abs_rel_error=cov.median_abs_rel_error,
        rows=rows,
        train_compute=tuple(map(float, 6.0 * t["N"].to_numpy(float) * t["D"].to_numpy(float))),
        train_loss=tuple(map(float, t["loss"].to_numpy(float))),
        converged=rs.converged,
        problems=rs.problems,
        rhat_max=rs.rhat_max,
        ess_bulk_min=rs.ess_bulk_min,
        ess_tail_min=rs.ess_tail_min,
        divergences=rs.divergences,
        seed=rs.seed,
        predictive_seed=predictive_seed,
        sampler=dict(rs.sampler),
        data_path=sweep.path,
        data_sha256=sweep.data_sha256,
        run_fingerprint=run_fingerprint(run),
        run_command=s.command,
        command=command,
        notes=notes,
        refit=refit,
    )
