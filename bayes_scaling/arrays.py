"""From a validated sweep to the arrays a law's model reads, one builder per law.

Each builder returns a ``LawArrays``: the model function, its data (a NamedTuple of
arrays), the observations, the static structure (which keys the compiled sampler),
and the labels, constant data and notes the fit stores with the posterior.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np

from .defaults import default
from .errors import BadInputError
from .model_bcrit import BcritData, BcritStructure, bcrit_model
from .model_bowl import BowlData, BowlStructure, bowl_model
from .model_loss import GROUPABLE, LossData, LossStructure, loss_model
from .model_three_term import ThreeTermData, ThreeTermStructure, three_term_model
from .sweep import Sweep


@dataclass(frozen=True)
class LawArrays:
    """Everything one fit needs, as arrays, plus the labels behind the indices."""

    model: Callable
    data: NamedTuple
    obs: np.ndarray
    obs_name: str
    structure: NamedTuple
    rows: np.ndarray  # indices into sweep.frame of the rows fitted
    coords: Mapping[str, list] = field(default_factory=dict)
    dims: Mapping[str, list[str]] = field(default_factory=dict)
    constant: Mapping[str, np.ndarray] = field(default_factory=dict)  # stored as constant_data
    group_levels: tuple[str, ...] = ()
    run_levels: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what was left out and why, for the user
    extra: Mapping[str, object] = field(default_factory=dict)  # into summary.json "extra"


def _col(sweep: Sweep, name: str, rows: np.ndarray | None = None) -> np.ndarray:
    values = sweep.frame[name].to_numpy(float)
    return values if rows is None else values[rows]


# --- loss ------------------------------------------------------------------------------


def loss_arrays(sweep: Sweep, group_params: Sequence[str] = ("e",)) -> LawArrays:
    """The loss model's arrays (log N and log D centred), groups and run effects."""
    bad = [p for p in group_params if p not in GROUPABLE]
    if bad:
        raise BadInputError(f"--group-params: {bad[0]!r} cannot vary by group; valid: {', '.join(GROUPABLE)}")
    f = sweep.frame
    log_n, log_d = np.log(_col(sweep, "N")), np.log(_col(sweep, "D"))
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
    n_groups = len(group_levels) if sweep.groups else 1
    run_basis = _run_basis(log_n - log_n.mean(), group, run, len(run_levels), n_groups)
    structure = LossStructure(
        n_groups=n_groups,
        n_runs=len(run_levels),
        group_params=tuple(group_params) if sweep.groups else (),
    )
    data = LossData(
        x=jnp.asarray(log_n - log_n.mean()),
        z=jnp.asarray(log_d - log_d.mean()),
        group=jnp.asarray(group, dtype=jnp.int32),
        run=jnp.asarray(run, dtype=jnp.int32),
        run_basis=jnp.asarray(run_basis),
        log_n_centre=jnp.asarray(log_n.mean()),
        log_d_centre=jnp.asarray(log_d.mean()),
    )
    coords: dict[str, list] = {}
    dims: dict[str, list[str]] = {"x": ["row"], "z": ["row"], "row_group": ["row"], "run_id": ["row"], "wsd": ["row"]}
    if structure.n_groups > 1:
        coords["group"] = [str(g) for g in group_levels]
        for p in GROUPABLE:
            dims[f"{p}_raw"] = ["group"]
            dims[f"{p}_group"] = ["group"]
    if structure.n_runs:
        coords["run"] = [str(r) for r in run_levels]
        dims["run_effect"] = ["run"]  # r_run has n_runs minus the directions removed; no labels
    notes = (f"{structure.n_runs} runs with several rows share a run effect",) if structure.n_runs else ()
    return LawArrays(
        model=loss_model,
        data=data,
        obs=np.log(_col(sweep, "loss")),
        obs_name="log_loss",
        structure=structure,
        rows=np.arange(len(f)),
        coords=coords,
        dims=dims,
        constant={
            "x": np.asarray(data.x),
            "z": np.asarray(data.z),
            "row_group": group,  # "group" is the name of the groups' dimension
            # Which run each row came from and whether its schedule can be branched
            # (WSD): `next` proposes cooldown branches of those runs (SCIENCE.md section 2).
            "run_id": f["run_id"].astype(str).to_numpy() if "run_id" in f.columns else np.full(len(f), "", dtype=object),
            "wsd": _branchable(f),
            "log_n_centre": float(log_n.mean()),
            "log_d_centre": float(log_d.mean()),
        },
        group_levels=tuple(map(str, group_levels)) if sweep.groups else (),
        run_levels=tuple(map(str, run_levels)),
        notes=notes,
    )


