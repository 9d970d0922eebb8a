"""Shared test set-up: JAX on CPU in float64 with the persistent compilation cache,
a fixed PRNG key, and session-wide fits so that compiled samplers are shared."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import bayes_scaling as bs  # noqa: E402

# Before any JAX work: float64, the compilation cache (shared with the CLI, so CI
# reruns and local reruns skip XLA compilation), one CPU device per core.
bs.configure_jax()

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def key():
    """A fixed key; tests split it, never reuse it."""
    return jax.random.key(20261125)
