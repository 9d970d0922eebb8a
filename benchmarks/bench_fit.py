"""Benchmark: fitting the Chinchilla loss law, bayes-scaling (NumPyro/JAX) vs PyMC + nutpie.

What it measures
----------------
The Chinchilla loss law L(N, D) = E + A N^-alpha + B D^-beta with Student-t noise on
log loss, fitted to the 240 rows of ``data/chinchilla_epoch/chinchilla_epoch.csv``
with ``excluded_in_besiroglu_fit == 0``, 4 chains x (1000 warmup + 1000 draws), by

* ours: the ``bayes-scaling fit`` command line (``bayes_scaling.cli.main``, the same
  function the console script calls), and
* nutpie: the same model written in PyMC -- priors read from ``models/loss.toml``,
  same centring, same log-sum-exp mean, same Student-t likelihood -- compiled with
  ``nutpie.compile_pymc_model`` (numba backend) and sampled with ``nutpie.sample``.

Each of the scenarios below runs in a FRESH Python process started by this driver,
so interpreter start-up, imports and compilation count as a user feels them:

  a. ours-cold     empty JAX persistent compilation cache (BAYES_SCALING_CACHE=<new dir>)
  b. ours-warm     same command, cache now filled (``--repeats`` runs, median)
  c. nutpie-first  fresh pytensor compiledir and numba cache dir (a first-ever run)
  d. nutpie-warm   same, caches now filled (``--repeats`` runs, median)
  e. ours-refit    in ONE process: load_sweep + fit once, then time a second
                   ``fit(sweep, seed=1)`` (the in-process compiled-sampler cache is hot)

The warm runs of b and d are interleaved (ours, nutpie, ours, nutpie, ...) so that
changes in background load hit both tools alike. Before anything is timed, one
throw-away process imports jax, numpyro, arviz, pymc and nutpie, so that the OS file
cache is warm for everyone and "cold"/"first" means empty *compilation caches* only.

Each worker process prints one JSON line of its own ``time.perf_counter`` splits
(import, compile, sample, ...); the driver adds the process's wall-clock time, the
system load average, and derives min bulk/tail ESS over alpha, beta, e and
ESS/s = min bulk ESS / wall seconds. It also checks that both tools give the same
posterior means of alpha, beta and E.

Output: a Markdown table on stdout and the raw results in
``benchmarks/results/fit_chinchilla.json`` (with machine and version information).

Run (from the repository root, a few minutes on 2 cores)::

    python benchmarks/bench_fit.py               # --repeats 3 by default
    python benchmarks/bench_fit.py --repeats 5 --out benchmarks/results/other.json

Needs the ``bench`` extra: ``pip install -e '.[bench]'`` (pymc, nutpie).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "chinchilla_epoch" / "chinchilla_epoch.csv"
CARD = ROOT / "models" / "loss.toml"
WHERE = "excluded_in_besiroglu_fit == 0"
CHAINS, TUNE, DRAWS = 4, 1000, 1000
KEY_PARAMS = ("alpha", "beta", "e")  # min ESS is taken over these
MARK = "@@BENCH@@ "  # prefix of the one JSON line a worker prints
PROCESS_TIMEOUT_S = 3600


# --------------------------------------------------------------------------- workers
# Each worker runs in its own fresh process and prints one JSON line (MARK + json).


def _emit(record: dict) -> None:
    sys.stdout.write(MARK + json.dumps(record) + "\n")
    sys.stdout.flush()


def worker_ours(out_dir: str) -> None:
    """The CLI fit, as a user runs it: ``bayes-scaling fit DATA --where ... --out DIR --force --quiet``."""
    t0 = time.perf_counter()
    import bayes_scaling  # noqa: F401  (jax, numpyro, arviz, pandas: everything the CLI will import)
    from bayes_scaling import cli

    t_import = time.perf_counter() - t0
    argv = ["fit", str(DATA), "--where", WHERE, "--out", out_dir, "--force", "--quiet"]
    t1 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for our JSON line
        status = cli.main(argv)
    t_main = time.perf_counter() - t1
    summary = json.loads((Path(out_dir) / "summary.json").read_text())
    timings = summary["timings_s"]
    params = summary["params"]
    _emit(
        {
            "tool": "ours",
            "exit_status": status,
            "import_s": t_import,
            "cli_main_s": t_main,
            "compile_s": timings["compile"],
            "sample_s": timings["sample"],
            "postprocess_s": timings["postprocess"],
            # CSV load, JAX configuration, writing posterior.nc/summary.json, printing
            "other_s": t_main - timings["compile"] - timings["sample"] - timings["postprocess"],
            "in_process_total_s": time.perf_counter() - t0,
            "converged": summary["converged"],
            "divergences": summary["divergences"],
            "params": {k: params[k] for k in ("alpha", "beta", "e", "E")},
        }
    )


def _pymc_prior(pm, name: str, spec: dict):
    """A PyMC distribution from a card prior table (numpyro parameter names -> PyMC's)."""
    d = spec["dist"]
    if d == "Normal":
        return pm.Normal(name, mu=spec["loc"], sigma=spec["scale"])
    if d == "HalfNormal":
        return pm.HalfNormal(name, sigma=spec["scale"])
    if d == "Beta":
        return pm.Beta(name, alpha=spec["concentration1"], beta=spec["concentration0"])
    if d == "Gamma":  # numpyro's rate is PyMC's beta
        return pm.Gamma(name, alpha=spec["concentration"], beta=spec["rate"])
    raise ValueError(f"prior {name}: no PyMC translation for {d!r}")


def worker_nutpie(seed: int) -> None:
    """The same model in PyMC, compiled by nutpie (numba backend) and sampled by nutpie."""
    t0 = time.perf_counter()
    import arviz as az
    import numpy as np
    import nutpie
    import pandas as pd
    import pymc as pm
    import pytensor.tensor as pt

    t_import = time.perf_counter() - t0

    t1 = time.perf_counter()
    card = tomllib.loads(CARD.read_text())
    priors, settings = card["priors"], card["sampler"]
    frame = pd.read_csv(DATA).query(WHERE)
    log_n, log_d = np.log(frame["N"].to_numpy(float)), np.log(frame["D"].to_numpy(float))
    x, z = log_n - log_n.mean(), log_d - log_d.mean()
    log_loss = np.log(frame["loss"].to_numpy(float))
    with pm.Model() as model:
        p = {k: _pymc_prior(pm, k, priors[k]) for k in ("e", "a_c", "b_c", "alpha", "beta", "sigma", "nu")}
        mu = pt.logaddexp(p["e"], pt.logaddexp(p["a_c"] - p["alpha"] * x, p["b_c"] - p["beta"] * z))
        pm.StudentT("log_loss", nu=p["nu"], mu=mu, sigma=p["sigma"], observed=log_loss)
    t_build = time.perf_counter() - t1

    t2 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model, backend="numba")
    t_compile = time.perf_counter() - t2

    t3 = time.perf_counter()
    # Same step-size target and tree depth as the card gives ours (nutpie's defaults are 0.8 and 10);
    # nutpie keeps its own (diagonal, gradient-based) mass-matrix adaptation.
    idata = nutpie.sample(
        compiled,
        chains=CHAINS,
        tune=TUNE,
        draws=DRAWS,
        seed=seed,
        progress_bar=False,
        target_accept=float(settings["target_accept"]),
        maxdepth=int(settings["max_tree_depth"]),
    )
    t_sample = time.perf_counter() - t3

    # Diagnostics comparable to ours: R-hat, bulk and tail ESS over the sampled parameters.
    t4 = time.perf_counter()
    names = list(p)
    post = idata.posterior[names]
    rhat = az.rhat(post)
    bulk = az.ess(post, method="bulk")
    tail = az.ess(post, method="tail")
    t_post = time.perf_counter() - t4

    params = {}
    for k in ("alpha", "beta", "e"):
        v = np.asarray(post[k]).ravel()
        params[k] = {
            "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)),
            "ess_bulk": float(bulk[k]),
            "ess_tail": float(tail[k]),
            "r_hat": float(rhat[k]),
        }
    big_e = np.exp(np.asarray(post["e"]).ravel())
    params["E"] = {
        "mean": float(big_e.mean()),
        "sd": float(big_e.std(ddof=1)),
        "ess_bulk": float(az.ess(np.exp(np.asarray(post["e"])))),
        "ess_tail": float("nan"),  # not computed (not used); the same as e's, ESS being rank-based
        "r_hat": float("nan"),
    }
    diverging = int(np.asarray(idata.sample_stats["diverging"]).sum()) if "diverging" in idata.sample_stats else -1
    _emit(
        {
            "tool": "nutpie",
            "import_s": t_import,
            "build_s": t_build,
            "compile_s": t_compile,
            "sample_s": t_sample,
            "postprocess_s": t_post,
            "in_process_total_s": time.perf_counter() - t0,
            "rhat_max": float(max(float(rhat[k]) for k in names)),
            "sampler_settings": {
                "target_accept": float(settings["target_accept"]),
                "maxdepth": int(settings["max_tree_depth"]),
            },
            "divergences": diverging,
            "params": params,
        }
    )


