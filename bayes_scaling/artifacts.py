"""Run folders on disk: written atomically, never overwritten without ``force``.

A run folder is first written in full to a hidden sibling folder and then renamed
into place, so a crash or Ctrl-C leaves either the old run or the new one, never a
half-written mix (rename is atomic on one file system).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import arviz as az

from .cards import LAWS_WITH_FIGURE, parse_card
from .errors import BadInputError, UsageError
from .run import Run, Summary

POSTERIOR, SUMMARY, CARD, FIGURE = "posterior.nc", "summary.json", "card.toml", "optima.png"


def _nan_to_null(x):
    """Strict JSON: an undefined number (NaN R-hat of a single chain) is written as null."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_null(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_nan_to_null(v) for v in x]
    return x


def write_json(path: Path, obj) -> None:
    """Strict JSON (undefined numbers as null), indented, with a final newline."""
    path.write_text(json.dumps(_nan_to_null(obj), indent=2, allow_nan=False) + "\n", encoding="utf-8")


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``path`` to write; on success it replaces
    ``path`` in one rename, on a crash or Ctrl-C it is removed and ``path`` is as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(out: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a hidden sibling folder to fill; on success it replaces ``out`` in one rename.

    An existing ``out`` is refused unless ``force``; a crash or Ctrl-C while filling
    leaves ``out`` as it was and removes the half-filled folder.
    """
    out = Path(out)
    if out.exists() and not force:
        raise UsageError(f"{out} already exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder; not touching it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "previous")
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_run(run: Run, out: str | Path, *, force: bool = False) -> Path:
    """Write ``posterior.nc``, ``summary.json``, the card and (timescale, batch and
    bcrit laws) ``optima.png``, each setting's optimum against the law, to folder ``out``."""
    with atomic_folder(out, force=force) as tmp:
        run.idata.to_netcdf(str(tmp / POSTERIOR), engine="h5netcdf")
        write_json(tmp / SUMMARY, run.summary.to_json())
        (tmp / CARD).write_text(run.card.source, encoding="utf-8")
        if run.summary.law in LAWS_WITH_FIGURE:
            # Imported here: matplotlib costs ~0.4 s of start-up that loss-law fits do not need.
            from .figures import save_optima_figure

            save_optima_figure(run, tmp / FIGURE)
    return Path(out)


def load_run(path: str | Path) -> Run:
    """Read a run folder written by ``save_run`` (or ``bayes-scaling fit``)."""
    path = Path(path)
    for name in (POSTERIOR, SUMMARY, CARD):
        if not (path / name).is_file():
            raise BadInputError(f"not a run folder: {name} is missing", file=str(path))
    try:
        summary = Summary.from_json(json.loads((path / SUMMARY).read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise BadInputError(f"unreadable summary: {err}", file=str(path / SUMMARY)) from None
    card = parse_card((path / CARD).read_text(encoding="utf-8"), origin=str(path / CARD))
    idata = az.from_netcdf(str(path / POSTERIOR), engine="h5netcdf")
    return Run(idata=idata, summary=summary, card=card)
