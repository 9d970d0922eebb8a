"""Plan a training run: the N, D, B and weight decay that optimise the loss objective
within compute and time limits, decided over posterior draws (DESIGN.md, "Plan").

Candidates are a fixed log grid of model sizes N and batch sizes B. The final loss
falls as tokens grow (for every draw), so each candidate (N, B) takes the most tokens
the limits allow: D = min(C / 6N, T x FLOP/s(B) / 6N). The grid does not depend on
the budget, so a larger budget never shrinks the set searched and never gives a
worse objective. Every candidate is scored against every joint posterior draw
(``plan_score``); the plan is the best by the objective, ties going to the faster,
then the cheaper candidate (below B_opt a smaller batch gains nothing but takes longer).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from .defaults import pick
from .errors import BadInputError, UsageError
from .hardware import Hardware
from .laws import lambda_opt, tau_opt
from .plan_inputs import PlanInputs
from .plan_score import loss_at, score, to_float32

OBJECTIVES = ("mean", "qNN (e.g. q90)", "target")
# How far past the fitted sweep a plan may go before its notes warn (a factor in N or D).
EXTRAPOLATION_WARN = 10.0
# Candidates listed by how often each is the best across draws.
TOP_CANDIDATES = 5


@dataclass(frozen=True)
class Limits:
    """What a run may use: compute in FLOPs (C = 6 N D) and/or wall-clock hours."""

    compute_flops: float | None = None
    time_hours: float | None = None

    def __post_init__(self) -> None:
        if self.compute_flops is None and self.time_hours is None:
            raise UsageError("a plan needs a limit: a compute budget in FLOPs, a time budget in hours, or both")
        for name in ("compute_flops", "time_hours"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise UsageError(f"{name} must be finite and > 0, got {v!r}")


@dataclass(frozen=True)
class Objective:
    """What the plan optimises: the mean loss, a quantile (risk-averse), or P(loss <= target)."""

    kind: str = "mean"  # "mean" | "quantile" | "target"
    q: float = 0.9
    target_loss: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("mean", "quantile", "target"):
            raise UsageError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.kind!r}")
        if self.kind == "quantile" and not 0 < self.q < 1:
            raise UsageError(f"the objective's quantile must be in (0, 1), got {self.q!r}")
        if self.kind == "target" and not (self.target_loss is not None and math.isfinite(self.target_loss) and self.target_loss > 0):
            raise UsageError(f"objective 'target' needs a target loss > 0, got {self.target_loss!r}")

    @classmethod
    def parse(cls, text: str, target_loss: float | None = None) -> Objective:
        """``mean``, ``q90`` (any qNN), or ``target`` (with ``target_loss``)."""
        if text == "mean":
            return cls("mean")
        if text == "target":
            return cls("target", target_loss=target_loss)
        if len(text) >= 2 and text[0] == "q" and text[1:].isdigit() and 0 < int(text[1:]) < 100:
            return cls("quantile", q=int(text[1:]) / 100)
        raise UsageError(f"objective must be one of {', '.join(OBJECTIVES)}, got {text!r}")

    @property
    def sign(self) -> float:
        """+1 where a lower value is better (losses), -1 for the target's probability."""
        return -1.0 if self.kind == "target" else 1.0

    @property
    def label(self) -> str:
        """How the screen names it."""
        if self.kind == "mean":
            return "mean loss"
        if self.kind == "quantile":
            return f"q{round(self.q * 100)} loss"
        return f"P(loss <= {self.target_loss:g})"

    def value(self, loss_draws: np.ndarray) -> float:
        """The objective of one candidate's loss draws (float64)."""
        if self.kind == "mean":
            return float(np.mean(loss_draws))
        if self.kind == "quantile":
            return float(np.quantile(loss_draws, self.q))
        return float(np.mean(loss_draws <= self.target_loss))


