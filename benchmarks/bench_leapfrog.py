"""Where NUTS spends its time on CPU: the model's gradient vs NumPyro's tree building.

Fits the Chinchilla loss law once (the card's settings), counts the leapfrog steps
each device actually ran (chains on one device run in lock-step, so an iteration
costs the longest of its chains' trees), and compares the time per leapfrog step
with the time of one gradient of the log density evaluated inside a compiled loop.

    python benchmarks/bench_leapfrog.py
"""

from __future__ import annotations

import json
import time

import bayes_scaling as bs

bs.configure_jax()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from numpyro.infer.util import initialize_model  # noqa: E402

from bayes_scaling.cards import SamplerSettings  # noqa: E402
from bayes_scaling.fitting import _sampler, loss_arrays  # noqa: E402

LOOP = 20_000  # gradient evaluations timed inside one compiled loop


def main() -> None:
    sweep = bs.load_sweep("data/chinchilla_epoch/chinchilla_epoch.csv", where="excluded_in_besiroglu_fit == 0")
    run = bs.fit(sweep, progress=False)
    steps = np.asarray(run.idata.sample_stats["n_steps"])  # (chains, draws): post-warmup only
    chains = steps.shape[0]
    n_dev = jax.local_device_count() if chains % jax.local_device_count() == 0 else 1
    per_dev = steps.reshape(n_dev, chains // n_dev, -1).max(axis=1)  # lock-step within a device
    spec = run.summary.sampler
    iters = spec["warmup"] + spec["draws"]
    # Warmup steps were not kept; assume the same mean tree size as after warmup.
    leapfrogs_per_device = per_dev.mean(axis=1) * iters
    sample_s = run.summary.timings_s["sample"]
    per_leapfrog_us = sample_s / leapfrogs_per_device.mean() * 1e6

    arrays = loss_arrays(sweep)
    sampler = _sampler(run.card, arrays.structure, SamplerSettings(**spec))
    info = initialize_model(jax.random.PRNGKey(0), sampler.model, model_args=(arrays.data,), model_kwargs={"log_loss": jnp.asarray(arrays.log_loss)})
    grad = jax.grad(info.potential_fn)
    z0 = info.param_info.z

    @jax.jit
    def loop(z):
        return jax.lax.fori_loop(0, LOOP, lambda i, q: jax.tree.map(lambda a, g: a - 1e-12 * g, q, grad(q)), z)

    jax.block_until_ready(loop(z0))
    t = time.perf_counter()
    jax.block_until_ready(loop(z0))
    grad_us = (time.perf_counter() - t) / LOOP * 1e6
    out = {
        "devices": n_dev,
        "chains_per_device": chains // n_dev,
        "mean_leapfrogs_per_iteration_per_chain": float(steps.mean()),
        "mean_leapfrogs_per_iteration_per_device_lockstep": float(per_dev.mean()),
        "sample_s": sample_s,
        "us_per_leapfrog_round_per_device": round(per_leapfrog_us, 1),
        "us_per_gradient_in_compiled_loop": round(grad_us, 2),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
