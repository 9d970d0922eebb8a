"""Model cards: one TOML file per law with priors (and why), hierarchy and sampler settings.

The cards shipped with the package live in the top-level ``models/`` folder of the
repository and inside the wheel as ``bayes_scaling/model_cards``. Users may pass their
own file. A card is parsed once into frozen records; nothing downstream reads TOML.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, NamedTuple

import numpyro.distributions as dist

from .defaults import default
from .errors import BadInputError

# The distributions a card may name, with the parameters each takes.
_DISTRIBUTIONS: Mapping[str, tuple[type, tuple[str, ...]]] = MappingProxyType(
    {
        "Normal": (dist.Normal, ("loc", "scale")),
        "HalfNormal": (dist.HalfNormal, ("scale",)),
        "Beta": (dist.Beta, ("concentration1", "concentration0")),
        "Gamma": (dist.Gamma, ("concentration", "rate")),
        "LogNormal": (dist.LogNormal, ("loc", "scale")),
        "Exponential": (dist.Exponential, ("rate",)),
        "StudentT": (dist.StudentT, ("df", "loc", "scale")),
        "Uniform": (dist.Uniform, ("low", "high")),
    }
)

INITS = ("uniform", "prior")
LAWS = ("loss", "timescale", "batch", "bcrit", "three_term")
# Laws whose run folder gets optima.png: each setting's (or group's) optimum against the law.
LAWS_WITH_FIGURE = ("timescale", "batch", "bcrit")


@dataclass(frozen=True)
class Prior:
    """A prior: distribution name, its parameters, and the reason for it."""

    dist: str
    params: Mapping[str, float]
    why: str

    def to_numpyro(self) -> dist.Distribution:
        """The numpyro distribution this prior describes."""
        cls, _ = _DISTRIBUTIONS[self.dist]
        return cls(**self.params)


class SamplerSettings(NamedTuple):
    """NUTS settings: a card's recommendation, and (with the caller's overrides) what a fit
    ran with. A NamedTuple so that it keys the cache of compiled samplers."""

    chains: int
    warmup: int
    draws: int
    target_accept: float
    dense_mass: bool
    max_tree_depth: int
    # Where chains start: "uniform" in (-2, 2) on the unconstrained scale (NumPyro's
    # default), or "prior": a draw from the prior, for models whose parameters sit far
    # from 0 (log batch sizes ~ 13) and whose likelihood has a degenerate mode there.
    init: str = "uniform"


@dataclass(frozen=True)
class ModelCard:
    """A parsed model card."""

    name: str
    law: str
    description: str
    columns: tuple[str, ...]
    params: tuple[str, ...]
    priors: Mapping[str, Prior]
    group_params: tuple[str, ...]
    group_scales: Mapping[str, Prior]
    sampler: SamplerSettings
    source: str = field(repr=False)  # the TOML text, stored with every fit for provenance

    # Two cards are the same model when their text is the same: this keys the
    # in-process cache of compiled samplers.
    def __hash__(self) -> int:
        return hash(self.source)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelCard) and other.source == self.source

    def prior(self, name: str) -> Prior:
        """The prior of site ``name``; a clear error if the card lacks it."""
        try:
            return self.priors[name]
        except KeyError:
            raise BadInputError(f"model card {self.name!r} has no prior for {name!r}") from None


_BOWL = ("opt_c", "sd_setting", "k_log", "k_sd", "m_dev", "sigma", "nu")
_REQUIRED_PRIORS = {
    "loss": ("e", "a_c", "b_c", "alpha", "beta", "sigma", "nu"),
    "timescale": _BOWL + ("tau_m",),
    "batch": _BOWL + ("bopt_k", "bopt_n"),
    "bcrit": ("bc_c", "bcrit_k", "sd_group", "dmin_dev", "sigma", "nu"),
    "three_term": ("e", "a_c", "c_c", "g_c", "alpha", "beta", "gamma", "sigma", "nu"),
}
_REQUIRED_SCALES = {"loss": ("e", "alpha", "beta", "run")}
# Priors the models shift by data-dependent centres, so they must be Normal.
_MUST_BE_NORMAL = ("m_dev", "dmin_dev")


def _parse_prior(where: str, table: object) -> Prior:
    if not isinstance(table, dict) or "dist" not in table:
        raise BadInputError(f"{where} must be a table with a 'dist' key")
    name = table["dist"]
    if name not in _DISTRIBUTIONS:
        raise BadInputError(f"{where}: unknown dist {name!r}; valid: {', '.join(_DISTRIBUTIONS)}")
    _, names = _DISTRIBUTIONS[name]
    missing = [p for p in names if p not in table]
    if missing:
        raise BadInputError(f"{where}: {name} needs {', '.join(missing)}")
    params = {}
    for p in names:
        value = table[p]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise BadInputError(f"{where}.{p} must be a number, got {value!r}")
        params[p] = float(value)
    why = table.get("why", "")
    if not why:
        raise BadInputError(f"{where} has no 'why': every prior states its reason")
    return Prior(name, MappingProxyType(params), why)


def parse_card(text: str, origin: str = "<card>") -> ModelCard:
    """Parse the TOML text of a model card; ``BadInputError`` names what is wrong."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise BadInputError(f"not valid TOML: {err}", file=origin) from None
    law = raw.get("law")
    if law not in LAWS:
        raise BadInputError(f"'law' must be one of {', '.join(LAWS)}, got {law!r}", file=origin)
    priors = {k: _parse_prior(f"{origin}: priors.{k}", v) for k, v in raw.get("priors", {}).items()}
    missing = [p for p in _REQUIRED_PRIORS[law] if p not in priors]
    if missing:
        raise BadInputError(f"the {law} law needs priors for {', '.join(missing)}", file=origin)
    for name in _MUST_BE_NORMAL:
        if name in priors and priors[name].dist != "Normal":
            raise BadInputError(f"priors.{name} must be a Normal (the model shifts it by a data-dependent centre)", file=origin)
    hier = raw.get("hierarchy", {})
    scales = {k: _parse_prior(f"{origin}: hierarchy.scales.{k}", v) for k, v in hier.get("scales", {}).items()}
    missing = [p for p in _REQUIRED_SCALES.get(law, ()) if p not in scales]
    if missing:
        raise BadInputError(f"the {law} law needs hierarchy.scales for {', '.join(missing)}", file=origin)
    group_params = tuple(hier.get("group_params", ("e",) if law == "loss" else ()))
    s = raw.get("sampler", {})
    # A card may leave any sampler setting out; the defaults table fills it in.
    sampler = SamplerSettings(
        chains=int(s.get("chains", default("chains"))),
        warmup=int(s.get("warmup", default("warmup"))),
        draws=int(s.get("draws", default("draws"))),
        target_accept=float(s.get("target_accept", default("target_accept"))),
        dense_mass=bool(s.get("dense_mass", default("dense_mass"))),
        max_tree_depth=int(s.get("max_tree_depth", default("max_tree_depth"))),
        init=str(s.get("init", "uniform")),
    )
    if sampler.init not in INITS:
        raise BadInputError(f"sampler.init must be one of {', '.join(INITS)}, got {sampler.init!r}", file=origin)
    return ModelCard(
        name=str(raw.get("name", law)),
        law=law,
        description=str(raw.get("description", "")),
        columns=tuple(raw.get("columns", ())),
        params=tuple(raw.get("params", ())),
        priors=MappingProxyType(priors),
        group_params=group_params,
        group_scales=MappingProxyType(scales),
        sampler=sampler,
        source=text,
    )


def cards_dir() -> Path:
    """Where the shipped cards are: inside the wheel, or the repository's ``models/``."""
    inside = Path(__file__).parent / "model_cards"
    if inside.is_dir():
        return inside
    return Path(__file__).resolve().parent.parent / "models"


def load_card(name_or_path: str | Path) -> ModelCard:
    """A shipped card by law name (``"loss"``) or a user's card by path."""
    path = Path(name_or_path)
    shipped = cards_dir() / f"{name_or_path}.toml"
    if str(name_or_path) in LAWS or (path.suffix == "" and len(path.parts) == 1 and shipped.is_file()):
        path = shipped  # a shipped card by name: a law's own, or a variant such as "loss_nd"
    elif not path.is_file():
        raise BadInputError(
            f"no model card here; give a path to a .toml file or a shipped card: {', '.join(sorted(p.stem for p in cards_dir().glob('*.toml')))}", file=str(name_or_path)
        )
    return parse_card(path.read_text(encoding="utf-8"), origin=str(path))