@dataclass(frozen=True)
class Grid:
    """Candidate model sizes and batch sizes (tokens), log-spaced."""

    N: np.ndarray
    B: np.ndarray

    @classmethod
    def default(cls, n: tuple | None = None, b: tuple | None = None) -> Grid:
        """From (lo, hi, count) tuples; None: the defaults table's."""
        (nlo, nhi, nc), (blo, bhi, bc) = pick("plan_n_grid", n), pick("plan_b_grid", b)
        for what, lo, hi, c in (("N", nlo, nhi, nc), ("B", blo, bhi, bc)):
            if not (0 < lo < hi and int(c) >= 2):
                raise UsageError(f"the {what} grid needs 0 < lo < hi and >= 2 points, got ({lo}, {hi}, {c})")
        # B descending: among candidates that tie on the objective (all B below B_opt),
        # the larger batch comes first and takes fewer steps.
        return cls(np.geomspace(nlo, nhi, int(nc)), np.geomspace(blo, bhi, int(bc))[::-1])

    @property
    def size(self) -> int:
        """Number of candidate (N, B) pairs."""
        return self.N.size * self.B.size


@dataclass(frozen=True)
class Spread:
    """Posterior mean and 5/50/95 % quantiles of one quantity."""

    mean: float
    q05: float
    q50: float
    q95: float

    @classmethod
    def of(cls, draws: np.ndarray) -> Spread:
        """Summarise draws (a single value gives a spread of zero width)."""
        q = np.quantile(np.asarray(draws, dtype=float), (0.05, 0.5, 0.95))
        return cls(float(np.mean(draws)), float(q[0]), float(q[1]), float(q[2]))


@dataclass(frozen=True)
class Candidate:
    """One candidate run and the share of posterior draws in which it has the lowest loss."""

    N: float
    D: float
    B: float
    share: float


@dataclass(frozen=True)
class Budgets:
    """Per candidate (n_N, n_B): the most tokens the limits allow, whether it is
    feasible (>= the minimum steps) and whether the deadline (not compute) binds."""

    D: np.ndarray
    feasible: np.ndarray
    time_binds: np.ndarray


@dataclass(frozen=True)
class Plan:
    """The chosen run, its uncertainty, and what the decision rests on."""

    N: float
    D: float
    B: float
    steps: int
    tokens_per_param: float
    compute_flops: float
    time_hours: float | None
    devices_used: int | None
    lr: float | None
    wd: Spread | None  # lambda = B / (lr D tau_opt), over draws of tau_opt
    tau_opt: Spread
    loss: Spread
    objective: Objective
    objective_value: float
    binding: str  # the limits a relaxation of which would give a better plan: "compute", "time" or "compute+time"
    b_opt: Spread
    b_crit: Spread
    efficiency: Spread  # D_eff / D: the share of tokens that count, after batch inflation
    share_best: float  # share of draws in which the plan itself has the lowest loss
    top: tuple[Candidate, ...]
    best_per_draw: dict[str, Spread]  # N, D, B of each draw's own best candidate
    limits: Limits
    hardware: Hardware | None
    inputs: PlanInputs = field(repr=False)
    notes: tuple[str, ...]
    n_candidates: int
    n_feasible: int
    n_draws: int
    seconds: float


def budgets(grid: Grid, limits: Limits, hardware: Hardware | None, min_steps: int) -> Budgets:
    """The most tokens each candidate may train on, with a margin so 6 N D never rounds above C."""
    if limits.time_hours is not None and hardware is None:
        raise UsageError("a time limit needs the hardware: devices, peak FLOP/s per device (and MFU)")
    n, b = grid.N[:, None], grid.B[None, :]
    d_c = np.full((grid.N.size, grid.B.size), np.inf) if limits.compute_flops is None else np.broadcast_to(limits.compute_flops / (6.0 * n), (n.size, b.size))
    if limits.time_hours is None:
        d_t = np.full_like(d_c, np.inf)
    else:
        d_t = limits.time_hours * 3600.0 * hardware.flops_per_second(b) / (6.0 * n)
    d = np.minimum(d_c, d_t) * (1.0 - 1e-12)
    return Budgets(D=d, feasible=d / b >= min_steps, time_binds=d_t < d_c)