def _run_basis(x: np.ndarray, group: np.ndarray, run: np.ndarray, n_runs: int, n_groups: int) -> np.ndarray:
    """Orthonormal basis (n_runs, m) of the run effects allowed: the complement of the
    run-level directions an effect must not follow, each group's mean (confounded with its
    E) and the runs' mean log N (confounded with the N-term). m = n_runs minus the rank of
    those directions (every run the same size: the log N direction adds no rank)."""
    if n_runs == 0:
        return np.zeros((0, 0))
    has = run < n_runs
    count = np.bincount(run[has], minlength=n_runs)
    x_run = np.bincount(run[has], weights=x[has], minlength=n_runs) / count
    g_run = np.zeros(n_runs, dtype=int)
    g_run[run[has]] = group[has]
    design = np.column_stack([np.eye(n_groups)[g_run], x_run - x_run.mean()])
    u, s, _ = np.linalg.svd(design, full_matrices=True)
    rank = int(np.sum(s > 1e-8 * max(s.max(), 1.0)))
    return u[:, rank:]


def _branchable(f) -> np.ndarray:
    """Rows of a warmup-stable-decay run: a cooldown branch, or a WSD/constant schedule.
    Such a run's constant-LR phase can be resumed and cooled down at another length."""
    wsd = np.zeros(len(f), dtype=bool)
    if "phase" in f.columns:
        wsd |= f["phase"].to_numpy() == "cooldown_end"
    if "schedule" in f.columns:
        wsd |= f["schedule"].astype(str).str.strip().str.lower().isin(("wsd", "constant")).to_numpy()
    return wsd


# --- settings (timescale, batch) and groups (bcrit) -------------------------------------


def cluster_log(values: np.ndarray, rel_tol: float) -> np.ndarray:
    """Cluster ids for positive values: sorted, a new cluster where consecutive values
    differ by more than ``rel_tol``. Runs at "the same" budget differ by a few steps."""
    logs = np.log(values)
    order = np.argsort(logs, kind="stable")
    breaks = np.diff(logs[order]) > np.log1p(rel_tol)
    ids = np.empty(len(values), dtype=int)
    ids[order] = np.concatenate([[0], np.cumsum(breaks)])
    return ids


def _settings(sweep: Sweep, rows: np.ndarray, by_n: bool = True) -> tuple[np.ndarray, list[str]]:
    """Setting index per row: (N, D within ``setting_rel_tol``, --group columns)."""
    f = sweep.frame.iloc[rows]
    d_cluster = cluster_log(f["D"].to_numpy(float), float(default("setting_rel_tol")))
    parts = [f["N"].map(lambda v: f"N={v:.4g}").to_numpy(dtype=object)] if by_n else []
    keys = np.array(
        ["/".join(p) for p in zip(*parts, [f"D~{c}" for c in d_cluster], *(f[g].astype(str).to_numpy() for g in sweep.groups), strict=True)],
        dtype=object,
    )
    levels, index = np.unique(keys, return_inverse=True)
    d = f["D"].to_numpy(float)
    labels = []
    for s in range(len(levels)):
        mine = index == s
        extra = [f"{g}={f[g].to_numpy()[mine][0]}" for g in sweep.groups]
        label = (f"N={f['N'].to_numpy()[mine][0]:.3g}, " if by_n else "") + f"D={np.exp(np.log(d[mine]).mean()):.3g}"
        labels.append(", ".join([label, *extra]))
    return index, labels


def _drop_sparse(x: np.ndarray, setting: np.ndarray, labels: list[str], what: str, sweep: Sweep, column: str) -> tuple[np.ndarray, list[str]]:
    """Keep settings with at least ``bowl_min_distinct`` distinct values of the swept quantity."""
    need = int(default("bowl_min_distinct"))
    distinct = np.array([len(np.unique(np.round(x[setting == s], 9))) for s in range(len(labels))])
    keep = distinct >= need
    if not keep.any():
        s = int(np.argmax(distinct))
        values = ", ".join(f"{v:.3g}" for v in np.unique(np.exp(x[setting == s])))
        raise BadInputError(
            f"no setting has a bowl to fit: each needs >= {need} distinct values of {what}; the best, {labels[s]}, "
            f"has {distinct[s]} ({values}). Sweep {what} at >= {need} values per (N, D), or drop --group columns",
            file=sweep.path,
            column=column,
        )
    dropped = [f"{labels[s]} ({distinct[s]} value{'s' if distinct[s] != 1 else ''})" for s in np.flatnonzero(~keep)]
    return keep, dropped


