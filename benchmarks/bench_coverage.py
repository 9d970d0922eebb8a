"""Benchmark: are the intervals of tau_m honest? One-stage NUTS vs the papers' two-stage fits.

What it measures
----------------
Over ``--sims`` simulated weight-decay sweeps from one known truth (Power Lines-like:
tau_c 1.084, tau_m -0.527, setting scatter 0.1 in log tau_opt, 0.3 % noise on log
loss), how often each method's central 90 % interval for the exponent tau_m contains
the truth, how wide it is, and how often the method fails to give one:

* one-stage: ``bayes_scaling.fit`` on the timescale law (the bowls of every setting
  and the power law in one NUTS posterior), 4 chains x (``--warmup`` + ``--draws``);
* two-stage, argmin: each setting's optimum is the grid point with the lowest loss,
  then OLS of log tau_opt on log(D/N) with t-intervals (what many papers do);
* two-stage, vertex: each setting's optimum is the vertex of a least-squares parabola
  in log tau, then the same OLS.

The design is the one a lab gets with a FIXED weight-decay grid (0.1, 0.2, 0.4, 0.8)
swept at 20-1280 tokens per parameter: tau_opt falls with D/N, so the over-trained
settings' optima drift past the grid's low-tau edge. That is where the two-stage
methods break: argmin clips those optima to the grid edge (biased slope, narrow
interval), and a vertex extrapolated from three or four points scatters widely.

Output: a Markdown table on stdout and ``benchmarks/results/coverage_timescale.json``
(per simulation: each method's interval and whether it covers; totals; the design
and truth; machine and versions).

Run (from the repository root; about 25 s per simulation on 2 cores)::

    python benchmarks/bench_coverage.py                 # --sims 40
    python benchmarks/bench_coverage.py --sims 10 --out /tmp/cov.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import bayes_scaling as bs
from bayes_scaling.errors import BadInputError
from bayes_scaling.laws import adamw_timescale
from bayes_scaling.programs import package_versions
from bayes_scaling.simulate import TimescaleDesign, TimescaleTruth, simulate_timescale_sweep
from bayes_scaling.two_stage import two_stage_bowl

LEVEL = 0.90
TRUTH = TimescaleTruth()
DESIGN = TimescaleDesign(tokens_per_param=(20.0, 80.0, 320.0, 1280.0), wd=(0.1, 0.2, 0.4, 0.8))
METHODS = ("one-stage", "two-stage argmin", "two-stage vertex")


def _two_stage_inputs(frame):
    by = frame.groupby(["N", "D"])
    keys = by.size().index
    n, d = np.array([k[0] for k in keys]), np.array([k[1] for k in keys])
    x = np.log(np.asarray(adamw_timescale(*(frame[c].to_numpy() for c in ("B", "lr", "wd", "D")))))
    return x, np.log(frame["loss"].to_numpy()), by.ngroup().to_numpy(), np.log(d / n)


def _one_sim(seed: int, folder: Path, warmup: int, draws: int) -> dict:
    frame = simulate_timescale_sweep(TRUTH, DESIGN, rng_key=jax.random.key(seed))
    out: dict = {"seed": seed}
    for optimum in ("argmin", "vertex"):
        t0 = time.perf_counter()
        try:
            fit = two_stage_bowl(*_two_stage_inputs(frame), level=LEVEL, optimum=optimum)
            lo, hi = float(fit.lower[1]), float(fit.upper[1])
            out[f"two-stage {optimum}"] = {"lo": lo, "hi": hi, "point": fit.slopes[0], "covers": lo < TRUTH.tau_m < hi}
        except BadInputError as err:  # e.g. a parabola that opens downward: no vertex
            out[f"two-stage {optimum}"] = {"failed": str(err)}
        out[f"two-stage {optimum}"]["seconds"] = time.perf_counter() - t0
    path = folder / f"sim{seed}.csv"
    frame.to_csv(path, index=False)
    t0 = time.perf_counter()
    run = bs.fit(bs.load_sweep(path, law="timescale"), seed=seed, warmup=warmup, draws=draws, progress=False)
    lo, hi = np.quantile(run.draws("tau_m"), [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    out["one-stage"] = {
        "lo": float(lo),
        "hi": float(hi),
        "point": float(np.median(run.draws("tau_m"))),
        "covers": bool(lo < TRUTH.tau_m < hi),
        "converged": run.summary.converged,
        "divergences": run.summary.divergences,
        "rhat_max": run.summary.rhat_max,
        "seconds": time.perf_counter() - t0,
    }
    return out


def _totals(sims: list[dict]) -> dict:
    totals = {}
    for m in METHODS:
        ok = [s[m] for s in sims if "covers" in s[m]]
        k = sum(r["covers"] for r in ok)
        p = k / len(ok) if ok else math.nan
        totals[m] = {
            "n": len(ok),
            "failed": len(sims) - len(ok),
            "coverage": p,
            # Binomial standard error of the coverage estimate.
            "coverage_se": math.sqrt(p * (1 - p) / len(ok)) if ok else math.nan,
            "median_width": float(np.median([r["hi"] - r["lo"] for r in ok])) if ok else math.nan,
            "mean_error": float(np.mean([r["point"] - TRUTH.tau_m for r in ok])) if ok else math.nan,
            "median_seconds": float(np.median([s[m]["seconds"] for s in sims])),
        }
    totals["one-stage"]["not_converged"] = sum(not s["one-stage"]["converged"] for s in sims)
    return totals


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sims", type=int, default=40)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--out", default="benchmarks/results/coverage_timescale.json")
    a = p.parse_args()
    bs.configure_jax()
    sims = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(a.sims):
            sims.append(_one_sim(seed, Path(tmp), a.warmup, a.draws))
            s = sims[-1]
            print(f"sim {seed}: " + "; ".join(f"{m} {'covers' if s[m].get('covers') else ('FAILED' if 'failed' in s[m] else 'misses')}" for m in METHODS), flush=True)
    totals = _totals(sims)
    print(f"\n90 % intervals of tau_m (truth {TRUTH.tau_m}) over {a.sims} simulated sweeps\n")
    print("| method | coverage (se) | median width | mean error | failed | median time |")
    print("|---|---:|---:|---:|---:|---:|")
    for m in METHODS:
        t = totals[m]
        print(f"| {m} | {t['coverage']:.2f} ({t['coverage_se']:.2f}) | {t['median_width']:.3f} | {t['mean_error']:+.3f} | {t['failed']} | {t['median_seconds']:.2f} s |")
    record = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": f"python benchmarks/bench_coverage.py --sims {a.sims} --warmup {a.warmup} --draws {a.draws}",
        "machine": {"platform": platform.platform(), "cpus": jax.local_device_count(), "backend": jax.default_backend()},
        "versions": package_versions(("bayes-scaling", "numpyro", "jax", "numpy", "scipy")),
        "level": LEVEL,
        "truth": TRUTH.__dict__ | {"nu": str(TRUTH.nu)},
        "design": DESIGN.__dict__,
        "totals": totals,
        "sims": sims,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