def worker_refit() -> None:
    """One process: fit once, then time a second fit of the same sweep (seed=1)."""
    t0 = time.perf_counter()
    import bayes_scaling as bs

    t_import = time.perf_counter() - t0
    bs.configure_jax()
    sweep = bs.load_sweep(str(DATA), where=WHERE)
    t1 = time.perf_counter()
    first = bs.fit(sweep, progress=False)
    t_first = time.perf_counter() - t1
    t2 = time.perf_counter()
    run = bs.fit(sweep, seed=1, progress=False)
    t_refit = time.perf_counter() - t2
    s = run.summary
    params = {
        k: {"mean": v.mean, "sd": v.sd, "ess_bulk": v.ess_bulk, "ess_tail": v.ess_tail, "r_hat": v.r_hat}
        for k, v in s.params.items()
        if k in ("alpha", "beta", "e", "E")
    }
    _emit(
        {
            "tool": "ours-refit",
            "import_s": t_import,
            "first_fit_s": t_first,
            "first_fit_timings_s": dict(first.summary.timings_s),
            "refit_s": t_refit,
            "compile_s": s.timings_s["compile"],
            "sample_s": s.timings_s["sample"],
            "postprocess_s": s.timings_s["postprocess"],
            "converged": s.converged,
            "divergences": s.divergences,
            "params": params,
        }
    )


