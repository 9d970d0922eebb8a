"""An uncertainty report of a fitted law: what the page and report.md say, as a typed record.

``build_report(run)`` computes everything (diagnostics, posterior predictive check,
PSIS-LOO, extrapolation, the figures as PNG bytes); ``report_render`` writes it as a
self-contained HTML page, a Markdown file and the figure files. Numbers in tables come
from the summary the fit wrote, formatted once here, so the report and summary.json agree.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import arviz as az
import numpy as np

from . import report_figures as rf
from .cards import LAWS_WITH_FIGURE
from .check import Check
from .defaults import default
from .extrapolate import Extrapolation, ExtrapolationResult, extrapolate
from .published import DENSITY_PARAMS, PAIR_PARAMS, published
from .report_curves import law_panels
from .run import Run, scalar_constant


@dataclass(frozen=True)
class Table:
    """A table of text cells (numbers already formatted)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class ReportFigure:
    """A figure: its file name (without .png), caption and PNG bytes."""

    name: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Section:
    """One part of the report."""

    anchor: str
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    figures: tuple[ReportFigure, ...] = ()


@dataclass(frozen=True)
class LooResult:
    """PSIS-LOO of the fit, with each row's Pareto k."""

    elpd: float
    se: float
    p_loo: float
    pareto_k: np.ndarray
    good_k: float  # min(1 - 1/log10(S), 0.7): Vehtari et al. 2024 (arXiv 1507.02646)

    @property
    def n_bad(self) -> int:
        """Rows whose importance-sampling estimate is unreliable (good_k < k <= 1)."""
        return int(np.sum((self.pareto_k > self.good_k) & (self.pareto_k <= 1)))

    @property
    def n_very_bad(self) -> int:
        """Rows with k > 1: the estimate is not even finite-variance."""
        return int(np.sum(self.pareto_k > 1))


@dataclass(frozen=True)
class Report:
    """Everything the report shows."""

    title: str
    law: str
    converged: bool
    warning: str  # the banner text; "" when the fit converged
    sections: tuple[Section, ...]
    loo: LooResult | None
    ppc_coverage: float | None  # share of rows inside their 90 % posterior predictive interval
    extrapolation: tuple[Extrapolation, ...]


def fmt(x: float | int | None) -> str:
    """Four significant digits; ``n/a`` for a missing or undefined number."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{x:.4g}"


PARAM_COLUMNS = ("parameter", "mean", "sd", "q05", "q50", "q95", "r_hat", "ess_bulk", "ess_tail")


def _param_table(run: Run) -> Table:
    rows = tuple((name, *(fmt(getattr(p, c)) for c in PARAM_COLUMNS[1:])) for name, p in run.summary.params.items())
    return Table(PARAM_COLUMNS, rows, "Posterior summary of every reported parameter, as in summary.json (q05/q95: the 90 % interval).")


def headline_section(run: Run) -> Section:
    """The law's exponents (and, for the loss law, the N_opt exponent) with published values."""
    law = run.summary.law
    post = run.idata.posterior
    rows = []
    named = [(p, run.draws(p)) for p in DENSITY_PARAMS[law] if p in post and post[p].ndim == 2]
    if law == "loss" and "b_n" in post:
        a, b, g = run.draws("alpha"), run.draws("beta"), run.draws("b_n")
        # With B N^b_n D^-beta, N_opt grows as C^(beta/(alpha+beta+b_n)) (laws.compute_optimal_split).
        named.append(("N_opt exponent beta/(alpha+beta+b_n)", b / (a + b + g)))
    elif law == "loss":
        a, b = run.draws("alpha"), run.draws("beta")
        # N_opt grows as C^(beta/(alpha+beta)) (SCIENCE.md section 1); Besiroglu et al. 0.513.
        named.append(("N_opt exponent beta/(alpha+beta)", b / (a + b)))
    marks = {"N_opt exponent beta/(alpha+beta)": "Besiroglu et al. 2024 0.513"}
    for name, x in named:
        q = np.quantile(x, (0.05, 0.5, 0.95))
        pub = marks.get(name) or "; ".join(f"{m.source} {m.value:g}" for m in published(law, name)) or "-"
        rows.append((name, fmt(float(q[1])), f"{fmt(float(q[0]))} - {fmt(float(q[2]))}", pub))
    table = Table(("quantity", "median", "90 % interval", "published"), tuple(rows), "From every posterior draw. Published values are the papers' fits of their own data (loss law: the Chinchilla runs); on another sweep they are landmarks, not targets.")
    return Section("headline", "Headline", tables=(table,))


