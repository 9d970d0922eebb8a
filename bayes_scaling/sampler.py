"""NUTS driver: NumPyro's NUTS kernel run in compiled chunks, chains in parallel.

Why not ``numpyro.infer.MCMC``: summary.json reports compile time apart from
sampling time; the progress display must not slow sampling; one compiled program
must serve every data set of the same shape, in this process and (exported to the
cache folder, see ``programs.py``) in the next, initialisation included. Chains are
split across the CPU devices (threads; one device per core, see ``jaxsetup``), so a
slow chain holds back only the chains of its own device, which are vectorised.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from numpyro.infer import NUTS, init_to_sample, init_to_uniform

from .cards import SamplerSettings
from .defaults import default
from .programs import load_or_export, program_key


class Draws(NamedTuple):
    """Raw output of a run, arrays shaped (chains, draws, ...)."""

    z: dict[str, np.ndarray]  # unconstrained positions
    diverging: np.ndarray
    energy: np.ndarray
    num_steps: np.ndarray
    accept_prob: np.ndarray
    step_size: np.ndarray
    compile_s: float
    sample_s: float


class Progress:
    """A one-line progress display on a terminal; silent otherwise."""

    def __init__(self, total: int, enabled: bool | None = None, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.start = total, time.perf_counter()

    def update(self, done: int, phase: str) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        width = 30
        bar = "#" * int(width * done / self.total)
        self.stream.write(f"\r  {phase:<8} [{bar:<{width}}] {done}/{self.total} iterations, {elapsed:5.1f} s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _devices_for(chains: int) -> int:
    """The most devices that split the chains evenly."""
    n = jax.local_device_count()
    return max(d for d in range(1, min(n, chains) + 1) if chains % d == 0)


class CompiledSampler:
    """A NUTS kernel for one model, with its compiled chunk program(s) cached by shape.

    ``model_key`` names the model's meaning (card text and structure); with the
    settings and the array shapes it keys the program exported to disk.
    """

    def __init__(self, model: Callable, spec: SamplerSettings, model_key: str = "") -> None:
        self.spec, self.model, self.model_key = spec, model, model_key
        most = int(default("progress_chunk"))
        self.chunk = math.gcd(spec.warmup, spec.draws, most) if spec.warmup else math.gcd(spec.draws, most)
        self.n_dev = _devices_for(spec.chains)
        self.mesh = jax.make_mesh((self.n_dev,), ("chains",), devices=jax.local_devices()[: self.n_dev]) if self.n_dev > 1 else None
        self._compiled: dict[str, Callable] = {}

    def kernel(self) -> NUTS:
        """A fresh NUTS kernel for this model and settings.

        Fresh per run: NumPyro's ``init`` with a batch of keys wraps the kernel's
        sample function in ``vmap``, so a re-initialised kernel would be vmapped
        twice. The compiled program does not depend on the kernel object.
        """
        spec = self.spec
        init = {"uniform": init_to_uniform, "prior": init_to_sample}[spec.init]
        return NUTS(
            self.model,
            init_strategy=init,
            dense_mass=spec.dense_mass,
            target_accept_prob=spec.target_accept,
            max_tree_depth=spec.max_tree_depth,
        )

    def _traced_init(self, kernel: NUTS, keys, args, kwargs):
        """Trace (not run) ``kernel.init``: it sets up the kernel's sample function and
        gives the state's structure, which the chunk program needs on a cache miss."""
        return jax.eval_shape(lambda k, a, kw: kernel.init(k, self.spec.warmup, None, a, kw), keys, args, kwargs)

    def _init_program(self, keys, args, kwargs, arg_leaves, key: str):
        per_device_keys = jax.ShapeDtypeStruct((keys.shape[0] // self.n_dev, *keys.shape[1:]), keys.dtype)
        args_def = jax.tree.structure((args, kwargs))

        def build():
            kernel = self.kernel()

            def init(batched, arg_leaves):
                a, kw = jax.tree.unflatten(args_def, arg_leaves)
                # Valid starting points (uniform in (-2, 2) unconstrained, retried until
                # the density is finite) and the step-size search of NumPyro's warm-up.
                return jax.tree.leaves(kernel.init(batched[0], self.spec.warmup, None, a, kw))

            fn = init if self.mesh is None else jax.shard_map(init, mesh=self.mesh, in_specs=(P("chains"), P()), out_specs=P("chains"), check_vma=False)
            state = self._traced_init(kernel, per_device_keys, args, kwargs)
            sites = [[name, list(v.shape[1:])] for name, v in sorted(state.z.items())]
            return fn, {"sites": sites}

        return load_or_export(key, build, [keys], arg_leaves, self.mesh)

    def _chunk_program(self, keys, args, kwargs, state_leaves, arg_leaves, key: str):
        per_device_keys = jax.ShapeDtypeStruct((keys.shape[0] // self.n_dev, *keys.shape[1:]), keys.dtype)
        args_def = jax.tree.structure((args, kwargs))
        length = self.chunk

        def build():
            kernel = self.kernel()
            state_def = jax.tree.structure(self._traced_init(kernel, per_device_keys, args, kwargs))

            def chunk(state_leaves, arg_leaves):
                state = jax.tree.unflatten(state_def, state_leaves)
                a, kw = jax.tree.unflatten(args_def, arg_leaves)

                # ``kernel.sample`` is already vectorised over this device's chains.
                def body(s, _):
                    s = kernel.sample(s, a, kw)
                    return s, (s.z, s.diverging, s.energy, s.num_steps, s.accept_prob, s.adapt_state.step_size)

                state, outs = jax.lax.scan(body, state, None, length=length)
                return jax.tree.leaves(state), jax.tree.leaves(outs)

            if self.mesh is None:
                return chunk, {}
            # An equal share of the chains per device; no communication between them.
            return jax.shard_map(chunk, mesh=self.mesh, in_specs=(P("chains"), P()), out_specs=(P("chains"), P(None, "chains")), check_vma=False), {}

        return load_or_export(key, build, state_leaves, arg_leaves, self.mesh)

    def run(self, rng_key: jax.Array, args: tuple, kwargs: dict, *, progress: bool | None = None) -> Draws:
        """Warm up and sample; return unconstrained draws and sampler statistics."""
        spec = self.spec
        t0 = time.perf_counter()
        if jnp.issubdtype(rng_key.dtype, jax.dtypes.prng_key):
            rng_key = jax.random.key_data(rng_key)  # NumPyro's kernels take raw uint32 keys
        keys = jax.random.split(rng_key, spec.chains)
        arg_leaves, args_def = jax.tree.flatten((args, kwargs))
        shapes = [(x.shape, str(x.dtype)) for x in [keys, *arg_leaves]]
        base = (self.model_key, tuple(spec), self.n_dev, str(args_def), shapes)
        init_key = program_key("nuts-init", *base)
        if init_key not in self._compiled:
            self._compiled[init_key] = self._init_program(keys, args, kwargs, arg_leaves, init_key)
        init, meta = self._compiled[init_key]
        if self.mesh is not None:
            keys = jax.device_put(keys, NamedSharding(self.mesh, P("chains")))
            arg_leaves = jax.device_put(arg_leaves, NamedSharding(self.mesh, P()))
        state_leaves = list(init([keys], arg_leaves))
        chunk_key = program_key("nuts-chunk", *base, self.chunk)
        if chunk_key not in self._compiled:
            self._compiled[chunk_key] = self._chunk_program(keys, args, kwargs, state_leaves, arg_leaves, chunk_key)
        compiled, _ = self._compiled[chunk_key]
        sites = [(name, tuple(shape)) for name, shape in meta["sites"]]
        compile_s = time.perf_counter() - t0

        t1 = time.perf_counter()
        total = spec.warmup + spec.draws
        bar = Progress(total, progress)
        kept = []
        done = 0
        while done < total:
            state_leaves, out_leaves = compiled(state_leaves, arg_leaves)
            state_leaves = list(state_leaves)
            done += self.chunk
            if done > spec.warmup:
                kept.append(out_leaves)
            bar.update(done, "warmup" if done <= spec.warmup else "sampling")
        jax.block_until_ready(state_leaves)
        bar.close()
        # Each chunk's outputs are (chunk, chains, ...): join the chunks, put chains first.
        joined = [np.swapaxes(np.concatenate([np.asarray(c[i]) for c in kept], axis=0), 0, 1) for i in range(len(kept[0]))]
        # Leaves come out as (z in sorted site order, then the five statistics).
        z = {name: joined[i] for i, (name, _) in enumerate(sites)}
        diverging, energy, num_steps, accept_prob, step_size = joined[len(sites) :]
        return Draws(z, diverging, energy, num_steps, accept_prob, step_size, compile_s, time.perf_counter() - t1)
