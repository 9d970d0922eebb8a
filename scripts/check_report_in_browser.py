"""Open a local HTML page in real headless Chromium and check that it renders.

Why a real browser: the report is a single self-contained ``report.html`` whose
figures are base64 PNG data URIs. String checks on the HTML cannot tell whether a
data URI decodes, whether a script throws, or whether the page quietly pulls a
font or script from the network (which breaks offline and leaks). Chromium can.

The browser is Debian's ``/usr/bin/chromium`` driven through Playwright's sync API
(no Playwright browser download; override the binary with ``BAYES_SCALING_CHROMIUM``).
Install it with ``bash scripts/install-browser.sh``.

Usage::

    python scripts/check_report_in_browser.py PAGE.html [--screenshot OUT.png] [--selector CSS]

Exit status: 0 when the page passes, 1 when it does not, 2 on bad usage, a missing
file, or a browser that cannot be started.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Route

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "BAYES_SCALING_CHROMIUM"
INSTALL_HINT = "run `bash scripts/install-browser.sh`"

# --headless/--no-sandbox: no display, and root in containers cannot use the sandbox.
# The rest stop Chromium's own background traffic (updates, sync, field trials,
# QUIC probes): these machines have no network, and without them Chromium logs
# refused connections that drown the page's own messages.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1280, "height": 900}
# Generous for a local file; short enough that a hung page fails fast, not after 30 s.
TIMEOUT_MS = 10_000

# A rendered plot has axes, ticks, labels and anti-aliased lines: several per cent of
# its pixels differ from the background and it uses hundreds of colours. A blank or
# single-colour box (an empty figure, a failed render, an unstyled placeholder) has
# ~0 % and a handful. The thresholds sit well between the two.
MIN_INK_FRACTION = 0.02
MIN_DISTINCT_COLOURS = 16

_SRC_PREFIX_CHARS = 48


class BrowserUnavailable(RuntimeError):
    """Chromium (or Playwright) could not be found or started; the message says how to fix it."""


class NoMatchingElement(LookupError):
    """The screenshot selector matched nothing, so there is no figure to look at."""


@dataclass(frozen=True)
class BlankStats:
    """How much a screenshot departs from a flat fill.

    ``ink_fraction``: fraction of pixels that differ from the most common colour
    (taken as the background). ``n_colours``: number of distinct RGB colours.
    """

    ink_fraction: float
    n_colours: int

    @property
    def nonblank(self) -> bool:
        """Whether the image looks like a drawn figure rather than an empty box."""
        return self.ink_fraction >= MIN_INK_FRACTION and self.n_colours >= MIN_DISTINCT_COLOURS


@dataclass(frozen=True)
class PageCheck:
    """What Chromium saw when it loaded the page. ``ok`` sums it up."""

    title: str
    console_errors: tuple[str, ...]
    console_warnings: tuple[str, ...]
    page_errors: tuple[str, ...]
    outside_requests: tuple[str, ...]
    local_requests: tuple[str, ...]
    n_images: int
    broken_images: tuple[str, ...]
    screenshot: Path
    blank_stats: BlankStats

    @property
    def nonblank(self) -> bool:
        """Whether the screenshot of the selected element shows a drawn figure."""
        return self.blank_stats.nonblank

    @property
    def ok(self) -> bool:
        """True when the page rendered cleanly, fetched nothing and shows a figure.

        Console warnings do not count: Chromium emits some for harmless things
        (deprecated APIs, autofill), and they would make the check flaky.
        """
        return not self.problems()

    def problems(self) -> list[str]:
        """One human-readable line per thing that is wrong; empty when ``ok``."""
        lines = [f"console error: {m}" for m in self.console_errors]
        lines += [f"uncaught exception: {m}" for m in self.page_errors]
        lines += [f"outside request (blocked): {u}" for u in self.outside_requests]
        lines += [f"request for another local file (not self-contained): {u}" for u in self.local_requests]
        lines += [f"broken image: {i}" for i in self.broken_images]
        if self.n_images == 0:
            lines.append("no <img> on the page")
        if not self.nonblank:
            s = self.blank_stats
            lines.append(
                f"screenshot looks blank: {s.ink_fraction:.2%} of pixels off the background "
                f"(need {MIN_INK_FRACTION:.0%}), {s.n_colours} colours (need {MIN_DISTINCT_COLOURS})"
            )
        return lines


def chromium_executable() -> str:
    """The Chromium binary to drive: ``$BAYES_SCALING_CHROMIUM`` or Debian's."""
    return os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM


# The browser opened by the innermost chromium_browser() in this thread. Playwright's
# sync API cannot start a second instance while one runs in the same thread, so
# nested calls (check_page without ``browser=`` inside a shared block, the CLI
# called from a test) reuse the open browser instead of failing.
_active = threading.local()


@contextmanager
def chromium_browser() -> Iterator[Browser]:
    """Launch headless Chromium once; share it across ``check_page`` calls.

    Launching costs ~1-1.5 s against well under a second per page, so callers
    checking several pages (the tests) should hold one browser. Playwright gives
    every launch a fresh temporary profile, so no user-data directory is needed.
    Re-entrant: inside an open block it yields the same browser.
    """
    shared: Browser | None = getattr(_active, "browser", None)
    if shared is not None and shared.is_connected():
        yield shared
        return
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        raise BrowserUnavailable(f"Playwright is not installed: pip install 'playwright>=1.45' ({err})") from err
    exe = chromium_executable()
    if not Path(exe).is_file():
        raise BrowserUnavailable(f"Chromium not found at {exe}; {INSTALL_HINT} (or set {CHROMIUM_ENV})")
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=exe, args=list(CHROMIUM_ARGS), timeout=30_000)
        except PlaywrightError as err:
            first_line = (err.message or str(err)).strip().splitlines()[0]
            raise BrowserUnavailable(f"Chromium at {exe} failed to start: {first_line}; {INSTALL_HINT}") from err
        _active.browser = browser
        try:
            yield browser
        finally:
            _active.browser = None
            browser.close()


