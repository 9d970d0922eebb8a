"""The time-compute front: the best plan under each (compute cap, deadline), non-dominated.

Each cell of a grid of compute caps (the budget, 1/10 and 1/100 of it) and deadlines
(1/100 of the unhurried plan's time up to all of it) is planned on a coarser grid
with a subsample of draws (defaults ``plan_front_*``); a cell's plan is dropped when
another uses no more compute, no more time and is at least as good. What remains
shows what a deadline costs in loss, and what the planner gives up to meet it:
smaller models, more tokens per parameter, larger batches (Power Lines).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import numpy as np

from .defaults import pick
from .errors import BadInputError
from .hardware import Hardware
from .plan import Grid, Limits, Objective, Plan, Spread, plan
from .plan_inputs import PlanInputs, PlanLaws
from .plan_score import loss_at

# Compute caps of the front, as fractions of the budget.
CAP_FRACTIONS = (0.01, 0.1, 1.0)
# Without hardware there is no time axis: the front is the loss along compute caps
# from 1/1000 of the budget up to it, this many.
COMPUTE_ONLY_CAPS = 13
# How much shorter than the unhurried plan the tightest deadline is.
DEADLINE_SPAN = 100.0


@dataclass(frozen=True)
class FrontPoint:
    """One plan on the front and the limits it was planned under."""

    compute_cap: float
    time_cap: float | None
    N: float
    D: float
    B: float
    steps: int
    tokens_per_param: float
    compute_flops: float
    time_hours: float | None
    devices_used: int | None
    loss: Spread
    objective_value: float
    binding: str
    chosen: bool = False  # the plan itself (planned on the full grid with every draw)


def _point(p: Plan, cap: float, deadline: float | None, laws: PlanLaws, objective: Objective, chosen: bool = False) -> FrontPoint:
    """A front row; its band and objective from every draw, so rows compare with the plan."""
    loss = loss_at(laws, p.N, p.D, p.B)["loss"]
    return FrontPoint(
        cap, deadline, p.N, p.D, p.B, p.steps, p.tokens_per_param, p.compute_flops, p.time_hours, p.devices_used,
        Spread.of(loss), objective.value(loss), p.binding, chosen,
    )


def _dominated(a: FrontPoint, b: FrontPoint, sign: float) -> bool:  # sign: Objective.sign
    """b is at least as cheap, as fast and as good as a, and better in one."""
    ta, tb = a.time_hours or 0.0, b.time_hours or 0.0
    oa, ob = sign * a.objective_value, sign * b.objective_value
    no_worse = b.compute_flops <= a.compute_flops and tb <= ta and ob <= oa
    return no_worse and (b.compute_flops < a.compute_flops or tb < ta or ob < oa)


def time_compute_front(
    inputs: PlanInputs,
    limits: Limits,
    chosen: Plan,
    *,
    hardware: Hardware | None = None,
    objective: Objective | None = None,
    n_draws: int | None = None,
    rng_key: jax.Array,
) -> tuple[FrontPoint, ...]:
    """The non-dominated plans over compute caps and deadlines, the chosen plan among them."""
    objective = objective or Objective()
    n = min(int(pick("plan_front_draws", n_draws)), inputs.laws.n_draws)
    idx = np.asarray(jax.random.choice(rng_key, inputs.laws.n_draws, (n,), replace=False))
    sub = replace(inputs, laws=inputs.laws.take(idx))
    nn, nb = pick("plan_front_grid", None)
    full = Grid.default()
    grid = Grid.default((full.N.min(), full.N.max(), nn), (full.B.min(), full.B.max(), nb))
    budget = limits.compute_flops if limits.compute_flops is not None else chosen.compute_flops
    cells: list[tuple[float, float | None]] = []
    if hardware is None:
        cells = [(c, None) for c in np.geomspace(budget / 1000, budget, COMPUTE_ONLY_CAPS)]
    else:
        if limits.compute_flops is not None:
            longest = plan(sub, Limits(compute_flops=budget), hardware=hardware, objective=objective, grid=grid).time_hours
        else:
            longest = limits.time_hours
        deadlines = np.geomspace(longest / DEADLINE_SPAN, longest, int(pick("plan_front_deadlines", None)))
        cells = [(budget * f, float(t)) for f in CAP_FRACTIONS for t in deadlines]
    unhurried: dict[float, Plan] = {}  # per compute cap: its plan without a deadline (for ``binding``)
    points = [_point(chosen, limits.compute_flops or chosen.compute_flops, limits.time_hours, inputs.laws, objective, chosen=True)]
    for cap, deadline in cells:
        try:
            if deadline is not None and cap not in unhurried:
                unhurried[cap] = plan(sub, Limits(compute_flops=float(cap)), hardware=hardware, objective=objective, grid=grid)
            p = plan(sub, Limits(compute_flops=float(cap), time_hours=deadline), hardware=hardware, objective=objective, grid=grid,
                     unhurried=unhurried.get(cap))
        except BadInputError:  # no candidate fits this cell: it is not on the front
            continue
        points.append(_point(p, float(cap), deadline, inputs.laws, objective))
    kept = [a for a in points if a.chosen or not any(_dominated(a, b, objective.sign) for b in points if b is not a)]
    unique = {(p.N, p.B, p.D, p.chosen): p for p in kept}
    return tuple(sorted(unique.values(), key=lambda p: (p.compute_cap, p.time_hours or 0.0, p.compute_flops)))