def _too_small(grid: Grid, limits: Limits, hardware: Hardware | None, min_steps: int) -> BadInputError:
    n0, b0 = grid.N.min(), grid.B.min()
    need = 6.0 * n0 * b0 * min_steps
    parts = [f"the smallest candidate ({n0:.3g} parameters, batch {b0:.3g} tokens, {min_steps} steps) needs {need:.3g} FLOPs"]
    if hardware is not None:
        parts.append(f"{float(hardware.hours(n0, b0 * min_steps, b0)):.3g} hours on {hardware.describe()}")
    given = ", ".join(f"{k} {v:.3g}" for k, v in (("compute FLOPs", limits.compute_flops), ("hours", limits.time_hours)) if v is not None)
    return BadInputError(f"no candidate run fits the limits ({given}): {'; '.join(parts)}")


def _objective_per_candidate(scores, objective: Objective) -> np.ndarray:
    """Lower is better."""
    if objective.kind == "mean":
        return scores.mean.astype(np.float64)
    if objective.kind == "quantile":
        return scores.quantile.astype(np.float64)
    return objective.sign * scores.hit.astype(np.float64)


def plan(
    inputs: PlanInputs,
    limits: Limits,
    *,
    hardware: Hardware | None = None,
    objective: Objective | None = None,
    grid: Grid | None = None,
    min_steps: int | None = None,
    chunk: int | None = None,
    unhurried: Plan | None = None,
) -> Plan:
    """The best candidate run by ``objective`` within ``limits``, with its bands.

    ``binding`` names the limits whose relaxation would give a better plan. The
    compute limit binds when it caps the plan's tokens; a deadline binds when it caps
    them, or when the plan under the compute limit alone (``unhurried``; made here
    when not given) is better: a deadline may push the plan to a larger batch that
    spends the whole compute in time, at a cost in loss.
    """
    t0 = time.perf_counter()
    objective = objective or Objective()
    grid = grid or Grid.default()
    min_steps = int(pick("plan_min_steps", min_steps))
    bud = budgets(grid, limits, hardware, min_steps)
    if not bud.feasible.any():
        raise _too_small(grid, limits, hardware, min_steps)
    laws = inputs.laws
    target = objective.target_loss if objective.kind == "target" else 0.0
    scores = score(
        to_float32(laws), grid.N, grid.B, bud.D, bud.feasible,
        quantile=objective.q if objective.kind == "quantile" else None, target=target, chunk=int(pick("plan_chunk", chunk)),
    )
    obj = np.where(bud.feasible, _objective_per_candidate(scores, objective), np.inf)
    hours = hardware.hours(grid.N[:, None], bud.D, grid.B[None, :]) if hardware is not None else np.zeros_like(bud.D)
    steps = bud.D / grid.B[None, :]
    order = np.lexsort(((6.0 * grid.N[:, None] * bud.D).ravel(), steps.ravel(), hours.ravel(), scores.mean.ravel(), obj.ravel()))
    i, j = np.unravel_index(order[0], bud.D.shape)
    p = _describe(inputs, limits, hardware, objective, grid, bud, scores, int(i), int(j), min_steps, time.perf_counter() - t0)
    if p.binding == "compute" and limits.time_hours is not None and limits.compute_flops is not None:
        if unhurried is None:
            unhurried = plan(inputs, Limits(compute_flops=limits.compute_flops), hardware=hardware, objective=objective,
                             grid=grid, min_steps=min_steps, chunk=chunk)
        if objective.sign * unhurried.objective_value < objective.sign * p.objective_value:
            p = replace(p, binding="compute+time", seconds=time.perf_counter() - t0)
    return p


