"""``bayes-scaling report``: every law's report renders, its numbers are the summary's, text
from the CSV stays text, and the page opens in real headless Chromium.

The runs come from the session fixtures the recovery tests use (conftest.py), so no
extra MCMC is paid here: only the reports.
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import pytest
from shared_fits import HOSTILE
from test_browser_check import crb  # scripts/check_report_in_browser.py, loaded by path

import bayes_scaling as bs
from bayes_scaling.arrays import law_arrays
from bayes_scaling.cli import main
from bayes_scaling.extrapolate import extrapolate
from bayes_scaling.hyper import setting_optima
from bayes_scaling.report import PARAM_COLUMNS, fmt, headline_section

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECTIONS = ("headline", "diagnostics", "law", "posterior", "ppc", "loo", "extrapolation", "provenance")
# Simulated sweeps come from the fitted model's own family, so about 90 % of rows should
# sit inside their 90 % posterior predictive interval. With 35-200 rows the binomial sd
# of that share is 0.02-0.05, and Student-t tails widen the intervals a little: 0.12 is
# about three sd at the smallest sweep.
PPC_TOL = 0.12
# Four significant digits are printed: a printed number is within 5e-4 of the summary's.
PRINTED_RTOL = 5e-4

# Which fixture gives each law's run; (run, sweep or None).
LAW_FIXTURES = {
    "loss": "grouped_sim",
    "timescale": "timescale_sim",
    "batch": "batch_sim",
    "bcrit": "zhang_run",
    "three_term": "three_term_sim",
}


def _run_of(request, law: str) -> bs.Run:
    value = request.getfixturevalue(LAW_FIXTURES[law])
    return value[-1]


_CACHE: dict[str, tuple[bs.Report, bs.ReportFiles]] = {}


@pytest.fixture
def report_of(request, tmp_path_factory):
    """Build and write a law's report once per session."""

    def make(law: str) -> tuple[bs.Run, bs.Report, bs.ReportFiles]:
        run = _run_of(request, law)
        if law not in _CACHE:
            report = bs.build_report(run, command=f"test {law}")
            _CACHE[law] = report, bs.write_report(report, tmp_path_factory.mktemp("reports") / law)
        return (run, *_CACHE[law])

    return make


