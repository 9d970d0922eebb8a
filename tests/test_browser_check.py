"""The browser check of the HTML report: real headless Chromium, fixed synthetic pages.

The good page must pass, and each negative control must fail for its one planted
defect (the rest of the page is the good page), so a check that passes everything
cannot hide here. A missing Chromium FAILS these tests: a skipped browser check
would let a broken report through silently.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_report_in_browser.py"


def _load_script() -> ModuleType:
    """Import scripts/check_report_in_browser.py by path (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("check_report_in_browser", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


crb = _load_script()


def _png(fig: Figure) -> str:
    """Render a matplotlib Figure (no pyplot: no global state, no GUI backend) to base64 PNG."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plot_png() -> str:
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    xs = [0, 1, 2, 3, 4, 5]
    ax.plot(xs, [3.0, 2.4, 2.1, 1.95, 1.9, 1.88], label="fit")
    ax.scatter(xs, [3.1, 2.3, 2.15, 1.9, 1.93, 1.86], color="k", zorder=3, label="runs")
    ax.set(xlabel="log compute", ylabel="loss", title="synthetic")
    ax.legend()
    return _png(fig)


def _blank_png() -> str:
    fig = Figure(figsize=(6, 4), dpi=100, facecolor="white")
    fig.add_subplot().set_axis_off()
    return _png(fig)


PLOT_PNG = _plot_png()
BLANK_PNG = _blank_png()


def _page(tmp_path: Path, body: str, *, figure_png: str = PLOT_PNG, name: str = "page") -> Path:
    """A small report-like page: a heading, the figure, then ``body`` (the planted defect)."""
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{name}</title></head><body>"
        f"<h1>{name}</h1><img class='figure' alt='loss versus compute' src='data:image/png;base64,{figure_png}'>"
        f"{body}</body></html>"
    )
    path = tmp_path / f"{name}.html"
    path.write_text(html, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module: a launch costs ~1.5 s, a page ~0.2 s."""
    try:
        with crb.chromium_browser() as b:
            yield b
    except crb.BrowserUnavailable as err:
        pytest.fail(str(err), pytrace=False)


def _check(browser: Browser, page: Path, **kwargs: str) -> crb.PageCheck:
    return crb.check_page(page, page.with_suffix(".png"), browser=browser, **kwargs)


def test_chromium_is_installed() -> None:
    exe = crb.chromium_executable()
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as err:
        pytest.fail(f"Chromium at {exe} does not run ({err}); {crb.INSTALL_HINT}", pytrace=False)
    assert "Chromium" in out


def test_good_page_passes(browser: Browser, tmp_path: Path) -> None:
    result = _check(browser, _page(tmp_path, "<p>All fine.</p>", name="good"))
    assert result.problems() == []
    assert result.ok
    assert result.title == "good"
    assert result.n_images == 1
    assert result.screenshot.is_file()
    assert result.nonblank
    assert result.blank_stats.ink_fraction > 1.5 * crb.MIN_INK_FRACTION  # a margin, not a squeak (~4.4 %)


def test_console_error_is_reported(browser: Browser, tmp_path: Path) -> None:
    result = _check(browser, _page(tmp_path, "<script>console.error('boom')</script>"))
    assert [e for e in result.console_errors if "boom" in e]
    assert not result.ok
    assert result.page_errors == () and result.broken_images == () and result.nonblank


def test_uncaught_exception_is_reported(browser: Browser, tmp_path: Path) -> None:
    result = _check(browser, _page(tmp_path, "<script>throw new Error('kaput')</script>"))
    assert result.page_errors == ("Error: kaput",)
    assert not result.ok


def test_broken_image_is_reported(browser: Browser, tmp_path: Path) -> None:
    body = "<img class='figure' alt='corrupt figure' src='data:image/png;base64,AAAA'>"
    result = _check(browser, _page(tmp_path, body))
    assert result.n_images == 2
    assert result.broken_images == ("alt='corrupt figure'",)
    assert not result.ok


@pytest.fixture
def local_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that records every path asked of it.

    Unlike example.com (unreachable offline anyway), it would really answer, so
    zero hits proves the check blocked the request rather than the network failing.
    """
    hits: list[str] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_outside_requests_are_blocked_and_reported(
    browser: Browser, tmp_path: Path, local_server: tuple[str, list[str]]
) -> None:
    base, hits = local_server
    body = f"<img src='http://example.com/x.png'><link rel='stylesheet' href='{base}/style.css'>"
    result = _check(browser, _page(tmp_path, body))
    assert set(result.outside_requests) == {"http://example.com/x.png", f"{base}/style.css"}
    assert hits == []  # refused before it left the browser
    assert not result.ok


def test_other_local_files_are_reported(browser: Browser, tmp_path: Path) -> None:
    (tmp_path / "side.png").write_bytes(base64.b64decode(PLOT_PNG))
    result = _check(browser, _page(tmp_path, "<img alt='sibling' src='side.png'>"))
    assert result.local_requests == ((tmp_path / "side.png").as_uri(),)
    assert result.broken_images == ()  # it loads; it is just not self-contained
    assert not result.ok


def test_blank_figure_fails(browser: Browser, tmp_path: Path) -> None:
    result = _check(browser, _page(tmp_path, "", figure_png=BLANK_PNG))
    assert result.broken_images == () and result.console_errors == ()
    assert not result.nonblank
    assert not result.ok


def test_selector_matching_nothing_raises(browser: Browser, tmp_path: Path) -> None:
    with pytest.raises(crb.NoMatchingElement, match="#no-such"):
        _check(browser, _page(tmp_path, ""), selector="#no-such")


def test_cli_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert crb.main([str(tmp_path / "absent.html")]) == 2
    err = capsys.readouterr().err
    assert "no such HTML file" in err and "absent.html" in err


def test_cli_good_page_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = _page(tmp_path, "", name="cli")
    assert crb.main([str(page), "--screenshot", str(tmp_path / "shot.png")]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")
    assert (tmp_path / "shot.png").is_file()
