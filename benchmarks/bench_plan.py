"""How fast a plan is decided: 10^5 candidate (N, B) runs x 4,000 posterior draws.

The target (issue 6): under 10 s on this 2-core CPU. The alternative a user would
write is the same search in NumPy, float64, chunked over model sizes; it is timed in
the same run on the same candidates and draws, and must choose the same plan.

Draws: the Chinchilla loss posterior (a fresh fit at the card's 4 x 1000 draws), and
for the all-uncertain scenarios 4,000 draws of tau_opt, B_opt and B_crit laws scattered
about their defaults (5 % on prefactors, 0.02-0.03 on exponents) and a curvature
below B_opt (0.01, 30 % in log), so that every law varies per draw, the planner's
slowest path.

    python benchmarks/bench_plan.py      # ~3 min; writes benchmarks/results/plan.json
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import bayes_scaling as bs
from timing import timed  # benchmarks/timing.py: the script's folder is on sys.path

bs.configure_jax()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from bayes_scaling.plan import Grid, budgets  # noqa: E402
from bayes_scaling.plan_score import loss_at  # noqa: E402

REPEATS = 3
OUT = Path(__file__).parent / "results" / "plan.json"


def _uncertain(inputs: bs.PlanInputs, key: jax.Array) -> bs.PlanInputs:
    """Every hyperparameter law with 4,000 draws of its own."""
    n = inputs.laws.n_draws
    sd = {"tau_c": ("log", 0.05), "tau_m": ("add", 0.02), "bopt_c": ("log", 0.05), "bopt_k": ("add", 0.02),
          "bcrit_c": ("log", 0.05), "bcrit_k": ("add", 0.03)}
    fields = inputs.laws._asdict()
    for k, (name, (how, s)) in zip(jax.random.split(key, len(sd)), sd.items(), strict=True):
        z = np.asarray(jax.random.normal(k, (n,)))
        fields[name] = fields[name][0] * np.exp(s * z) if how == "log" else fields[name][0] + s * z
    fields["bopt_n"] = np.zeros(n)
    fields["bopt_curv"] = 0.01 * np.exp(0.3 * np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (n,))))
    return replace(inputs, laws=bs.PlanLaws(**fields), assumed=())


def numpy_mean_plan(laws: bs.PlanLaws, grid: Grid, D: np.ndarray, feasible: np.ndarray, rows: int = 8) -> tuple[int, int]:
    """The same search as a NumPy notebook would do it: float64, broadcast over (N, B, draw)."""
    p = {k: np.asarray(v, dtype=float)[None, None, :] for k, v in laws._asdict().items()}
    log_b = np.log(grid.B)[None, :, None]
    best = (np.inf, -1, -1)
    for i in range(0, grid.N.size, rows):
        log_n = np.log(grid.N[i : i + rows])[:, None, None]
        log_d = np.log(np.where(feasible[i : i + rows], D[i : i + rows], 1.0))[..., None]
        log_bopt = np.log(p["bopt_c"]) + p["bopt_k"] * log_d + p["bopt_n"] * log_n
        lc, k = np.log(p["bcrit_c"]), p["bcrit_k"]
        u = log_d
        for _ in range(3):
            s = log_b - lc - k * u
            u = u - (u + np.logaddexp(0, s) - log_d) / (1 - k / (1 + np.exp(-s)))
        log_bc = lc + k * u
        log_deff = log_d + np.logaddexp(0, log_bopt - log_bc) - np.logaddexp(0, np.maximum(log_b, log_bopt) - log_bc)
        loss = p["loss_E"] + p["loss_A"] * np.exp(-p["alpha"] * log_n) + p["loss_B"] * np.exp(-p["beta"] * log_deff)
        loss = loss * np.exp(p["bopt_curv"] * np.minimum(log_b - log_bopt, 0.0) ** 2)
        mean = np.where(feasible[i : i + rows], loss.mean(-1), np.inf)
        a, b = np.unravel_index(np.argmin(mean), mean.shape)
        if mean[a, b] < best[0]:
            best = (mean[a, b], i + a, b)
    return best[1], best[2]


def main() -> None:
    sweep = bs.load_sweep("data/chinchilla_epoch/chinchilla_epoch.csv", where="excluded_in_besiroglu_fit == 0")
    run = bs.fit(sweep, progress=False)
    base = bs.plan_inputs(run, n_draws=4000, rng_key=jax.random.key(0))
    full = _uncertain(base, jax.random.key(1))
    grid = Grid.default()
    limits = bs.Limits(compute_flops=1e23)
    hw = bs.Hardware(8192, 1e15, 0.4)
    deadline = bs.Limits(compute_flops=1e23, time_hours=24)
    scenarios = {
        "ours, loss posterior + assumed hyper laws, mean": lambda: bs.plan(base, limits),
        "ours, every law uncertain, mean": lambda: bs.plan(full, limits),
        "ours, every law uncertain, q90": lambda: bs.plan(full, limits, objective=bs.Objective.parse("q90")),
        "ours, every law uncertain, mean, 24 h deadline on 8192 devices": lambda: bs.plan(full, deadline, hardware=hw),
    }
    results = {}
    for name, fn in scenarios.items():
        first, warm, p = timed(fn, REPEATS)
        results[name] = {"first_s": round(first, 2), "warm_median_s": round(warm, 2), "N": p.N, "B": p.B, "binding": p.binding}
        print(f"{name:<68} first {first:6.2f} s   warm {warm:6.2f} s   N {p.N:.4g} B {p.B:.4g}")
    bud = budgets(grid, limits, None, 1000)
    t = time.perf_counter()
    i, j = numpy_mean_plan(full.laws, grid, bud.D, bud.feasible)
    numpy_s = time.perf_counter() - t
    ours = results["ours, every law uncertain, mean"]
    # float32 scoring may break a near-tie differently: compare the float64 mean loss of both choices.
    ours_mean = loss_at(full.laws, ours["N"], bud.D[list(grid.N).index(ours["N"]), list(grid.B).index(ours["B"])], ours["B"])["loss"].mean()
    theirs_mean = loss_at(full.laws, grid.N[i], bud.D[i, j], grid.B[j])["loss"].mean()
    rel = float((ours_mean - theirs_mean) / theirs_mean)
    results["numpy float64, every law uncertain, mean (one run)"] = {
        "s": round(numpy_s, 2), "N": float(grid.N[i]), "B": float(grid.B[j]), "ours_minus_numpy_mean_loss_rel": rel,
    }
    print(f"{'numpy float64, every law uncertain, mean':<68} {numpy_s:6.2f} s   N {grid.N[i]:.4g} B {grid.B[j]:.4g}   "
          f"our plan's mean loss vs numpy's: {rel:+.1e} relative")
    record = {
        "what": "bayes_scaling.plan over 1e5 candidate (N, B) pairs (D from the limits) x 4000 draws; compute 1e23 FLOPs",
        "n_candidates": grid.size,
        "n_draws": full.laws.n_draws,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, jax {jax.__version__}",
        "command": "python benchmarks/bench_plan.py",
        "results": results,
    }
    OUT.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
