"""Reading and validating sweep CSVs: the only module that touches raw files.

Every problem is reported as a ``BadInputError`` naming the file, column, row and
value, before anything is compiled or sampled.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import BadInputError

# Which columns each law needs (DESIGN.md, "Sweep CSV").
LAW_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "loss": ("N", "D", "loss"),
    "timescale": ("N", "D", "B", "lr", "wd", "loss"),
    "batch": ("N", "D", "B", "loss"),
    # The steps-to-target form (DESIGN.md): tokens each batch size needed to reach a target loss.
    "bcrit": ("B", "tokens_to_target", "target_loss"),
    "three_term": ("N", "D", "B", "loss"),
}
NUMERIC = ("N", "D", "loss", "B", "lr", "wd", "tokens_to_target", "target_loss")
STRICTLY_POSITIVE = ("N", "D", "loss", "B", "lr", "tokens_to_target", "target_loss")
CANONICAL = NUMERIC + ("run_id", "phase", "schedule")
PHASES = ("final", "cooldown_end", "hot")
FINAL_PHASES = ("final", "cooldown_end")
BATCH_UNITS = ("tokens", "sequences")


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep was loaded: ``load_sweep``'s keyword arguments. A fit records them in
    summary.json so that a later command (``check``) reloads exactly the rows it used."""

    law: str = "loss"
    mapping: tuple[tuple[str, str], ...] = ()  # (theirs, ours) pairs of --map
    groups: tuple[str, ...] = ()
    batch_unit: str = "tokens"
    seq_len: float | None = None
    where: str | None = None
    include_hot: bool = False

    def load_kwargs(self) -> dict:
        """The keyword arguments of ``load_sweep`` that reproduce the sweep."""
        return dict(law=self.law, mapping=dict(self.mapping), groups=self.groups, batch_unit=self.batch_unit,
                    seq_len=self.seq_len, where=self.where, include_hot=self.include_hot)

    @classmethod
    def from_json(cls, d: Mapping) -> "SweepOptions":
        """Inverse of ``dataclasses.asdict`` after a JSON round trip (lists back to tuples)."""
        known = set(cls.__dataclass_fields__)
        d = {k: v for k, v in d.items() if k in known}
        d["mapping"] = tuple(tuple(pair) for pair in d.get("mapping", ()))
        d["groups"] = tuple(d.get("groups", ()))
        return cls(**d)


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: the rows a law will use, and where they came from."""

    path: str
    frame: pd.DataFrame  # canonical columns (+ kept extras), only the rows to fit
    law: str
    data_sha256: str
    groups: tuple[str, ...]
    n_hot_left_out: int
    n_filtered_out: int
    file_rows: np.ndarray | None = None  # 1-based data row in the file of each frame row (what messages and reports name)
    options: SweepOptions | None = None  # how it was loaded; None when the rows are not a load_sweep's (a check's refit)

    @property
    def n_rows(self) -> int:
        """Rows used by the fit."""
        return len(self.frame)

    def group_labels(self) -> np.ndarray:
        """One label per row: the group columns joined with '/', or '' when ungrouped."""
        if not self.groups:
            return np.full(self.n_rows, "", dtype=object)
        return self.frame[list(self.groups)].astype(str).agg("/".join, axis=1).to_numpy(dtype=object)


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """``["their=ours", ...]`` from ``--map`` into ``{their: ours}``."""
    mapping = {}
    for item in items:
        theirs, sep, ours = item.partition("=")
        if not sep or not theirs or not ours:
            raise BadInputError(f"--map takes THEIR=OURS, got {item!r}")
        if ours not in CANONICAL:
            raise BadInputError(f"--map {item!r}: {ours!r} is not a canonical column; valid: {', '.join(CANONICAL)}")
        mapping[theirs] = ours
    return mapping


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    if not close:
        close = [o for o in options if o.lower() == name.lower()]
    return f" (did you mean {close[0]!r}? use --map {close[0]}={name})" if close else ""


def _numeric_column(raw: pd.Series, column: str, file: str, file_rows: np.ndarray) -> np.ndarray:
    """Parse and range-check one number column, naming its first bad cell by its file row."""
    strict = column in STRICTLY_POSITIVE
    values = np.empty(len(raw), dtype=float)
    for i, text in enumerate(raw.to_numpy()):
        row = int(file_rows[i])
        cell = str(text).strip()
        if cell == "":
            raise BadInputError("empty cell in a number column", file=file, column=column, row=row)
        try:
            number = float(cell)
        except ValueError:
            raise BadInputError("not a number", file=file, column=column, row=row, value=cell) from None
        if not math.isfinite(number):
            raise BadInputError("must be a finite number (NaN or inf found)", file=file, column=column, row=row, value=cell)
        if number < 0 or (strict and number == 0):
            raise BadInputError(f"must be {'> 0' if strict else '>= 0'}", file=file, column=column, row=row, value=cell)
        values[i] = number
    return values


def _read(path: Path) -> tuple[pd.DataFrame, bytes]:
    file = str(path)
    if not path.exists():
        raise BadInputError("no such file", file=file)
    if path.is_dir():
        raise BadInputError("is a folder, not a CSV file", file=file)
    data = path.read_bytes()
    if not data.strip():
        raise BadInputError("the file is empty", file=file)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadInputError(f"not UTF-8 text (byte {err.start})", file=file) from None
    try:
        header = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as err:
        raise BadInputError(f"not a readable CSV: {err}", file=file) from None
    seen = set()
    for name in (h.strip() for h in header):
        if name in seen:
            raise BadInputError("the header names a column twice", file=file, column=name)
        seen.add(name)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise BadInputError(f"not a readable CSV: {err}", file=file) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise BadInputError("the file has a header but no rows", file=file)
    return frame, data


def load_sweep(
    path: str | Path,
    *,
    law: str = "loss",
    mapping: Mapping[str, str] | None = None,
    groups: Sequence[str] = (),
    batch_unit: str = "tokens",
    seq_len: float | None = None,
    where: str | None = None,
    include_hot: bool = False,
) -> Sweep:
    """Read and validate a sweep CSV for ``law``.

    ``mapping`` renames the user's columns to canonical ones (``--map their=ours``);
    ``groups`` are extra columns whose combination defines partially pooled groups;
    ``where`` is a pandas query applied after parsing (e.g. ``"excluded == 0"``);
    ``hot`` (mid-schedule) rows are left out unless ``include_hot``.
    """
    path = Path(path)
    file = str(path)
    if law not in LAW_COLUMNS:
        raise BadInputError(f"unknown law {law!r}; valid: {', '.join(LAW_COLUMNS)}")
    if batch_unit not in BATCH_UNITS:
        raise BadInputError(f"unknown batch unit {batch_unit!r}; valid: {', '.join(BATCH_UNITS)}")
    if batch_unit == "sequences" and (seq_len is None or not seq_len > 0):
        raise BadInputError("--batch-unit sequences needs --seq-len L (tokens per sequence, > 0)")
    frame, data = _read(path)

    mapping = dict(mapping or {})
    for theirs in mapping:
        if theirs not in frame.columns:
            raise BadInputError(f"--map names a column the file does not have{_suggest(theirs, frame.columns)}", file=file, column=theirs)
    clash = [ours for theirs, ours in mapping.items() if ours in frame.columns and ours not in mapping]
    if clash:
        raise BadInputError("--map would create a column the file already has", file=file, column=clash[0])
    frame = frame.rename(columns=mapping)

    needed = LAW_COLUMNS[law]
    for column in needed:
        if column not in frame.columns and law == "bcrit" and {"N", "D", "B", "loss"} <= set(frame.columns):
            raise BadInputError(
                f"the bcrit law reads the steps-to-target form: columns B, tokens_to_target and target_loss (the tokens each "
                f"batch size needed to reach a target loss); the file has N, D, B, loss but no {column!r}. Interpolate each "
                f"(N, B) loss curve to the target first; the loss-curve form is not supported yet",
                file=file,
                column=column,
            )
        if column not in frame.columns:
            raise BadInputError(
                f"the {law} law needs column {column!r}, which the file lacks{_suggest(column, frame.columns)}; "
                f"columns present: {', '.join(frame.columns)}",
                file=file,
                column=column,
            )
    for column in groups:
        if column not in frame.columns:
            raise BadInputError(f"--group names a column the file lacks{_suggest(column, frame.columns)}", file=file, column=column)

    out = frame.copy()
    n_before = len(out)
    if where:
        # --where runs first, on leniently parsed numbers, so that it can drop rows the
        # law cannot use (e.g. step-0 checkpoints with D = 0); the rows it keeps are then
        # validated strictly, and named by their row in the file.
        trial = out.copy()
        for column in trial.columns:
            if column not in groups:
                as_number = pd.to_numeric(trial[column], errors="coerce")
                if column in NUMERIC or as_number.notna().all():
                    trial[column] = as_number
        try:
            kept = trial.query(where, engine="python").index
        except Exception as err:  # pandas raises many types for a bad expression
            raise BadInputError(f"--where {where!r} could not be applied: {err}", file=file) from None
        if kept.empty:
            raise BadInputError(f"--where {where!r} leaves no rows", file=file)
        out = out.loc[kept]
    n_filtered = n_before - len(out)
    file_rows = out.index.to_numpy() + 1  # 1-based data rows of the file

    # Column by column, so the first bad cell of the first bad column is the one named.
    for column in NUMERIC:
        if column in out.columns:
            out[column] = _numeric_column(out[column], column, file, file_rows)
    for column in out.columns:
        # Extra columns that are wholly numeric become numbers, so --where can compare them.
        if column not in CANONICAL and column not in groups:
            as_number = pd.to_numeric(out[column], errors="coerce")
            if as_number.notna().all():
                out[column] = as_number
    if "B" in out.columns and batch_unit == "sequences":
        out["B"] = out["B"] * float(seq_len)
    if "phase" in out.columns:
        out["phase"] = out["phase"].str.strip()
        bad = np.flatnonzero(~out["phase"].isin(PHASES).to_numpy())
        if bad.size:
            i = int(bad[0])
            raise BadInputError(f"unknown phase; valid: {', '.join(PHASES)}", file=file, column="phase", row=int(file_rows[i]), value=out["phase"].iloc[i])
    else:
        out["phase"] = "final"

    identity = [c for c in CANONICAL if c in out.columns] + [g for g in groups if g not in CANONICAL]
    dup = out.duplicated(subset=identity, keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((out[identity] == out[identity].iloc[i]).all(axis=1).to_numpy())[0])
        raise BadInputError(
            f"duplicated row: the same as row {file_rows[first]} in columns {', '.join(identity)}",
            file=file,
            row=int(file_rows[i]),
        )

    hot = out["phase"].to_numpy() == "hot"
    n_hot = 0
    if not include_hot:
        n_hot = int(hot.sum())
        out = out[~hot]
        file_rows = file_rows[~hot]
        if out.empty:
            raise BadInputError("every row is a 'hot' (mid-schedule) checkpoint; pass --include-hot to fit them anyway", file=file)

    return Sweep(
        path=file,
        frame=out.reset_index(drop=True),
        law=law,
        data_sha256=hashlib.sha256(data).hexdigest(),
        groups=tuple(groups),
        n_hot_left_out=n_hot,
        n_filtered_out=n_filtered,
        file_rows=file_rows,
        options=SweepOptions(law, tuple(mapping.items()), tuple(groups), batch_unit, seq_len, where, include_hot),
    )