def blank_stats(png_path: Path) -> BlankStats:
    """Measure how flat an image is (see ``BlankStats``)."""
    from PIL import Image

    with Image.open(png_path) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.uint32)
    packed = (rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]).ravel()
    if packed.size == 0:
        return BlankStats(ink_fraction=0.0, n_colours=0)
    _, counts = np.unique(packed, return_counts=True)
    return BlankStats(ink_fraction=float(1.0 - counts.max() / packed.size), n_colours=int(counts.size))


def _describe_image(alt: str, src: str) -> str:
    """Name an <img> for a report line: its alt text, else the start of its src."""
    if alt.strip():
        return f"alt={alt.strip()!r}"
    return f"src={src[:_SRC_PREFIX_CHARS]!r}" + ("..." if len(src) > _SRC_PREFIX_CHARS else "")


_IMAGES_JS = """() => Array.from(document.images).map(img => ({
    ok: img.complete && img.naturalWidth > 0, alt: img.alt || "", src: img.currentSrc || img.src || ""
}))"""


def _check_in(browser: Browser, html_path: Path, screenshot_path: Path, selector: str) -> PageCheck:
    """Load one page in a fresh browser context and collect what it did."""
    page_url = html_path.resolve().as_uri()
    errors: list[str] = []
    warnings: list[str] = []
    page_errors: list[str] = []
    outside: list[str] = []
    local: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        where = msg.location.get("url", "") if msg.location else ""
        text = f"{msg.text} [{where}]" if where and where != page_url else msg.text
        if msg.type == "error":
            errors.append(text)
        elif msg.type == "warning":
            warnings.append(text)

    def on_route(route: Route) -> None:
        # Every request the page makes, file: included, passes here; data: URIs
        # never become requests. Anything else leaves the file and is refused.
        url = route.request.url
        if url.startswith(("file:", "data:")):
            if url.split("#", 1)[0] != page_url:
                local.append(url)
            route.continue_()
        else:
            outside.append(url)
            route.abort("blockedbyclient")

    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda exc: page_errors.append(f"{exc.name}: {exc.message}"))
        page.route("**/*", on_route)
        page.goto(page_url, wait_until="load")
        title = page.title()
        images = page.evaluate(_IMAGES_JS)
        target = page.locator(selector)
        if target.count() == 0:
            raise NoMatchingElement(f"no element matches {selector!r} in {html_path}; nothing to screenshot")
        screenshot_path.parent.mkdir(parents=True, exist_ok=True)
        # Playwright scrolls the element into view and waits for it to be visible first.
        target.first.screenshot(path=str(screenshot_path))
    finally:
        context.close()
    return PageCheck(
        title=title,
        console_errors=tuple(errors),
        console_warnings=tuple(warnings),
        page_errors=tuple(page_errors),
        outside_requests=tuple(outside),
        local_requests=tuple(local),
        n_images=len(images),
        broken_images=tuple(_describe_image(i["alt"], i["src"]) for i in images if not i["ok"]),
        screenshot=screenshot_path,
        blank_stats=blank_stats(screenshot_path),
    )


def check_page(
    html_path: Path,
    screenshot_path: Path,
    *,
    selector: str = "img.figure",
    browser: Browser | None = None,
) -> PageCheck:
    """Load ``html_path`` in headless Chromium, screenshot the first ``selector`` match, report.

    Pass ``browser`` (from ``chromium_browser()``) to reuse one launch across pages;
    without it a browser is launched for this page alone. Raises ``FileNotFoundError``
    for a missing page, ``NoMatchingElement`` when the selector matches nothing, and
    ``BrowserUnavailable`` when Chromium cannot be started.
    """
    html_path = Path(html_path)
    if not html_path.is_file():
        raise FileNotFoundError(f"no such HTML file: {html_path}")
    if browser is not None:
        return _check_in(browser, html_path, Path(screenshot_path), selector)
    with chromium_browser() as own:
        return _check_in(own, html_path, Path(screenshot_path), selector)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 1 problems, 2 usage or set-up)."""
    parser = argparse.ArgumentParser(description="Check that an HTML report renders cleanly in headless Chromium.")
    parser.add_argument("page", type=Path, help="the HTML file to open")
    parser.add_argument(
        "--screenshot", type=Path, help="where to write the PNG (default: PAGE-STEM.figure.png in the temp dir)"
    )
    parser.add_argument("--selector", default="img.figure", help="CSS selector of the element to screenshot")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage message
        return 2 if exit_.code else 0
    # Default off to the temp dir: next to the page it would litter a tracked reports/ folder.
    shot = args.screenshot or Path(tempfile.gettempdir()) / f"{args.page.stem}.figure.png"
    try:
        result = check_page(args.page, shot, selector=args.selector)
    except (FileNotFoundError, NoMatchingElement, BrowserUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.page}: title {result.title!r}, {result.n_images} image(s), screenshot {result.screenshot}")
    for line in result.problems():
        print(f"  FAIL {line}")
    for warning in result.console_warnings:
        print(f"  note: console warning: {warning}")
    print("OK" if result.ok else "NOT OK")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