class _Page(HTMLParser):
    """Tags, table cells and image sources of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.mark.parametrize("law", list(LAW_FIXTURES))
def test_every_law_renders_a_full_report(law, report_of):
    run, report, files = report_of(law)
    html = files.html.read_text(encoding="utf-8")
    page = _parse(html)
    assert set(SECTIONS) <= page.ids
    # Every figure is a PNG file and the very same bytes are embedded in the page.
    assert files.figures and len(page.images) == len(files.figures)
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in page.images}
    for f in files.figures:
        data = f.read_bytes()
        assert data[:8] == PNG_MAGIC and data in embedded, f.name
    assert all(src.startswith("data:image/png;base64,") for src in page.images)  # self-contained
    md = files.markdown.read_text(encoding="utf-8")
    for f in files.figures:
        assert f"](figures/{f.name})" in md
    # Short test chains may miss the strict ESS bar: the banner is there exactly when so.
    assert report.converged == run.summary.converged
    assert bool(report.warning) == ("not-converged" in page.ids) == (not run.summary.converged)
    # The posterior predictive check of a sweep simulated from the model is about calibrated.
    assert report.ppc_coverage is not None and abs(report.ppc_coverage - 0.90) < PPC_TOL
    assert report.loo is not None and report.loo.pareto_k.size == run.summary.n_rows
    assert len(report.extrapolation) == 3


def _param_rows(rows: list[list[str]]) -> dict[str, list[str]]:
    header = list(PARAM_COLUMNS)
    out, on = {}, False
    for r in rows:
        if r == header:
            on = True
            continue
        if on and len(r) == len(header):
            out[r[0]] = r[1:]
        elif on:
            break
    return out


def _md_rows(md: str) -> list[list[str]]:
    return [[c.strip().replace("\\", "") for c in line.strip().strip("|").split("|")] for line in md.splitlines() if line.startswith("|") and not line.startswith("|---")]


@pytest.mark.parametrize("law", list(LAW_FIXTURES))
def test_report_numbers_equal_the_summary(law, report_of):
    run, _, files = report_of(law)
    summary = json.loads(json.dumps(run.summary.to_json()))  # what summary.json holds
    html_rows = _param_rows(_parse(files.html.read_text(encoding="utf-8")).rows)
    md_rows = _param_rows(_md_rows(files.markdown.read_text(encoding="utf-8")))
    assert set(html_rows) == set(summary["params"])
    for rows in (html_rows, {k.replace("&lt;", "<").replace("&gt;", ">"): v for k, v in md_rows.items()}):
        for name, cells in rows.items():
            p = summary["params"][name]
            for column, cell in zip(PARAM_COLUMNS[1:], cells, strict=True):
                assert cell == fmt(p[column]), (name, column)
                if cell != "n/a":
                    assert float(cell) == pytest.approx(p[column], rel=PRINTED_RTOL)


def test_text_from_the_csv_stays_text(report_of):
    run, report, files = report_of("loss")
    assert HOSTILE in run.summary.group_levels
    html = files.html.read_text(encoding="utf-8")
    page = _parse(html)
    assert "script" not in page.tags  # the page has no script at all, so none was injected
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE not in html
    md = files.markdown.read_text(encoding="utf-8")
    assert HOSTILE not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    # The group's own parameter row is there, as text.
    assert any(r and r[0] == f"e[{HOSTILE}]" for r in page.rows)


def test_hyperparameter_reports_carry_the_optima_and_published_values(report_of):
    run, report, files = report_of("timescale")
    html = files.html.read_text(encoding="utf-8")
    assert "Bergsma et al. 2025 (2nd-hand) -0.527" in html
    page = _parse(html)
    labels = {r[0] for r in page.rows if r}
    for o in setting_optima(run):
        assert o.label in labels
    # Extrapolated tau_opt falls with D (tau_m < 0): 10x, 100x, 1000x the largest D.
    medians = [dict(p.values)["tau_opt, law"].q50 for p in report.extrapolation]
    assert medians[0] > medians[1] > medians[2]


def test_loss_report_extrapolation_is_the_compute_optimum(chinchilla_run):
    previous_n = 0.0
    points = extrapolate(chinchilla_run).points
    for point in points:
        values = dict(point.values)
        opt = chinchilla_run.compute_optimal(point.x)
        assert values["N_opt"].q50 == pytest.approx(opt.N.q50) and values["loss"].q50 == pytest.approx(opt.loss.q50)
        assert values["N_opt"].q50 > previous_n
        previous_n = values["N_opt"].q50
    # The extrapolation starts at the largest run: C = 6 N D of the data.
    frame = bs.load_sweep("data/chinchilla_epoch/chinchilla_epoch.csv", where="excluded_in_besiroglu_fit == 0").frame
    assert points[0].x == pytest.approx(10 * float((6 * frame["N"] * frame["D"]).max()))
    # Headline: the N_opt exponent's interval holds Besiroglu et al.'s 0.513.
    row = next(r for r in headline_section(chinchilla_run).tables[0].rows if r[0].startswith("N_opt exponent"))
    lo, hi = (float(v) for v in row[2].split(" - "))
    assert lo < 0.513 < hi


def test_constant_data_keeps_every_array_the_model_was_given(timescale_sim, zhang_run, tmp_path):
    """Per-row indices named like a dimension ("setting", "group") were once dropped silently."""
    _, frame, run = timescale_sim
    path = tmp_path / "ts.csv"
    frame.to_csv(path, index=False)
    for sweep, fitted in ((bs.load_sweep(path, law="timescale"), run), zhang_run):
        arrays = law_arrays(sweep)
        assert set(arrays.constant) <= set(fitted.idata.constant_data.data_vars)
        assert "file_row" in fitted.idata.constant_data


def test_report_cli_refuses_bad_input_and_keeps_what_is_on_disk(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "not a run folder" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    assert main(["report", str(tmp_path / "nowhere"), "--out", str(existing)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (existing / "mine.txt").read_text() == "keep me"


def test_report_opens_in_headless_chromium(report_of, tmp_path):
    """No console errors, no request outside the page, every image decodes, and a
    screenshot of the first figure is not blank."""
    _, _, files = report_of("timescale")
    check = crb.check_page(files.html, tmp_path / "figure.png")
    assert check.ok, check.problems()
    assert check.n_images == len(files.figures)
    assert check.nonblank and check.screenshot.read_bytes()[:8] == PNG_MAGIC
    assert re.search("timescale law", check.title)
