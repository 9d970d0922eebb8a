"""A ``Report`` on disk: a self-contained HTML page, report.md, and the figures as PNG files.

Every piece of text that may come from the user's CSV (group and setting labels, file
names, notes, commands) is escaped here and nowhere else: ``html.escape`` for the page,
``md`` for the Markdown. The page also carries a Content-Security-Policy that allows no
script and no request at all, so it opens offline and a missed escape could not run.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .artifacts import atomic_folder
from .report import Report, Section, Table

HTML_NAME, MARKDOWN_NAME, FIGURE_DIR = "report.html", "report.md", "figures"

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 0 auto; padding: 0 1.2em 3em; color: #1d1d1f; }
h1 { font-size: 1.5em; margin: 1em 0 0.3em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.banner { background: #b00020; color: #fff; font-weight: 600; padding: 0.9em 1.2em; margin: 0 -1.2em; }
.status { font-weight: 600; } .status.ok { color: #1b6e20; } .status.bad { color: #b00020; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.86em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; } th { background: #f4f4f6; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: bottom; text-align: left; color: #555; font-size: 0.92em; padding-top: 0.3em; }
td.FAIL { color: #b00020; font-weight: 600; }
figure { margin: 1em 0; } img.figure { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.92em; }
footer { margin-top: 3em; color: #777; font-size: 0.85em; }
"""


@dataclass(frozen=True)
class ReportFiles:
    """What ``write_report`` wrote."""

    folder: Path
    html: Path
    markdown: Path
    figures: tuple[Path, ...]


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f'<td class="{_e(v) if v == "FAIL" else ""}">{_e(v)}</td>' for v in row) + "</tr>" for row in t.rows)
    caption = f"<caption>{_e(t.caption)}</caption>" if t.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_section(s: Section) -> str:
    parts = [f'<section id="{_e(s.anchor)}"><h2>{_e(s.title)}</h2>']
    parts += [f"<p>{_e(p)}</p>" for p in s.paragraphs]
    parts += [_html_table(t) for t in s.tables]
    for f in s.figures:
        data = base64.b64encode(f.png).decode("ascii")
        parts.append(f'<figure><img class="figure" id="fig-{_e(f.name)}" alt="{_e(f.caption)}" src="data:image/png;base64,{data}"><figcaption>{_e(f.caption)}</figcaption></figure>')
    parts.append("</section>")
    return "\n".join(parts)


def to_html(report: Report) -> str:
    """The report as one HTML page with its figures embedded (opens offline)."""
    banner = f'<div class="banner" role="alert" id="not-converged">{_e(report.warning)}</div>' if report.warning else ""
    status = '<p class="status ok">The fit converged.</p>' if report.converged else '<p class="status bad">The fit did NOT converge.</p>'
    nav = "<nav>" + "".join(f'<a href="#{_e(s.anchor)}">{_e(s.title)}</a>' for s in report.sections) + "</nav>"
    body = "\n".join(_html_section(s) for s in report.sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(report.title)}</title><style>{STYLE}</style></head>\n<body>\n{banner}\n"
        f"<header><h1>{_e(report.title)}</h1>{status}{nav}</header>\n{body}\n"
        f"<footer>Made by bayes-scaling {_e(__version__)}.</footer>\n</body></html>\n"
    )


_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|])")


def md(text: object) -> str:
    """Text safe in Markdown: HTML-escaped (Markdown passes raw HTML through) and its
    emphasis, link, heading and table characters backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False)).replace("\n", " ")


def _md_table(t: Table) -> str:
    lines = ["| " + " | ".join(md(c) for c in t.columns) + " |", "|" + "---|" * len(t.columns)]
    lines += ["| " + " | ".join(md(v) for v in row) + " |" for row in t.rows]
    if t.caption:
        lines += ["", f"*{md(t.caption)}*"]
    return "\n".join(lines)


def to_markdown(report: Report, figure_dir: str = FIGURE_DIR) -> str:
    """The report as Markdown, figures linked from ``figure_dir``."""
    out = [f"# {md(report.title)}", ""]
    if report.warning:
        out += [f"> **WARNING: {md(report.warning)}**", ""]
    out += ["The fit converged." if report.converged else "**The fit did NOT converge.**", ""]
    for s in report.sections:
        out += [f"## {md(s.title)}", ""]
        for p in s.paragraphs:
            out += [md(p), ""]
        for t in s.tables:
            out += [_md_table(t), ""]
        for f in s.figures:
            out += [f"![{md(f.caption)}]({figure_dir}/{f.name}.png)", ""]
    out += [f"Made by bayes-scaling {md(__version__)}.", ""]
    return "\n".join(out)


def write_report(report: Report, out: str | Path, *, force: bool = False) -> ReportFiles:
    """Write report.html, report.md and figures/*.png into folder ``out``, atomically."""
    with atomic_folder(out, force=force) as tmp:
        (tmp / FIGURE_DIR).mkdir()
        names = []
        for s in report.sections:
            for f in s.figures:
                (tmp / FIGURE_DIR / f"{f.name}.png").write_bytes(f.png)
                names.append(f"{f.name}.png")
        (tmp / HTML_NAME).write_text(to_html(report), encoding="utf-8")
        (tmp / MARKDOWN_NAME).write_text(to_markdown(report), encoding="utf-8")
    folder = Path(out)
    return ReportFiles(folder, folder / HTML_NAME, folder / MARKDOWN_NAME, tuple(folder / FIGURE_DIR / n for n in names))
