"""The command line: parses arguments, calls the library, writes files. Nothing else.

Exit status: 0 done; 1 done but the fit did not converge; 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Sequence

from .cards import LAWS  # laws with a model card and a model: one registry for choices
from .errors import BadInputError, UsageError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
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
    f.add_argument("--group", action="append", default=[], metavar="COL", help="partially pool by this column (repeatable)")
    f.add_argument(
        "--group-params",
        nargs="+",
        default=["e"],
        choices=("e", "alpha", "beta"),
        help="parameters that vary by group (default: e, the log irreducible loss)",
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

    s = sub.add_parser("simulate", help="write a sweep CSV simulated from a known truth")
    s.add_argument("--law", choices=LAWS, default="loss")
    s.add_argument("--truth", metavar="TRUTH.toml", help="[truth] and [design] tables; default: Besiroglu et al.'s fit")
    s.add_argument("--out", required=True, metavar="sweep.csv")
    s.add_argument("--seed", type=_positive_int, default=0)
    s.add_argument("--force", action="store_true", help="replace an existing file")
    return p


def _print_summary(run, out: Path, stream) -> None:
    s = run.summary
    w = stream.write
    notes = []
    if s.n_filtered_out:
        notes.append(f"{s.n_filtered_out} rows left out by --where")
    if s.n_hot_left_out:
        notes.append(f"{s.n_hot_left_out} hot (mid-schedule) checkpoints left out; --include-hot keeps them")
    if s.n_runs_with_effect:
        notes.append(f"{s.n_runs_with_effect} runs with several rows share a run effect")
    w(f"\n{s.law} law fitted to {s.n_rows} rows of {s.data_path}\n")
    for n in notes:
        w(f"  note: {n}\n")
    w(f"\n  {'param':<14}{'mean':>12}{'sd':>11}{'q05':>12}{'q50':>12}{'q95':>12}{'r_hat':>8}{'ess_bulk':>10}{'ess_tail':>10}\n")
    for name, p in s.params.items():
        w(
            f"  {name:<14}{p.mean:>12.4g}{p.sd:>11.3g}{p.q05:>12.4g}{p.q50:>12.4g}{p.q95:>12.4g}"
            f"{p.r_hat:>8.3f}{p.ess_bulk:>10.0f}{p.ess_tail:>10.0f}\n"
        )
    t = s.timings_s
    w(
        f"\n  diagnostics: max R-hat {s.rhat_max:.4f}, min bulk ESS {s.ess_bulk_min:.0f}, min tail ESS {s.ess_tail_min:.0f}, "
        f"{s.divergences} divergences, E-BFMI min {min(s.ebfmi):.2f}\n"
        f"  time: compile {t['compile']:.1f} s, sample {t['sample']:.1f} s\n"
    )
    if s.converged:
        w(f"  converged. wrote {out}/posterior.nc and {out}/summary.json\n")
    else:
        bar = "!" * 72
        w(f"\n{bar}\n  THE FIT DID NOT CONVERGE: {'; '.join(s.problems)}\n")
        w("  Do not trust these numbers. Try more --warmup/--draws, or a higher target_accept in the card.\n")
        w(f"  (wrote {out} anyway, marked converged=false, for inspection)\n{bar}\n")


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


def _cmd_simulate(a: argparse.Namespace) -> int:
    import jax

    from .simulate import LossTruth, SweepDesign, read_truth, simulate_loss_sweep

    out = Path(a.out)
    if out.exists() and not a.force:
        raise UsageError(f"{out} already exists; pass --force to replace it")
    truth, design = read_truth(a.truth) if a.truth else (LossTruth(), SweepDesign())
    frame = simulate_loss_sweep(truth, design, rng_key=jax.random.key(a.seed))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(out)  # atomic: never a half-written CSV
    print(f"wrote {len(frame)} rows to {out}")
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
        if a.command == "simulate":
            return _cmd_simulate(a)
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
