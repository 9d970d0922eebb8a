"""The one table of defaults, each with the reason it has its value.

Functions take ``None`` for these settings and look the value up here, so a
change of policy is a change of one line (ArviZ's ``rcparams`` pattern).
"""

from __future__ import annotations

from typing import NamedTuple


class Default(NamedTuple):
    """A default value and why it is what it is."""

    value: object
    why: str


DEFAULTS: dict[str, Default] = {
    "chains": Default(4, "Four chains make split R-hat meaningful (Vehtari et al. 2021, arXiv 1903.08008)."),
    "warmup": Default(1000, "NumPyro/Stan default; enough to adapt a dense mass matrix on these 5-10 parameter laws."),
    "draws": Default(1000, "Per chain: 4 x 1000 draws give bulk and tail ESS well above 400 on the bundled sweeps."),
    "seed": Default(0, "Fixed so that a rerun of the same command gives the same posterior."),
    "target_accept": Default(0.8, "NumPyro default; raise it in the model card if a fit shows divergences."),
    "max_tree_depth": Default(10, "NumPyro/Stan default."),
    "dense_mass": Default(True, "The laws have 5-10 correlated parameters; a dense metric costs nothing at that size."),
    "rhat_max": Default(1.01, "Vehtari et al. 2021 recommend R-hat < 1.01 before trusting a posterior."),
    "ess_min": Default(400, "Vehtari et al. 2021: bulk and tail ESS >= 100 per chain, i.e. 400 for four chains."),
    "ebfmi_min": Default(0.3, "Betancourt 2016 (arXiv 1604.00695): E-BFMI below 0.3 signals poor exploration."),
    "setting_rel_tol": Default(0.01, "Runs at one nominal budget differ in D by a few steps (Marin: 2.6833e9-2.6885e9 tokens, 0.2 %); D within 1 % is one setting."),
    "bowl_min_distinct": Default(3, "A bowl (minimum and curvature) needs at least three distinct values of the swept quantity; two points fix only a slope."),
    "report_draws": Default(1000, "Posterior draws behind each curve of a report's figures: 1000 place the 5 %/95 % band edges to about +-1 percentile; tables use every draw."),
    "report_panels": Default(24, "Panels per small-multiples figure of a report (4 columns x 6 rows still legible); more settings or groups go on further figures."),
    "progress_chunk": Default(100, "Iterations per compiled chunk; the progress display updates between chunks."),
    # --- plan (bayes_scaling/plan*.py) ---
    "plan_draws": Default(4000, "Posterior draws a plan averages over: all of a default 4 x 1000 fit; a 10 % tail quantile then rests on 400 draws."),
    "plan_n_grid": Default((1e6, 1e14, 1000), "Candidate model sizes (lo, hi, count, log-spaced): 1M-100T parameters, 1.9 % apart, so the grid's nearest N is within 1 % of any optimum; fixed, so more budget never shrinks the search."),
    "plan_b_grid": Default((2.0**10, 2.0**28, 100), "Candidate batch sizes in tokens (lo, hi, count, log-spaced): 1k-268M tokens, 13 % apart."),
    "plan_min_steps": Default(1000, "Fewest optimizer steps a candidate may take: warm-up and schedule need ~1k steps (Power Lines' shortest runs have a few thousand)."),
    "plan_chunk": Default(32, "Candidate model sizes evaluated per compiled call: 32 x 100 batch sizes x 4000 draws in float32 is 51 MB."),
    "plan_front_draws": Default(1000, "Draws behind each cell of the time-compute front: 1000 place its 5 %/95 % band edges to about +-1 percentile."),
    "plan_front_grid": Default((240, 40), "Model sizes and batch sizes per front cell (same ranges as the plan's grid, coarser: 4 % and 60 % apart)."),
    "plan_front_deadlines": Default(12, "Deadlines per compute cap on the front, log-spaced from 1/100 of the unhurried plan's time to all of it."),
    # --- next (bayes_scaling/design*.py) ---
    "next_k": Default(8, "Runs proposed per round: enough to cover a new size range, few enough that the greedy batch's later picks still see fantasies of the earlier ones with a useful ESS."),
    "next_draws": Default(4000, "Posterior draws behind each EIG: all of a default 4 x 1000 fit; the estimator's largest value is then log 4000 = 8.3 nats."),
    "next_worlds": Default(16, "Simulated outcomes of the earlier picks that each later pick is scored against (each costs a full EIG of the re-scored candidates): the linear-Gaussian test measures the conditional EIG's error at 16."),
    "next_shortlist": Default(64, "Candidates re-scored at each pick about a target (no bound holds there): those with the highest EIG (per FLOP, or alone) before any pick."),
    "next_target_bins": Default(16, "Equal-count bins of a target quantity: I(T; y) is estimated as I(T_16; y), a lower bound that keeps 89-96 % of a Gaussian pair's information (0.95 at correlation 0.86, 0.89 at 0.99; tests/test_design_eig.py)."),
    "next_target_factor": Default(100.0, "Target compute when none is given: 100 x the largest run's 6 N D, the extrapolation a plan typically needs (issue 7's simulation study measures it there)."),
    "next_cooldown_fraction": Default(0.2, "Cooldown share f of a WSD branch's tokens: Hagele et al. 2024 find 10-20 % matches a tuned cosine; 20 % prices a branch conservatively."),
    "next_n_grid": Default((0.5, 30.0, 24), "New-run model sizes (lo x the data's smallest N, hi x its largest, count, log-spaced): around and beyond the data, up to the extrapolation a plan needs."),
    "next_tpp_grid": Default((2.0, 500.0, 16), "Tokens per parameter of new runs and branches (lo, hi, count, log-spaced): from under-trained to heavily over-trained, the range the loss surface's D term needs."),
    "next_chunk": Default(256, "Candidates scored per compiled call: 256 x 4000 draws x a 1024-node grid fits in ~30 MB."),
    "next_min_eig": Default(1e-3, "Picks stop when no affordable candidate would tell more than 0.001 nats: such a run cannot move the posterior."),
    # --- check (bayes_scaling/check*.py) ---
    "check_min_train_rows": Default(10, "Fewest rows a check's refit may keep: the loss law has 7 parameters (e, a_c, b_c, alpha, beta, sigma, nu); with fewer rows than ~10 the priors, not the data, would make the prediction being checked."),
    # --- sbc (bayes_scaling/sbc*.py) ---
    "sbc_sims": Default(200, "Simulations per law: 200 ranks in 20 bins expect 10 per bin, enough for the chi-square approximation and to see a U or a slope by eye (Talts et al. 2018 use 1000 for a paper figure, 100-200 for routine checks)."),
    "sbc_chains": Default(1, "One chain per simulated fit, as in Talts et al. 2018: on 2 cores two laws calibrate side by side, and 200 fits of the slowest law (timescale) fit in ~20 minutes; run with --chains 2 to get a per-fit R-hat."),
    "sbc_warmup": Default(400, "Warm-up per chain: less than the card's 1000, so SBC checks the sampler with less adaptation than a user's fit gets (stricter, and 200 fits stay within minutes)."),
    "sbc_draws": Default(400, "Draws per chain before thinning."),
    "sbc_thin": Default(4, "Keep every 4th draw: 100 kept draws, about independent at the autocorrelations these laws show (bulk ESS per draw 0.3-1), as Talts et al. 2018 ask so that correlated draws do not fake a U."),
    "sbc_bins": Default(20, "Rank histogram bins for the chi-square test: 100 possible ranks in 20 bins of 5; at 200 simulations 10 expected per bin (the test wants >= 5)."),
    "sbc_alpha": Default(0.01, "A law fails SBC when any of its distinct quantities has p < 0.01 / (number of quantities) (Bonferroni): a well-calibrated law is then flagged by chance in at most 1 % of runs."),
    "mfu": Default(0.4, "Model FLOPs utilisation of a well-tuned dense transformer run (PaLM reports 46 %, Chowdhery et al. 2022, arXiv 2204.02311)."),
    "min_device_batch": Default(4096, "Fewest tokens per device per step: one 4096-token sequence; below it a device has no work, so a batch B uses at most B / 4096 devices."),
    "tau_law": Default((1.084, -0.527), "tau_opt = c (D/N)^m when no timescale run is given: Bergsma et al. 2025 (Power Lines, arXiv 2505.13738), 2nd-hand."),
    "bopt_law": Default((0.0306 * 2048.0, 0.383, 0.0, 0.0), "B_opt = c D^k N^n tokens, and no curvature below it, when no batch run is given: Power Lines' 0.0306 D^0.383 sequences of 2048 tokens (2nd-hand), no N term."),
    "bcrit_law": Default((61.81, 0.47), "B_crit = c D_min^k tokens when no bcrit run is given: Power Lines' exponent 0.47 (2nd-hand) through Zhang et al. 2024's B_crit in McCandlish's definition (~1e6 tokens at D_min 1.5e9, ~5.7e6 at 2.2e10; arXiv 2410.21676)."),
}


def default(name: str) -> object:
    """Return the default value of ``name``; raise ``ValueError`` listing valid names."""
    try:
        return DEFAULTS[name].value
    except KeyError:
        raise ValueError(f"unknown default {name!r}; valid names: {', '.join(sorted(DEFAULTS))}") from None


def pick(name: str, value: object | None) -> object:
    """Return ``value`` unless it is ``None``, else the default of ``name``."""
    return default(name) if value is None else value
