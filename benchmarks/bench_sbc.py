"""SBC fits per second: bayes-scaling's reused compiled sampler against the NumPyro
loops a user would write.

The same simulated sweeps (the loss law's SBC design, truths from the card's prior) are
fitted with 2 chains x (500 warm-up + 500 draws) by:

- ours: ``bayes_scaling.sbc.calibrate``'s path: one ``CompiledSampler`` (fitting._sampler),
  traced and compiled once, called with each sweep's observations;
- numpyro, jit_model_args: ``numpyro.infer.MCMC(NUTS(model), ..., jit_model_args=True,
  chain_method="vectorized")`` built once and ``.run`` per sweep (NumPyro's own answer to
  "the same model, new data");
- numpyro, naive: a fresh ``MCMC`` per sweep, as in a notebook loop (re-traces and re-compiles
  every time).

Each is timed on ``--sims`` sweeps after one warm-up fit (so compile time is reported apart).
Run: ``python benchmarks/bench_sbc.py [--sims 8]``; writes benchmarks/results/sbc.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import bayes_scaling as bs  # noqa: E402

bs.configure_jax()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

from bayes_scaling.cards import SamplerSettings, load_card  # noqa: E402
from bayes_scaling.fitting import _sampler  # noqa: E402
from bayes_scaling.sbc import design_arrays, simulate_from_prior  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "sbc.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=8)
    ap.add_argument("--law", default="loss")
    a = ap.parse_args()
    arrays, described = design_arrays(a.law)
    card = load_card(a.law)
    _, obs = simulate_from_prior(arrays, card, a.sims + 1, rng_key=jax.random.key(0))
    spec = SamplerSettings(2, 500, 500, card.sampler.target_accept, card.sampler.dense_mass, card.sampler.max_tree_depth, card.sampler.init)
    model = functools.partial(arrays.model, card=card, structure=arrays.structure)
    out: dict[str, dict] = {}

    def ours(i: int):
        s = _sampler(arrays.model, card, arrays.structure, spec)
        return s.run(jax.random.key(i), (arrays.data,), {arrays.obs_name: jnp.asarray(obs[i])}, progress=False)

    def mcmc_kernel() -> NUTS:
        return NUTS(model, dense_mass=spec.dense_mass, target_accept_prob=spec.target_accept, max_tree_depth=spec.max_tree_depth)

    reused = MCMC(mcmc_kernel(), num_warmup=500, num_samples=500, num_chains=2, chain_method="vectorized", progress_bar=False, jit_model_args=True)

    def numpyro_reused(i: int):
        reused.run(jax.random.key(i), arrays.data, **{arrays.obs_name: jnp.asarray(obs[i])})
        return reused.get_samples()

    def numpyro_naive(i: int):
        m = MCMC(mcmc_kernel(), num_warmup=500, num_samples=500, num_chains=2, chain_method="vectorized", progress_bar=False)
        m.run(jax.random.key(i), arrays.data, **{arrays.obs_name: jnp.asarray(obs[i])})
        return m.get_samples()

    for name, fn in (("ours", ours), ("numpyro_jit_model_args", numpyro_reused), ("numpyro_naive", numpyro_naive)):
        t = time.perf_counter()
        jax.block_until_ready(jax.tree.leaves(fn(a.sims)))  # first fit: compiles
        first = time.perf_counter() - t
        times = []
        for i in range(a.sims):
            t = time.perf_counter()
            jax.block_until_ready(jax.tree.leaves(fn(i)))
            times.append(time.perf_counter() - t)
        out[name] = {"first_fit_s": round(first, 2), "median_fit_s": round(float(np.median(times)), 3), "total_s": round(float(np.sum(times)), 2)}
        print(f"{name:24s} first fit {first:6.1f} s, then median {np.median(times):6.2f} s per fit ({a.sims} fits, {np.sum(times):.1f} s)", flush=True)
    record = {
        "law": a.law,
        "design": described,
        "sampler": "2 chains x (500 + 500), the card's target_accept and mass matrix",
        "sims": a.sims,
        "results": out,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/bench_sbc.py --sims %d --law %s" % (a.sims, a.law),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
