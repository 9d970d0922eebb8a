"""A plan on disk and on screen: plan.json, pareto.csv, front.png (DESIGN.md, "Artifacts")."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from .artifacts import atomic_folder, write_json
from .plan import Plan, Spread
from .plan_front import FrontPoint

PLAN, PARETO, FIGURE = "plan.json", "pareto.csv", "front.png"


@dataclass(frozen=True)
class PlanFiles:
    """Where ``write_plan`` put things."""

    folder: Path
    plan: Path
    pareto: Path
    figure: Path


def _spread(s: Spread | None) -> dict | None:
    return None if s is None else asdict(s)


def plan_json(p: Plan, *, command: str = "") -> dict:
    """plan.json: the DESIGN.md keys first, then the bands and what the decision rests on."""
    hw = p.hardware
    return {
        "N": p.N,
        "D": p.D,
        "B": p.B,
        "tokens_per_param": p.tokens_per_param,
        "lr": p.lr,
        "wd": None if p.wd is None else p.wd.q50,
        "compute_flops": p.compute_flops,
        "time_hours": p.time_hours,
        "loss": {"mean": p.loss.mean, "q05": p.loss.q05, "q50": p.loss.q50, "q95": p.loss.q95},
        "binding": p.binding,
        "hardware": None if hw is None else {
            "devices": hw.devices, "device_flops": hw.device_flops, "mfu": hw.mfu, "min_device_batch": hw.min_device_batch,
            "devices_used": p.devices_used,
        },
        "limits": {"compute_flops": p.limits.compute_flops, "time_hours": p.limits.time_hours},
        "objective": {"kind": p.objective.kind, "label": p.objective.label, "value": p.objective_value,
                      "q": p.objective.q if p.objective.kind == "quantile" else None, "target_loss": p.objective.target_loss},
        "steps": p.steps,
        "wd_band": _spread(p.wd),
        "lr_source": p.inputs.lr_source,
        "tau_opt": _spread(p.tau_opt),
        "batch": {"B_opt": _spread(p.b_opt), "B_crit": _spread(p.b_crit), "token_efficiency": _spread(p.efficiency)},
        "decision": {
            "share_best": p.share_best,
            "top": [asdict(c) for c in p.top],
            "best_per_draw": {k: asdict(v) for k, v in p.best_per_draw.items()},
        },
        "inputs": dict(p.inputs.sources),
        "assumed": list(p.inputs.assumed),
        "notes": list(p.notes),
        "n_candidates": p.n_candidates,
        "n_feasible": p.n_feasible,
        "n_draws": p.n_draws,
        "seconds": p.seconds,
        "command": command,
    }


def front_frame(front: tuple[FrontPoint, ...]) -> pd.DataFrame:
    """pareto.csv: one row per plan on the front, loss bands flattened."""
    rows = []
    for f in front:
        d = asdict(f)
        loss = d.pop("loss")
        d |= {f"loss_{k}": v for k, v in loss.items()}
        rows.append(d)
    return pd.DataFrame(rows)


def write_plan(p: Plan, front: tuple[FrontPoint, ...], out: str | Path, *, force: bool = False, command: str = "") -> PlanFiles:
    """Write plan.json, pareto.csv and front.png to folder ``out``, atomically."""
    from .plan_figure import front_figure  # matplotlib only when writing

    with atomic_folder(out, force=force) as tmp:
        write_json(tmp / PLAN, plan_json(p, command=command))
        front_frame(front).to_csv(tmp / PARETO, index=False)
        front_figure(p, front).savefig(tmp / FIGURE, dpi=100)
    out = Path(out)
    return PlanFiles(out, out / PLAN, out / PARETO, out / FIGURE)


def _band(s: Spread, fmt: str = ".4g", unit: str = "") -> str:
    if s.q05 == s.q95:  # a law assumed at a point value
        return f"{s.q50:{fmt}}{unit} (no band)"
    return f"{s.q50:{fmt}}{unit} (90 % {s.q05:{fmt}} - {s.q95:{fmt}})"


def format_plan(p: Plan, front: tuple[FrontPoint, ...]) -> str:
    """The plan as a person reads it on a terminal."""
    lines = [f"\nplan: {p.objective.label} within "
             + ", ".join(x for x in (f"{p.limits.compute_flops:.3g} FLOPs" if p.limits.compute_flops else "",
                                       f"{p.limits.time_hours:.3g} hours" if p.limits.time_hours else "") if x)
             + f" ({p.binding} binds)"]
    lines += [
        f"  N                {p.N:.4g} parameters",
        f"  D                {p.D:.4g} tokens ({p.tokens_per_param:.1f} tokens per parameter, {p.steps} steps)",
        f"  B                {p.B:.4g} tokens; B_opt {_band(p.b_opt)}, B_crit {_band(p.b_crit)}",
        f"  D that counts    {_band(p.efficiency, '.3f')} (a batch above B_opt needs more tokens for the same loss)",
        f"  lr               {p.lr:.4g} ({p.inputs.lr_source})" if p.lr else f"  lr               {p.inputs.lr_source}",
        f"  weight decay     {_band(p.wd)}" if p.wd else f"  tau_opt          {_band(p.tau_opt)}",
        f"  compute          {p.compute_flops:.4g} FLOPs",
    ]
    if p.time_hours is not None:
        lines.append(f"  time             {p.time_hours:.4g} hours on {p.devices_used} of {p.hardware.describe()}")
    lines += [
        f"  loss             mean {p.loss.mean:.4f}, median {p.loss.q50:.4f}, 90 % band {p.loss.q05:.4f} - {p.loss.q95:.4f}",
        f"  {p.objective.label:<16} {p.objective_value:.4f}",
        (
            f"\n  the plan is the best candidate in {100 * p.share_best:.1f} % of {p.n_draws} posterior draws; "
            f"each draw's own best N: {_band(p.best_per_draw['N'], '.3g')}"
        ),
        "  most often best:",
    ]
    lines += [f"    {100 * c.share:5.1f} %  N {c.N:.3g}, D {c.D:.3g}, B {c.B:.3g}" for c in p.top]
    lines.append(f"\n  time-compute front ({len(front)} plans; * = this plan):")
    lines.append(f"    {'compute':>10} {'hours':>9} {'N':>9} {'D/N':>7} {'B':>9}  loss median (90 %)")
    for f in front:
        h = "-" if f.time_hours is None else f"{f.time_hours:.3g}"
        lines.append(
            f"  {'*' if f.chosen else ' '} {f.compute_flops:>10.3g} {h:>9} {f.N:>9.3g} {f.tokens_per_param:>7.1f} {f.B:>9.3g}"
            f"  {f.loss.q50:.4f} ({f.loss.q05:.4f} - {f.loss.q95:.4f})"
        )
    for n in p.notes:
        lines.append(f"  note: {n}")
    return "\n".join(lines) + "\n"
