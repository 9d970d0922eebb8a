"""Structure of the NumPyro model: site names, shapes, prior predictive."""

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.handlers import seed, trace

from bayes_scaling.cards import load_card
from bayes_scaling.laws import chinchilla_log_loss, chinchilla_loss
from bayes_scaling.model_loss import OBS, LossData, LossStructure, loss_model


def _data(n=12, n_groups=1, n_runs=0):
    x = jnp.linspace(-2.0, 2.0, n)
    return LossData(
        x=x,
        z=-x,
        group=jnp.arange(n, dtype=jnp.int32) % n_groups,
        run=jnp.minimum(jnp.arange(n, dtype=jnp.int32) // 3, n_runs),
        run_basis=jnp.asarray(np.linalg.svd(np.ones((n_runs, 1)), full_matrices=True)[0][:, 1:]),  # all but the runs' mean
        log_n_centre=jnp.asarray(20.0),
        log_d_centre=jnp.asarray(23.0),
    )


def test_ungrouped_sites_and_shapes(key):
    card = load_card("loss")
    tr = trace(seed(loss_model, key)).get_trace(_data(), card=card, structure=LossStructure(1, 0, ()))
    for name in ("e", "a_c", "b_c", "alpha", "beta", "sigma", "nu", "E", "A", "B", "a", "b"):
        assert tr[name]["value"].shape == (), name
    assert tr[OBS]["value"].shape == (12,)
    assert "run_effect" not in tr and "sigma_run" not in tr and "tau_e" not in tr
    # Derived values are what the parameterisation says.
    v = {k: float(tr[k]["value"]) for k in ("a", "a_c", "alpha", "A")}
    np.testing.assert_allclose(v["a"], v["a_c"] + v["alpha"] * 20.0)
    np.testing.assert_allclose(v["A"], np.exp(v["a"]))


def test_grouped_and_run_sites(key):
    card = load_card("loss")
    structure = LossStructure(n_groups=3, n_runs=4, group_params=("e", "alpha"))
    tr = trace(seed(loss_model, key)).get_trace(_data(n_groups=3, n_runs=4), card=card, structure=structure)
    assert tr["e_raw"]["value"].shape == (3,)
    assert tr["e_group"]["value"].shape == (3,)
    assert tr["alpha_group"]["value"].shape == (3,)
    assert np.all((np.asarray(tr["alpha_group"]["value"]) > 0) & (np.asarray(tr["alpha_group"]["value"]) < 1))
    assert "beta_raw" not in tr
    assert tr["r_run"]["value"].shape == (3,)  # 4 runs less the mean
    # run_effect is each run's effect on log loss, projected off the basis (here: the mean).
    effect = np.asarray(tr["run_effect"]["value"])
    assert effect.shape == (4,)
    np.testing.assert_allclose(effect.sum(), 0.0, atol=1e-12)


def test_prior_predictive_losses_are_plausible(key):
    """Prior draws of the loss at the data centre stay in a range a person would accept:
    the card's priors say what is plausible, not anything at all."""
    card = load_card("loss")
    keys = jax.random.split(key, 400)
    data = _data()

    def draw(k):
        tr = trace(seed(loss_model, k)).get_trace(data, card=card, structure=LossStructure(1, 0, ()))
        return tr[OBS]["value"]

    losses = np.exp(np.asarray(jax.vmap(draw)(keys)))
    median = np.median(losses)
    assert 1.5 < median < 6.0, median  # LLM losses in nats/token live here
    assert np.quantile(losses, 0.95) < 50.0


def test_size_dependent_card_adds_b_n_and_keeps_the_original_scale_law(key):
    """models/loss_nd.toml: the b_n site exists, and E, A, B, alpha, beta, b_n at the
    original scale give the same loss as the centred terms the model evaluates."""
    log_n, log_d = np.log(np.array([5e7, 2e8, 1e9])), np.log(np.array([1e9, 8e9, 4e10]))
    data = LossData(jnp.asarray(log_n - log_n.mean()), jnp.asarray(log_d - log_d.mean()), jnp.zeros(3, jnp.int32), jnp.zeros(3, jnp.int32),
                    jnp.zeros((0, 0)), jnp.asarray(log_n.mean()), jnp.asarray(log_d.mean()))
    card = load_card("loss_nd")
    tr = trace(seed(loss_model, key)).get_trace(data, card=card, structure=LossStructure(1, 0, ()))
    v = {k: np.asarray(s["value"]) for k, s in tr.items()}
    assert "b_n" in v and "b_n" in card.params
    centred = chinchilla_log_loss(data.x, data.z, v["e"], v["a_c"], v["alpha"], v["b_c"], v["beta"], v["b_n"])
    original = np.log(chinchilla_loss(np.exp(log_n), np.exp(log_d), v["E"], v["A"], v["B"], v["alpha"], v["beta"], v["b_n"]))
    np.testing.assert_allclose(np.asarray(centred), original, rtol=1e-10)
    plain = trace(seed(loss_model, key)).get_trace(data, card=load_card("loss"), structure=LossStructure(1, 0, ()))
    assert "b_n" not in plain  # the shipped loss card is Hoffmann's separable law
