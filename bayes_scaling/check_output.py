"""An extrapolation check on disk and on screen: check.json (DESIGN.md, "Artifacts"), the
figure check.png, and the refit's own run folder, all written in one atomic folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .artifacts import atomic_folder, save_run, write_json
from .check import Check, CheckRow
from .errors import BadInputError

CHECK_JSON, CHECK_FIGURE, REFIT = "check.json", "check.png", "refit"
# The DESIGN.md keys come first in check.json; the rest is what they rest on.
DESIGN_KEYS = ("n_holdout", "coverage_50", "coverage_90", "median_abs_rel_error", "rows")


class CheckFiles(NamedTuple):
    """Where ``write_check`` put things."""

    folder: Path
    json: Path
    figure: Path
    refit: Path


def check_json(c: Check) -> dict:
    """check.json: DESIGN.md's keys (per held-out row the observed loss and its predictive
    quantiles), then the holdout, the refit's diagnostics and provenance."""
    return {
        "n_holdout": c.n_holdout,
        "coverage_50": c.coverage_50,
        "coverage_90": c.coverage_90,
        "median_abs_rel_error": c.median_abs_rel_error,
        "rows": [r._asdict() for r in c.rows],
        "holdout": c.holdout,
        "n_train": c.n_train,
        "refit": {
            "converged": c.converged,
            "problems": list(c.problems),
            "rhat_max": c.rhat_max,
            "ess_bulk_min": c.ess_bulk_min,
            "ess_tail_min": c.ess_tail_min,
            "divergences": c.divergences,
            "seed": c.seed,
            "sampler": dict(c.sampler),
            "folder": REFIT,
        },
        "predictive_seed": c.predictive_seed,
        "data_path": c.data_path,
        "data_sha256": c.data_sha256,
        "run_fingerprint": c.run_fingerprint,
        "run_command": c.run_command,
        "command": c.command,
        "notes": list(c.notes),
        "train": {"compute": list(c.train_compute), "loss": list(c.train_loss)},
    }


def _num(x) -> float:
    return float("nan") if x is None else float(x)  # check.json writes undefined numbers as null


def read_check(folder: str | Path) -> Check:
    """A check folder written by ``write_check`` (without the refit's posterior)."""
    path = Path(folder) / CHECK_JSON
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        r = d["refit"]
        rows = tuple(CheckRow(**{k: (_num(v) if k in CheckRow._fields[7:] else v) for k, v in row.items()}) for row in d["rows"])
        return Check(
            holdout=str(d["holdout"]),
            n_train=int(d["n_train"]),
            n_holdout=int(d["n_holdout"]),
            coverage_50=_num(d["coverage_50"]),
            coverage_90=_num(d["coverage_90"]),
            median_abs_rel_error=_num(d["median_abs_rel_error"]),
            rows=rows,
            train_compute=tuple(map(float, d["train"]["compute"])),
            train_loss=tuple(map(float, d["train"]["loss"])),
            converged=bool(r["converged"]),
            problems=tuple(r["problems"]),
            rhat_max=_num(r["rhat_max"]),
            ess_bulk_min=_num(r["ess_bulk_min"]),
            ess_tail_min=_num(r["ess_tail_min"]),
            divergences=int(r["divergences"]),
            seed=int(r["seed"]),
            predictive_seed=d.get("predictive_seed"),
            sampler=dict(r["sampler"]),
            data_path=str(d["data_path"]),
            data_sha256=str(d["data_sha256"]),
            run_fingerprint=str(d["run_fingerprint"]),
            run_command=str(d["run_command"]),
            command=str(d.get("command", "")),
            notes=tuple(d.get("notes", ())),
        )
    except FileNotFoundError:
        raise BadInputError("no check.json here", file=str(path)) from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise BadInputError(f"unreadable check: {type(err).__name__}: {err}", file=str(path)) from None


