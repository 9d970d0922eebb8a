"""The hyperparameter-law simulators: shapes, exactness without noise, truth files, dispatch."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from bayes_scaling.errors import BadInputError
from bayes_scaling.laws import (
    adamw_timescale,
    batch_opt,
    chinchilla_loss,
    critical_batch,
    tau_opt,
    three_term_batch_opt,
)
from bayes_scaling.simulate import (
    BESIROGLU,
    SIMULATORS,
    BatchDesign,
    BatchTruth,
    BcritDesign,
    BcritTruth,
    LossTruth,
    SweepDesign,
    ThreeTermDesign,
    ThreeTermTruth,
    TimescaleDesign,
    TimescaleTruth,
    read_law_truth,
    read_truth,
    simulate_batch_sweep,
    simulate_bcrit_sweep,
    simulate_sweep,
    simulate_three_term_sweep,
    simulate_timescale_sweep,
)

# Float64 arithmetic through exp/log and power laws: agreement to ~1e-15 per operation,
# a few dozen operations deep.
EXACT = 1e-11

COLUMNS = {
    "timescale": ["N", "D", "B", "lr", "wd", "loss", "run_id", "phase"],
    "batch": ["N", "D", "B", "loss", "run_id", "phase"],
    "bcrit": ["N", "B", "tokens_to_target", "steps_to_target", "target_loss", "D", "run_id"],
    "three_term": ["N", "D", "B", "loss", "run_id", "phase"],
}


def _n_rows(law: str, design) -> int:
    if law == "timescale":
        return len(design.sizes) * len(design.tokens_per_param) * len(design.B) * len(design.lr) * len(design.wd)
    if law == "bcrit":
        return len(design.sizes) * len(design.B)
    return len(design.sizes) * len(design.tokens_per_param) * len(design.B)


def _besiroglu(n, d):
    p = BESIROGLU
    n, d = np.asarray(n), np.asarray(d)  # JAX refuses pandas Series
    return np.asarray(chinchilla_loss(n, d, p["E"], p["A"], p["B"], p["alpha"], p["beta"]))


@pytest.mark.parametrize("law", list(COLUMNS))
def test_columns_shapes_and_positivity(law):
    truth, design = read_law_truth(law)
    frame = simulate_sweep(law, truth, design, rng_key=jax.random.key(1))
    assert list(frame.columns) == COLUMNS[law]
    assert len(frame) == _n_rows(law, design)
    assert frame["run_id"].is_unique
    numeric = frame.drop(columns=[c for c in ("run_id", "phase") if c in frame])
    assert np.all(np.isfinite(numeric.to_numpy())) and np.all(numeric.to_numpy() > 0)
    if "phase" in frame:
        assert set(frame["phase"]) == {"final"}


@pytest.mark.parametrize("law", list(COLUMNS))
def test_same_key_same_sweep_other_key_other_sweep(law):
    a = simulate_sweep(law, rng_key=jax.random.key(2))
    b = simulate_sweep(law, rng_key=jax.random.key(2))
    c = simulate_sweep(law, rng_key=jax.random.key(3))
    col = "tokens_to_target" if law == "bcrit" else "loss"
    np.testing.assert_array_equal(a[col], b[col])
    assert not np.allclose(a[col], c[col])


def test_student_t_noise_runs_and_differs_from_gaussian():
    key = jax.random.key(4)
    gauss = simulate_batch_sweep(BatchTruth(), rng_key=key)
    heavy = simulate_batch_sweep(BatchTruth(nu=3.0), rng_key=key)
    assert np.all(heavy["loss"] > 0) and not np.allclose(gauss["loss"], heavy["loss"])


def test_noise_free_timescale_sits_on_the_bowl():
    truth = TimescaleTruth(sigma=0.0, sigma_setting=0.0)
    frame = simulate_timescale_sweep(truth, rng_key=jax.random.key(5))
    n, d, b, lr, wd = (frame[c].to_numpy() for c in ("N", "D", "B", "lr", "wd"))
    log_tau = np.log(np.asarray(adamw_timescale(b, lr, wd, d)))
    log_opt = np.log(np.asarray(tau_opt(n, d, truth.tau_c, truth.tau_m)))
    want = np.log(_besiroglu(frame.N, frame.D)) + truth.curvature * (log_tau - log_opt) ** 2
    np.testing.assert_allclose(np.log(frame["loss"]), want, rtol=EXACT)
    # The best run of each setting is the grid point nearest tau_opt (in log tau).
    frame = frame.assign(dist=np.abs(log_tau - log_opt))
    for _, rows in frame.groupby(["N", "D"]):
        assert rows["loss"].idxmin() == rows["dist"].idxmin()


def test_fixed_weight_decay_grid_puts_overtrained_optima_near_its_low_edge():
    """As TPP grows, the optimal weight decay drifts to the low edge of the fixed grid."""
    truth, design = TimescaleTruth(sigma=0.0, sigma_setting=0.0), TimescaleDesign()
    frame = simulate_timescale_sweep(truth, design, rng_key=jax.random.key(6))
    best = frame.loc[frame.groupby(["N", "D"])["loss"].idxmin()]
    most_overtrained = best[best.D / best.N == max(design.tokens_per_param)]
    assert most_overtrained["wd"].min() == min(design.wd)
    assert best["wd"].max() > min(design.wd) * 8  # and the 20-TPP optima sit well inside


def test_noise_free_batch_sits_on_the_bowl():
    truth = BatchTruth(sigma=0.0, sigma_setting=0.0)
    frame = simulate_batch_sweep(truth, rng_key=jax.random.key(7))
    log_opt = np.log(
        np.asarray(batch_opt(frame.N.to_numpy(), frame.D.to_numpy(), truth.bopt_c, truth.bopt_k, truth.bopt_n))
    )
    want = np.log(_besiroglu(frame.N, frame.D)) + truth.curvature * (np.log(frame.B) - log_opt) ** 2
    np.testing.assert_allclose(np.log(frame["loss"]), want, rtol=EXACT)


def test_default_batch_optimum_is_power_lines_in_tokens():
    """0.0306 D^0.383 sequences of 2048 tokens (SCIENCE.md section 3)."""
    truth, d = BatchTruth(), 1e10
    assert float(batch_opt(1e8, d, truth.bopt_c, truth.bopt_k, truth.bopt_n)) == pytest.approx(
        2048 * 0.0306 * d**0.383, rel=EXACT
    )


def test_noise_free_bcrit_is_the_hyperbola_exactly():
    truth, design = BcritTruth(sigma=0.0, sigma_group=0.0), BcritDesign()
    frame = simulate_bcrit_sweep(truth, design, rng_key=jax.random.key(8))
    d_min = design.tokens_per_param_target * frame.N.to_numpy()
    b_crit = np.asarray(critical_batch(d_min, truth.bcrit_c, truth.bcrit_k))
    np.testing.assert_allclose(frame["tokens_to_target"], d_min * (1 + frame.B / b_crit), rtol=EXACT)
    np.testing.assert_allclose(frame["steps_to_target"], frame["tokens_to_target"] / frame.B, rtol=EXACT)
    np.testing.assert_array_equal(frame["D"], frame["tokens_to_target"])
    np.testing.assert_allclose(frame["target_loss"], _besiroglu(frame.N, d_min), rtol=EXACT)


def test_bcrit_group_effects_keep_each_size_on_its_own_hyperbola():
    """Tokens are linear in B per size, D = D_min + (D_min / B_crit) B, with D_min = 20 N."""
    design = BcritDesign()
    frame = simulate_bcrit_sweep(BcritTruth(sigma=0.0, sigma_group=0.3), design, rng_key=jax.random.key(9))
    for n, rows in frame.groupby("N"):
        slope, intercept = np.polyfit(rows.B, rows.tokens_to_target, 1)
        assert intercept == pytest.approx(design.tokens_per_param_target * n, rel=1e-8)  # lstsq at 1e7 scale
        assert slope > 0


def test_default_bcrit_is_realistic():
    """McCandlish B_crit ~1e6 tokens at D_min 1.5e9 and ~5.7e6 at 2.2e10 (Zhang et al.'s data)."""
    t = BcritTruth()
    # A factor 2 either way: the law's slope 0.47 cannot pass through both points exactly.
    for d_min, b in ((1.5e9, 1e6), (2.2e10, 5.7e6)):
        assert 0.5 < float(critical_batch(d_min, t.bcrit_c, t.bcrit_k)) / b < 2


def test_three_term_defaults_give_the_reported_batch_law_and_besiroglu_at_the_optimum():
    t = ThreeTermTruth()
    d, n = np.array([1e9, 1e10, 1e11, 1e12]), 3e8
    b_opt = np.asarray(three_term_batch_opt(d, t.C, t.beta, t.G, t.gamma))
    np.testing.assert_allclose(b_opt, 0.667 * d**0.566, rtol=EXACT)
    along = t.E + t.A * n**-t.alpha + t.C * b_opt**-t.beta + t.G * (d / b_opt) ** -t.gamma
    np.testing.assert_allclose(along, _besiroglu(n, d), rtol=EXACT)


def test_noise_free_three_term_is_the_direct_sum():
    t = ThreeTermTruth(sigma=0.0)
    frame = simulate_three_term_sweep(t, ThreeTermDesign(), rng_key=jax.random.key(10))
    n, d, b = frame.N, frame.D, frame.B
    want = t.E + t.A * n**-t.alpha + t.C * b**-t.beta + t.G * (d / b) ** -t.gamma
    np.testing.assert_allclose(frame["loss"], want, rtol=EXACT)
    # Realistic losses: 2.2-7 nats over the whole default grid (50M-1.4B, 20-320 TPP),
    # optimal batch or not; the worst is a 50M model's 950-step run at B = 1M tokens.
    assert 2.2 < frame["loss"].min() and frame["loss"].max() < 7.0


@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    [
        (TimescaleTruth, {"tau_c": -1.0}, "tau_c"),
        (TimescaleTruth, {"tau_m": math.nan}, "tau_m"),
        (TimescaleTruth, {"nu": 0.0}, "nu"),
        (BatchTruth, {"curvature": 0.0}, "curvature"),
        (BatchTruth, {"loss_E": -2.0}, "loss_E"),
        (BcritTruth, {"sigma": -0.1}, "sigma"),
        (BcritTruth, {"bcrit_c": "big"}, "bcrit_c"),
        (ThreeTermTruth, {"gamma": 0.0}, "gamma"),
        (TimescaleDesign, {"wd": ()}, "wd"),
        (BatchDesign, {"B": (2.0**16, -1.0)}, "B"),
        (BcritDesign, {"tokens_per_param_target": 0.0}, "tokens_per_param_target"),
        (ThreeTermDesign, {"sizes": (1e8, math.inf)}, "sizes"),
    ],
)
def test_bad_fields_are_refused_by_name(cls, kwargs, field):
    with pytest.raises(BadInputError, match=field):
        cls(**kwargs)


