"""Fits shared across test modules (session fixtures in conftest.py): the recovery tests
check their statistics, the report tests render them. One sample per fit per session,
and the compiled samplers are shared because the settings and shapes are the same.
"""

from __future__ import annotations

from pathlib import Path

import jax
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.simulate import LossTruth, SweepDesign, TimescaleDesign

# Short chains keep the suite fast: 4 x 500 draws give bulk ESS of several hundred on
# these models, enough to place the 5 %/95 % quantiles to about +-1.5 percentiles.
SMALL = dict(chains=4, warmup=500, draws=500, progress=False)
# The bcrit model is cheap (45 rows) but its group scale has a long tail that 500
# warm-up iterations do not always adapt to (one chain of four stuck there: R-hat 1.33
# on the simulated sweep of key 3); the card's 1000 + 1000 converge on every seed tried.
CARD_DEFAULTS = dict(progress=False)
# A fixed weight-decay grid swept at 20-1280 tokens per parameter: the over-trained
# settings' optima drift past the grid's low-tau edge (benchmarks/bench_coverage.py).
EDGE_DESIGN = TimescaleDesign(tokens_per_param=(20.0, 80.0, 320.0, 1280.0), wd=(0.1, 0.2, 0.4, 0.8))
# The three-group loss sweep: its first group carries a hostile label, so every test
# that fits or reports it also checks that text from the CSV is inert.
HOSTILE = "<script>alert(1)</script>"
GROUPED_TRUTH = LossTruth(group_E=(1.7, 1.9, 2.1), sigma=0.01)

MARIN = "data/marin_adamw/marin_adamw.csv"
MARIN_WHERE = "is_final == 1 and optimizer == 'adamw'"


def fit_frame(folder: Path, law: str, frame: pd.DataFrame, seed: int, settings: dict = SMALL, groups=(), **kw) -> tuple[bs.Sweep, bs.Run]:
    """Write ``frame`` as a CSV in ``folder``, load it as a sweep of ``law`` and fit it."""
    path = folder / f"{law}.csv"
    frame.to_csv(path, index=False)
    sweep = bs.load_sweep(path, law=law, groups=groups)
    return sweep, bs.fit(sweep, seed=seed, **settings, **kw)


def grouped_frame() -> pd.DataFrame:
    """The three-group loss sweep (seed 11), group g0 renamed to the hostile label
    (it still sorts first, so group indices are unchanged)."""
    frame = bs.simulate_loss_sweep(GROUPED_TRUTH, SweepDesign(), rng_key=jax.random.key(11))
    frame["group"] = frame["group"].replace({"g0": HOSTILE})
    return frame
