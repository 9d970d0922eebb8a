"""PSIS-LOO comparison of two fits of the same rows (Vehtari, Gelman and Gabry 2017, arXiv 1507.04544)."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import arviz as az
import numpy as np

# Pareto k above 0.7: that row's PSIS estimate is unreliable (Vehtari et al. 2024, arXiv 1507.02646).
PARETO_K_BAD = 0.7


@dataclass(frozen=True)
class LooComparison:
    """Expected log predictive density of two models on the rows both fitted."""

    model_a: str
    model_b: str
    n_rows: int
    elpd_a: float
    elpd_b: float
    se_a: float
    se_b: float
    elpd_diff: float  # a - b: > 0 favours a
    se_diff: float
    pareto_k_max_a: float
    pareto_k_max_b: float
    n_bad_k: int  # rows with k > PARETO_K_BAD in either model
    preferred: str  # the better model when |diff| > 2 se, else "neither (within 2 se)"

    def to_json(self) -> dict:
        """A JSON-ready dict for summary.json's ``extra``."""
        return asdict(self)


def _pointwise(idata: az.InferenceData) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        # ArviZ warns about high Pareto k; we count those rows and report them instead.
        warnings.simplefilter("ignore")
        res = az.loo(idata, pointwise=True)
    return np.asarray(res.loo_i).ravel(), np.asarray(res.pareto_k).ravel()


def loo_compare(name_a: str, a: az.InferenceData, name_b: str, b: az.InferenceData) -> LooComparison:
    """Compare two fits on their common sweep rows (``constant_data.sweep_row``)."""
    rows_a = np.asarray(a.constant_data["sweep_row"])
    rows_b = np.asarray(b.constant_data["sweep_row"])
    common, ia, ib = np.intersect1d(rows_a, rows_b, return_indices=True)
    la, ka = _pointwise(a)
    lb, kb = _pointwise(b)
    la, ka, lb, kb = la[ia], ka[ia], lb[ib], kb[ib]
    n = len(common)
    diff = la - lb
    se = lambda v: float(np.sqrt(n * np.var(v)))  # noqa: E731  (Vehtari et al. 2017, eq. 23)
    d, sd = float(diff.sum()), se(diff)
    preferred = (name_a if d > 0 else name_b) if abs(d) > 2 * sd else "neither (within 2 se)"
    return LooComparison(
        model_a=name_a,
        model_b=name_b,
        n_rows=n,
        elpd_a=float(la.sum()),
        elpd_b=float(lb.sum()),
        se_a=se(la),
        se_b=se(lb),
        elpd_diff=d,
        se_diff=sd,
        pareto_k_max_a=float(ka.max()),
        pareto_k_max_b=float(kb.max()),
        n_bad_k=int(((ka > PARETO_K_BAD) | (kb > PARETO_K_BAD)).sum()),
        preferred=preferred,
    )