def bowl_arrays(sweep: Sweep, *, n_term: bool = True) -> LawArrays:
    """Arrays of the timescale or batch bowl model; settings too sparse for a bowl are left out."""
    law = sweep.law
    f = sweep.frame
    rows = np.arange(len(f))
    notes: list[str] = []
    if law == "timescale":
        wd = _col(sweep, "wd")
        rows = rows[wd > 0]
        if rows.size == 0:
            raise BadInputError("every row has wd = 0, so tau = B/(lr wd D) is infinite; the timescale law needs weight decay > 0", file=sweep.path, column="wd", value="0")
        if rows.size < len(f):
            notes.append(f"{len(f) - rows.size} rows with wd = 0 left out (tau = B/(lr wd D) is infinite)")
        x = np.log(_col(sweep, "B", rows) / (_col(sweep, "lr", rows) * _col(sweep, "wd", rows) * _col(sweep, "D", rows)))
        what, column = "tau = B/(lr wd D)", "wd"
    else:
        x = np.log(_col(sweep, "B", rows))
        what, column = "B", "B"
    setting, labels = _settings(sweep, rows)
    keep, dropped = _drop_sparse(x, setting, labels, what, sweep, column)
    if dropped:
        shown = "; ".join(dropped[:3]) + (f"; and {len(dropped) - 3} more (summary.json: extra.settings_left_out)" if len(dropped) > 3 else "")
        notes.append(f"{len(dropped)} settings with fewer than {default('bowl_min_distinct')} distinct values of {what} left out: {shown}")
    kept_rows = keep[setting]
    rows, x = rows[kept_rows], x[kept_rows]
    new_index = np.cumsum(keep) - 1
    setting = new_index[setting[kept_rows]]
    labels = [lab for lab, k in zip(labels, keep, strict=True) if k]
    n_s = len(labels)

    log_n = np.log(_col(sweep, "N", rows))
    log_d = np.log(_col(sweep, "D", rows))
    s_log_n = np.array([log_n[setting == s].mean() for s in range(n_s)])
    s_log_d = np.array([log_d[setting == s].mean() for s in range(n_s)])
    if law == "timescale":
        slopes, cov = ("tau_m",), (s_log_d - s_log_n)[:, None]
    else:
        slopes, cov = ("bopt_k", "bopt_n"), np.stack([s_log_d, s_log_n], axis=1)
        if n_term and len(np.unique(np.round(s_log_n, 9))) < 2:
            notes.append("every setting has the same N: the bopt_n term is left out")
            n_term = False
        if not n_term:
            slopes, cov = ("bopt_k",), cov[:, :1]
    if len(np.unique(np.round(cov[:, 0], 9))) < 2:
        notes.append(f"all settings share one value of {'D/N' if law == 'timescale' else 'D'}: {slopes[0]} is informed by its prior only")
    centre = cov.mean(axis=0)
    log_loss = np.log(_col(sweep, "loss", rows))
    m_hat = np.array([log_loss[setting == s].min() for s in range(n_s)])
    data = BowlData(
        x=jnp.asarray(x),
        setting=jnp.asarray(setting, dtype=jnp.int32),
        cov=jnp.asarray(cov - centre),
        cov_centre=jnp.asarray(centre),
        m_hat=jnp.asarray(m_hat),
    )
    constant = {
        "x": x,
        "row_setting": setting,  # not "setting": that name is the settings' dimension, and would be dropped
        "cov": cov,
        "cov_centre": centre,
        "setting_N": np.exp(s_log_n),
        "setting_D": np.exp(s_log_d),
        "N": np.exp(log_n),
        "D": np.exp(log_d),
        "B": _col(sweep, "B", rows),
    }
    if law == "timescale":
        constant |= {"lr": _col(sweep, "lr", rows), "wd": _col(sweep, "wd", rows)}
    per_setting = ["setting"]
    return LawArrays(
        model=bowl_model,
        data=data,
        obs=log_loss,
        obs_name="log_loss",
        structure=BowlStructure(law=law, n_settings=n_s, slopes=slopes),
        rows=rows,
        coords={"setting": labels, "slope": list(slopes)},
        dims={
            "z_setting": per_setting,
            "z_k": per_setting,
            "log_k": per_setting,
            "m_dev": per_setting,
            "log_opt": per_setting,
            "m": per_setting,
            "x": ["row"],
            "row_setting": ["row"],
            "N": ["row"],
            "D": ["row"],
            "B": ["row"],
            "lr": ["row"],
            "wd": ["row"],
            "cov": ["setting", "slope"],
            "cov_centre": ["slope"],
            "setting_N": per_setting,
            "setting_D": per_setting,
        },
        constant=constant,
        notes=tuple(notes),
        extra={"settings": labels, "settings_left_out": dropped},
    )