# --------------------------------------------------------------------------- driver


def _run_worker(args: list[str], env_extra: dict[str, str], label: str) -> dict:
    """Start a fresh process running one worker; return its JSON record plus wall time and load."""
    env = dict(os.environ, **env_extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", *args]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    lines = [ln[len(MARK) :] for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if not lines:
        sys.stderr.write(f"\n--- {label} failed (exit {proc.returncode}); its stderr ends with:\n")
        sys.stderr.write(proc.stderr[-4000:] + "\n")
        raise RuntimeError(f"{label}: worker printed no result")
    record = json.loads(lines[-1])
    record.update(
        scenario=label,
        wall_s=wall,
        returncode=proc.returncode,
        loadavg_1m_before=load_before[0],
        loadavg_1m_after=load_after[0],
        env={k: v for k, v in env_extra.items()},
    )
    if "in_process_total_s" in record:
        # interpreter start-up, site/venv set-up and shutdown: what the worker's own clock cannot see
        record["startup_shutdown_s"] = wall - record["in_process_total_s"]
    bulk = [record["params"][k]["ess_bulk"] for k in KEY_PARAMS]
    tail = [record["params"][k]["ess_tail"] for k in KEY_PARAMS]
    record["min_ess_bulk"], record["min_ess_tail"] = min(bulk), min(tail)
    timed = record["refit_s"] if label == "ours-refit" else wall
    record["ess_per_s"] = record["min_ess_bulk"] / timed
    sys.stderr.write(f"  {label:<14} wall {wall:7.1f} s   (load {load_before[0]:.2f} -> {load_after[0]:.2f})\n")
    return record


def _warm_page_cache() -> None:
    """Import every library once (untimed) so the OS file cache is not part of 'cold'."""
    code = "import jax, numpyro, arviz, pandas, pymc, nutpie, bayes_scaling"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, timeout=PROCESS_TIMEOUT_S)


