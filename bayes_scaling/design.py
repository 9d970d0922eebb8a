"""The next sweep points: a batch of runs chosen by expected information gain per FLOP.

Each candidate (a new run, or a cooldown branch of a WSD run in the data;
``design_candidates``) is scored by its EIG about the loss law (or about a target:
the loss, or N_opt, at a target compute) from the posterior draws
(``design_eig``), divided by its cost. A batch of k is picked greedily, each pick
scored conditionally on what the earlier picks would reveal:

    EIG(x_j | x_1..x_{j-1}) = E_{y_1..y_{j-1}} I(theta; y_j | y_1..y_{j-1})

estimated with S simulated worlds: world s draws a "true" posterior draw and the
earlier picks' outcomes from it, and every draw's predictions are conditioned on
those outcomes (an ensemble Kalman update, ``_Worlds``); the conditional EIG is the
EIG of the conditioned draws, averaged over worlds. A batch is chosen twice, by EIG
per FLOP and by EIG alone, and the better batch is kept (budgeted submodular
maximisation).
The sum of a batch's conditional EIGs is the batch's joint information (chain rule).

Observations that are independent given theta make information about theta
submodular: a pick never raises another candidate's EIG. So that greedy search is
lazy (Minoux 1978): each candidate's last estimate bounds its conditional EIG, and
only the candidates whose bound could beat the best fresh estimate are scored again.
Information about a target is not submodular; there each pick re-scores a shortlist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from . import laws
from .defaults import default, pick
from .design_candidates import Candidates, branchable_runs, grid_candidates
from .design_eig import eig_chunk, noise_kernel, stack_kernels
from .errors import BadInputError
from .run import Run, scalar_constant

TARGETS = ("params", "loss", "n_opt")
_BATCH = 32  # candidates re-scored together in the lazy greedy search


@dataclass(frozen=True)
class Target:
    """What the information is about: the law's parameters, or a decision quantity at a compute."""

    kind: str = "params"
    compute: float | None = None  # FLOPs, for "loss" and "n_opt"; None = the defaults table's factor x the largest run

    def __post_init__(self) -> None:
        if self.kind not in TARGETS:
            raise BadInputError(f"unknown target {self.kind!r}; valid: {', '.join(TARGETS)}")
        if self.compute is not None and not self.compute > 0:
            raise BadInputError(f"the target compute must be > 0 FLOPs, got {self.compute!r}")

    def describe(self, compute: float) -> str:
        if self.kind == "params":
            return "the loss law's parameters"
        what = "the law's loss" if self.kind == "loss" else "N_opt"
        return f"{what} at the compute-optimal split of {compute:.3g} FLOPs"


@dataclass(frozen=True)
class Pick:
    """One proposed run, in the order the greedy batch chose it."""

    rank: int
    N: float
    D: float
    B: float  # a batch to run it at (Power Lines' B_opt(D), rounded to a power of two); the loss law's EIG does not depend on it
    cost_flops: float  # at its turn (an earlier branch of the same run makes later ones cheaper)
    eig: float  # nats, given what the earlier picks would reveal
    eig_alone: float  # nats, as the only new run
    eig_per_flop: float
    reuses_run: str  # run_id of the WSD run it branches from; "" for a new run


@dataclass(frozen=True)
class NextRuns:
    """The proposed batch and the scores behind it."""

    picks: tuple[Pick, ...]
    budget: float
    target: Target
    target_compute: float
    candidates: Candidates
    eig_alone: np.ndarray  # per candidate
    cost_alone: np.ndarray  # per candidate, before any pick
    data_N: np.ndarray
    data_D: np.ndarray
    n_draws: int
    n_worlds: int
    cooldown_fraction: float
    seconds: float
    grid_step: float  # largest y-grid step of any candidate, relative to the noise kernel's half-width
    notes: tuple[str, ...] = field(default=())

    @property
    def spent(self) -> float:
        return float(sum(p.cost_flops for p in self.picks))

    @property
    def batch_eig(self) -> float:
        return float(sum(p.eig for p in self.picks))