def bcrit_arrays(sweep: Sweep) -> LawArrays:
    """Arrays of the critical-batch model: groups are (N if present, target_loss, --group columns)."""
    f = sweep.frame
    parts = [f["target_loss"].map(lambda v: f"target={v:.4g}").to_numpy(dtype=object)]
    if "N" in f.columns:
        parts.insert(0, f["N"].map(lambda v: f"N={v:.3g}").to_numpy(dtype=object))
    parts += [(g + "=" + f[g].astype(str)).to_numpy(dtype=object) for g in sweep.groups]
    keys = np.array([", ".join(p) for p in zip(*parts, strict=True)], dtype=object)
    # Groups in order of model size, then target loss (not of their labels' spelling).
    order_cols = [c for c in ("N", "target_loss") if c in f.columns]
    first = f.assign(_key=keys).sort_values(order_cols, kind="stable").drop_duplicates("_key")["_key"].to_numpy()
    levels = np.array(list(first), dtype=object)
    position = {k: i for i, k in enumerate(levels)}
    group = np.array([position[k] for k in keys])
    log_b = np.log(_col(sweep, "B"))
    need = int(default("bowl_min_distinct"))
    distinct = np.array([len(np.unique(np.round(log_b[group == g], 9))) for g in range(len(levels))])
    if (distinct < need).any():
        g = int(np.argmin(distinct))
        raise BadInputError(
            f"group {levels[g]} has {distinct[g]} distinct batch sizes; D = D_min (1 + B/B_crit) needs >= {need} per group",
            file=sweep.path,
            column="B",
        )
    log_tokens = np.log(_col(sweep, "tokens_to_target"))
    lhat = np.array([log_tokens[group == g].min() for g in range(len(levels))])
    centre = float(lhat.mean())
    data = BcritData(log_b=jnp.asarray(log_b), group=jnp.asarray(group, dtype=jnp.int32), lhat=jnp.asarray(lhat), centre=jnp.asarray(centre))
    per_group = ["group"]
    # "row_group", not "group": that name is the groups' dimension, and would be dropped.
    constant = {"log_b": log_b, "row_group": group, "lhat": lhat, "centre": centre}
    if "N" in f.columns:
        constant["group_N"] = np.array([_col(sweep, "N")[group == g][0] for g in range(len(levels))])
    return LawArrays(
        model=bcrit_model,
        data=data,
        obs=log_tokens,
        obs_name="log_tokens",
        structure=BcritStructure(n_groups=len(levels)),
        rows=np.arange(len(f)),
        coords={"group": [str(v) for v in levels]},
        dims={k: per_group for k in ("log_d_min", "z_group", "log_b_crit", "b_crit", "d_min", "lhat", "group_N")} | {"log_b": ["row"], "row_group": ["row"]},
        constant=constant,
        extra={"groups": [str(v) for v in levels]},
    )


def three_term_arrays(sweep: Sweep) -> LawArrays:
    """Arrays of the three-term model: centred log N, log B, log K (K = D / B)."""
    log_n, log_b, log_d = (np.log(_col(sweep, c)) for c in ("N", "B", "D"))
    log_k = log_d - log_b
    centre = np.array([log_n.mean(), log_b.mean(), log_k.mean()])
    data = ThreeTermData(x=jnp.asarray(log_n - centre[0]), y=jnp.asarray(log_b - centre[1]), w=jnp.asarray(log_k - centre[2]), centre=jnp.asarray(centre))
    return LawArrays(
        model=three_term_model,
        data=data,
        obs=np.log(_col(sweep, "loss")),
        obs_name="log_loss",
        structure=ThreeTermStructure(n_rows=len(log_n)),
        rows=np.arange(len(log_n)),
        dims={"x": ["row"], "y": ["row"], "w": ["row"], "centre": ["term"]},
        coords={"term": ["log_N", "log_B", "log_K"]},
        constant={"x": np.asarray(data.x), "y": np.asarray(data.y), "w": np.asarray(data.w), "centre": centre},
    )


def law_arrays(sweep: Sweep, *, group_params: Sequence[str] = ("e",), n_term: bool = True) -> LawArrays:
    """The arrays of the sweep's law."""
    if sweep.law == "loss":
        return loss_arrays(sweep, group_params)
    if sweep.law in ("timescale", "batch"):
        return bowl_arrays(sweep, n_term=n_term)
    if sweep.law == "bcrit":
        return bcrit_arrays(sweep)
    if sweep.law == "three_term":
        return three_term_arrays(sweep)
    raise BadInputError(f"no model for law {sweep.law!r}")