def _median_run(runs: list[dict]) -> dict:
    """The run whose wall time is the median (lower median for even counts), with all walls attached."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    pick = dict(ordered[(len(ordered) - 1) // 2])
    pick["wall_s_median"] = statistics.median(r["wall_s"] for r in runs)
    pick["wall_s_all"] = [r["wall_s"] for r in runs]
    return pick


def run_scenarios(repeats: int, keep: bool) -> dict:
    """Run scenarios a-e; return {'runs': every record, 'rows': one record per scenario}."""
    work = Path(tempfile.mkdtemp(prefix="bench_fit_"))
    jax_cache = work / "jax-cache"
    nutpie_env = {"PYTENSOR_FLAGS": f"compiledir={work / 'pytensor'}", "NUMBA_CACHE_DIR": str(work / "numba")}
    ours_env = {"BAYES_SCALING_CACHE": str(jax_cache)}
    ours_args = ["ours", "--run-dir", str(work / "run")]
    runs: dict[str, list[dict]] = {}
    try:
        sys.stderr.write(f"warming the OS file cache (untimed); work dir {work}\n")
        _warm_page_cache()
        runs["ours-cold"] = [_run_worker(ours_args, ours_env, "ours-cold")]
        runs["nutpie-first"] = [_run_worker(["nutpie"], nutpie_env, "nutpie-first")]
        runs["ours-warm"], runs["nutpie-warm"] = [], []
        for _ in range(repeats):  # interleaved so that load drift hits both tools
            runs["ours-warm"].append(_run_worker(ours_args, ours_env, "ours-warm"))
            runs["nutpie-warm"].append(_run_worker(["nutpie"], nutpie_env, "nutpie-warm"))
        runs["ours-refit"] = [_run_worker(["refit"], ours_env, "ours-refit")]
    finally:
        if keep:
            sys.stderr.write(f"kept work dir {work}\n")
        else:
            shutil.rmtree(work, ignore_errors=True)
    rows = {
        "ours-cold": runs["ours-cold"][0],
        "ours-warm": _median_run(runs["ours-warm"]),
        "nutpie-first": runs["nutpie-first"][0],
        "nutpie-warm": _median_run(runs["nutpie-warm"]),
        "ours-refit": runs["ours-refit"][0],
    }
    return {"runs": runs, "rows": rows}


def _wall(row: dict) -> float:
    return row["refit_s"] if row["scenario"] == "ours-refit" else row.get("wall_s_median", row["wall_s"])


def agreement(rows: dict) -> dict:
    """Posterior means of alpha, beta, E from ours (cold run, seed 0) and nutpie (first run).

    z = difference / combined Monte Carlo standard error (sd / sqrt(bulk ESS) each);
    |z| < 4 counts as agreement (the two fits sample the same posterior).
    """
    ours, theirs = rows["ours-cold"]["params"], rows["nutpie-first"]["params"]
    out = {}
    for k in ("alpha", "beta", "E"):
        a, b = ours[k], theirs[k]
        mcse = math.sqrt(a["sd"] ** 2 / a["ess_bulk"] + b["sd"] ** 2 / b["ess_bulk"])
        diff = a["mean"] - b["mean"]
        out[k] = {
            "ours_mean": a["mean"],
            "nutpie_mean": b["mean"],
            "ours_sd": a["sd"],
            "nutpie_sd": b["sd"],
            "diff": diff,
            "diff_in_sd": diff / a["sd"],
            "z_mcse": diff / mcse,
            "agree": abs(diff / mcse) < 4,
        }
    return out


def targets(rows: dict) -> dict:
    """The project's speed targets, checked against the measurements."""
    ours_warm, nutpie_warm = _wall(rows["ours-warm"]), _wall(rows["nutpie-warm"])
    ours_cold, nutpie_first = _wall(rows["ours-cold"]), _wall(rows["nutpie-first"])
    refit = _wall(rows["ours-refit"])
    return {
        "warm_speedup_vs_nutpie_warm": {
            "value": nutpie_warm / ours_warm,
            "target": ">= 5",
            "met": nutpie_warm / ours_warm >= 5,
        },
        "cold_vs_nutpie_first_ratio": {
            "value": ours_cold / nutpie_first,
            "target": "<= 1 (ours cold no slower)",
            "met": ours_cold <= nutpie_first,
        },
        "refit_in_process_s": {"value": refit, "target": "< 3 s", "met": refit < 3},
    }