class _Draws:
    """Posterior draws the scores average over, in float32 for the compiled scorer."""

    def __init__(self, run: Run, group: str | None, n_draws: int, rng: np.random.Generator) -> None:
        law = run.loss_law_draws(group=group)
        total = law.E.shape[0]
        self.idx = np.sort(rng.choice(total, size=n_draws, replace=False)) if n_draws < total else np.arange(total)
        self.law = law._replace(**{k: np.asarray(v)[self.idx] if np.ndim(v) else np.full(len(self.idx), float(v)) for k, v in law._asdict().items()})
        post = run.idata.posterior
        self.sigma, self.nu = self._flat(run, "sigma"), self._flat(run, "nu")
        self.sigma_run = self._flat(run, "sigma_run") if "sigma_run" in post else None
        self.effects = run.run_effects()[0][self.idx]

    def _flat(self, run: Run, name: str) -> np.ndarray:
        return run.draws(name)[self.idx]

    @property
    def n(self) -> int:
        return len(self.idx)


@jax.jit
def _log_loss(params: jax.Array, effects: jax.Array, log_n: jax.Array, log_d: jax.Array, slot: jax.Array) -> jax.Array:
    """(C, M) log loss of C candidates under M draws; params (6, M) = E, log A, log B, alpha, beta, b_n."""
    E, la, lb, alpha, beta, b_n = (p[None, :] for p in params)
    loss = E + jnp.exp(la - alpha * log_n[:, None]) + jnp.exp(lb + b_n * log_n[:, None] - beta * log_d[:, None])
    return jnp.log(loss) + effects[slot]


