"""The command line: parses arguments, calls the library, writes files. Nothing else.

Exit status: 0 done; 1 done but the fit did not converge; 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

from .cards import LAWS, LAWS_WITH_FIGURE  # laws with a model card and a model: one registry for choices
from .errors import BadInputError, UsageError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bayes-scaling",
        description="Bayesian scaling laws from a sweep CSV: posteriors, reports, plans.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    f = sub.add_parser("fit", help="fit a law to a sweep CSV; writes runs/NAME/{posterior.nc,summary.json}")
    f.add_argument("sweep", metavar="SWEEP.csv")
    f.add_argument("--law", choices=LAWS, default="loss", help="which law to fit (default: loss)")
    f.add_argument("--out", required=True, metavar="runs/NAME", help="run folder to write")
    f.add_argument("--model", metavar="CARD.toml", help="your own model card instead of the shipped one")
    f.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="COL",
        help="loss: partially pool by this column; timescale/batch: split settings by it besides (N, D) (e.g. "
        "warm-up, beta2); bcrit: split groups by it besides (N, target_loss). Repeatable",
    )
    f.add_argument(
        "--group-params",
        nargs="+",
        default=["e"],
        choices=("e", "alpha", "beta"),
        help="parameters that vary by group (default: e, the log irreducible loss)",
    )
    f.add_argument("--no-n-term", action="store_true", help="batch law: leave out the bopt_n log N term")
    f.add_argument(
        "--no-compare",
        action="store_true",
        help="batch/three_term: skip the rival fit and PSIS-LOO comparison (batch without its N term; batch vs three_term)",
    )
    f.add_argument("--map", action="append", default=[], metavar="THEIRS=OURS", help="rename a column (repeatable)")
    f.add_argument("--batch-unit", default="tokens", help="unit of column B: tokens (default) or sequences")
    f.add_argument("--seq-len", type=float, help="tokens per sequence, with --batch-unit sequences")
    f.add_argument("--where", metavar="EXPR", help='keep only rows matching a pandas query, e.g. "excluded == 0"')
    f.add_argument("--include-hot", action="store_true", help="also fit phase=hot (mid-schedule) rows; they are not final losses")
    f.add_argument("--chains", type=_positive_int, help="NUTS chains (default: the card's, 4)")
    f.add_argument("--warmup", type=_positive_int, help="warm-up iterations per chain (default: the card's, 1000)")
    f.add_argument("--draws", type=_positive_int, help="kept draws per chain (default: the card's, 1000)")
    f.add_argument("--seed", type=_positive_int, default=0, help="PRNG seed (default: 0)")
    f.add_argument("--force", action="store_true", help="replace an existing run folder")
    f.add_argument("--quiet", action="store_true", help="no progress display")

    pr = sub.add_parser("predict", help="posterior bands from a fitted run at new points")
    pr.add_argument("run", metavar="runs/NAME")
    pr.add_argument("--N", type=float, nargs="+", help="parameters (loss, timescale, batch)")
    pr.add_argument("--D", type=float, nargs="+", help="tokens (loss, timescale, batch); D_min for bcrit")
    pr.add_argument("--B", type=float, nargs="+", help="batch size in tokens (timescale)")
    pr.add_argument("--lr", type=float, nargs="+", help="peak learning rate (timescale)")
    pr.add_argument(
        "--kind",
        choices=("law", "setting"),
        default="setting",
        help="timescale/batch: 'setting' (default) includes a new setting's scatter about the law; 'law' the law alone",
    )
    pr.add_argument("--seed", type=_positive_int, default=0)

    r = sub.add_parser("report", help="write an uncertainty report of a fitted run: report.html (self-contained), report.md, figures/")
    r.add_argument("run", metavar="runs/NAME")
    r.add_argument("--out", metavar="reports/NAME", help="report folder to write (default: reports/ and the run folder's name)")
    r.add_argument("--force", action="store_true", help="replace an existing report folder")

    pl = sub.add_parser(
        "plan",
        help="the N, D, B and weight decay that optimise the loss within compute/time limits; writes plan.json, pareto.csv, front.png",
    )
    pl.add_argument("loss", metavar="runs/LOSS", help="a fitted loss-law run")
    pl.add_argument("--hyper", metavar="runs/TAU", help="a timescale run (tau_opt, hence the weight decay); default: Power Lines' law")
    pl.add_argument("--batch", metavar="runs/B", help="a batch or three_term run (B_opt); default: Power Lines' law")
    pl.add_argument("--bcrit", metavar="runs/BC", help="a bcrit run (B_crit); default: Power Lines' exponent through Zhang et al.'s B_crit")
    pl.add_argument("--compute", type=_positive_float, metavar="FLOPS", help="compute budget, C = 6 N D")
    pl.add_argument("--time", type=_positive_float, metavar="HOURS", help="wall-clock budget (needs --devices and --device-flops)")
    pl.add_argument("--devices", type=_positive_int, metavar="G", help="accelerators available")
    pl.add_argument("--device-flops", type=_positive_float, metavar="F", help="peak FLOP/s per device, e.g. 9.89e14 (H100 dense bf16)")
    pl.add_argument("--mfu", type=_positive_float, metavar="U", help="model FLOPs utilisation (default 0.4)")
    pl.add_argument("--min-device-batch", type=_positive_float, metavar="TOKENS", help="fewest tokens per device per step (default 4096)")
    pl.add_argument("--objective", default="mean", metavar="mean|q90|target", help="minimise the mean loss (default), a quantile "
                    "such as q90 (risk-averse), or maximise P(loss <= --target-loss) with 'target'")
    pl.add_argument("--target-loss", type=_positive_float, metavar="L", help="the loss to reach, with --objective target")
    pl.add_argument("--lr", type=_positive_float, help="peak learning rate the weight decay is set for (default: the --hyper sweep's median)")
    pl.add_argument("--group", metavar="LEVEL", help="a grouped loss fit: plan for this group (default: the population)")
    pl.add_argument("--draws", type=_positive_int, help="posterior draws to decide over (default 4000)")
    pl.add_argument("--seed", type=_positive_int, default=0, help="PRNG seed pairing the runs' draws (default: 0)")
    pl.add_argument("--out", required=True, metavar="plan/", help="folder to write")
    pl.add_argument("--force", action="store_true", help="replace an existing plan folder")

    nx = sub.add_parser(
        "next",
        help="the next runs worth paying for, by expected information gain per FLOP; writes next.csv (+ .json, .png beside it)",
    )
    nx.add_argument("run", metavar="runs/NAME", help="a fitted loss-law run")
    nx.add_argument("--budget", type=_positive_float, required=True, metavar="FLOPS", help="compute for the whole batch, C = 6 N D per new run")
    nx.add_argument("--candidates", metavar="FILE.csv", help="your candidates: columns N, D [, reuses_run = a WSD run_id of the fit to "
                    "branch]; default: a grid around and beyond the data plus cooldown branches of its WSD runs")
    nx.add_argument("--k", type=_positive_int, metavar="K", help="runs to propose (default 8)")
    nx.add_argument("--target", default="params", choices=("params", "loss", "n_opt"), help="information about the law's parameters "
                    "(default), or about the loss or N_opt at --target-compute")
    nx.add_argument("--target-compute", type=_positive_float, metavar="FLOPS", help="compute of the target (default: 100 x the largest run's 6ND)")
    nx.add_argument("--group", metavar="LEVEL", help="a grouped fit: the group the new runs belong to")
    nx.add_argument("--cooldown-fraction", type=_positive_float, metavar="F", help="share of a WSD branch's tokens spent cooling down (default 0.2)")
    nx.add_argument("--draws", type=_positive_int, help="posterior draws behind each EIG (default 4000)")
    nx.add_argument("--seed", type=_positive_int, default=0, help="PRNG seed (draws, simulated outcomes; default 0)")
    nx.add_argument("--out", required=True, metavar="next.csv", help="the CSV to write; next.json and next.png go beside it")
    nx.add_argument("--force", action="store_true", help="replace existing files")

    s = sub.add_parser("simulate", help="write a sweep CSV simulated from a known truth")
    s.add_argument("--law", choices=LAWS, default="loss")
    s.add_argument("--truth", metavar="TRUTH.toml", help="[truth] and [design] tables (fields of the law's Truth and Design records); default: "
        "Besiroglu et al.'s loss fit, Power Lines-like hyperparameter laws")
    s.add_argument("--out", required=True, metavar="sweep.csv")
    s.add_argument("--seed", type=_positive_int, default=0)
    s.add_argument("--force", action="store_true", help="replace an existing file")

    ck = sub.add_parser(
        "check",
        help="extrapolation check: refit without held-out rows and score the predictions of them; writes check.json, check.png, refit/",
    )
    ck.add_argument("run", metavar="runs/NAME", help="a fitted loss-law run")
    ck.add_argument("--holdout", required=True, metavar="EXPR", help='the rows to hold out: a pandas query over the sweep\'s columns and '
                    'compute = 6ND, e.g. "compute >= compute.quantile(0.9)" (the largest decile of compute) or "N > 1e9"')
    ck.add_argument("--out", metavar="DIR", help="folder to write (default: runs/NAME/check)")
    ck.add_argument("--data", metavar="SWEEP.csv", help="the run's data file, if it moved since the fit (its sha256 must match)")
    ck.add_argument("--seed", type=_positive_int, default=0, help="PRNG seed of the predictive draws (the refit uses the run's own seed; default 0)")
    ck.add_argument("--force", action="store_true", help="replace an existing check folder")
    ck.add_argument("--quiet", action="store_true", help="no progress display")
    sb = sub.add_parser(
        "sbc",
        help="simulation-based calibration of a law's model card: truths from the prior, simulated sweeps, fits, ranks; writes sbc.json, ranks.png, ecdf.png",
    )
    sb.add_argument("--law", choices=LAWS, default="loss")
    sb.add_argument("--sims", type=_positive_int, help="simulated sweeps (default 200)")
    sb.add_argument("--model", metavar="CARD.toml", help="your own model card instead of the shipped one")
    sb.add_argument("--design", metavar="SWEEP.csv", help="simulate sweeps with this sweep's rows (its N, D, ...) instead of the law's default design")
    sb.add_argument("--out", metavar="DIR", help="folder to write (default: sbc/LAW)")
    sb.add_argument("--chains", type=_positive_int, help="chains per fit (default 1; 2 or more add a per-fit R-hat)")
    sb.add_argument("--warmup", type=_positive_int, help="warm-up iterations per chain (default 400)")
    sb.add_argument("--draws", type=_positive_int, help="draws per chain before thinning (default 400)")
    sb.add_argument("--thin", type=_positive_int, help="keep every THIN-th draw (default 4)")
    sb.add_argument("--bins", type=_positive_int, help="rank bins of the chi-square test (default 20; must divide chains x draws / thin)")
    sb.add_argument("--noise-factor", type=_positive_float, default=1.0, metavar="K",
                    help="simulate with the noise scale sigma x K but fit the card unchanged: a mis-specified negative control that should FAIL")
    sb.add_argument("--seed", type=_positive_int, default=0)
    sb.add_argument("--force", action="store_true", help="replace an existing folder")
    sb.add_argument("--quiet", action="store_true", help="no progress display")

    return p


def _print_summary(run, out: Path, stream) -> None:
    s = run.summary
    w = stream.write
    notes = []
    if s.n_filtered_out:
        notes.append(f"{s.n_filtered_out} rows left out by --where")
    if s.n_hot_left_out:
        notes.append(f"{s.n_hot_left_out} hot (mid-schedule) checkpoints left out; --include-hot keeps them")
    notes += list(s.notes)
    w(f"\n{s.law} law fitted to {s.n_rows} rows of {s.data_path}\n")
    for n in notes:
        w(f"  note: {n}\n")
    w(f"\n  {'param':<14}{'mean':>12}{'sd':>11}{'q05':>12}{'q50':>12}{'q95':>12}{'r_hat':>8}{'ess_bulk':>10}{'ess_tail':>10}\n")
    for name, p in s.params.items():
        w(
            f"  {name:<14}{p.mean:>12.4g}{p.sd:>11.3g}{p.q05:>12.4g}{p.q50:>12.4g}{p.q95:>12.4g}"
            f"{p.r_hat:>8.3f}{p.ess_bulk:>10.0f}{p.ess_tail:>10.0f}\n"
        )
    if s.law in ("timescale", "batch"):
        from .hyper import setting_optima

        what = "tau_opt" if s.law == "timescale" else "B_opt (tokens)"
        w(f"\n  each setting's own {what}, median and 90 % band:\n")
        for o in setting_optima(run):
            w(f"    {o.q50:>10.4g}  ({o.q05:.4g} - {o.q95:.4g})  {o.label}\n")
    if s.law == "bcrit":
        import numpy as np

        b = run.draws("b_crit")
        q = np.quantile(b, (0.05, 0.5, 0.95), axis=0)
        w("\n  each group's B_crit (tokens), median and 90 % band:\n")
        for i, label in enumerate(run.idata.posterior.coords["group"].values):
            w(f"    {q[1, i]:>10.4g}  ({q[0, i]:.4g} - {q[2, i]:.4g})  {label}\n")
    loo = s.extra.get("loo")
    if loo:
        w(
            f"\n  PSIS-LOO on {loo['n_rows']} rows: {loo['model_a']} elpd {loo['elpd_a']:.1f} (se {loo['se_a']:.1f}), "
            f"{loo['model_b']} elpd {loo['elpd_b']:.1f} (se {loo['se_b']:.1f}); difference {loo['elpd_diff']:.1f} "
            f"(se {loo['se_diff']:.1f}): prefers {loo['preferred']}; {loo['n_bad_k']} rows with Pareto k > 0.7\n"
        )
    t = s.timings_s
    w(
        f"\n  diagnostics: max R-hat {s.rhat_max:.4f}, min bulk ESS {s.ess_bulk_min:.0f}, min tail ESS {s.ess_tail_min:.0f}, "
        f"{s.divergences} divergences, E-BFMI min {min(s.ebfmi):.2f}\n"
        f"  time: compile {t['compile']:.1f} s, sample {t['sample']:.1f} s\n"
    )
    figure = f", {out}/optima.png" if s.law in LAWS_WITH_FIGURE else ""
    if s.converged:
        w(f"  converged. wrote {out}/posterior.nc, {out}/summary.json{figure}\n")
    else:
        bar = "!" * 72
        w(f"\n{bar}\n  THE FIT DID NOT CONVERGE: {'; '.join(s.problems)}\n")
        w("  Do not trust these numbers. Try more --warmup/--draws, or a higher target_accept in the card.\n")
        w(f"  (wrote {out} anyway, marked converged=false, for inspection)\n{bar}\n")


def _banner(message: str) -> int:
    """Print a loud warning between bars; the exit status of a job done on an unconverged fit."""
    bar = "!" * 72
    print(f"{bar}\n  {message}\n{bar}")
    return 1


def _cmd_fit(a: argparse.Namespace, argv: Sequence[str]) -> int:
    from .artifacts import save_run
    from .fitting import fit
    from .sweep import load_sweep, parse_mapping

    out = Path(a.out)
    if out.exists() and not a.force:
        raise UsageError(f"{out} already exists; pass --force to replace it")
    sweep = load_sweep(
        a.sweep,
        law=a.law,
        mapping=parse_mapping(a.map),
        groups=a.group,
        batch_unit=a.batch_unit,
        seq_len=a.seq_len,
        where=a.where,
        include_hot=a.include_hot,
    )
    if a.include_hot and "phase" in sweep.frame and (sweep.frame["phase"] == "hot").any():
        sys.stderr.write("warning: fitting hot (mid-schedule) checkpoints as if they were final losses\n")
    command = "bayes-scaling " + " ".join(shlex.quote(x) for x in argv)
    run = fit(
        sweep,
        card=a.model,
        group_params=a.group_params,
        n_term=not a.no_n_term,
        compare=not a.no_compare,
        chains=a.chains,
        warmup=a.warmup,
        draws=a.draws,
        seed=a.seed,
        progress=False if a.quiet else None,
        command=command,
    )
    save_run(run, out, force=a.force)
    _print_summary(run, out, sys.stdout)
    return 0 if run.summary.converged else 1


def _fmt_band(name: str, band, i: int, unit: str = "") -> str:
    return f"{name} {band.q50.ravel()[i]:.4g}{unit} (90 % {band.q05.ravel()[i]:.4g} - {band.q95.ravel()[i]:.4g})"


def _cmd_predict(a: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from . import hyper
    from .artifacts import load_run

    run = load_run(a.run)
    law = run.summary.law
    need = {"loss": ("N", "D"), "timescale": ("N", "D", "B", "lr"), "batch": ("N", "D"), "three_term": ("N", "D"), "bcrit": ("D",)}[law]
    missing = [n for n in need if getattr(a, n) is None]
    if missing:
        raise UsageError(f"a {law} run predicts from {', '.join('--' + n for n in need)}; missing {', '.join('--' + n for n in missing)}")
    values = np.broadcast_arrays(*(np.asarray(getattr(a, n), dtype=float) for n in need))
    key = jax.random.key(a.seed)
    for i in range(values[0].size):
        point = ", ".join(f"{n}={v.ravel()[i]:.4g}" for n, v in zip(need, values, strict=True))
        if law == "loss":
            p = run.predict(values[0][i], values[1][i])
            line = _fmt_band("loss", p, 0)
        elif law == "timescale":
            lam = hyper.lambda_opt(run, *(v[i] for v in values), kind=a.kind, rng_key=key)
            line = f"{_fmt_band('lambda_opt', lam.weight_decay, 0)}; {_fmt_band('tau_opt', lam.tau_opt, 0)}"
        elif law in ("batch", "three_term"):
            line = _fmt_band("B_opt", hyper.batch_opt(run, values[0][i], values[1][i], kind=a.kind, rng_key=key), 0, " tokens")
        else:
            line = _fmt_band("B_crit", hyper.critical_batch(run, values[0][i]), 0, " tokens")
        print(f"{point}: {line}")
    return 0


def _cmd_report(a: argparse.Namespace, argv: Sequence[str]) -> int:
    from .artifacts import load_run
    from .report import build_report
    from .report_render import write_report

    run_dir = Path(a.run)
    out = Path(a.out) if a.out else Path("reports") / run_dir.resolve().name
    if out.exists() and not a.force:
        raise UsageError(f"{out} already exists; pass --force to replace it")
    if out.resolve() == run_dir.resolve():
        raise UsageError(f"--out {out} is the run folder itself; write the report elsewhere")
    run = load_run(run_dir)
    from .check_output import CHECK_JSON, read_check

    check_dir = run_dir / "check"  # `bayes-scaling check`'s default folder: shown in the report when there
    check = read_check(check_dir) if (check_dir / CHECK_JSON).is_file() else None
    report = build_report(run, command="bayes-scaling " + " ".join(shlex.quote(x) for x in argv), check=check)
    files = write_report(report, out, force=a.force)
    print(f"wrote {files.html}, {files.markdown} and {len(files.figures)} figures in {files.folder / 'figures'}")
    if not run.summary.converged:
        return _banner(f"THE FIT DID NOT CONVERGE; the report says so at the top: {'; '.join(run.summary.problems)}")
    return 0


def _cmd_plan(a: argparse.Namespace, argv: Sequence[str]) -> int:
    import jax

    from .artifacts import load_run
    from .hardware import Hardware
    from .plan import Limits, Objective, plan
    from .plan_front import time_compute_front
    from .plan_inputs import plan_inputs
    from .plan_output import format_plan, write_plan

    out = Path(a.out)
    if out.exists() and not a.force:
        raise UsageError(f"{out} already exists; pass --force to replace it")
    limits = Limits(compute_flops=a.compute, time_hours=a.time)
    objective = Objective.parse(a.objective, a.target_loss)
    if a.target_loss is not None and objective.kind != "target":
        raise UsageError("--target-loss goes with --objective target")
    hardware = None
    if a.devices is not None or a.device_flops is not None:
        if a.devices is None or a.device_flops is None:
            raise UsageError("the hardware needs both --devices and --device-flops")
        hardware = Hardware(a.devices, a.device_flops, a.mfu, a.min_device_batch)
    elif a.mfu is not None or a.min_device_batch is not None:
        raise UsageError("--mfu and --min-device-batch describe the hardware: give --devices and --device-flops too")
    paths = {"loss": a.loss, "timescale": a.hyper, "batch": a.batch, "bcrit": a.bcrit}
    runs = {part: load_run(path) if path else None for part, path in paths.items()}
    k_pair, k_front = jax.random.split(jax.random.key(a.seed))
    inputs = plan_inputs(
        runs["loss"], timescale=runs["timescale"], batch=runs["batch"], bcrit=runs["bcrit"], group=a.group, lr=a.lr,
        n_draws=a.draws, rng_key=k_pair, names={k: v for k, v in paths.items() if v},
    )
    say = sys.stderr.write if sys.stderr.isatty() else (lambda _: None)  # progress on a terminal only
    say(f"planning over {inputs.laws.n_draws} posterior draws ...\n")
    p = plan(inputs, limits, hardware=hardware, objective=objective)
    say(f"  chose among {p.n_feasible} feasible candidates in {p.seconds:.1f} s; now the time-compute front ...\n")
    front = time_compute_front(inputs, limits, p, hardware=hardware, objective=objective, rng_key=k_front)
    files = write_plan(p, front, out, force=a.force, command="bayes-scaling " + " ".join(shlex.quote(x) for x in argv))
    sys.stdout.write(format_plan(p, front))
    print(f"\n  wrote {files.plan}, {files.pareto}, {files.figure}")
    unconverged = [part for part, ok in (inputs.converged or {}).items() if not ok]
    if unconverged:
        return _banner(f"THE {', '.join(unconverged).upper()} FIT DID NOT CONVERGE: do not trust this plan")
    return 0


def _cmd_next(a: argparse.Namespace, argv: Sequence[str]) -> int:
    import jax

    from .artifacts import load_run
    from .design import Target, next_runs
    from .design_candidates import branchable_runs, read_candidates
    from .design_output import format_next, next_files, write_next

    out = Path(a.out)
    next_files(out, force=a.force)  # refuse a wrong name or existing files before scoring
    if a.target_compute is not None and a.target == "params":
        raise UsageError("--target-compute goes with --target loss or --target n_opt")
    run = load_run(a.run)
    if run.summary.law != "loss":
        raise BadInputError(f"next proposes runs for the loss law; {a.run} is a {run.summary.law} run")
    candidates = None
    if a.candidates:
        runs = branchable_runs(run, group=a.group)
        candidates = read_candidates(a.candidates, runs)
    say = sys.stderr.write if sys.stderr.isatty() else (lambda _: None)
    say("scoring candidates by expected information gain ...\n")
    res = next_runs(run, a.budget, k=a.k, candidates=candidates, target=Target(a.target, a.target_compute), group=a.group,
                    cooldown_fraction=a.cooldown_fraction, n_draws=a.draws, rng_key=jax.random.key(a.seed))
    files = write_next(res, out, force=a.force, command="bayes-scaling " + " ".join(shlex.quote(x) for x in argv))
    sys.stdout.write(format_next(res))
    print(f"\n  wrote {files.csv}, {files.meta}, {files.figure}")
    if not run.summary.converged:
        return _banner("THE FIT DID NOT CONVERGE: these scores rest on a posterior you should not trust")
    return 0


def _cmd_simulate(a: argparse.Namespace) -> int:
    import jax

    from .simulate import read_law_truth, simulate_sweep

    out = Path(a.out)
    if out.exists() and not a.force:
        raise UsageError(f"{out} already exists; pass --force to replace it")
    truth, design = read_law_truth(a.law, a.truth)
    frame = simulate_sweep(a.law, truth, design, rng_key=jax.random.key(a.seed))
    from .artifacts import atomic_file

    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as tmp:  # never a half-written CSV
        frame.to_csv(tmp, index=False)
    print(f"wrote {len(frame)} rows to {out}")
    return 0


def _sweep_options_from_command(command: str):
    """How an older run folder (no ``sweep_options`` in summary.json) loaded its sweep,
    read back from the fit command it recorded."""
    from .sweep import SweepOptions, parse_mapping

    words = shlex.split(command)[1:] if command else []
    try:
        a = _parser().parse_args(words) if words and words[0] == "fit" else None
    except SystemExit:
        a = None
    if a is None:
        raise UsageError("this run folder records neither its load options nor a readable fit command (fitted by an older "
                         "bayes-scaling?); refit it with `bayes-scaling fit ... --force`")
    return SweepOptions(a.law, tuple(parse_mapping(a.map).items()), tuple(a.group), a.batch_unit, a.seq_len, a.where, a.include_hot)


def _cmd_check(a: argparse.Namespace, argv: Sequence[str]) -> int:
    import jax

    from .artifacts import load_run
    from .check import check
    from .check_output import format_check, write_check

    run_dir = Path(a.run)
    out = Path(a.out) if a.out else run_dir / "check"
    if out.exists() and not a.force:
        raise UsageError(f"{out} already exists; pass --force to replace it")
    run = load_run(run_dir)
    options = run.summary.sweep_options
    if options is None and run.summary.law == "loss":
        options = _sweep_options_from_command(run.summary.command)
        sys.stderr.write(f"note: {run_dir} predates recorded load options; reloading its sweep as its fit command did\n")
    say = sys.stderr.write if sys.stderr.isatty() and not a.quiet else (lambda _: None)
    say("refitting without the held-out rows ...\n")
    command = "bayes-scaling " + " ".join(shlex.quote(x) for x in argv)
    res = check(run, a.holdout, rng_key=jax.random.key(a.seed), predictive_seed=a.seed, data_path=a.data, options=options,
                progress=False if a.quiet else None, command=command)
    files = write_check(res, out, force=a.force)
    sys.stdout.write(format_check(res))
    print(f"  wrote {files.json}, {files.figure}, {files.refit}/")
    if not res.converged:
        return _banner(f"THE REFIT DID NOT CONVERGE: {'; '.join(res.problems)}; do not trust this check")
    return 0


def _cmd_sbc(a: argparse.Namespace, argv: Sequence[str]) -> int:
    import jax

    from .sampler import Progress
    from .sbc import SbcSettings, calibrate
    from .sbc_output import format_sbc, write_sbc
    from .sweep import load_sweep

    out = Path(a.out or f"sbc/{a.law}")
    if out.exists() and not a.force:
        raise UsageError(f"{out} already exists; pass --force to replace it")
    settings = SbcSettings(sims=a.sims, chains=a.chains, warmup=a.warmup, draws=a.draws, thin=a.thin, bins=a.bins, noise_factor=a.noise_factor)
    settings.resolved()  # bad settings are refused before any work
    bar = Progress(1, False if a.quiet else None)
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done, "fits")
        if not a.quiet and not bar.enabled and (done % 20 == 0 or done == total):  # a log: a line now and then
            sys.stderr.write(f"sbc: {done}/{total} fits, {time.perf_counter() - start:.0f} s\n")
            sys.stderr.flush()

    design = load_sweep(a.design, law=a.law) if a.design else None
    res = calibrate(a.law, settings, card=a.model, design=design, rng_key=jax.random.key(a.seed), progress=progress)
    bar.close()
    files = write_sbc(res, out, force=a.force, command="bayes-scaling " + " ".join(shlex.quote(x) for x in argv))
    sys.stdout.write(format_sbc(res))
    print(f"  wrote {files.json}, {files.ranks}, {files.ecdf}")
    if not res.passed:
        return _banner(f"SBC FAILED for the {res.law} law: its posterior ranks are not uniform (see {files.ranks})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        a = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed its message
        return int(exit_.code or 0)
    try:
        from .jaxsetup import configure_jax

        configure_jax()
        if a.command == "fit":
            return _cmd_fit(a, argv)
        if a.command == "predict":
            return _cmd_predict(a)
        if a.command == "report":
            return _cmd_report(a, argv)
        if a.command == "plan":
            return _cmd_plan(a, argv)
        if a.command == "next":
            return _cmd_next(a, argv)
        if a.command == "simulate":
            return _cmd_simulate(a)
        if a.command == "sbc":
            return _cmd_sbc(a, argv)
        if a.command == "check":
            return _cmd_check(a, argv)
        raise AssertionError(f"unhandled command {a.command}")  # argparse's choices make this unreachable
    except (BadInputError, UsageError) as err:
        sys.stderr.write(f"bayes-scaling: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\nbayes-scaling: interrupted; nothing was written\n")
        return 130


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
