"""The command line end to end: artifacts as DESIGN.md specifies, exit statuses, no clobbering."""

from __future__ import annotations

import json
import warnings

import arviz as az
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main

pytestmark = pytest.mark.slow

# Short chains: these tests check plumbing, not statistics.
FAST = ["--chains", "4", "--warmup", "300", "--draws", "300", "--quiet"]
# One short chain: certain not to converge (R-hat undefined, ESS < 400).
ONE_CHAIN = ["--chains", "1", "--warmup", "50", "--draws", "50", "--quiet"]
DESIGN_KEYS = {"law", "n_rows", "data_sha256", "seed", "versions", "timings_s", "converged", "divergences", "params"}
PARAM_KEYS = {"mean", "sd", "q05", "q50", "q95", "r_hat", "ess_bulk", "ess_tail"}


@pytest.fixture(scope="module")
def sim_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "sweep.csv"
    assert main(["simulate", "--law", "loss", "--out", str(path), "--seed", "4"]) == 0
    return path


@pytest.fixture(scope="module")
def fitted(sim_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "sim"
    code = main(["fit", str(sim_csv), "--law", "loss", "--out", str(out), *FAST])
    return out, code


def test_fit_writes_summary_exactly_as_designed(fitted, sim_csv):
    out, code = fitted
    assert code in (0, 1)
    summary = json.loads((out / "summary.json").read_text())
    assert DESIGN_KEYS <= set(summary)
    assert summary["law"] == "loss" and summary["n_rows"] == 35 and summary["seed"] == 0
    import hashlib

    assert summary["data_sha256"] == hashlib.sha256(sim_csv.read_bytes()).hexdigest()
    assert set(summary["timings_s"]) >= {"compile", "sample"}
    assert {"numpyro", "jax", "arviz"} <= set(summary["versions"])
    for name in ("E", "A", "B", "alpha", "beta", "a", "b", "e"):
        assert set(summary["params"][name]) == PARAM_KEYS, name
    p = summary["params"]["alpha"]
    assert p["q05"] < p["q50"] < p["q95"]
    assert summary["converged"] == (code == 0)


def test_posterior_nc_has_every_group(fitted):
    out, _ = fitted
    idata = az.from_netcdf(out / "posterior.nc")
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data"):
        assert group in idata.groups(), group
    assert idata.posterior["alpha"].shape == (4, 300)
    assert idata.log_likelihood["log_loss"].shape == (4, 300, 35)
    with warnings.catch_warnings():
        # With 35 rows and short chains a few Pareto-k may exceed 0.7; the report flags
        # them. Here we only check that the log-likelihood group is usable for PSIS-LOO.
        warnings.simplefilter("ignore", UserWarning)
        loo = az.loo(idata, pointwise=True)
    assert np.isfinite(loo.elpd_loo) and loo.pareto_k.shape == (35,)


def test_load_run_and_predict(fitted):
    out, _ = fitted
    run = bs.load_run(out)
    assert run.summary.law == "loss"
    pred = run.predict(N=[1e9, 1e10], D=[2e10, 2e11])
    assert pred.q50.shape == (2,)
    assert np.all(pred.q05 < pred.q50) and np.all(pred.q50 < pred.q95)
    assert pred.q50[1] < pred.q50[0]  # bigger model, more data: lower loss


def test_existing_run_is_not_overwritten_without_force(fitted, sim_csv, capsys):
    out, _ = fitted
    before = (out / "summary.json").read_bytes()
    assert main(["fit", str(sim_csv), "--out", str(out), *FAST]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "summary.json").read_bytes() == before


def test_force_replaces_a_run_atomically(sim_csv, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert main(["fit", str(sim_csv), "--out", str(out), *FAST, "--seed", "1"]) in (0, 1)
    before = (out / "summary.json").read_bytes()

    # A Ctrl-C while the new posterior is being written leaves the old run whole.
    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(az.InferenceData, "to_netcdf", interrupted)
    assert main(["fit", str(sim_csv), "--out", str(out), *FAST, "--seed", "2", "--force"]) == 130
    assert (out / "summary.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no half-written leftovers
    monkeypatch.undo()

    assert main(["fit", str(sim_csv), "--out", str(out), *FAST, "--seed", "2", "--force"]) in (0, 1)
    assert json.loads((out / "summary.json").read_text())["seed"] == 2


def test_unconverged_fit_exits_1_and_says_so_loudly(sim_csv, tmp_path, capsys):
    out = tmp_path / "bad"
    # The one-chain test's settings: the same compiled sampler, and 50 draws of one chain
    # can never reach ESS 400 or a defined R-hat.
    code = main(["fit", str(sim_csv), "--out", str(out), *ONE_CHAIN])
    stdout = capsys.readouterr().out
    assert code == 1
    assert "DID NOT CONVERGE" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["converged"] is False and summary["problems"]
    # Its report is written, exits 1, and carries the warning at the top of the page and the Markdown.
    report = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report)]) == 1
    assert "DID NOT CONVERGE" in capsys.readouterr().out
    html = (report / "report.html").read_text()
    body = html[html.index("<body>") :]
    assert body.index('id="not-converged"') < body.index("<h1>")  # a banner above everything else
    assert "THIS FIT DID NOT CONVERGE" in body and summary["problems"][0].split(" ")[0] in body
    md = (report / "report.md").read_text()
    assert md.splitlines()[2].startswith("> **WARNING: THIS FIT DID NOT CONVERGE")


