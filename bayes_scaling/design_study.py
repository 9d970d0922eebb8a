"""Does choosing runs by EIG per FLOP pay? Rounds of fit -> next -> simulated results
from a known truth, against a Chinchilla-style grid and random designs at equal FLOPs.

Every strategy starts from the same small WSD sweep and gets the same compute per
round. The grid runs, in order, each next model size (double the last) at its fixed
tokens-per-parameter (separate runs, as a Chinchilla-style sweep is run), as many as
the round's budget (doubling each round) allows; random and EIG then get exactly the
grid's spend of that round. Random: candidates of ``next``'s grid drawn uniformly
until the next does not fit; EIG: ``next_runs`` about the loss at the target compute.
After each round the sweep is refitted and the predicted loss at the target compute
(100 x the initial sweep's largest 6ND, at each draw's compute-optimal split) is
compared with the truth's: its relative error and 90 % interval width.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from .design import Target, next_runs
from .design_candidates import grid_candidates
from .fitting import fit
from .laws import chinchilla_loss, compute_optimal_split
from .simulate import LossTruth
from .sweep import load_sweep

STRATEGIES = ("eig", "grid", "random")


@dataclass(frozen=True)
class StudySetup:
    """The truth, the initial sweep, the grid's rounds and the fits' settings."""

    truth: LossTruth = LossTruth(sigma=0.01, sigma_run=0.005)
    sizes: tuple[float, ...] = (2e7, 4e7, 8e7, 1.6e8)  # the initial WSD runs
    tokens_per_param: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0)  # their cooldown branches; also the grid's
    rounds: int = 4
    first_budget: float = 2.3e19  # round 1's compute; it doubles each round (cumulative 3.45e20 after 4, under the target's 6.1e20)
    k: int = 8
    target_factor: float = 100.0
    fit_settings: dict = field(default_factory=lambda: dict(progress=False))

    def grid_runs(self) -> list[tuple[float, float]]:
        """The grid's runs in the order it runs them: each next size (double the last) at
        every tokens-per-parameter, cheapest first; more than any study's rounds use."""
        return [(n, n * t) for i in range(1, 8) for n in [self.sizes[-1] * 2.0**i] for t in self.tokens_per_param]

    def grid_rounds(self) -> list[list[tuple[float, float]]]:
        """The grid's runs per round: in order, while the cumulative cost stays within the
        cumulative budget (every strategy then gets the grid's spend of that round)."""
        runs, out, cumulative, spent, i = self.grid_runs(), [], 0.0, 0.0, 0
        for r in range(self.rounds):
            cumulative += self.first_budget * 2.0**r
            added = []
            while 6 * runs[i][0] * runs[i][1] + spent <= cumulative:
                added.append(runs[i])
                spent += 6 * runs[i][0] * runs[i][1]
                i += 1
            out.append(added)
        return out


@dataclass(frozen=True)
class RoundResult:
    """One strategy after one round."""

    strategy: str
    round: int
    flops: float  # cumulative compute of the runs added since the initial sweep
    n_rows: int
    error: float  # |median - truth| / truth of the loss at the target compute
    width90: float  # (q95 - q05) / truth
    covered: bool  # the truth inside the 90 % interval
    converged: bool


class _Sweep:
    """A growing simulated sweep: rows, and each run's true effect (shared by its branches)."""

    def __init__(self, truth: LossTruth, rng: np.random.Generator) -> None:
        self.truth, self.rng = truth, rng
        self.rows: list[dict] = []
        self.effects: dict[str, float] = {}

    def add(self, run_id: str, n: float, d: float, phase: str) -> None:
        if run_id not in self.effects:
            self.effects[run_id] = self.truth.sigma_run * self.rng.standard_normal()
        t = self.truth
        mean = float(chinchilla_loss(n, d, t.E, t.A, t.B, t.alpha, t.beta))
        loss = mean * math.exp(self.effects[run_id] + t.sigma * self.rng.standard_normal())
        self.rows.append(dict(N=n, D=d, loss=loss, run_id=run_id, phase=phase))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def _true_target(truth: LossTruth, compute: float) -> float:
    n, d = (float(v) for v in compute_optimal_split(compute, truth.A, truth.B, truth.alpha, truth.beta))
    return float(chinchilla_loss(n, d, truth.E, truth.A, truth.B, truth.alpha, truth.beta))