def test_design_lists_become_tuples_of_floats():
    design = BatchDesign(B=[65536, 131072, 262144])
    assert design.B == (65536.0, 131072.0, 262144.0)


@pytest.mark.parametrize("law", list(SIMULATORS))
def test_read_law_truth_without_a_file_gives_the_defaults(law):
    truth, design = read_law_truth(law, None)
    assert truth == SIMULATORS[law].truth() and design == SIMULATORS[law].design()


def test_read_law_truth_round_trips_a_toml(tmp_path):
    path = tmp_path / "truth.toml"
    path.write_text(
        'law = "timescale"\n[truth]\ntau_c = 1.2\ntau_m = -0.5\nnu = inf\n'
        "[design]\nsizes = [1e8, 2e8]\nwd = [0.05, 0.1, 0.2]\nB = [262144]\n"
    )
    truth, design = read_law_truth("timescale", path)
    assert truth == TimescaleTruth(tau_c=1.2, tau_m=-0.5)
    assert design == TimescaleDesign(sizes=(1e8, 2e8), wd=(0.05, 0.1, 0.2), B=(262144.0,))
    path.write_text("[truth]\nbcrit_k = 0.5\n[design]\ntokens_per_param_target = 10.0\n")
    truth, design = read_law_truth("bcrit", path)
    assert truth.bcrit_k == 0.5 and design.tokens_per_param_target == 10.0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[truth]\ntau_z = 1.0\n", "unknown key 'tau_z'; valid: curvature"),
        ("[design]\nbatch = [1]\n", "unknown key 'batch'; valid: B, lr"),
        ("[truths]\ntau_c = 1.0\n", "unknown top-level key 'truths'"),
        ('law = "batch"\n', "for law 'batch', not 'timescale'"),
        ("[truth\n", "not valid TOML"),
    ],
)
def test_read_law_truth_refuses_bad_files(tmp_path, text, match):
    path = tmp_path / "truth.toml"
    path.write_text(text)
    with pytest.raises(BadInputError, match=match):
        read_law_truth("timescale", path)


