"""bayes-scaling: Bayesian scaling laws for planning pre-training runs.

The public API; everything else is internal.

>>> import bayes_scaling as bs
>>> sweep = bs.load_sweep("data/chinchilla_epoch/chinchilla_epoch.csv",
...                       where="excluded_in_besiroglu_fit == 0")   # doctest: +SKIP
>>> run = bs.fit(sweep)                                              # doctest: +SKIP
>>> run.predict(N=70e9, D=1.4e12).q50                                # doctest: +SKIP
>>> inputs = bs.plan_inputs(run, rng_key=jax.random.key(0))          # doctest: +SKIP
>>> bs.plan(inputs, bs.Limits(compute_flops=1e23)).N                 # doctest: +SKIP
"""

__version__ = "0.1.0"

from .artifacts import load_run as load_run
from .artifacts import save_run as save_run
from .cards import ModelCard as ModelCard
from .cards import load_card as load_card
from .design import NextRuns as NextRuns
from .design import Pick as Pick
from .design import Target as Target
from .design import next_runs as next_runs
from .design_candidates import Candidates as Candidates
from .design_candidates import branchable_runs as branchable_runs
from .design_candidates import grid_candidates as grid_candidates
from .design_candidates import read_candidates as read_candidates
from .design_output import NextFiles as NextFiles
from .design_output import write_next as write_next
from .check import Check as Check
from .check import CheckRow as CheckRow
from .check import check as check
from .check_output import CheckFiles as CheckFiles
from .check_output import read_check as read_check
from .check_output import write_check as write_check
from .diagnostics import Diagnostics as Diagnostics
from .errors import BadInputError as BadInputError
from .errors import UsageError as UsageError
from .fitting import fit as fit
from .hardware import Hardware as Hardware
from .jaxsetup import configure_jax as configure_jax
from .plan import Limits as Limits
from .plan import Objective as Objective
from .plan import Plan as Plan
from .plan import plan as plan
from .plan_front import FrontPoint as FrontPoint
from .plan_front import time_compute_front as time_compute_front
from .plan_inputs import PlanInputs as PlanInputs
from .plan_inputs import PlanLaws as PlanLaws
from .plan_inputs import plan_inputs as plan_inputs
from .plan_output import PlanFiles as PlanFiles
from .plan_output import write_plan as write_plan
from .report import Report as Report
from .report import build_report as build_report
from .report_render import ReportFiles as ReportFiles
from .report_render import write_report as write_report
from .run import Prediction as Prediction
from .run import Run as Run
from .run import Summary as Summary
from .sbc import ParamCalibration as ParamCalibration
from .sbc import SbcResult as SbcResult
from .sbc import SbcSettings as SbcSettings
from .sbc import calibrate as calibrate
from .sbc_output import SbcFiles as SbcFiles
from .sbc_output import write_sbc as write_sbc
from .simulate import LossTruth as LossTruth
from .simulate import simulate_loss_sweep as simulate_loss_sweep
from .sweep import Sweep as Sweep
from .sweep import SweepOptions as SweepOptions
from .sweep import load_sweep as load_sweep

__all__ = [
    "BadInputError",
    "Candidates",
    "Check",
    "CheckFiles",
    "CheckRow",
    "Diagnostics",
    "FrontPoint",
    "Hardware",
    "Limits",
    "LossTruth",
    "ModelCard",
    "NextFiles",
    "NextRuns",
    "Objective",
    "ParamCalibration",
    "Pick",
    "Plan",
    "PlanFiles",
    "PlanInputs",
    "PlanLaws",
    "Prediction",
    "Report",
    "ReportFiles",
    "Run",
    "SbcFiles",
    "SbcResult",
    "SbcSettings",
    "Summary",
    "Sweep",
    "SweepOptions",
    "Target",
    "UsageError",
    "branchable_runs",
    "build_report",
    "calibrate",
    "check",
    "configure_jax",
    "fit",
    "grid_candidates",
    "load_card",
    "load_run",
    "load_sweep",
    "next_runs",
    "plan",
    "plan_inputs",
    "read_candidates",
    "read_check",
    "save_run",
    "simulate_loss_sweep",
    "time_compute_front",
    "write_check",
    "write_next",
    "write_report",
    "write_sbc",
]
