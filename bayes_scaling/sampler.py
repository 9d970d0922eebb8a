"""NUTS driver: NumPyro's NUTS kernel run in compiled chunks, chains in parallel.

Why not ``numpyro.infer.MCMC``: we need the compile time apart from the sampling time
(summary.json reports both), a progress display that does not slow sampling, and
one compiled program reused for every data set of the same shape. Chains run one per
CPU device (threads) when the process has several, so a slow chain does not hold the
others in lock-step; within a device they are vectorised.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import NUTS


class SamplerSpec(NamedTuple):
    """What the compiled program depends on (beyond array shapes)."""

    chains: int
    warmup: int
    draws: int
    target_accept: float
    dense_mass: bool
    max_tree_depth: int


class Draws(NamedTuple):
    """Raw output of a run, arrays shaped (chains, draws, ...)."""

    samples: dict[str, np.ndarray]  # constrained values and deterministic sites
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
    """The most CPU/GPU devices that split the chains evenly."""
    n = jax.local_device_count()
    return max(d for d in range(1, min(n, chains) + 1) if chains % d == 0)


class CompiledSampler:
    """A NUTS kernel for one model, with its compiled chunk program(s) cached by shape."""

    def __init__(self, model: Callable, spec: SamplerSpec) -> None:
        self.spec, self.model = spec, model
        self.chunk = math.gcd(spec.warmup, spec.draws, 100) if spec.warmup else math.gcd(spec.draws, 100)
        self.n_dev = _devices_for(spec.chains)
        self._compiled: dict[object, object] = {}

    def _kernel(self) -> NUTS:
        # A fresh kernel per run: NumPyro's ``init`` with a batch of keys wraps the
        # kernel's sample function in ``vmap``, so a re-initialised kernel would be
        # vmapped twice. The compiled program does not depend on the kernel object.
        spec = self.spec
        return NUTS(self.model, dense_mass=spec.dense_mass, target_accept_prob=spec.target_accept, max_tree_depth=spec.max_tree_depth)

    def _program(self, kernel: NUTS):
        length = self.chunk

        def chunk(state, args, kwargs):
            # ``kernel.sample`` is already vectorised over the chains of this device.
            def body(s, _):
                s = kernel.sample(s, args, kwargs)
                return s, (s.z, s.diverging, s.energy, s.num_steps, s.accept_prob, s.adapt_state.step_size)

            return jax.lax.scan(body, state, None, length=length)

        if self.n_dev > 1:
            return jax.pmap(chunk, in_axes=(0, None, None))
        return jax.jit(chunk)

    def _split(self, tree):
        if self.n_dev == 1:
            return tree
        return jax.tree.map(lambda x: x.reshape((self.n_dev, -1) + x.shape[1:]), tree)

    def _chains_first(self, x: np.ndarray) -> np.ndarray:
        if self.n_dev == 1:
            return np.swapaxes(x, 0, 1)
        x = np.swapaxes(x, 1, 2)  # (devices, chains/device, draws, ...)
        return x.reshape((-1,) + x.shape[2:])

    def run(self, rng_key: jax.Array, args: tuple, kwargs: dict, *, progress: bool | None = None) -> Draws:
        """Warm up and sample; return draws of every site, constrained."""
        spec = self.spec
        t0 = time.perf_counter()
        keys = jax.random.split(rng_key, spec.chains)
        kernel = self._kernel()
        state = kernel.init(keys, spec.warmup, None, args, kwargs)
        state = self._split(state)
        shape_key = jax.tree.map(lambda x: (x.shape, x.dtype), (state, args, kwargs))
        key = str(shape_key)
        if key not in self._compiled:
            program = self._program(kernel)
            self._compiled[key] = program.lower(state, args, kwargs).compile()
        compiled = self._compiled[key]
        compile_s = time.perf_counter() - t0

        t1 = time.perf_counter()
        total = spec.warmup + spec.draws
        bar = Progress(total, progress)
        kept = []
        done = 0
        while done < total:
            state, out = compiled(state, args, kwargs)
            done += self.chunk
            if done > spec.warmup:
                kept.append(out)
            bar.update(done, "warmup" if done <= spec.warmup else "sampling")
        jax.block_until_ready(state)
        bar.close()
        # Chunk outputs are (devices, chunk, chains/device, ...) under pmap and
        # (chunk, chains, ...) otherwise: join the chunks, then put chains first.
        draw_axis = 1 if self.n_dev > 1 else 0
        joined = jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs], axis=draw_axis), *kept)
        z, diverging, energy, num_steps, accept_prob, step_size = jax.tree.map(self._chains_first, joined)
        sample_s = time.perf_counter() - t1

        postprocess = kernel.postprocess_fn(args, kwargs)
        flat = jax.tree.map(lambda x: jnp.reshape(x, (-1,) + x.shape[2:]), z)
        constrained = jax.jit(jax.vmap(postprocess))(flat)
        samples = {k: np.asarray(v).reshape((spec.chains, spec.draws) + v.shape[1:]) for k, v in constrained.items()}
        return Draws(
            samples=samples,
            diverging=np.asarray(diverging),
            energy=np.asarray(energy),
            num_steps=np.asarray(num_steps),
            accept_prob=np.asarray(accept_prob),
            step_size=np.asarray(step_size),
            compile_s=compile_s,
            sample_s=sample_s,
        )