def test_simulate_refuses_to_overwrite(sim_csv, capsys):
    assert main(["simulate", "--out", str(sim_csv)]) == 2
    assert "--force" in capsys.readouterr().err


def test_simulate_reads_a_truth_file(tmp_path):
    truth = tmp_path / "truth.toml"
    truth.write_text("[truth]\nE = 2.0\nalpha = 0.3\ngroup_E = [1.8, 2.2]\n[design]\nsizes = [1e8, 1e9]\ntokens_per_param = [10, 20]\n")
    out = tmp_path / "s.csv"
    assert main(["simulate", "--truth", str(truth), "--out", str(out)]) == 0
    sweep = bs.load_sweep(out, groups=["group"])
    assert sweep.n_rows == 8 and set(sweep.group_labels()) == {"g0", "g1"}
    truth.write_text("[truth]\nE = 2.0\nzeta = 1\n")
    assert main(["simulate", "--truth", str(truth), "--out", str(tmp_path / "t.csv")]) == 2


def test_help_everywhere(capsys):
    for argv in (["--help"], ["fit", "--help"], ["simulate", "--help"]):
        assert main(argv) == 0
    assert "SWEEP.csv" in capsys.readouterr().out


def test_refit_in_process_reuses_the_compiled_sampler(sim_csv, fitted):
    from bayes_scaling import fitting as fit_module

    sweep = bs.load_sweep(sim_csv)
    # ``fitted`` compiled this sampler in this process (the same card, shape and settings).
    hits = fit_module._sampler.cache_info().hits
    run = bs.fit(sweep, chains=4, warmup=300, draws=300, seed=5, progress=False)
    assert fit_module._sampler.cache_info().hits == hits + 1
    assert run.summary.timings_s["compile"] < 1.0 + run.summary.timings_s["sample"]


def test_progress_bar_draws_on_a_terminal_only():
    import io

    from bayes_scaling.sampler import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = Progress(200, stream=stream)
        bar.update(100, "warmup")
        bar.update(200, "sampling")
        bar.close()
    assert "warmup" in tty.getvalue() and "200/200" in tty.getvalue()
    assert pipe.getvalue() == ""


def test_program_key_changes_with_the_package_source(monkeypatch):
    from bayes_scaling import programs

    before = programs.program_key("nuts-chunk", "model")
    programs._source_digest.cache_clear()
    monkeypatch.setattr(programs, "_source_digest", lambda: "edited")
    assert programs.program_key("nuts-chunk", "model") != before


def test_one_chain_gives_strict_json_with_null_rhat(sim_csv, tmp_path, capsys):
    out = tmp_path / "one"
    assert main(["fit", str(sim_csv), "--out", str(out), *ONE_CHAIN]) == 1
    assert "R-hat undefined" in capsys.readouterr().out

    def no_nan(text):
        raise AssertionError(f"summary.json holds {text}, which strict JSON parsers reject")

    summary = json.loads((out / "summary.json").read_text(), parse_constant=no_nan)
    assert summary["params"]["alpha"]["r_hat"] is None and summary["rhat_max"] is None
    assert np.isnan(bs.load_run(out).summary.params["alpha"].r_hat)