def test_read_truth_for_the_loss_law_is_unchanged(tmp_path):
    path = tmp_path / "truth.toml"
    path.write_text("[truth]\nE = 2.0\ngroup_E = [1.8, 2.2]\n[design]\nsizes = [1e8, 1e9]\n")
    assert read_truth(path) == read_law_truth("loss", path)
    assert read_truth(path) == (LossTruth(E=2.0, group_E=(1.8, 2.2)), SweepDesign(sizes=(1e8, 1e9)))


def test_unknown_law_lists_the_valid_ones():
    with pytest.raises(BadInputError, match="unknown law 'lr'; valid: loss, timescale, batch, bcrit, three_term"):
        simulate_sweep("lr", rng_key=jax.random.key(11))
    with pytest.raises(BadInputError, match="unknown law"):
        read_law_truth("lr")


def test_simulate_sweep_refuses_another_laws_truth():
    with pytest.raises(BadInputError, match="needs a BatchTruth"):
        simulate_sweep("batch", TimescaleTruth(), rng_key=jax.random.key(12))


def test_simulate_sweep_dispatches_to_the_law():
    key = jax.random.key(13)
    np.testing.assert_array_equal(simulate_sweep("bcrit", rng_key=key), simulate_bcrit_sweep(rng_key=key))
