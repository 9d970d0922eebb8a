"""The shipped model card and the card parser."""

import pytest

from bayes_scaling.cards import load_card, parse_card
from bayes_scaling.errors import BadInputError


def test_shipped_loss_card_has_a_reason_for_every_prior():
    card = load_card("loss")
    assert card.law == "loss"
    for name in ("e", "a_c", "b_c", "alpha", "beta", "sigma", "nu"):
        assert len(card.priors[name].why) > 20, name
    for name in ("e", "alpha", "beta", "run"):
        assert card.group_scales[name].why
    assert card.sampler.chains == 4 and card.sampler.dense_mass


def test_exponent_priors_live_in_zero_one():
    card = load_card("loss")
    for name in ("alpha", "beta"):
        d = card.priors[name].to_numpyro()
        assert float(d.support.lower_bound) == 0.0 and float(d.support.upper_bound) == 1.0


def _edit(old: str, new: str) -> str:
    text = load_card("loss").source
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("law = 'nonsense'", "'law' must be one of"),
        (_edit('dist = "Normal"\nloc = 0.5', 'dist = "Cauchyish"\nloc = 0.5'), "unknown dist 'Cauchyish'"),
        (_edit("loc = 0.5\nscale = 0.75\n", "loc = 0.5\n"), "Normal needs scale"),
        (_edit("loc = 0.5\nscale = 0.75\nwhy =", "loc = 0.5\nscale = 'wide'\nwhy ="), "must be a number"),
        (_edit("[priors.nu]", "[priors.nu_renamed]"), "needs priors for nu"),
        ("law = ", "not valid TOML"),
    ],
)
def test_bad_cards_are_named(text, message):
    with pytest.raises(BadInputError, match=message):
        parse_card(text, origin="my.toml")


def test_a_prior_without_a_reason_is_refused():
    text = load_card("loss").source
    start = text.index("[priors.e]")
    end = text.index("[priors.a_c]")
    block = "[priors.e]\ndist = \"Normal\"\nloc = 0.5\nscale = 0.75\n\n"
    with pytest.raises(BadInputError, match="no 'why'"):
        parse_card(text[:start] + block + text[end:])