def next_runs(
    run: Run,
    budget: float,
    *,
    k: int | None = None,
    candidates: Candidates | None = None,
    target: Target = Target(),
    group: str | None = None,
    cooldown_fraction: float | None = None,
    n_draws: int | None = None,
    n_worlds: int | None = None,
    rng_key: jax.Array,
) -> NextRuns:
    """Propose up to ``k`` runs costing at most ``budget`` FLOPs in all, by EIG per FLOP.

    ``candidates`` default to ``grid_candidates`` (new runs around and beyond the data,
    and branches of its WSD runs). ``group``: a grouped fit's level the new runs belong to
    (required on a grouped fit; only that group's WSD runs are branched).
    """
    t0 = time.perf_counter()
    run._need_loss()
    if not (np.isfinite(budget) and budget > 0):
        raise BadInputError(f"the budget must be a finite number of FLOPs > 0, got {budget!r}")
    k = int(pick("next_k", k))
    if k < 1:
        raise BadInputError(f"k must be >= 1, got {k}")
    f = float(pick("next_cooldown_fraction", cooldown_fraction))
    if not 0 < f <= 1:
        raise BadInputError(f"the cooldown fraction must be in (0, 1], got {f!r}")
    levels = list(run.summary.group_levels)
    if levels and group is None:
        raise BadInputError(f"this is a grouped fit: say which group the new runs belong to (--group; one of {', '.join(levels)})")
    g = run._group_index(group)
    seed = int(jax.random.randint(rng_key, (), 0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_draws = int(pick("next_draws", n_draws))
    if n_draws < 100:
        raise BadInputError(f"need at least 100 posterior draws for an EIG (the mixture's entropy), got {n_draws}")
    draws = _Draws(run, group, n_draws, rng)
    S = int(pick("next_worlds", n_worlds))

    runs = candidates.runs if candidates is not None else branchable_runs(run, group=group)
    cands = candidates if candidates is not None else grid_candidates(run, runs)
    const = run.idata.constant_data
    data_N = np.exp(np.asarray(const["x"]) + scalar_constant(const["log_n_centre"]))
    data_D = np.exp(np.asarray(const["z"]) + scalar_constant(const["log_d_centre"]))
    if g is not None:
        rows = np.asarray(const["row_group"]) == g
        data_N, data_D = data_N[rows], data_D[rows]
    d_constant = np.array([(1 - f) * r.d_longest for r in runs])
    cost = cands.cost(d_constant, f)
    cheapest = int(np.argmin(cost))
    if cost[cheapest] > budget:
        raise BadInputError(
            f"the budget ({budget:.3g} FLOPs) is below the cheapest candidate's cost ({cost[cheapest]:.3g} FLOPs: "
            f"N {cands.N[cheapest]:.3g}, D {cands.D[cheapest]:.3g}); raise --budget or give cheaper --candidates"
        )

    # Per candidate: its run-effect slot (branches of runs with an effect) and noise kernel
    # (0: a new run, whose own effect is noise; 1: a branch, whose effect is in the curve).
    law = draws.law
    params = jnp.asarray(np.stack([law.E, np.log(law.A), np.log(law.B), law.alpha, law.beta, law.b_n]), jnp.float32)
    n_eff = draws.effects.shape[1]
    effects = jnp.asarray(np.concatenate([draws.effects.T, np.zeros((1, draws.n))]), jnp.float32)
    run_slot = np.array([r.effect if r.effect >= 0 else n_eff for r in runs] + [n_eff], dtype=np.int32)
    slot = run_slot[cands.branch_of]  # branch_of -1 picks the last entry: no effect
    kind = (slot < n_eff).astype(np.int32)
    kernels = (noise_kernel(draws.sigma, draws.nu, draws.sigma_run, rng=rng), noise_kernel(draws.sigma, draws.nu, None, rng=rng))
    karr = stack_kernels(kernels)
    log_n = jnp.asarray(np.log(cands.N), jnp.float32)
    log_d = jnp.asarray(np.log(cands.D), jnp.float32)
    slot_j = jnp.asarray(slot)

    def mu_of(idx: np.ndarray) -> jax.Array:
        return _log_loss(params, effects, log_n[idx], log_d[idx], slot_j[idx])

    # The target's equal-count bins per draw (all zero about the parameters).
    target_compute = float(target.compute if target.compute is not None else default("next_target_factor") * np.max(6 * data_N * data_D))
    n_bins = 1
    tbin = np.zeros(draws.n, dtype=np.int32)
    t = None
    if target.kind != "params":
        n_opt, _ = laws.compute_optimal_split(target_compute, law.A, law.B, law.alpha, law.beta, b_n=law.b_n)
        n_opt = np.asarray(n_opt)
        d_opt = target_compute / (6 * n_opt)
        t = law.loss(n_opt, d_opt) if target.kind == "loss" else np.log(n_opt)
        n_bins = int(default("next_target_bins"))
        tbin = (np.argsort(np.argsort(t, kind="stable"), kind="stable") * n_bins // draws.n).astype(np.int32)

    chunk = int(default("next_chunk"))
    kind_j = jnp.asarray(kind)

    def score(idx: np.ndarray, mu_worlds, tbins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """EIG (and grid step) of candidates ``idx``; ``mu_worlds(part)`` gives their
        (S', len(part), M) log losses, ``tbins`` (S', M) the target bins."""
        out_e, out_s = np.empty(len(idx)), np.empty(len(idx))
        size = chunk if tbins.shape[0] == 1 else _BATCH
        w = jnp.full(tbins.shape, 1.0 / draws.n, jnp.float32)
        tb = jnp.asarray(tbins, jnp.int32)
        for start in range(0, len(idx), size):
            part = idx[start : start + size]
            padded = np.concatenate([part, np.full(size - len(part), part[0])])
            e, st = eig_chunk(jnp.asarray(mu_worlds(padded), jnp.float32), w, kind_j[padded], tb, karr, n_bins=n_bins)
            out_e[start : start + len(part)] = np.asarray(e)[: len(part)]
            out_s[start : start + len(part)] = np.asarray(st)[: len(part)]
        return np.maximum(out_e, 0.0), out_s

    eig_alone, steps = score(np.arange(len(cands)), lambda part: mu_of(part)[None], tbin[None])
    noise_var = np.array([kn.scale**2 for kn in kernels])

    def greedy(rule: str) -> list[Pick]:
        """Lazy greedy under ``rule``: "ratio" (EIG per FLOP) or "gain" (EIG, within budget)."""
        world = _Worlds(rng, S, draws.n, t)
        d_const = d_constant.copy()
        bound = eig_alone.copy()
        picks: list[Pick] = []
        taken = np.zeros(len(cands), dtype=bool)
        remaining = float(budget)
        while len(picks) < k:
            cost_now = cands.cost(d_const, f)
            ok = ~taken & (cost_now <= remaining)
            if not ok.any():
                break
            scale = cost_now if rule == "ratio" else np.ones_like(cost_now)  # what a pick's EIG is divided by
            if picks and target.kind != "params":
                # Information about a target is not submodular (a pick can make another
                # candidate more telling), so no bound holds: re-score a shortlist.
                tbins = world.target_bins(n_bins)
                top = np.argsort(-np.where(ok, eig_alone / scale, -np.inf))[: int(default("next_shortlist"))]
                top = top[ok[top]]
                gain = np.full(len(cands), -np.inf)
                gain[top], _ = score(top, lambda part: world.update(np.asarray(mu_of(part), float)), tbins)
            elif picks:
                fresh = np.full(len(cands), -np.inf)
                tbins = world.target_bins(n_bins)
                while True:
                    best_fresh = np.max(np.where(ok, fresh / scale, -np.inf))
                    open_ = ok & np.isneginf(fresh)
                    if not open_.any() or best_fresh >= np.max(np.where(open_, bound / scale, -np.inf)):
                        break
                    top = np.argsort(-np.where(open_, bound / scale, -np.inf))[:_BATCH]
                    top = top[open_[top]]
                    fresh[top], _ = score(top, lambda part: world.update(np.asarray(mu_of(part), float)), tbins)
                    bound[top] = np.minimum(bound[top], fresh[top])
                gain = fresh
            else:
                gain = np.where(ok, eig_alone, -np.inf)
            c = int(np.argmax(np.where(ok, gain / scale, -np.inf)))
            if gain[c] < min_eig:
                break
            world.observe(np.asarray(mu_of(np.array([c])), float)[0], kernels[kind[c]], noise_var[kind[c]])
            b = int(cands.branch_of[c])
            picks.append(Pick(
                rank=len(picks) + 1,
                N=float(cands.N[c]),
                D=float(cands.D[c]),
                B=_batch_for(cands.D[c]),
                cost_flops=float(cost_now[c]),
                eig=float(gain[c]),
                eig_alone=float(eig_alone[c]),
                eig_per_flop=float(gain[c] / cost_now[c]),
                reuses_run=runs[b].run_id if b >= 0 else "",
            ))
            taken[c] = True
            remaining -= float(cost_now[c])
            if b >= 0:
                d_const[b] = max(d_const[b], (1 - f) * cands.D[c])
        return picks

    # Budgeted submodular maximisation: the better of the cost-benefit greedy and the
    # plain greedy (Khuller, Moss and Naor 1999; Leskovec et al. 2007's CELF): per-FLOP
    # alone can leave most of the budget unspent when k binds, EIG alone can spend it on
    # one run when the budget binds.
    min_eig = float(default("next_min_eig"))
    by_ratio, by_gain = greedy("ratio"), greedy("gain")
    info_ratio, info_gain = (sum(p.eig for p in ps) for ps in (by_ratio, by_gain))
    picked, rule = (by_ratio, "EIG per FLOP") if info_ratio >= info_gain else (by_gain, "EIG within the budget")
    notes: list[str] = [f"picked greedily by {rule} (batch EIG {info_ratio:.3g} nats by EIG per FLOP, {info_gain:.3g} by EIG)"]
    if len(picked) < k:
        notes.append(f"{len(picked)} picks, not {k}: the budget, or no affordable candidate telling more than {min_eig:g} nats, stopped the batch")
    if not runs:
        notes.append("no WSD runs in the fit (phase cooldown_end, or schedule wsd/constant): no cooldown branches proposed")
    return NextRuns(
        picks=tuple(picked),
        budget=float(budget),
        target=target,
        target_compute=target_compute,
        candidates=cands,
        eig_alone=eig_alone,
        cost_alone=cost,
        data_N=data_N,
        data_D=data_D,
        n_draws=draws.n,
        n_worlds=S,
        cooldown_fraction=f,
        seconds=time.perf_counter() - t0,
        grid_step=float(np.max(steps)),
        notes=tuple(notes),
    )


class _Worlds:
    """Simulated outcomes of the picks so far, and the draws conditioned on them.

    World s takes one posterior draw as the truth and simulates each pick's outcome
    from it. Conditioning is the ensemble Kalman update with perturbed observations
    (Evensen 1994; Burgers et al. 1998): each draw's prediction u at a candidate moves
    to u + K (y_s + e_s - Y), with Y the draws' predictions at the picks, e_s noise
    draws and K = Cov(u, Y) (Cov(Y) + R)^-1. It is exact Bayesian conditioning when
    the predictions are jointly Gaussian (the linear-Gaussian test) and keeps every
    draw: reweighting the draws by the outcomes' likelihood, also exact in the limit,
    left an effective sample of 16 of 600 draws after one pick on a 9-run sweep.
    """

    def __init__(self, rng: np.random.Generator, S: int, M: int, t_values: np.ndarray | None) -> None:
        self.rng, self.S, self.M = rng, S, M
        self.truth = rng.integers(0, M, S)
        self.t = None if t_values is None else np.asarray(t_values, float)
        self.Y = np.zeros((0, M))  # (J, M) the draws' predictions at the picks
        self.innov = np.zeros((S, 0, M))  # y_s + e_s - Y per world
        self.R = np.zeros(0)

    def observe(self, mu: np.ndarray, kernel, noise_var: float) -> None:
        y = mu[self.truth] + self.rng.choice(kernel.draws, self.S)
        e = self.rng.choice(kernel.draws, (self.S, self.M))
        self.Y = np.vstack([self.Y, mu[None]])
        self.innov = np.concatenate([self.innov, (y[:, None] + e - mu[None, :])[:, None, :]], axis=1)
        self.R = np.append(self.R, noise_var)

    def _gain(self, u: np.ndarray) -> np.ndarray:
        """K (C, J) for predictions u (C, M)."""
        Yc = self.Y - self.Y.mean(1, keepdims=True)
        uc = u - u.mean(1, keepdims=True)
        cyy = Yc @ Yc.T / (self.M - 1) + np.diag(self.R)
        cuy = uc @ Yc.T / (self.M - 1)
        return np.linalg.solve(cyy, cuy.T).T

    def update(self, u: np.ndarray) -> np.ndarray:
        """(S, C, M): predictions u (C, M) conditioned in every world."""
        return u[None] + np.einsum("cj,sjm->scm", self._gain(u), self.innov)

    def target_bins(self, n_bins: int) -> np.ndarray:
        """(S, M) equal-count bins of the target, conditioned in every world."""
        if self.t is None:
            return np.zeros((self.S, self.M), dtype=np.int32)
        t = self.update(self.t[None])[:, 0, :]
        return (np.argsort(np.argsort(t, axis=1, kind="stable"), axis=1, kind="stable") * n_bins // self.M).astype(np.int32)


def _batch_for(D: float) -> float:
    """Power Lines' B_opt(D) in tokens, rounded to a power of two (defaults table)."""
    c, kk, _, _ = default("bopt_law")
    return float(2.0 ** np.round(np.log2(float(laws.batch_opt(1.0, D, c, kk)))))