def _describe(inputs, limits, hardware, objective, grid, bud, scores, i, j, min_steps, seconds) -> Plan:
    """The chosen candidate in full: whole steps, float64 bands, weight decay, decision spread."""
    laws = inputs.laws
    N, B = float(grid.N[i]), float(grid.B[j])
    steps = int(np.floor(bud.D[i, j] / B))
    D = steps * B
    at = loss_at(laws, N, D, B)
    per_draw = (laws.n_draws,)
    tau = np.broadcast_to(np.asarray(tau_opt(N, D, laws.tau_c, laws.tau_m)), per_draw)
    wd = None if inputs.lr is None else Spread.of(np.broadcast_to(np.asarray(lambda_opt(N, D, B, inputs.lr, laws.tau_c, laws.tau_m)), per_draw))
    flat = scores.best_per_draw
    ok = flat >= 0
    counts = np.bincount(flat[ok], minlength=grid.size) / max(int(ok.sum()), 1)
    top_idx = np.argsort(-counts, kind="stable")[:TOP_CANDIDATES]
    ti, tj = np.unravel_index(top_idx, bud.D.shape)
    top = tuple(
        Candidate(float(grid.N[a]), float(bud.D[a, b]), float(grid.B[b]), float(counts[k]))
        for a, b, k in zip(ti, tj, top_idx, strict=True)
        if counts[k] > 0
    )
    bi, bj = np.unravel_index(flat[ok], bud.D.shape)
    best = {"N": Spread.of(grid.N[bi]), "D": Spread.of(bud.D[bi, bj]), "B": Spread.of(grid.B[bj])}
    hours = None if hardware is None else float(hardware.hours(N, D, B))
    devices = None if hardware is None else int(hardware.devices_used(B))
    return Plan(
        N=N, D=D, B=B, steps=steps, tokens_per_param=D / N, compute_flops=6.0 * N * D, time_hours=hours, devices_used=devices,
        lr=inputs.lr, wd=wd, tau_opt=Spread.of(tau),
        loss=Spread.of(at["loss"]), objective=objective, objective_value=objective.value(at["loss"]),
        binding="time" if bud.time_binds[i, j] else "compute",
        b_opt=Spread.of(at["b_opt"]), b_crit=Spread.of(at["b_crit"]), efficiency=Spread.of(at["efficiency"]),
        share_best=float(counts[i * grid.B.size + j]), top=top, best_per_draw=best,
        limits=limits, hardware=hardware, inputs=inputs,
        notes=_notes(inputs, N, D, grid, i, j),
        n_candidates=grid.size, n_feasible=int(bud.feasible.sum()), n_draws=laws.n_draws, seconds=seconds,
    )


def _notes(inputs: PlanInputs, N: float, D: float, grid: Grid, i: int, j: int) -> tuple[str, ...]:
    notes = []
    for part in inputs.assumed:
        notes.append(f"no {part} run: {inputs.sources[part]}")
    for part, ok in (inputs.converged or {}).items():
        if not ok:
            notes.append(f"THE {part.upper()} FIT DID NOT CONVERGE: do not trust this plan")
    if inputs.extent is not None:
        n_max, d_max = inputs.extent
        if N > EXTRAPOLATION_WARN * n_max or D > EXTRAPOLATION_WARN * d_max:
            notes.append(
                f"extrapolation: N {N:.3g} and D {D:.3g} against the loss sweep's largest N {n_max:.3g}, D {d_max:.3g} "
                f"({N / n_max:.0f}x, {D / d_max:.0f}x): the bands assume the law holds that far"
            )
    if i in (0, grid.N.size - 1):
        notes.append(f"N is at the edge of the candidate grid ({grid.N.min():.3g}-{grid.N.max():.3g}): widen it")
    if j in (0, grid.B.size - 1):
        notes.append(f"B is at the edge of the candidate grid ({grid.B.min():.3g}-{grid.B.max():.3g} tokens): widen it")
    if inputs.lr is None:
        notes.append("no learning rate: the weight decay is not set (lambda = B / (lr D tau_opt))")
    return tuple(notes)