def _diagnostics_table(run: Run) -> Table:
    s = run.summary
    rhat_max, ess_min, ebfmi_min = (float(default(k)) for k in ("rhat_max", "ess_min", "ebfmi_min"))

    def verdict(ok: bool) -> str:
        return "ok" if ok else "FAIL"

    ebfmi = min(s.ebfmi) if s.ebfmi else float("nan")
    rows = (
        ("max R-hat", fmt(s.rhat_max), f"<= {rhat_max}", verdict(s.rhat_max <= rhat_max)),
        ("min bulk ESS", fmt(s.ess_bulk_min), f">= {ess_min:.0f}", verdict(s.ess_bulk_min >= ess_min)),
        ("min tail ESS", fmt(s.ess_tail_min), f">= {ess_min:.0f}", verdict(s.ess_tail_min >= ess_min)),
        ("divergent transitions", fmt(s.divergences), "0", verdict(s.divergences == 0)),
        ("E-BFMI per chain", ", ".join(fmt(e) for e in s.ebfmi), f">= {ebfmi_min}", verdict(ebfmi >= ebfmi_min)),
    )
    return Table(("check", "value", "needs", "verdict"), rows, "Over every sampled parameter (Vehtari et al. 2021; Betancourt 2016).")


def _ppc(run: Run) -> tuple[Section, float | None]:
    idata = run.idata
    name = next(iter(idata.observed_data.data_vars))
    what = "tokens to target" if run.summary.law == "bcrit" else "loss"
    if "posterior_predictive" not in idata.groups():
        text = "This run folder has no posterior_predictive group (fitted by an older bayes-scaling); refit it to get the check."
        return Section("ppc", "Posterior predictive check", (text,)), None
    log_obs = np.asarray(idata.observed_data[name])
    # Quantiles in log space, then exp: Student-t replicates can overflow exp, quantiles cannot.
    q = np.exp(np.quantile(np.asarray(idata.posterior_predictive[name]).reshape(-1, log_obs.size), (0.05, 0.5, 0.95), axis=0))
    observed = np.exp(log_obs)
    coverage = float(np.mean((observed >= q[0]) & (observed <= q[2])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pareto-k warnings: reported in the LOO section
        pit = np.asarray(az.loo_pit(idata, y=name))
    fig = rf.ppc_figure(observed, q, pit, what)
    text = (
        f"Each row's observed {what} against the distribution a replicate of that row would have under the fitted law "
        f"(noise included): {coverage:.0%} of {observed.size} rows lie inside their 90 % interval (about 90 % is calibrated). "
        "The LOO-PIT histogram asks the same of held-out predictions."
    )
    return Section("ppc", "Posterior predictive check", (text,), figures=(ReportFigure("ppc", "Posterior predictive check and LOO-PIT.", rf.png(fig)),)), coverage


def _row_label(run: Run, i: int) -> str:
    const = run.idata.constant_data
    row = f"file row {int(const['file_row'].values[i])}" if "file_row" in const else f"row {i}"
    parts = [f"{c}={float(const[c].values[i]):.3g}" for c in ("N", "D", "B", "lr", "wd") if c in const and const[c].dims == ("row",)]
    if "log_n_centre" in const:  # the loss law keeps centred logs of N and D
        n = np.exp(float(const["x"].values[i]) + scalar_constant(const["log_n_centre"]))
        d = np.exp(float(const["z"].values[i]) + scalar_constant(const["log_d_centre"]))
        parts = [f"N={n:.3g}", f"D={d:.3g}"]
    return ", ".join([row, *parts])


def _loo(run: Run) -> tuple[Section, LooResult]:
    idata = run.idata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # high Pareto k: reported below, row by row
        elpd = az.loo(idata, pointwise=True)
    n_samples = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    res = LooResult(float(elpd.elpd_loo), float(elpd.se), float(elpd.p_loo), np.asarray(elpd.pareto_k), min(1 - 1 / np.log10(n_samples), 0.7))
    summary = Table(
        ("elpd_loo", "se", "p_loo", "rows", f"k <= {res.good_k:.2f}", f"{res.good_k:.2f} < k <= 1", "k > 1"),
        ((fmt(res.elpd), fmt(res.se), fmt(res.p_loo), str(res.pareto_k.size), str(res.pareto_k.size - res.n_bad - res.n_very_bad), str(res.n_bad), str(res.n_very_bad)),),
        "Expected log predictive density of held-out rows (log scale of the observations), by Pareto-smoothed importance sampling.",
    )
    flagged = np.flatnonzero(res.pareto_k > res.good_k)
    order = flagged[np.argsort(-res.pareto_k[flagged])]
    tables = [summary]
    if flagged.size:
        rows = tuple((_row_label(run, int(i)), fmt(float(res.pareto_k[i]))) for i in order)
        tables.append(Table(("row", "Pareto k"), rows, "Rows whose held-out prediction PSIS cannot estimate reliably: influential rows; look at them."))
    loo_cmp = run.summary.extra.get("loo")
    if isinstance(loo_cmp, dict):
        keys = ("model_a", "model_b", "elpd_a", "elpd_b", "elpd_diff", "se_diff", "preferred")
        tables.append(Table(keys, (tuple(fmt(v) if isinstance(v, float) else str(v) for v in (loo_cmp.get(k) for k in keys)),), "PSIS-LOO comparison the fit made with its rival model."))
    text = (
        f"{flagged.size} of {res.pareto_k.size} rows have Pareto k above {res.good_k:.2f}."
        if flagged.size
        else f"Every row's Pareto k is at most {res.good_k:.2f}: the LOO estimate is reliable."
    )
    fig = ReportFigure("pareto_k", "Pareto k of each row.", rf.png(rf.pareto_k_figure(res.pareto_k, res.good_k)))
    return Section("loo", "PSIS-LOO", (text,), tuple(tables), (fig,)), res


def _posterior(run: Run) -> Section:
    post = run.idata.posterior
    law = run.summary.law
    names = [p for p in DENSITY_PARAMS[law] if p in post and post[p].ndim == 2]
    dens = rf.density_figure({p: run.draws(p) for p in names}, {p: published(law, p) for p in names})
    pairs = [p for p in PAIR_PARAMS[law] if p in post and post[p].ndim == 2]
    diverging = np.asarray(run.idata.sample_stats["diverging"]).ravel().astype(bool)
    pair = rf.pair_figure({p: run.draws(p) for p in pairs}, diverging)
    marks = [f"{p}: " + "; ".join(f"{m.source} {m.value:g}" for m in published(law, p)) for p in names if published(law, p)]
    text = ("Published values marked: " + " | ".join(marks) + ".") if marks else "No published values to mark for this law."
    figures = (
        ReportFigure("densities", "Posterior densities with 90 % intervals; dashed lines: published values.", rf.png(dens)),
        ReportFigure("pairs", "Pairs of the law's parameters as sampled; red: divergent transitions.", rf.png(pair)),
    )
    return Section("posterior", "Posterior of the law's parameters", (text,), figures=figures)


def _law_section(run: Run) -> Section:
    figures = [ReportFigure(f"law_{i + 1}", "The data and the fitted law: median, 50 % and 90 % credible bands of the law.", rf.png(f)) for i, f in enumerate(rf.panels_figures(law_panels(run)))]
    tables: list[Table] = []
    law = run.summary.law
    if law in LAWS_WITH_FIGURE:
        from .figures import optima_figure

        figures.append(ReportFigure("optima", "Each setting's (or group's) own optimum with its 90 % interval, against the law.", rf.png(optima_figure(run))))
        tables.append(_optima_table(run))
    what = {
        "loss": "Loss against compute C = 6ND; each curve is the law at one model size (the mean N of the runs of its colour).",
        "timescale": "Each (N, D) setting's loss against the AdamW timescale tau = B/(lr wd D), with the fitted bowl.",
        "batch": "Each (N, D) setting's loss against batch size, with the fitted bowl.",
        "bcrit": "Tokens needed to reach each group's target loss against batch size: D = D_min (1 + B/B_crit).",
        "three_term": "Loss against batch size at each (N, D), with the three-term law along B.",
    }[law]
    return Section("law", "The data and the fitted law", (what,), tuple(tables), tuple(figures))


def _optima_table(run: Run) -> Table:
    if run.summary.law == "bcrit":
        b = run.draws("b_crit")
        q = np.quantile(b, (0.05, 0.5, 0.95), axis=0)
        labels = [str(g) for g in run.idata.posterior.coords["group"].values]
        rows = tuple((lab, *(fmt(float(v)) for v in q[:, i])) for i, lab in enumerate(labels))
        return Table(("group", "B_crit q05", "q50", "q95"), rows, "B_crit per group (tokens; McCandlish's definition).")
    from .hyper import setting_optima

    what = "tau_opt" if run.summary.law == "timescale" else "B_opt (tokens)"
    rows = tuple((o.label, fmt(o.q05), fmt(o.q50), fmt(o.q95)) for o in setting_optima(run))
    return Table(("setting", f"{what} q05", "q50", "q95"), rows, f"Each setting's own {what}.")


def _extrapolation_section(res: ExtrapolationResult) -> Section:
    rows = []
    for p in res.points:
        for quantity, band in p.values:
            rows.append((f"{p.factor:g}x", fmt(p.x), quantity, fmt(band.q05), fmt(band.q50), fmt(band.q95)))
    x_name = res.points[0].x_name if res.points else "x"
    table = Table(("multiple", x_name, "quantity", "q05", "q50", "q95"), tuple(rows), "Extrapolated from the fitted law; 90 % intervals.")
    c = res.curve
    fig = rf.extrapolation_figure(c.x, c.bands, c.data_x, c.data_y, c.marks, c.xlabel, c.ylabel)
    caption = "The law beyond the data (median, 50 % and 90 % bands); dotted lines: 10x, 100x, 1000x the largest run."
    warn = "An extrapolation is only as good as the law's form: the bands say how uncertain the parameters are, not whether the law holds out there."
    return Section("extrapolation", "Extrapolation", (res.text, warn), (table,), (ReportFigure("extrapolation", caption, rf.png(fig)),))


def _provenance(run: Run, command: str) -> Section:
    s = run.summary
    rows = [
        ("data file", s.data_path or "n/a"),
        ("data sha256", s.data_sha256),
        ("rows fitted", str(s.n_rows)),
        ("rows left out by --where", str(s.n_filtered_out)),
        ("hot checkpoints left out", str(s.n_hot_left_out)),
        ("model card", s.card),
        ("seed", str(s.seed)),
        ("sampler", ", ".join(f"{k}={v}" for k, v in s.sampler.items())),
        ("timings (s)", ", ".join(f"{k} {v}" for k, v in s.timings_s.items())),
        ("versions", ", ".join(f"{k} {v}" for k, v in s.versions.items())),
        ("fit command", s.command or "n/a"),
        ("report command", command or "n/a"),
    ]
    return Section("provenance", "Provenance", s.notes, (Table(("what", "value"), tuple(rows)),))


def build_report(run: Run, *, command: str = "", check: Check | None = None) -> Report:
    """The report of ``run``; ``command`` is recorded as the command that made it; ``check``
    (``bayes_scaling.check``, or ``check_output.read_check``) adds an extrapolation check."""
    s = run.summary
    warning = "" if s.converged else "THIS FIT DID NOT CONVERGE: do not trust its numbers. " + "; ".join(s.problems)
    ppc, coverage = _ppc(run)
    loo_section, loo = _loo(run)
    extra = extrapolate(run)
    diag = Section("diagnostics", "Diagnostics", tables=(_diagnostics_table(run), _param_table(run)))
    sections = (
        headline_section(run),
        diag,
        _law_section(run),
        _posterior(run),
        ppc,
        loo_section,
        _extrapolation_section(extra),
    )
    if check is not None:
        from .report_check import check_section  # imports report's records: a cycle at module level

        sections += (check_section(check, run),)
    sections += (_provenance(run, command),)
    title = f"{s.law} law fitted to {s.n_rows} rows of {s.data_path or 'a sweep'}"
    return Report(title, s.law, s.converged, warning, sections, loo, coverage, extra.points)
