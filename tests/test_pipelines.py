"""Pipeline features through the real CLI: one-file datasets and column selection, row ids,
``--top``, ``--hist``, Parquet, ``-o/--output``, every format on every command, and unusual
but valid inputs. Exact stdout, stderr and exit codes are pinned; numbers derived by hand.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from losscli.cli import app
from losscli.losses import REGISTRY

runner = CliRunner()
FORMATS = ("table", "plain", "json", "csv")


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture
def scores(tmp_path):
    """Squared errors 1, 4, 0.25: mean 1.75, sum 5.25."""
    path = tmp_path / "scores.csv"
    path.write_text("id,yhat,y\na,1.0,0.0\nb,2.0,0.0\nc,0.5,1.0\n")
    return path


MSE_ONE_FILE = ("--pred-col", "yhat", "--target-col", "y")
CE_ONE_FILE = ("--target-col", "label", "--id-col", "id", "--logits")


@pytest.fixture
def classes(tmp_path):
    """Logits [0, 0] and [1000, 0], both labelled 1: losses log 2 and 1000."""
    path = tmp_path / "classes.csv"
    path.write_text("id,c0,c1,label\nx,0,0,1\ny,1000,0,1\n")
    return path


# --------------------------------------------------------------------------- one file


def test_one_file_value(scores):
    r = run("mse", scores, *MSE_ONE_FILE)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "1.75\n", "")


def test_one_file_none_with_ids_plain(scores):
    r = run("mse", scores, *MSE_ONE_FILE, "--id-col", "id", "-r", "none")
    assert (r.exit_code, r.stdout) == (0, "a,1.0\nb,4.0\nc,0.25\n")


def test_one_file_grad_with_ids_plain(scores):
    r = run("mse", scores, *MSE_ONE_FILE, "--id-col", "id", "-g")
    # 2(ŷ − y)/3
    assert r.stdout == (f"1.75\n\na,{2 / 3!r}\nb,{4 / 3!r}\nc,{-1 / 3!r}\n")


def test_one_file_csv_ids_next_to_row(scores):
    r = run("mse", scores, *MSE_ONE_FILE, "--id-col", "id", "-r", "none", "-g", "-f", "csv")
    assert r.stdout == (
        "row,id,value\n0,a,1.0\n1,b,4.0\n2,c,0.25\n\nrow,id,grad_0\n0,a,2.0\n1,b,4.0\n2,c,-1.0\n"
    )


def test_one_file_json_ids_and_columns(scores):
    r = run("mse", scores, *MSE_ONE_FILE, "--id-col", "id", "-r", "none", "-f", "json")
    doc = json.loads(r.stdout)
    assert doc["value"] == [1.0, 4.0, 0.25]
    assert doc["ids"] == ["a", "b", "c"]
    assert doc["columns"] == {"predictions": ["yhat"], "targets": ["y"], "id": "id"}
    assert doc["inputs"] == {"predictions": str(scores), "targets": str(scores)}


def test_one_file_table_shows_columns_and_ids(scores):
    r = run("mse", scores, *MSE_ONE_FILE, "--id-col", "id", "-r", "none", "-f", "table")
    assert r.exit_code == 0
    for text in ("Prediction columns", "yhat", "Target columns", "Id column", "│ id "):
        assert text in r.stdout


def test_one_file_other_side_takes_the_remaining_columns(classes):
    # --target-col alone: the predictions are every other column but the id.
    r = run(
        "ce",
        classes,
        "--target-col",
        "label",
        "--id-col",
        "id",
        "--logits",
        "-r",
        "none",
        "-f",
        "json",
    )
    doc = json.loads(r.stdout)
    assert doc["columns"] == {"predictions": ["c0", "c1"], "targets": ["label"], "id": "id"}
    assert doc["value"] == [math.log(2), 1000.0]
    assert doc["details"]["targets_are"] == "class indices"


def test_one_file_ce_class_index_column(classes):
    r = run("ce", classes, "--pred-col", "c0,c1", "--target-col", "label", "--logits", "-g")
    # mean of log 2 and 1000; gradient (softmax − onehot)/N
    assert r.stdout == f"{(math.log(2) + 1000) / 2!r}\n\n0.25,-0.25\n0.5,-0.5\n"


def test_patterns_and_repeats_keep_the_order_given(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("p_0,p_1,y_0,y_1\n1,2,0,0\n")
    r = run(
        "mse",
        path,
        "--pred-col",
        "p_1",
        "--pred-col",
        "p_0",
        "--target-col",
        "y_*",
        "-g",
        "-f",
        "json",
    )
    doc = json.loads(r.stdout)
    assert doc["columns"]["predictions"] == ["p_1", "p_0"]
    assert doc["columns"]["targets"] == ["y_0", "y_1"]
    assert doc["grad"] == [[2.0, 1.0]]  # 2(ŷ − y)/(N·D) with ŷ = [2, 1]


def test_columns_by_number_without_header(tmp_path):
    path = tmp_path / "nohead.csv"
    path.write_text("a,3,1\nb,1,1\n")  # text ids in column 1: data, not a header
    r = run(
        "mse",
        path,
        "--pred-col",
        "2",
        "--target-col",
        "3",
        "--id-col",
        "1",
        "-r",
        "none",
        "-f",
        "csv",
    )
    assert r.stdout == "row,id,value\n0,a,4.0\n1,b,0.0\n"


def test_stdin_one_file(scores):
    r = run("mse", "-", *MSE_ONE_FILE, input=scores.read_text())
    assert (r.exit_code, r.stdout) == (0, "1.75\n")


# --------------------------------------------------------------------------- two files


def test_two_files_select_columns_from_each(tmp_path):
    (tmp_path / "p.csv").write_text("id,model_a,model_b\nr1,1,5\nr2,2,6\n")
    (tmp_path / "t.csv").write_text("id,truth\nr1,0\nr2,0\n")
    r = run(
        "mse",
        tmp_path / "p.csv",
        tmp_path / "t.csv",
        "--pred-cols",
        "model_b",
        "--target-cols",
        "truth",
        "--id-col",
        "id",
        "-r",
        "none",
    )
    assert r.stdout == "r1,25.0\nr2,36.0\n"


def test_two_files_id_only_drops_the_id_column(tmp_path):
    (tmp_path / "p.csv").write_text("id,p\nr1,1\nr2,2\n")
    (tmp_path / "t.csv").write_text("0\n0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "--id-col", "id", "-r", "none")
    assert r.stdout == "r1,1.0\nr2,4.0\n"


def test_two_files_ids_must_agree(tmp_path):
    (tmp_path / "p.csv").write_text("id,p\nr1,1\nr2,2\n")
    (tmp_path / "t.csv").write_text("id,y\nr1,0\nr3,0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "--id-col", "id")
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {tmp_path / 'p.csv'}: the ids differ from those in {tmp_path / 't.csv'}: row 1 "
        "has 'r2' here and 'r3' there; put both files in the same row order\n"
    )


# --------------------------------------------------------------------------- column errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--pred-col", "yhta", "--target-col", "y"],
            'no column "yhta"; columns: id, yhat, y (did you mean "yhat"?)',
        ),
        (
            ["--pred-col", "YHAT", "--target-col", "y"],
            'no column "YHAT"; columns: id, yhat, y (did you mean "yhat"?)',
        ),
        (
            ["--pred-col", "id", "--target-col", "y"],
            "column \"id\" is not numeric ('a' at line 2); numeric columns: yhat, y",
        ),
        (
            ["--target-col", "y"],
            "column \"id\" is not numeric ('a' at line 2); numeric columns: yhat, y; select the "
            "prediction columns with --pred-col",
        ),
        (
            ["--pred-col", "p_*", "--target-col", "y"],
            "no column matches 'p_*'; columns: id, yhat, y",
        ),
        (
            ["--pred-col", "7", "--target-col", "y"],
            "--pred-col 7: there is no column 7; the file has 3 columns, numbered from 1",
        ),
        (["--pred-col", "yhat,2", "--target-col", "y"], '--pred-col selects column "yhat" twice'),
        (
            ["--pred-col", "yhat", "--target-col", "yhat"],
            'column "yhat" is selected by both --pred-col and --target-col',
        ),
        (
            ["--pred-col", "yhat", "--target-col", "y", "--id-col", "y"],
            'column "y" is the --id-col; it cannot be in --target-col',
        ),
        (
            ["--pred-col", "yhat", "--target-col", "y", "--id-col", "nope"],
            'no column "nope"; columns: id, yhat, y',
        ),
    ],
)
def test_column_errors(scores, args, message):
    r = run("mse", scores, *args)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == f"Error: {scores}: {message}\n"


def test_column_usage_errors(scores):
    r = run("mse", scores, "--pred-col", "yhat", "--target-col", "y,")
    assert r.stderr == "Error: --target-col got an empty column name in 'y,'\n"
    r = run("mse", scores, "--pred-col", "yhat", "--target-col", "y", "--id-col", "i*")
    assert r.stderr == "Error: --id-col takes one column name or number, not a pattern: 'i*'\n"


def test_names_without_header(tmp_path):
    path = tmp_path / "nohead.csv"
    path.write_text("1,2\n3,4\n")
    r = run("mse", path, "--pred-col", "yhat", "--target-col", "2")
    assert r.stderr == (
        f'Error: {path}: no column "yhat": the file has no header row; select columns by '
        "number (1 to 2)\n"
    )


def test_control_characters_in_names_stay_on_one_line(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(b"a\x1eb,y\n1,2\n")
    r = run("mse", path, "--pred-col", "x", "--target-col", "y")
    assert r.exit_code == 2
    assert r.stderr == f'Error: {path}: no column "x"; columns: a\\x1eb, y\n'


def test_one_file_needs_a_column_option(scores):
    r = run("mse", scores)
    assert r.stderr == (
        "Error: give both PREDS and TARGETS, or neither to use the bundled sample data (or PREDS "
        "alone with --pred-col/--target-col)\n"
    )


# --------------------------------------------------------------------------- --top


def test_top_plain(scores):
    r = run("mse", scores, *MSE_ONE_FILE, "--id-col", "id", "--top", "2")
    assert r.stdout == (
        "1.75\n\nrow=1 id=b loss=4.0 prediction=2.0 target=0.0\n"
        "row=0 id=a loss=1.0 prediction=1.0 target=0.0\n"
    )


def test_top_csv_without_ids(scores):
    r = run("mse", scores, *MSE_ONE_FILE, "--top", "5", "-f", "csv")  # K > N: every row
    assert r.stdout == (
        "loss,reduction,value\nmse,mean,1.75\n\nrow,loss,prediction,target\n"
        "1,4.0,2.0,0.0\n0,1.0,1.0,0.0\n2,0.25,0.5,1.0\n"
    )


def test_top_json_classes(classes):
    r = run("ce", classes, *CE_ONE_FILE, "--top", "1", "-f", "json")
    assert json.loads(r.stdout)["top"] == [
        {"row": 1, "id": "y", "loss": 1000.0, "predicted": 0, "target": 1}
    ]


def test_top_matrix_names_the_worst_element(tmp_path):
    (tmp_path / "p.csv").write_text("1,5\n0,0\n")
    (tmp_path / "t.csv").write_text("0,0\n0,1\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "--top", "1", "-f", "csv")
    # row 0: (1 + 25)/2 = 13, worst element col 1 (5 vs 0)
    assert r.stdout.split("\n\n")[1] == "row,loss,col,prediction,target\n0,13.0,1,5.0,0.0\n"


def test_top_table(classes):
    r = run("ce", classes, *CE_ONE_FILE, "--top", "1", "-f", "table")
    assert "The row with the highest loss" in r.stdout
    assert "predicted" in r.stdout and "1000" in r.stdout


def test_top_ids_with_commas_are_quoted(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text('id,p,y\n"x, y",1,0\n')
    r = run(
        "mse",
        path,
        "--pred-col",
        "p",
        "--target-col",
        "y",
        "--id-col",
        "id",
        "--top",
        "1",
        "-r",
        "none",
        "-f",
        "csv",
    )
    assert (
        r.stdout == 'row,id,value\n0,"x, y",1.0\n\nrow,id,loss,prediction,target\n'
        '0,"x, y",1.0,1.0,0.0\n'
    )
    rows = list(csv.reader(io.StringIO(r.stdout.split("\n\n")[1])))
    assert rows[1][1] == "x, y"
    plain = run("mse", path, "--pred-col", "p", "--target-col", "y", "--id-col", "id", "--top", "1")
    assert plain.stdout.endswith("row=0 id='x, y' loss=1.0 prediction=1.0 target=0.0\n")


# --------------------------------------------------------------------------- --hist


def test_hist_plain_csv_json(scores):
    args = ("mse", scores, *MSE_ONE_FILE, "--hist", "--bins", "2")
    # losses 1, 4, 0.25: edges 0.25, 2.125, 4.0
    assert run(*args).stdout == ("1.75\n\nfrom=0.25 to=2.125 count=2\nfrom=2.125 to=4.0 count=1\n")
    assert run(*args, "-f", "csv").stdout.split("\n\n")[1] == (
        "bin,from,to,count\n0,0.25,2.125,2\n1,2.125,4.0,1\n"
    )
    assert json.loads(run(*args, "-f", "json").stdout)["hist"] == {
        "edges": [0.25, 2.125, 4.0],
        "counts": [2, 1],
        "nonfinite": 0,
    }


def test_bins_implies_hist_and_default_is_ten(scores):
    doc = json.loads(run("mse", scores, *MSE_ONE_FILE, "--bins", "3", "-f", "json").stdout)
    assert doc["hist"]["counts"] == [2, 0, 1]
    doc = json.loads(run("mse", scores, *MSE_ONE_FILE, "--hist", "-f", "json").stdout)
    assert len(doc["hist"]["counts"]) == 10 and sum(doc["hist"]["counts"]) == 3


def test_hist_table_draws_bars(scores):
    r = run("mse", scores, *MSE_ONE_FILE, "--hist", "--bins", "2", "-f", "table")
    assert "Histogram of the per-row losses" in r.stdout
    bars = [line for line in r.stdout.splitlines() if "█" in line]
    assert len(bars) == 2
    assert bars[0].count("█") == 40 and bars[1].count("█") == 20  # counts 2 and 1


def test_hist_all_equal_is_one_bin(tmp_path):
    (tmp_path / "p.csv").write_text("1\n1\n")
    (tmp_path / "t.csv").write_text("0\n0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "--hist")
    assert r.stdout == "1.0\n\nfrom=1.0 to=1.0 count=2\n"


def test_hist_counts_overflowed_rows_apart(tmp_path):
    (tmp_path / "p.csv").write_text("1e200\n1\n")
    (tmp_path / "t.csv").write_text("0\n0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "--hist", "-f", "json")
    assert json.loads(r.stdout)["hist"] == {"edges": [1.0, 1.0], "counts": [1], "nonfinite": 1}
    assert r.stderr.splitlines() == [
        "Warning: the loss overflowed float64 to inf: the inputs are too large in magnitude; "
        "rescale them",
        "Note: 1 rows with a NaN or infinite loss are not in the histogram",
    ]


# --------------------------------------------------------------------------- Parquet


@pytest.fixture
def parquet_scores(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "yhat": [1.0, 2.0], "y": [0, 0]}), path)
    return path


def test_parquet_one_file(parquet_scores):
    r = run("mse", parquet_scores, *MSE_ONE_FILE, "--id-col", "id", "-r", "none")
    assert (r.exit_code, r.stdout) == (0, "a,1.0\nb,4.0\n")


def test_parquet_two_files_all_numeric(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"p": [1.0, 3.0]}), tmp_path / "p.parquet")
    pq.write_table(pa.table({"y": [1, 1]}), tmp_path / "t.pq")
    r = run("mse", tmp_path / "p.parquet", tmp_path / "t.pq")
    assert r.stdout == "2.0\n"


def test_parquet_text_column_without_selection(parquet_scores):
    r = run("mse", parquet_scores, parquet_scores)
    assert r.stderr == (
        f'Error: {parquet_scores}: column "id" is not numeric (type string); numeric columns: '
        "yhat, y; pick the numeric columns with --pred-col/--target-col\n"
    )


def test_parquet_missing_values(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "gaps.parquet"
    pq.write_table(pa.table({"p": [1.0, None, None], "y": [0.0, 0.0, 0.0]}), path)
    r = run("mse", path, "--pred-col", "p", "--target-col", "y")
    assert r.stderr == (
        f'Error: {path}: column "p" has 2 missing values (first at row 1); remove or impute them\n'
    )


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "scores.parquet"
    path.write_bytes(b"PAR1 not read PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    for args in ([path, path], [path, "--pred-col", "p", "--target-col", "y"]):
        r = run("mse", *args)
        assert r.exit_code == 2
        assert r.stderr == (
            f"Error: {path}: reading Parquet needs pyarrow: pip install pyarrow (or, from a "
            "losscli checkout, pip install '.[parquet]')\n"
        )


def test_parquet_corrupt(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    r = run("mse", path, path)
    assert r.stderr == (
        f"Error: {path}: not a valid Parquet file (Parquet magic bytes not found in footer)\n"
    )


# --------------------------------------------------------------------------- -o/--output


def test_output_file_format_from_extension(scores, tmp_path):
    for name, expected in (
        ("o.json", '"value": 1.75'),
        ("o.csv", "loss,reduction,value\n"),
        ("o.txt", "1.75\n"),
    ):
        r = run("mse", scores, *MSE_ONE_FILE, "-o", tmp_path / name)
        assert (r.exit_code, r.stdout) == (0, "")
        assert (
            r.stderr == f"Wrote the {name.split('.')[1].replace('txt', 'plain')} output to "
            f"{tmp_path / name}\n"
        )
        assert expected in (tmp_path / name).read_text()


def test_output_explicit_format_wins(scores, tmp_path):
    run("mse", scores, *MSE_ONE_FILE, "-o", tmp_path / "o.json", "-f", "plain")
    assert (tmp_path / "o.json").read_text() == "1.75\n"


def test_output_table_to_a_file_has_no_colour(scores, tmp_path):
    run("mse", scores, *MSE_ONE_FILE, "-o", tmp_path / "o.txt", "-f", "table")
    text = (tmp_path / "o.txt").read_text()
    assert "Mean squared error" in text and "\x1b[" not in text


def test_output_never_over_an_input(scores, tmp_path):
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run("mse", scores, *MSE_ONE_FILE, "-o", scores)
    assert r.exit_code == 2
    assert (
        r.stderr == f"Error: refusing to overwrite input file {scores}; choose another "
        "--output path\n"
    )
    assert scores.read_text().startswith("id,yhat,y")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_output_and_grad_out_must_differ(scores, tmp_path):
    r = run(
        "mse", scores, *MSE_ONE_FILE, "-o", tmp_path / "g.csv", "--grad-out", tmp_path / "g.csv"
    )
    assert r.stderr == "Error: --output and --grad-out name the same file; choose two\n"
    assert not (tmp_path / "g.csv").exists()


def test_output_checked_before_anything_is_written(scores, tmp_path):
    r = run(
        "mse",
        scores,
        *MSE_ONE_FILE,
        "--grad-out",
        tmp_path / "g.npy",
        "-o",
        tmp_path / "missing" / "o.txt",
    )
    assert r.exit_code == 2
    assert (
        r.stderr == f"Error: {tmp_path / 'missing' / 'o.txt'}: directory "
        f"{tmp_path / 'missing'} does not exist; create it first\n"
    )
    assert not (tmp_path / "g.npy").exists()


def test_output_is_written_when_the_check_fails(tmp_path, wrong_mse_gradient):
    (tmp_path / "p.csv").write_text("0,3\n1,-2\n")
    (tmp_path / "t.csv").write_text("0,1\n1,0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "-c", "-o", tmp_path / "out.json")
    assert r.exit_code == 1
    assert json.loads((tmp_path / "out.json").read_text())["check"]["passed"] is False


def test_output_atomic_no_temporary_left(scores, tmp_path, monkeypatch):
    import losscli.io as lio

    (tmp_path / "o.txt").write_text("previous\n")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lio.os, "replace", broken_replace)
    r = run("mse", scores, *MSE_ONE_FILE, "-o", tmp_path / "o.txt")
    assert r.exit_code == 2
    assert r.stderr == f"Error: {tmp_path / 'o.txt'}: cannot write file (No space left on device)\n"
    assert (tmp_path / "o.txt").read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.txt", "scores.csv"]


# --------------------------------------------------------------------------- all formats


def _sample_args(name: str) -> list[str]:
    return ["--logits"] if name == "ce" else []


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_format_on_every_command(name, reduction, fmt):
    loss = REGISTRY[name]
    if loss.sample_data is None or reduction not in loss.reductions:
        pytest.skip(f"{name} has no sample data or no {reduction} reduction")
    r = run(
        name, *_sample_args(name), "-r", reduction, "-g", "-c", "--top", "3", "--hist", "-f", fmt
    )
    assert r.exit_code == 0, r.stderr
    assert r.stderr.startswith("Using the bundled sample data: ")
    out = r.stdout
    if fmt == "json":
        doc = json.loads(out)
        assert {"value", "grad", "check", "top", "hist"} <= set(doc)
        assert len(doc["top"]) == 3 and doc["check"]["passed"]
    elif fmt == "csv":
        sections = [list(csv.reader(io.StringIO(s))) for s in out.strip().split("\n\n")]
        assert [s[0][0] for s in sections] == [
            "row" if reduction == "none" else "loss",
            "row",
            "row",
            "row",
            "bin",
        ]
        assert all(len(set(map(len, s))) == 1 for s in sections)  # rectangular
    elif fmt == "plain":
        sections = out.strip().split("\n\n")
        assert len(sections) == 5
        for line in sections[0].splitlines() + sections[1].replace(",", "\n").splitlines():
            float(line)
        assert sections[2].startswith("PASS checked=")
        assert all(line.startswith("row=") for line in sections[3].splitlines())
        assert all(line.startswith("from=") for line in sections[4].splitlines())
    else:
        for text in ("PASS", "rows with the highest loss", "Histogram of the per-row losses"):
            assert text in out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_plain_scalar_and_output_file_on_every_command(name, fmt, tmp_path):
    if REGISTRY[name].sample_data is None:
        pytest.skip(f"{name} has no sample data")
    plain = run(name, *_sample_args(name), "-f", "plain").stdout
    assert float(plain) == float(plain.strip()) and plain.count("\n") == 1
    r = run(name, *_sample_args(name), "-f", fmt, "-o", tmp_path / "out")
    assert (r.exit_code, r.stdout) == (0, "")
    assert (tmp_path / "out").read_text() == run(name, *_sample_args(name), "-f", fmt).stdout


# --------------------------------------------------------------------------- unusual valid input


@pytest.mark.parametrize(
    ("content", "value"),
    [
        ("yhat,y\r\n2,0\r\n4,0\r\n", 10.0),  # Windows line endings
        ("\ufeffyhat,y\n2,0\n4,0\n", 10.0),  # byte-order mark
        ("yhat,y\n2,0\n4,0\n\n\n  \n", 10.0),  # trailing blank lines
        ('"yhat","y"\n"2","0"\n"4","0"\n', 10.0),  # quoted numbers
        ("yhat,y\n2e0,0E+0\n0.4e1,0\n", 10.0),  # scientific notation
        ("yhat , y\n 2 , 0\n\t4,0 \n", 10.0),  # whitespace around values
        ("yhat,y\n2,0\n4,0", 10.0),  # no trailing newline
        ("yhat,y\n3,1\n", 4.0),  # a single row
        ("yhat,y\n1e150,0\n-1e150,0\n", 1e300),  # very large, inf-free
        ("yhat,y\n1e-150,0\n-1e-150,0\n", 1e-300),  # very small
        ("yhat,y\n5e-324,0\n", 0.0),  # the smallest subnormal: its square underflows to 0
    ],
)
def test_unusual_valid_input_one_file(tmp_path, content, value):
    path = tmp_path / "s.csv"
    path.write_bytes(content.encode())
    r = run("mse", path, "--pred-col", "yhat", "--target-col", "y")
    assert (r.exit_code, r.stderr) == (0, "")
    assert float(r.stdout) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize(
    ("preds", "targets", "value"),
    [
        ("2\r\n4\r\n", "0\r\n0\r\n", 10.0),
        ("\ufeff2\n4\n", "\ufeff0\n0\n", 10.0),
        ("2\n4\n\n\n", "0\n0\n\n", 10.0),
        ('"2"\n"4"\n', '"0"\n"0"\n', 10.0),
        ("2e0\n4E0\n", "0e5\n0\n", 10.0),
        (" 2 \n\t4\t\n", "0 \n 0\n", 10.0),
        ("2\n4", "0\n0", 10.0),
        ("3", "1", 4.0),  # one row, one column, no newline
        ("1e-150\n", "0\n", 1e-300),
        ("1e100\n", "1e100\n", 0.0),
    ],
)
def test_unusual_valid_input_two_files(tmp_path, preds, targets, value):
    (tmp_path / "p.csv").write_bytes(preds.encode())
    (tmp_path / "t.csv").write_bytes(targets.encode())
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "-g", "-c")
    assert r.exit_code == 0, r.stderr
    assert float(r.stdout.split("\n\n")[0]) == pytest.approx(value, rel=1e-15)


def test_check_at_large_magnitudes_scales_its_step(tmp_path):
    """The step is eps·max(1, |x|): at |x| = 3.27e150 an absolute --eps 1e-06 was lost to
    rounding and failed the check (exit 1); the scaled step passes it. A step below the float64
    resolution (--eps 1e-17) is still lost, and a warning says so."""
    x = 2.0**500  # 3.27e150: exactly representable, and so is its square
    (tmp_path / "p.csv").write_text(f"{x!r}\n")
    (tmp_path / "t.csv").write_text("0\n")
    args = ["mse", tmp_path / "p.csv", tmp_path / "t.csv", "-c"]
    r = run(*args)
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout.startswith(f"{x * x!r}\n\nPASS checked=1 failed=0 ")
    r = run(*args, "--eps", "1e-17")
    assert r.exit_code == 1
    assert r.stderr == (
        "Warning: the finite-difference step (--eps 1e-17 × max(1, |x|)) is lost to rounding at "
        "1 of 1 elements (|x| up to 3.27e+150), so the numeric gradient there is unreliable; "
        "try --eps 1e-06\n"
    )


def test_single_column_file_with_ids_by_number(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("0.5\n")
    r = run("mse", path, "--pred-col", "1", "--target-col", "1")
    assert r.stderr == f"Error: {path}: column 1 is selected by both --pred-col and --target-col\n"


def test_overflow_is_reported_not_hidden(tmp_path):
    (tmp_path / "p.csv").write_text("1e200\n")
    (tmp_path / "t.csv").write_text("0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv")
    assert (r.exit_code, r.stdout) == (0, "inf\n")
    assert r.stderr == (
        "Warning: the loss overflowed float64 to inf: the inputs are too large in magnitude; "
        "rescale them\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--eps", "0"], "--eps must be a positive number, got 0.0"),
        (["--eps", "nan"], "--eps must be a positive number, got nan"),
        (["--rtol", "-1"], "--rtol must be a number ≥ 0, got -1.0"),
        (["--atol", "inf"], "--atol must be a number ≥ 0, got inf"),
    ],
)
def test_check_settings_are_validated(scores, args, message):
    r = run("mse", scores, *MSE_ONE_FILE, "--check", *args)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"Error: {message}\n")


def test_help_lists_the_pipeline_options():
    out = run("mse", "--help").stdout
    for flag in ("--pred-col", "--target-col", "--id-col", "--top", "--hist", "--bins", "--output"):
        assert flag in out


def test_top_rows_of_a_larger_file(tmp_path):
    path = tmp_path / "scores.csv"
    yhat, y = [i / 10 for i in range(10)], [(i % 3) / 10 for i in range(10)]
    rows = ["id,yhat,y"] + [f"r{i},{yhat[i]!r},{y[i]!r}" for i in range(10)]
    path.write_text("\n".join(rows) + "\n")
    r = run(
        "mse",
        path,
        "--pred-col",
        "yhat",
        "--target-col",
        "y",
        "--id-col",
        "id",
        "--top",
        "3",
        "-f",
        "csv",
    )
    top = list(csv.DictReader(io.StringIO(r.stdout.split("\n\n")[1])))
    losses = [(yhat[i] - y[i]) ** 2 for i in range(10)]
    order = sorted(range(10), key=lambda i: -losses[i])[:3]  # stable: ties keep row order
    assert [row["id"] for row in top] == [f"r{i}" for i in order]
    assert [float(row["loss"]) for row in top] == [losses[i] for i in order]


def test_check_of_a_row_loss_on_a_single_column(tmp_path):
    """Found by the fuzzer: kl with one-column files and --check raised IndexError (exit 3)."""
    (tmp_path / "x.csv").write_text("-1.0\n-2.0\n")
    (tmp_path / "q.csv").write_text("0.5\n0.5\n")
    r = run("kl", tmp_path / "x.csv", tmp_path / "q.csv", "--check")
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout.split("\n\n")[1].startswith("PASS checked=2 failed=0 ")


def test_one_file_compressed(scores, tmp_path):
    import gzip

    packed = tmp_path / "scores.csv.gz"
    packed.write_bytes(gzip.compress(scores.read_bytes()))
    r = run("mse", packed, *MSE_ONE_FILE, "--id-col", "id", "-r", "none")
    assert (r.exit_code, r.stdout) == (0, "a,1.0\nb,4.0\nc,0.25\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--top", "0"], "Invalid value for '--top': Input should be greater than or equal to 1"),
        (["--bins", "0"], "Invalid value for '--bins': Input should be greater than or equal to 1"),
        (
            ["--bins", "1001"],
            "Invalid value for '--bins': Input should be less than or equal to 1000",
        ),
    ],
)
def test_ranges_of_top_and_bins(scores, args, message):
    """Found by the fuzzer after the start-up work: the fast option conversion skipped the
    range check, so --top 0 reached the computation (exit 3)."""
    r = run("mse", scores, *MSE_ONE_FILE, *args)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"Error: {message}\n")


def test_damaged_parquet_exits_2_every_time(tmp_path):
    """Found by the fuzzer: a Parquet file whose column names are not UTF-8 (one damaged
    byte). Reading it raised UnicodeDecodeError (exit 3); and pyarrow's threaded reader could
    then abort the process at exit (134) — so run the real program several times."""
    import os
    import subprocess

    pytest.importorskip("pyarrow")
    damaged = Path(__file__).parent / "fixtures" / "damaged_names.parquet"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for _ in range(5):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "losscli",
                "mae",
                str(damaged),
                "--pred-col",
                "a",
                "--target-col",
                "b",
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        assert (r.returncode, r.stdout) == (2, "")
        assert r.stderr == (
            f"Error: {damaged}: not a valid Parquet file ('utf-8' codec can't decode byte 0x80 "
            "in position 0: invalid start byte)\n"
        )
