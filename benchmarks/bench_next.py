"""How fast `next` scores candidates: 10,000 candidate runs x 4,000 posterior draws.

The target (issue 7): scoring 10,000 candidates with 4,000 draws in under 10 s on this
2-core CPU. The alternative a user would write is nested Monte Carlo (SCIENCE.md
section 5): per candidate, sample outcomes y from the draws and the noise, and average
the 4,000 draws' densities at each y; here in JAX, float32, jitted and chunked, with
the same noise density. It is timed in the same run on a subset of the same
candidates (at its cost, all 10,000 would take minutes) and its time for 10,000 is
extrapolated linearly (marked as such); its EIGs are compared with ours there.

Draws: the Chinchilla loss posterior (a fresh fit at the card's 4 x 1000 draws).
Candidates: 100 model sizes (half the data's smallest to 30 x its largest) x 100
tokens-per-parameter (2-500), all new runs.

    python benchmarks/bench_next.py      # ~4 min; writes benchmarks/results/next.json
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import bayes_scaling as bs
from timing import timed  # benchmarks/timing.py: the script's folder is on sys.path

bs.configure_jax()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bayes_scaling.design import Target, _log_loss, next_runs  # noqa: E402
from bayes_scaling.design_candidates import grid_candidates  # noqa: E402
from bayes_scaling.design_eig import TABLE, noise_kernel  # noqa: E402

REPEATS = 3
NMC_CANDIDATES = 200  # nested MC's subset
NMC_OUTER = 1000  # outcomes per candidate: the estimate's standard error is ~sd(log ratio)/sqrt(1000)
OUT = Path(__file__).parent / "results" / "next.json"


def nested_mc(mu: np.ndarray, kernel, key: jax.Array, outer: int = NMC_OUTER, chunk: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """EIG = E[log p(y | theta) - log mean_m p(y | theta_m)] per candidate, and its standard error."""
    x = jnp.linspace(-kernel.width, kernel.width, TABLE, dtype=jnp.float32)
    dens = jnp.asarray(kernel.density, jnp.float32)
    noise = jnp.asarray(kernel.draws, jnp.float32)

    def logf(d):
        return jnp.log(jnp.maximum(jnp.interp(d, x, dens, left=0.0, right=0.0), 1e-30))

    @jax.jit
    def one_chunk(m, k):  # m (c, M)
        k1, k2 = jax.random.split(k)
        c, M = m.shape
        truth = jax.random.randint(k1, (c, outer), 0, M)
        y = jnp.take_along_axis(m, truth, 1) + jax.random.choice(k2, noise, (c, outer))
        own = logf(y - jnp.take_along_axis(m, truth, 1))
        marg = jax.scipy.special.logsumexp(logf(y[:, :, None] - m[:, None, :]), axis=-1) - jnp.log(M)
        r = own - marg
        return r.mean(1), r.std(1) / jnp.sqrt(outer)

    eig, se = [], []
    for i, k in zip(range(0, len(mu), chunk), jax.random.split(key, (len(mu) + chunk - 1) // chunk), strict=True):
        e, s = one_chunk(jnp.asarray(mu[i : i + chunk], jnp.float32), k)
        eig.append(np.asarray(e))
        se.append(np.asarray(s))
    return np.concatenate(eig), np.concatenate(se)


def main() -> None:
    sweep = bs.load_sweep("data/chinchilla_epoch/chinchilla_epoch.csv", where="excluded_in_besiroglu_fit == 0")
    run = bs.fit(sweep, progress=False)
    cands = grid_candidates(run, (), n_grid=(0.5, 30.0, 100), tpp_grid=(2.0, 500.0, 100))
    assert len(cands) == 10_000
    results = {}
    scenarios = {
        "ours, score 10k candidates (k = 1), about the parameters": lambda: next_runs(run, 1e30, k=1, candidates=cands, rng_key=jax.random.key(0)),
        "ours, score 10k candidates (k = 1), about the loss at 100x": lambda: next_runs(run, 1e30, k=1, candidates=cands, target=Target("loss"), rng_key=jax.random.key(0)),
        "ours, batch of 8 from 10k, budget 1e22, about the parameters": lambda: next_runs(run, 1e22, k=8, candidates=cands, rng_key=jax.random.key(0)),
        "ours, batch of 8 from 10k, budget 1e22, about the loss at 100x": lambda: next_runs(run, 1e22, k=8, candidates=cands, target=Target("loss"), rng_key=jax.random.key(0)),
    }
    outs = {}
    for name, fn in scenarios.items():
        first, warm, res = timed(fn, REPEATS)
        outs[name] = res
        results[name] = {"first_s": round(first, 2), "warm_median_s": round(warm, 2), "picks": len(res.picks), "batch_eig": round(res.batch_eig, 4),
                         "grid_step_over_noise_width": res.grid_step}
        print(f"{name:<66} first {first:6.2f} s   warm {warm:6.2f} s   picks {len(res.picks)}  batch EIG {res.batch_eig:.3f}")

    # Nested Monte Carlo on a spread subset of the same candidates, same draws and noise.
    ours = outs["ours, score 10k candidates (k = 1), about the parameters"]
    law = run.loss_law_draws()
    params = jnp.asarray(np.stack([law.E, np.log(law.A), np.log(law.B), law.alpha, law.beta]), jnp.float32)
    effects = jnp.zeros((1, law.E.size), jnp.float32)
    sub = np.linspace(0, len(cands) - 1, NMC_CANDIDATES).astype(int)
    mu = np.asarray(_log_loss(params, effects, jnp.asarray(np.log(cands.N[sub]), jnp.float32), jnp.asarray(np.log(cands.D[sub]), jnp.float32),
                              jnp.zeros(sub.size, jnp.int32)))
    kernel = noise_kernel(run.draws("sigma"), run.draws("nu"), None, rng=np.random.default_rng(0))
    nested_mc(mu[:8], kernel, jax.random.key(9))  # compile
    t = time.perf_counter()
    nmc, se = nested_mc(mu, kernel, jax.random.key(1))
    nmc_s = time.perf_counter() - t
    diff = ours.eig_alone[sub] - nmc
    results[f"nested MC (JAX float32, {NMC_OUTER} outcomes x 4000 draws), {NMC_CANDIDATES} of the candidates"] = {
        "s": round(nmc_s, 2),
        "s_for_10k_extrapolated": round(nmc_s * len(cands) / NMC_CANDIDATES, 1),
        "ours_minus_nmc_eig_max_abs": float(np.max(np.abs(diff))),
        "ours_minus_nmc_eig_mean": float(np.mean(diff)),
        "nmc_standard_error_median": float(np.median(se)),
        "share_within_3_se": float(np.mean(np.abs(diff) <= 3 * se + 1e-3)),
    }
    print(f"nested MC on {NMC_CANDIDATES} candidates: {nmc_s:.2f} s (10k: ~{nmc_s * len(cands) / NMC_CANDIDATES:.0f} s extrapolated); "
          f"ours - NMC: max |diff| {np.max(np.abs(diff)):.4f} nats, mean {np.mean(diff):+.4f}, NMC se median {np.median(se):.4f}, "
          f"within 3 se: {np.mean(np.abs(diff) <= 3 * se + 1e-3):.0%}")
    record = {
        "what": "bayes_scaling next: EIG of 10,000 candidate runs x 4000 Chinchilla posterior draws, and the greedy batch of 8",
        "n_candidates": len(cands),
        "n_draws": int(ours.n_draws),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, jax {jax.__version__}",
        "command": "python benchmarks/bench_next.py",
        "results": results,
    }
    OUT.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
