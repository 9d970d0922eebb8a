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


# --- fits shared by the recovery and report tests (tests/shared_fits.py) ---------------

from shared_fits import CARD_DEFAULTS, EDGE_DESIGN, MARIN, MARIN_WHERE, SMALL, fit_frame, grouped_frame  # noqa: E402


@pytest.fixture(scope="session")
def chinchilla_run():
    """Chinchilla at the defaults a user gets: 4 x (1000 + 1000)."""
    sweep = bs.load_sweep("data/chinchilla_epoch/chinchilla_epoch.csv", where="excluded_in_besiroglu_fit == 0")
    assert sweep.n_rows == 240
    return bs.fit(sweep, progress=False)


@pytest.fixture(scope="session")
def grouped_sim(tmp_path_factory):
    """(sweep, run): three groups, the first named <script>alert(1)</script>."""
    return fit_frame(tmp_path_factory.mktemp("grouped"), "loss", grouped_frame(), seed=11, groups=("group",))


def _sim(law: str, key: int, design=None):
    from bayes_scaling.simulate import BatchTruth, BcritTruth, ThreeTermTruth, TimescaleTruth, simulate_sweep

    truth = {"timescale": TimescaleTruth, "batch": BatchTruth, "bcrit": BcritTruth, "three_term": ThreeTermTruth}[law]()
    return truth, simulate_sweep(law, truth, design, rng_key=jax.random.key(key))


@pytest.fixture(scope="session")
def timescale_sim(tmp_path_factory):
    """(truth, frame, run) of the Power Lines-like timescale sweep on a fixed wd grid."""
    truth, frame = _sim("timescale", 1, EDGE_DESIGN)
    return truth, frame, fit_frame(tmp_path_factory.mktemp("ts"), "timescale", frame, seed=1)[1]


@pytest.fixture(scope="session")
def batch_sim(tmp_path_factory):
    truth, frame = _sim("batch", 2)
    return truth, frame, fit_frame(tmp_path_factory.mktemp("batch"), "batch", frame, seed=2)[1]


@pytest.fixture(scope="session")
def bcrit_sim(tmp_path_factory):
    truth, frame = _sim("bcrit", 3)
    return truth, frame, fit_frame(tmp_path_factory.mktemp("bcrit"), "bcrit", frame, seed=3, settings=CARD_DEFAULTS)[1]


@pytest.fixture(scope="session")
def three_term_sim(tmp_path_factory):
    """Also fits the batch law on the same rows (the LOO comparison)."""
    truth, frame = _sim("three_term", 4)
    return truth, frame, fit_frame(tmp_path_factory.mktemp("tt"), "three_term", frame, seed=4)[1]


@pytest.fixture(scope="session")
def zhang_run():
    sweep = bs.load_sweep("data/zhang_cbs/zhang_cbs.csv", law="bcrit")
    return sweep, bs.fit(sweep, seed=0, **CARD_DEFAULTS)


@pytest.fixture(scope="session")
def marin_run():
    sweep = bs.load_sweep(MARIN, law="timescale", where=MARIN_WHERE)
    return sweep, bs.fit(sweep, seed=0, **SMALL)