def _fit(s: _Sweep, folder: Path, name: str, settings: dict, seed: int):
    path = folder / f"{name}.csv"
    s.frame().to_csv(path, index=False)
    return fit(load_sweep(path), seed=seed, **settings)


def _measure(run, compute: float, truth_value: float) -> tuple[float, float, bool]:
    _, _, loss = run.compute_optimal_draws(compute)
    q05, q50, q95 = np.quantile(loss, (0.05, 0.5, 0.95))
    return float(abs(q50 - truth_value) / truth_value), float((q95 - q05) / truth_value), bool(q05 <= truth_value <= q95)


def initial_sweep(setup: StudySetup, seed: int) -> _Sweep:
    """The study's starting sweep: one WSD run per size, cooled down at each tokens-per-parameter."""
    init = _Sweep(setup.truth, np.random.default_rng(seed))
    for i, n in enumerate(setup.sizes):
        for t in setup.tokens_per_param:
            init.add(f"init-{i}", n, n * t, "cooldown_end")
    return init


def run_study(setup: StudySetup = StudySetup(), *, strategies=STRATEGIES, seed: int = 0, initial_run=None, log=print) -> list[RoundResult]:
    """Every strategy's error and 90 % width at the target compute, round by round.

    ``initial_run``: the fit of ``initial_sweep(setup, seed)`` if the caller has one (with
    ``setup.fit_settings`` and ``seed``); otherwise it is fitted here.
    """
    init = initial_sweep(setup, seed)
    compute = setup.target_factor * max(6 * r["N"] * r["D"] for r in init.rows)
    truth_value = _true_target(setup.truth, compute)
    results: list[RoundResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        run0 = initial_run if initial_run is not None else _fit(init, folder, "init", setup.fit_settings, seed)
        start = _measure(run0, compute, truth_value)
        log(f"initial sweep ({len(init.rows)} rows): error {start[0]:.4f}, 90 % width {start[1]:.4f}")
        for strategy in strategies:
            results.append(RoundResult(strategy, 0, 0.0, len(init.rows), *start, run0.summary.converged))
            s = _Sweep(setup.truth, np.random.default_rng([seed, STRATEGIES.index(strategy)]))
            s.rows, s.effects = list(init.rows), dict(init.effects)
            run, spent = run0, 0.0
            for r, grid in enumerate(setup.grid_rounds(), start=1):
                budget = float(sum(6 * n * d for n, d in grid))  # every strategy gets the grid's spend
                key = jax.random.key(seed * 1000 + r)
                if strategy == "grid":
                    for j, (n, d) in enumerate(grid):
                        s.add(f"grid-{r}-{j}", n, d, "final")
                        spent += 6 * n * d
                elif strategy == "random":
                    cands = grid_candidates(run, ())
                    order = s.rng.permutation(len(cands))
                    left = budget
                    added = 0
                    for c in order:
                        cost = 6 * cands.N[c] * cands.D[c]
                        if cost <= left and added < setup.k:
                            s.add(f"random-{r}-{added}", float(cands.N[c]), float(cands.D[c]), "final")
                            left -= cost
                            spent += cost
                            added += 1
                else:
                    res = next_runs(run, budget, k=setup.k, target=Target("loss", compute), rng_key=key)
                    for j, p in enumerate(res.picks):
                        s.add(p.reuses_run or f"eig-{r}-{j}", p.N, p.D, "cooldown_end")  # new runs are WSD: later rounds may branch them
                        spent += p.cost_flops
                run = _fit(s, folder, f"{strategy}-{r}", setup.fit_settings, seed)
                err, width, covered = _measure(run, compute, truth_value)
                results.append(RoundResult(strategy, r, spent, len(s.rows), err, width, covered, run.summary.converged))
                log(f"{strategy:>6} round {r}: {len(s.rows)} rows, {spent:.3g} FLOPs, error {err:.4f}, 90 % width {width:.4f}"
                    f"{'' if run.summary.converged else ' (not converged)'}")
    return results


def flops_to_reach(results: list[RoundResult], strategy: str, width: float) -> float:
    """The fewest cumulative FLOPs at which ``strategy``'s 90 % width was <= ``width`` (inf: never)."""
    hits = [r.flops for r in results if r.strategy == strategy and r.width90 <= width]
    return min(hits) if hits else math.inf
