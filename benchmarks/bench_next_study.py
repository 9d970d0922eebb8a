"""Simulation study: rounds of fit -> next -> simulated results from a known truth, EIG
against a Chinchilla-style grid and random designs at equal FLOPs per round
(``bayes_scaling.design_study``; issue 7).

Truth: Besiroglu et al.'s loss law, noise 1 % on log loss, run effects 0.5 %. Start:
4 WSD runs (20M, 40M, 80M, 160M parameters) cooled down at 5, 10, 20 and 40 tokens
per parameter. The grid runs, in order, the next model sizes (320M, 640M, 1.28B, ...)
at the same four tokens-per-parameter as separate runs, as many as each round's
budget allows (2.3e19 FLOPs in round 1, doubling; 2.8e20 in all after 4 rounds, under
the target compute); random and EIG get exactly the grid's spend of each round. EIG
proposes up to 8 runs about the loss at 100 x the starting sweep's largest compute
(6.1e20 FLOPs); its new runs are WSD, so later rounds may branch them. After each
round: refit (the card's 4 x 1000 draws), then the predicted loss at that compute
against the truth's. Target: EIG reaches the grid's final 90 % width with at most
half the grid's compute.

    python benchmarks/bench_next_study.py [SEEDS]   # ~6 min per seed; writes results/next_study.{json,png}
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import bayes_scaling as bs

bs.configure_jax()

import jax  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bayes_scaling.design_study import STRATEGIES, StudySetup, flops_to_reach, run_study  # noqa: E402

OUT = Path(__file__).parent / "results"
SETUP = StudySetup()  # 4 rounds; fits at the card's 4 x (1000 + 1000)


def figure(all_results: dict[int, list]) -> Figure:
    fig = Figure(figsize=(10.5, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax_w, ax_e = fig.subplots(1, 2, sharex=True)
    for k, strategy in enumerate(STRATEGIES):
        for j, (seed, results) in enumerate(all_results.items()):
            rs = [r for r in results if r.strategy == strategy and r.round > 0]
            x = [r.flops for r in rs]
            kw = dict(color=f"C{k}", alpha=0.75, lw=1.2, ms=4, label=strategy if j == 0 else None)
            ax_w.plot(x, [r.width90 for r in rs], "o-", **kw)
            ax_e.plot(x, [r.error for r in rs], "o-", **kw)
    for ax in (ax_w, ax_e):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_xlabel("compute spent on new runs (FLOPs)")
    ax_w.set_ylabel("90 % interval width / truth")
    ax_e.set_ylabel("|median - truth| / truth")
    ax_w.legend(fontsize=8)
    fig.suptitle(f"Predicted loss at 100x the starting sweep's compute, one line per seed ({len(all_results)} seeds)", fontsize=10)
    return fig


def main() -> None:
    seeds = [int(s) for s in sys.argv[1].split(",")] if len(sys.argv) > 1 else [0, 1, 2]
    all_results = {}
    summary = {}
    t0 = time.perf_counter()
    for seed in seeds:
        results = run_study(SETUP, seed=seed)
        all_results[seed] = results
        grid_final = max((r for r in results if r.strategy == "grid"), key=lambda r: r.round)
        reach = {s: flops_to_reach(results, s, grid_final.width90) for s in STRATEGIES}
        summary[seed] = {
            "grid_final_width90": grid_final.width90,
            "grid_final_flops": grid_final.flops,
            "flops_to_reach_grid_final_width": {s: (None if math.isinf(v) else v) for s, v in reach.items()},
            "eig_share_of_grid_flops": None if math.isinf(reach["eig"]) else reach["eig"] / grid_final.flops,
        }
        print(f"seed {seed}: EIG reached the grid's final width {grid_final.width90:.4f} with "
              f"{reach['eig']:.3g} FLOPs vs the grid's {grid_final.flops:.3g}")
    shares = [v["eig_share_of_grid_flops"] for v in summary.values()]
    record = {
        "what": "rounds of fit -> next -> simulated results; EIG vs Chinchilla-style grid vs random at equal FLOPs per round",
        "setup": {k: v for k, v in asdict(SETUP).items() if k != "truth"} | {"truth": asdict(SETUP.truth)},
        "seeds": seeds,
        "target": "EIG reaches the grid's final 90 % width with at most half its compute",
        "met_in_seeds": int(sum(s is not None and s <= 0.5 for s in shares)),
        "summary": {str(k): v for k, v in summary.items()},
        "rounds": {str(seed): [asdict(r) for r in results] for seed, results in all_results.items()},
        "coverage_90": {s: float(np.mean([r.covered for rs in all_results.values() for r in rs if r.strategy == s and r.round > 0])) for s in STRATEGIES},
        "all_converged": bool(all(r.converged for rs in all_results.values() for r in rs)),
        "minutes": round((time.perf_counter() - t0) / 60, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, jax {jax.__version__}",
        "command": f"python benchmarks/bench_next_study.py {','.join(map(str, seeds))}",
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "next_study.json").write_text(json.dumps(record, indent=2) + "\n")
    figure(all_results).savefig(OUT / "next_study.png", dpi=120)
    print(f"wrote {OUT / 'next_study.json'} and {OUT / 'next_study.png'}")


if __name__ == "__main__":
    main()
