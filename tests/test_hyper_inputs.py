"""Clear messages for hyperparameter-law input problems: exit 2, no traceback, nothing written."""

from __future__ import annotations

import pytest

from bayes_scaling.cli import main

TS_HEADER = "N,D,B,lr,wd,loss\n"


def _run(tmp_path, capsys, text: str, *args: str) -> tuple[int, str]:
    path = tmp_path / "sweep.csv"
    path.write_text(text)
    out = tmp_path / "run"
    code = main(["fit", str(path), "--out", str(out), "--quiet", *args])
    assert not out.exists(), "a refused fit must not write its run folder"
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("law", "text", "expected"),
    [
        ("timescale", "N,D,B,lr,loss\n1e8,2e9,5e5,1e-3,3.1\n", ["'wd'", "timescale law needs"]),
        ("batch", "N,D,loss\n1e8,2e9,3.1\n", ["'B'", "batch law needs"]),
        ("three_term", "N,D,lr,loss\n1e8,2e9,1e-3,3.1\n", ["'B'", "three_term law needs"]),
        ("bcrit", "N,B,tokens_to_target\n1e8,5e5,2e9\n", ["'target_loss'", "bcrit law needs"]),
        # The loss-curve form of bcrit is named as unsupported, with what to give instead.
        ("bcrit", "N,D,B,loss\n1e8,2e9,5e5,3.1\n", ["steps-to-target form", "tokens_to_target", "not supported yet"]),
    ],
)
def test_a_law_whose_columns_are_absent(tmp_path, capsys, law, text, expected):
    code, err = _run(tmp_path, capsys, text, "--law", law)
    assert code == 2
    assert "Traceback" not in err
    for piece in expected:
        assert piece in err, (piece, err)


def test_settings_too_sparse_for_a_bowl_name_the_best_setting_and_its_values(tmp_path, capsys):
    rows = [
        "1e8,2e9,524288,0.008,0.1,3.50",
        "1e8,2e9,524288,0.008,0.2,3.52",  # 2 distinct tau values: no bowl
        "2e8,4e9,524288,0.008,0.1,3.30",
    ]
    code, err = _run(tmp_path, capsys, TS_HEADER + "\n".join(rows) + "\n", "--law", "timescale")
    assert code == 2
    assert "no setting has a bowl to fit" in err
    assert ">= 3 distinct values of tau" in err
    assert "N=1e+08, D=2e+09" in err and "has 2" in err
    assert "column 'wd'" in err


def test_batch_settings_need_three_batch_sizes(tmp_path, capsys):
    rows = ["1e8,2e9,65536,3.5", "1e8,2e9,131072,3.4", "2e8,4e9,65536,3.3"]
    code, err = _run(tmp_path, capsys, "N,D,B,loss\n" + "\n".join(rows) + "\n", "--law", "batch")
    assert code == 2
    assert "distinct values of B" in err and "column 'B'" in err


def test_all_zero_weight_decay_is_refused(tmp_path, capsys):
    rows = [f"1e8,2e9,524288,{lr},0,{loss}" for lr, loss in ((0.002, 3.6), (0.004, 3.5), (0.008, 3.55))]
    code, err = _run(tmp_path, capsys, TS_HEADER + "\n".join(rows) + "\n", "--law", "timescale")
    assert code == 2
    assert "wd = 0" in err and "infinite" in err


def test_bcrit_group_with_too_few_batch_sizes(tmp_path, capsys):
    rows = ["1e8,65536,2e9,3.4", "1e8,131072,2.2e9,3.4"]
    code, err = _run(tmp_path, capsys, "N,B,tokens_to_target,target_loss\n" + "\n".join(rows) + "\n", "--law", "bcrit")
    assert code == 2
    assert "2 distinct batch sizes" in err and "N=1e+08, target=3.4" in err


def test_where_can_drop_rows_the_law_cannot_use(tmp_path):
    """Step-0 checkpoints (D = 0) fail validation unless --where removes them first;
    the rows --where keeps are still validated and named by their file row."""
    from bayes_scaling.errors import BadInputError
    from bayes_scaling.sweep import load_sweep

    path = tmp_path / "curve.csv"
    path.write_text("N,D,loss,is_final\n1e8,0,11.0,0\n1e8,2e9,3.1,1\n2e8,-4e9,3.0,1\n")
    with pytest.raises(BadInputError, match="row 3 .line 4., column 'D', value '-4e9'"):
        load_sweep(path, where="is_final == 1")
    path.write_text("N,D,loss,is_final\n1e8,0,11.0,0\n1e8,2e9,3.1,1\n2e8,4e9,3.0,1\n")
    sweep = load_sweep(path, where="is_final == 1")
    assert sweep.n_rows == 2 and sweep.n_filtered_out == 1


def test_predict_refuses_a_law_mismatch():
    from bayes_scaling.errors import BadInputError
    from bayes_scaling.hyper import _need

    class _S:
        law, card = "loss", "loss"

    class _R:
        summary = _S()

    with pytest.raises(BadInputError, match="needs a run of the timescale law"):
        _need(_R(), "timescale")