def _f(x: float | None, nd: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def markdown_table(rows: dict, repeats: int) -> str:
    """One line per scenario: wall time, its split, min ESS over alpha/beta/e and ESS/s."""
    head = (
        "| scenario | wall s | start-up s | import s | build s | compile s | sample s | post s | other s "
        "| min bulk ESS | min tail ESS | ESS/s | load 1m |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    names = {
        "ours-cold": "a. ours, cold cache (fresh process)",
        "ours-warm": f"b. ours, warm cache (fresh process, median of {repeats})",
        "nutpie-first": "c. nutpie, first run (fresh process)",
        "nutpie-warm": f"d. nutpie, warm caches (fresh process, median of {repeats})",
        "ours-refit": "e. ours, refit in one process (2nd `fit`)",
    }
    body = ""
    for key, label in names.items():
        r = rows[key]
        refit = key == "ours-refit"
        body += (
            f"| {label} | {_f(_wall(r), 2 if refit else 1)} | {_f(None if refit else r.get('startup_shutdown_s'))} "
            f"| {_f(None if refit else r.get('import_s'))} | {_f(r.get('build_s'), 2)} | {_f(r['compile_s'], 2)} "
            f"| {_f(r['sample_s'], 2)} | {_f(r['postprocess_s'], 2)} | {_f(r.get('other_s'), 2)} "
            f"| {r['min_ess_bulk']:.0f} | {r['min_ess_tail']:.0f} | {r['ess_per_s']:.0f} "
            f"| {r['loadavg_1m_before']:.2f}→{r['loadavg_1m_after']:.2f} |\n"
        )
    return head + body


def machine_info() -> dict:
    versions = {}
    for pkg in ("bayes-scaling", "jax", "jaxlib", "numpyro", "arviz", "numpy", "pymc", "pytensor", "nutpie", "numba"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        commit = git.stdout.strip() or None
    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "git_commit": commit,
        "loadavg_at_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--repeats", type=int, default=3, help="fresh-process runs of each warm scenario (median reported); default 3"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "fit_chinchilla.json",
        help="where to write the raw results",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary caches and run folder")
    p.add_argument("--worker", choices=("ours", "nutpie", "refit"), help=argparse.SUPPRESS)
    p.add_argument("--run-dir", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    if a.worker == "ours":
        worker_ours(a.run_dir)
        return 0
    if a.worker == "nutpie":
        worker_nutpie(a.seed)
        return 0
    if a.worker == "refit":
        worker_refit()
        return 0

    info = machine_info()
    sys.stderr.write(f"bench_fit: {info['cpu_count']} CPUs, load {info['loadavg_at_start']}, repeats {a.repeats}\n")
    t0 = time.perf_counter()
    result = run_scenarios(a.repeats, a.keep)
    rows = result["rows"]
    info["loadavg_at_end"] = os.getloadavg()
    info["benchmark_wall_s"] = time.perf_counter() - t0
    agree, goals = agreement(rows), targets(rows)

    print(f"\n## Chinchilla loss law, 240 rows, {CHAINS} chains x ({TUNE} warmup + {DRAWS} draws)\n")
    print(markdown_table(rows, a.repeats))
    print("Posterior means (ours: cold run, seed 0; nutpie: first run, seed 0):\n")
    print("| param | ours | nutpie | diff / posterior sd | diff / MCSE | agree |\n|---|---:|---:|---:|---:|---|")
    for k, v in agree.items():
        ok = "yes" if v["agree"] else "NO"
        means = f"{v['ours_mean']:.4f} | {v['nutpie_mean']:.4f}"
        print(f"| {k} | {means} | {v['diff_in_sd']:+.3f} | {v['z_mcse']:+.2f} | {ok} |")
    print("\nTargets:\n")
    for k, v in goals.items():
        print(f"- {k}: {v['value']:.2f} (target {v['target']}): {'met' if v['met'] else 'NOT met'}")

    a.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "fit_chinchilla",
        "command": "python benchmarks/bench_fit.py" + (f" --repeats {a.repeats}" if a.repeats != 3 else ""),
        "settings": {
            "data": str(DATA.relative_to(ROOT)),
            "where": WHERE,
            "chains": CHAINS,
            "tune": TUNE,
            "draws": DRAWS,
            "repeats": a.repeats,
            "card": str(CARD.relative_to(ROOT)),
            "card_sha256": hashlib.sha256(CARD.read_bytes()).hexdigest(),
            "card_sampler": tomllib.loads(CARD.read_text())["sampler"],
        },
        "machine": info,
        "rows": rows,
        "runs": result["runs"],
        "agreement": agree,
        "targets": goals,
    }
    a.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