def check_figure(c: Check):
    """Held-out rows against compute: observed loss and the predictive median with its 50 %
    (thick) and 90 % (thin) intervals, the refit's rows in grey; and the rows' PIT histogram
    (a matplotlib ``Figure`` on an Agg canvas, never ``pyplot``)."""
    # Imported here: matplotlib costs ~0.4 s of start-up that the library's import should not.
    from .report_figures import new_figure, tidy_log

    fig = new_figure(10.0, 4.2)
    ax, ax_pit = fig.subplots(1, 2, width_ratios=(2.2, 1))
    ax.scatter(c.train_compute, c.train_loss, s=7, color="0.75", label=f"refit's rows ({c.n_train})", zorder=1)
    x = np.array([r.compute for r in c.rows])
    q = np.array([[r.q05, r.q25, r.q50, r.q75, r.q95] for r in c.rows]).T
    obs = np.array([r.observed for r in c.rows])
    ax.vlines(x, q[0], q[4], color="C0", lw=0.8, alpha=0.7, zorder=2, label="predictive 90 % interval")
    ax.vlines(x, q[1], q[3], color="C0", lw=3.0, alpha=0.7, zorder=2, label="predictive 50 % interval")
    ax.scatter(x, q[2], s=14, marker="_", color="C0", zorder=3, label="predictive median")
    inside = (q[0] <= obs) & (obs <= q[4])
    ax.scatter(x[inside], obs[inside], s=16, marker="x", color="k", zorder=4, label="observed, inside 90 %")
    ax.scatter(x[~inside], obs[~inside], s=20, marker="x", color="C3", zorder=4, label="observed, outside 90 %")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.2)
    tidy_log(ax, "y")
    ax.set_xlabel("compute C = 6ND (FLOPs)", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    ax.set_title(f"{c.n_holdout} held-out rows: {c.coverage_50:.0%} inside 50 %, {c.coverage_90:.0%} inside 90 %; "
                 f"median |error| {c.median_abs_rel_error:.2%}", fontsize=9)
    ax.legend(fontsize=7)
    pit = np.array([r.pit for r in c.rows])
    bins = 10 if len(pit) >= 50 else 5
    ax_pit.hist(pit, bins=bins, range=(0, 1), color="C0", alpha=0.6)
    ax_pit.axhline(len(pit) / bins, color="k", lw=0.8)
    ax_pit.set_xlabel("PIT of the held-out rows", fontsize=8)
    ax_pit.set_title("PIT: flat if calibrated\n(U: too narrow, hump: too wide, tilt: biased)", fontsize=8)
    return fig


def write_check(c: Check, out: str | Path, *, force: bool = False) -> CheckFiles:
    """Write check.json, check.png and the refit's run folder into folder ``out``, atomically:
    a crash or Ctrl-C leaves the old folder or the new one, never half of one."""
    if c.refit is None:
        raise BadInputError("this check has no refit to write (read back from check.json?)")
    from .report_figures import png

    with atomic_folder(out, force=force) as tmp:
        save_run(c.refit, tmp / REFIT)
        (tmp / CHECK_FIGURE).write_bytes(png(check_figure(c)))
        write_json(tmp / CHECK_JSON, check_json(c))
    folder = Path(out)
    return CheckFiles(folder, folder / CHECK_JSON, folder / CHECK_FIGURE, folder / REFIT)


def format_check(c: Check) -> str:
    """What the command prints: the coverage, the errors and each held-out row."""
    lines = [
        f"\nextrapolation check: {c.n_holdout} rows held out by {c.holdout!r}, refit on {c.n_train}",
        f"  coverage of the 50 % predictive interval: {c.coverage_50:.0%} (calibrated: about 50 %)",
        f"  coverage of the 90 % predictive interval: {c.coverage_90:.0%} (calibrated: about 90 %)",
        f"  median |predictive median - observed| / observed: {c.median_abs_rel_error:.2%}",
        *(f"  note: {n}" for n in c.notes),
        "",
        f"  {'file row':>8}{'N':>11}{'D':>11}{'compute':>11}{'observed':>10}{'q05':>9}{'q50':>9}{'q95':>9}{'pit':>6}  run effect",
    ]
    for r in c.rows:
        lines.append(f"  {r.file_row:>8}{r.N:>11.3g}{r.D:>11.3g}{r.compute:>11.3g}{r.observed:>10.4g}{r.q05:>9.4g}{r.q50:>9.4g}{r.q95:>9.4g}{r.pit:>6.2f}  {r.run_effect}")
    lines.append(f"\n  refit: max R-hat {c.rhat_max:.4f}, min bulk ESS {c.ess_bulk_min:.0f}, min tail ESS {c.ess_tail_min:.0f}, {c.divergences} divergences")
    return "\n".join(lines) + "\n"
