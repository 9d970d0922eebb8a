"""Sweep loading: every bad input of DESIGN.md gets one clear message and exit status 2."""

from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_scaling.cli import main
from bayes_scaling.errors import BadInputError
from bayes_scaling.sweep import load_sweep

GOOD = "N,D,loss\n1e8,2e9,3.1\n2e8,4e9,2.9\n4e8,8e9,2.7\n"


def _write(tmp_path, text, name="sweep.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_sweep_loads(tmp_path):
    sweep = load_sweep(_write(tmp_path, GOOD))
    assert sweep.n_rows == 3 and list(sweep.frame["phase"]) == ["final"] * 3
    assert len(sweep.data_sha256) == 64


# (CSV text, extra CLI args, substrings the message must contain: file, column, row, value)
BAD = {
    "missing column": ("N,D\n1e8,2e9\n", [], ["sweep.csv", "'loss'", "lacks"]),
    "misspelled column": ("N,D,lss\n1e8,2e9,3.1\n", [], ["'loss'", "did you mean 'lss'", "--map lss=loss"]),
    "text in a number column": (GOOD + "8e8,abc,2.5\n", [], ["sweep.csv", "row 4 (line 5)", "column 'D'", "'abc'", "not a number"]),
    "NaN": (GOOD + "8e8,1.6e10,nan\n", [], ["row 4", "column 'loss'", "'nan'", "finite"]),
    "inf": (GOOD + "inf,1.6e10,2.5\n", [], ["row 4", "column 'N'", "'inf'", "finite"]),
    "empty cell": (GOOD + "8e8,,2.5\n", [], ["row 4", "column 'D'", "empty"]),
    "zero size": (GOOD + "0,1.6e10,2.5\n", [], ["row 4", "column 'N'", "'0'", "> 0"]),
    "negative loss": (GOOD + "8e8,1.6e10,-2.5\n", [], ["row 4", "column 'loss'", "'-2.5'", "> 0"]),
    "negative weight decay": ("N,D,loss,wd\n1e8,2e9,3.1,-0.1\n", [], ["row 1", "column 'wd'", ">= 0"]),
    "empty file": ("", [], ["sweep.csv", "empty"]),
    "header only": ("N,D,loss\n", [], ["sweep.csv", "no rows"]),
    "duplicated row": (GOOD + "2e8,4e9,2.9\n", [], ["row 4", "duplicated row", "row 2"]),
    "unknown batch unit": ("N,D,loss,B\n1e8,2e9,3.1,256\n", ["--batch-unit", "minibatches"], ["unknown batch unit 'minibatches'"]),
    "sequences without length": ("N,D,loss,B\n1e8,2e9,3.1,256\n", ["--batch-unit", "sequences"], ["--seq-len"]),
    "unknown phase": ("N,D,loss,phase\n1e8,2e9,3.1,lukewarm\n", [], ["row 1", "column 'phase'", "'lukewarm'", "hot"]),
    "map of an absent column": (GOOD, ["--map", "params=N"], ["'params'", "--map"]),
    "map to a non-canonical name": (GOOD, ["--map", "N=size"], ["'size' is not a canonical column"]),
    "group column absent": (GOOD, ["--group", "dataset"], ["'dataset'", "--group"]),
    "where leaves nothing": (GOOD, ["--where", "N > 1e12"], ["leaves no rows"]),
    "where is not an expression": (GOOD, ["--where", "N >> >"], ["could not be applied"]),
    "only hot rows": ("N,D,loss,phase\n1e8,2e9,3.1,hot\n", [], ["hot", "--include-hot"]),
    "ragged row": ("N,D,loss\n1e8,2e9,3.1\n1e8,2e9,3.1,7,8\n", [], ["not a readable CSV"]),
    "column named twice": ("N,D,loss,N\n1e8,2e9,3.1,5\n", [], ["column 'N'", "twice"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_a_clear_message(case, tmp_path, capsys):
    text, extra, needles = BAD[case]
    path = _write(tmp_path, text)
    out = tmp_path / "runs" / "x"
    code = main(["fit", str(path), "--out", str(out), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("bayes-scaling: error:")
    for needle in needles:
        assert needle in err, (needle, err)
    assert not out.exists()  # nothing written


def test_missing_file_and_folder(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "r")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["fit", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "folder" in capsys.readouterr().err


def test_unknown_law_is_a_usage_error(tmp_path, capsys):
    assert main(["fit", str(_write(tmp_path, GOOD)), "--law", "vibes", "--out", str(tmp_path / "r")]) == 2
    assert "invalid choice: 'vibes'" in capsys.readouterr().err


def test_a_law_whose_columns_are_absent(tmp_path):
    with pytest.raises(BadInputError, match="the timescale law needs column 'B'"):
        load_sweep(_write(tmp_path, GOOD), law="timescale")


def test_map_batch_units_and_extras(tmp_path):
    text = "params,tokens,val_loss,bs,lr,dataset\n1e8,2e9,3.1,256,1e-3,web\n2e8,4e9,2.9,512,1e-3,code\n"
    sweep = load_sweep(
        _write(tmp_path, text),
        law="batch",
        mapping={"params": "N", "tokens": "D", "val_loss": "loss", "bs": "B"},
        batch_unit="sequences",
        seq_len=2048,
        groups=["dataset"],
    )
    assert list(sweep.frame["B"]) == [256 * 2048, 512 * 2048]
    assert list(sweep.group_labels()) == ["web", "code"]


def test_hot_rows_are_left_out_and_counted(tmp_path):
    text = "N,D,loss,phase,run_id\n1e8,2e9,3.1,hot,r1\n1e8,2.2e9,3.0,cooldown_end,r1\n2e8,4e9,2.9,final,r2\n"
    sweep = load_sweep(_write(tmp_path, text))
    assert sweep.n_rows == 2 and sweep.n_hot_left_out == 1
    assert load_sweep(_write(tmp_path, text), include_hot=True).n_rows == 3


# --- property tests: garbage never crashes the loader with anything but a clear message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=string.printable + "éß€\x00", max_size=300))
def test_arbitrary_text_gives_a_sweep_or_a_bad_input_error(tmp_path, text):
    path = tmp_path / "garbage.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        sweep = load_sweep(path)
    except BadInputError as err:
        assert str(path) in str(err)
    else:
        assert sweep.n_rows >= 1
        for column in ("N", "D", "loss"):
            assert np.all(np.isfinite(sweep.frame[column])) and np.all(sweep.frame[column] > 0)


_cells = st.one_of(
    st.floats(min_value=1e-3, max_value=1e13).map(repr),
    st.sampled_from(["", "nan", "-inf", "x", "0", "-1", "1e400", " 3 "]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_cells, _cells, _cells), min_size=1, max_size=8))
def test_the_first_bad_cell_is_the_one_named(tmp_path, rows):
    path = tmp_path / "cells.csv"
    path.write_text("N,D,loss\n" + "\n".join(",".join(r) for r in rows) + "\n")

    def ok(cell):
        try:
            v = float(cell)
        except ValueError:
            return False
        return np.isfinite(v) and v > 0

    first_bad = next(((i, j) for j, col in enumerate(("N", "D", "loss")) for i, r in enumerate(rows) if not ok(r[j])), None)
    try:
        load_sweep(path)
    except BadInputError as err:
        if first_bad is None:
            assert "duplicated row" in str(err) or "no rows" in str(err), str(err)
        else:
            i, j = first_bad
            assert err.column == ("N", "D", "loss")[j] and err.row == i + 1, (str(err), first_bad)
    else:
        assert first_bad is None
