"""Files read as their writers meant (issue 9): delimiter, header, pandas index column and the
pairing of the two files' columns — decided once per input (losscli.layout), the same way
in memory, column by column and streamed.

The input files are written here the way users write them (pandas ``to_csv``, ``np.savetxt``)
from the bundled regression sample; expected losses come from torch
(tests/make_layout_fixtures.py → tests/fixtures/layout.json) or are hand-derived in comments.
Exact stderr is pinned.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import losscli.engine as engine
import losscli.sources as sources
from losscli.cli import app
from losscli.errors import InputError, LossCliNote, UsageError
from losscli.io import read_table
from losscli.layout import (
    HEAD_LINES,
    WHITESPACE,
    Head,
    Options,
    decide,
    parse_delimiter,
    read_head,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_data"
REF = {
    c["reading"]: c["value"]
    for c in json.loads((ROOT / "tests" / "fixtures" / "layout.json").read_text())["cases"]
}
runner = CliRunner()


def run(*args, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(params=["in memory", "streamed"])
def mode(request, monkeypatch):
    """Every two-file case both ways: in memory, and streamed in chunks of a few rows (the
    run is checked to have streamed, unless it stopped with an error first)."""
    if request.param == "streamed":
        monkeypatch.setattr(sources, "STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 6)  # chunks of 2 rows
        monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0)
        calls = []
        real = engine._Run.streamed
        monkeypatch.setattr(
            engine._Run, "streamed", lambda *a, **k: calls.append(1) or real(*a, **k)
        )
        yield request.param
        assert calls, "the run did not stream"
        return
    yield request.param


@pytest.fixture
def frames():
    return (
        pd.read_csv(SAMPLES / "regression_preds.csv"),
        pd.read_csv(SAMPLES / "regression_targets.csv"),
    )


def pair(tmp_path, frames, write, names=("p.csv", "t.csv")):
    """Write the sample predictions and targets with ``write(frame, path)``."""
    paths = [tmp_path / n for n in names]
    for frame, path in zip(frames, paths, strict=True):
        write(frame, path)
    return paths


def loss(r, mode: str, expected: float = REF["mse"]) -> float:
    """The loss printed: exactly ``expected`` in memory; streamed, chunk sums add in another
    order (a few ulp)."""
    assert r.exit_code == 0, r.stderr
    if mode == "in memory":
        assert r.stdout == f"{expected!r}\n"
    return pytest.approx(float(r.stdout), rel=1e-14) == expected


def note_index(path, name="no name", counting="0, 1, 2, …") -> str:
    return (
        f"Note: {path}: column 1 ({name}, counting {counting}) is a row index, as pandas "
        "writes one; it is left out (pass --keep-index to keep it)\n"
    )


def note_numeric_header(path, why: str) -> str:
    return (
        f'Note: {path}: first row "0,1,2" read as column names, as pandas writes them for an '
        f"unnamed frame ({why}); pass --no-header if it is data\n"
    )


# --------------------------------------------------------------------------- pandas index


def test_to_csv_with_its_index_gives_the_loss_of_the_data(tmp_path, frames, mode):
    # issue 9: this printed 0.076165625 (the index read as a column of each file)
    p, t = pair(tmp_path, frames, lambda f, path: f.to_csv(path))
    assert p.read_text().startswith(",y0,y1,y2\n0,0.26,")
    r = run("mse", p, t)
    assert loss(r, mode)
    assert REF["mse"] == 0.10155416666666667  # torch, and the value issue 9 names
    assert r.stderr == note_index(p) + note_index(t)


def test_keep_index_reads_it_as_data(tmp_path, frames, mode):
    p, t = pair(tmp_path, frames, lambda f, path: f.to_csv(path))
    r = run("mse", p, t, "--keep-index")
    assert (r.exit_code, r.stderr) == (0, "")
    assert float(r.stdout) == pytest.approx(REF["mse_with_index"], rel=1e-12)


def test_unnamed_0_index_of_a_file_read_and_saved_again(tmp_path, frames):
    p, t = pair(tmp_path, frames, lambda f, path: f.to_csv(path))
    again = tmp_path / "again.csv"
    pd.read_csv(p).to_csv(again, index=False)
    assert again.read_text().startswith("Unnamed: 0,y0,")
    r = run("mse", again, t)
    assert (r.exit_code, r.stdout) == (0, "0.10155416666666667\n")
    assert r.stderr == note_index(again, 'the name "Unnamed: 0"') + note_index(t)


def test_unnamed_frame_to_csv_index_and_numeric_names(tmp_path, frames, mode):
    # pd.DataFrame(array).to_csv(): header ",0,1,2", an index column
    p, t = pair(tmp_path, frames, lambda f, path: pd.DataFrame(f.to_numpy()).to_csv(path))
    r = run("mse", p, t)
    assert loss(r, mode)
    assert r.stderr == note_index(p) + note_index(t)


def test_r_write_csv_row_names_count_from_1(tmp_path):
    (tmp_path / "p.csv").write_text('"","a","b"\n"1",1,2\n"2",3,4\n')
    (tmp_path / "t.csv").write_text("a,b\n0,0\n0,0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv")
    assert (r.exit_code, r.stdout) == (0, "7.5\n")  # (1 + 4 + 9 + 16) / 4
    assert r.stderr == note_index(tmp_path / "p.csv", counting="1, 2, 3, …")


def test_an_unnamed_first_column_that_does_not_count_is_refused(tmp_path):
    (tmp_path / "p.csv").write_text(",a,b\n3,1,2\n7,3,4\n")
    (tmp_path / "t.csv").write_text("a,b\n0,0\n0,0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {tmp_path / 'p.csv'}: column 1 has no name, as a pandas index does, but does "
        "not count 0, 1, 2, …: if it is an index, remove it (to_csv(index=False) writes none); "
        "to read it as data, pass --keep-index\n"
    )
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "--keep-index")
    assert r.exit_code == 2
    assert "differ in shape: (2, 3) vs (2, 2)" in r.stderr


def test_an_index_that_stops_counting_past_the_first_lines(tmp_path, mode):
    rows = "".join(f"{i},1.0,2.0\n" for i in range(60)) + "99,1.0,2.0\n"
    (tmp_path / "p.csv").write_text(",a,b\n" + rows)
    (tmp_path / "t.csv").write_text("a,b\n" + "0,0\n" * 61)
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.endswith(
        f"Error: {tmp_path / 'p.csv'}: column 1 looked like a row index (it counts 0, 1, … on "
        "the first lines) but data row 61 holds 99, not 60; pass --keep-index to read it as "
        "data\n"
    )


def test_one_file_index_is_not_taken_as_a_column(tmp_path, frames, mode):
    p, t = frames
    both = pd.DataFrame({"p0": p.y0, "p1": p.y1, "y0": t.y0, "y1": t.y1})
    both.to_csv(tmp_path / "both.csv")
    r = run("mse", tmp_path / "both.csv", "--pred-col", "p0,p1")
    expected = np.mean((p[["y0", "y1"]].to_numpy() - t[["y0", "y1"]].to_numpy()) ** 2)
    assert r.exit_code == 0
    assert float(r.stdout) == pytest.approx(expected, rel=1e-12)
    assert r.stderr == note_index(tmp_path / "both.csv")


def test_one_file_index_that_stops_counting(tmp_path, mode):
    rows = "".join(f"{i},1.0,2.0\n" for i in range(60)) + "99,1.0,2.0\n"
    (tmp_path / "both.csv").write_text(",p,y\n" + rows)
    r = run("mse", tmp_path / "both.csv", "--pred-col", "p")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.endswith(
        f"Error: {tmp_path / 'both.csv'}: column 1 looked like a row index (it counts 0, 1, … "
        "on the first lines) but data row 61 holds 99, not 60; pass --keep-index to read it "
        "as data\n"
    )


def test_one_file_whitespace_table(tmp_path):
    (tmp_path / "both.txt").write_text("p y\n1 0\n3 0\n")
    r = run("mse", tmp_path / "both.txt", "--pred-col", "p")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "5.0\n", "")  # (1 + 9) / 2


# --------------------------------------------------------------------------- numeric header


def test_numeric_header_over_real_numbers(tmp_path, frames, mode):
    # pd.DataFrame(array).to_csv(index=False): header "0,1,2"
    p, t = pair(
        tmp_path, frames, lambda f, path: pd.DataFrame(f.to_numpy()).to_csv(path, index=False)
    )
    assert p.read_text().startswith("0,1,2\n0.26,")
    r = run("mse", p, t)
    assert loss(r, mode)
    why = "the rows below are not whole numbers"
    assert r.stderr == note_numeric_header(p, why) + note_numeric_header(t, why)


def test_no_header_reads_the_numeric_header_as_data(tmp_path, frames):
    p, t = pair(
        tmp_path, frames, lambda f, path: pd.DataFrame(f.to_numpy()).to_csv(path, index=False)
    )
    r = run("mse", p, t, "--no-header")
    assert (r.exit_code, r.stderr) == (0, "")
    assert float(r.stdout) == pytest.approx(REF["mse_header_as_data"], rel=1e-12)


def test_numeric_header_over_whole_numbers_settled_by_the_other_header(tmp_path):
    (tmp_path / "p.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "t.csv").write_text("0,1\n0,0\n0,0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv")
    assert (r.exit_code, r.stdout) == (0, "7.5\n")  # (1 + 4 + 9 + 16) / 4
    assert r.stderr == (
        f'Note: {tmp_path / "t.csv"}: first row "0,1" read as column names, as pandas writes '
        f"them for an unnamed frame ({tmp_path / 'p.csv'} has a header of the same width); "
        "pass --no-header if it is data\n"
    )


def test_first_row_0_1_over_whole_numbers_is_data_when_the_other_file_has_no_header(tmp_path):
    (tmp_path / "p.csv").write_text("1,2\n3,4\n5,6\n")
    (tmp_path / "t.csv").write_text("0,1\n0,0\n0,0\n")  # binary labels: 0,1 is a row
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv")
    # (1 + 1 + 9 + 16 + 25 + 36) / 6
    assert (r.exit_code, r.stdout, r.stderr) == (0, "14.666666666666666\n", "")


def test_numeric_header_over_zeros_and_ones_wider_than_two(tmp_path):
    (tmp_path / "p.csv").write_text("0.5,0.5,0.5\n0.5,0.5,0.5\n")
    (tmp_path / "t.csv").write_text("0,1,2\n1,0,0\n0,1,1\n")  # a 2 in the first row only
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv")
    assert (r.exit_code, r.stdout) == (0, "0.25\n")  # every error is ±0.5
    why = "no row below holds a value as large as 2"
    assert r.stderr == note_numeric_header(tmp_path / "t.csv", why)


def test_header_forced(tmp_path, mode):
    (tmp_path / "p.csv").write_text("1,2\n3,4\n5,6\n")
    (tmp_path / "t.csv").write_text("0,0\n0,0\n0,0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "--header")
    # rows [3, 4] and [5, 6] against zeros: (9 + 16 + 25 + 36) / 4
    assert (r.exit_code, r.stdout, r.stderr) == (0, "21.5\n", "")


def test_no_header_on_a_row_of_names_is_an_error(tmp_path):
    (tmp_path / "p.csv").write_text("y0,y1\n1,2\n")
    (tmp_path / "t.csv").write_text("0,0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "--no-header")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {tmp_path / 'p.csv'}: --no-header was given, but the first row ('y0,y1') "
        "holds no numbers: it looks like column names; drop --no-header\n"
    )


def test_a_header_name_that_is_also_a_number_is_said(tmp_path):
    (tmp_path / "s.csv").write_text("2,1\n0.5,1.0\n")  # not 0,1: read as data …
    r = run("mse", tmp_path / "s.csv", "--pred-col", "1", "--target-col", "2", "--header")
    assert (r.exit_code, r.stdout) == (0, "0.25\n")  # … unless --header: "1" is column 2
    assert r.stderr == (
        'Note: --pred-col 1 is taken as the column named "1" (column 2), not column number 1\n'
        'Note: --target-col 2 is taken as the column named "2" (column 1), not column number 2\n'
    )


# --------------------------------------------------------------------------- column names


def test_permuted_target_columns_are_put_in_order(tmp_path, frames, mode):
    p, t = tmp_path / "p.csv", tmp_path / "t.csv"
    frames[0].to_csv(p, index=False)
    frames[1][["y2", "y1", "y0"]].to_csv(t, index=False)
    r = run("mse", p, t)
    assert loss(r, mode)
    assert r.stderr == (
        f"Note: {t}: columns y2, y1, y0 put in the order of {p} (y0, y1, y2) by name; pass "
        "--strict-columns to make this an error\n"
    )
    # and the gradient is the predictions' (in their order), not the targets'
    r = run("mse", p, t, "--grad", "-f", "json")
    expected = 2 * (frames[0].to_numpy() - frames[1].to_numpy()) / 24
    np.testing.assert_allclose(json.loads(r.stdout)["grad"], expected, rtol=1e-12)


def test_permuted_columns_with_strict_columns_is_an_error(tmp_path, frames):
    p, t = tmp_path / "p.csv", tmp_path / "t.csv"
    frames[0].to_csv(p, index=False)
    frames[1][["y2", "y1", "y0"]].to_csv(t, index=False)
    r = run("mse", p, t, "--strict-columns")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {t}: columns y2, y1, y0 are those of {p} (y0, y1, y2) in another order; put "
        "them in the same order, or drop --strict-columns to have them matched by name\n"
    )


def test_different_names_are_a_warning_naming_both(tmp_path, frames, mode):
    p, t = tmp_path / "p.csv", tmp_path / "t.csv"
    frames[0].to_csv(p, index=False)
    frames[1].rename(columns={"y2": "z2"}).to_csv(t, index=False)
    r = run("mse", p, t)
    assert loss(r, mode)  # paired by position
    assert r.stderr == (
        f"Warning: {p} and {t} name their columns differently: y0, y1, y2 vs y0, y1, z2; "
        "they are paired by position\n"
    )
    r = run("mse", p, t, "--strict-columns")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {t}: columns y0, y1, z2 are not those of {p} (y0, y1, y2); rename them, or "
        "drop --strict-columns to pair them by position\n"
    )


def test_one_named_column_each_is_not_compared(tmp_path):
    (tmp_path / "p.csv").write_text("yhat\n1\n2\n")
    (tmp_path / "t.csv").write_text("y\n0\n0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "2.5\n", "")


# --------------------------------------------------------------------------- delimiters


def test_np_savetxt_whitespace_files(tmp_path, frames, mode):
    p, t = tmp_path / "p.txt", tmp_path / "t.txt"
    np.savetxt(p, frames[0].to_numpy())
    np.savetxt(t, frames[1].to_numpy())
    assert " " in p.read_text().splitlines()[0]
    r = run("mse", p, t)
    assert loss(r, mode) and r.stderr == ""
    r = run("mse", p, t, "--delimiter", "whitespace")
    assert loss(r, mode) and r.stderr == ""


def test_repeated_and_leading_spaces(tmp_path):
    (tmp_path / "p.dat").write_text("   1.0    2.0\n  3.0  4.0  \n")
    (tmp_path / "t.dat").write_text("0 0\n0 0\n")
    r = run("mse", tmp_path / "p.dat", tmp_path / "t.dat")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "7.5\n", "")


def test_tsv_on_stdin_is_detected(tmp_path, frames):
    t = tmp_path / "t.tsv"
    frames[1].to_csv(t, sep="\t", index=False)
    text = frames[0].to_csv(sep="\t", index=False)
    r = run("mse", "-", t, input=text)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "0.10155416666666667\n", "")
    r = run("mse", "--tsv", "-", t, input=text)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "0.10155416666666667\n", "")


def test_semicolons_detected_with_a_note_or_chosen_with_d(tmp_path, frames, mode):
    p, t = pair(tmp_path, frames, lambda f, path: f.to_csv(path, sep=";", index=False))
    r = run("mse", p, t, "-d", ";")
    assert loss(r, mode) and r.stderr == ""
    r = run("mse", p, t)
    assert loss(r, mode)
    assert r.stderr == "".join(
        f"Note: {f}: read as semicolon-separated, although its extension says comma; pass "
        "--delimiter to choose\n"
        for f in (p, t)
    )


def test_a_delimiter_that_does_not_fit_one_file(tmp_path):
    (tmp_path / "p.csv").write_text("1;2\n3;4\n")
    (tmp_path / "t.csv").write_text("0,0\n0,0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "-d", ";")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {tmp_path / 't.csv'}: non-numeric value '0,0' at line 2, column 1 (\"0,0\"); "
        "this file looks comma-separated, and --delimiter applies to every input (without it each "
        "one's delimiter is detected)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("-d", "ab"),
            "--delimiter takes one character (not a quote or part of a number), tab or "
            "whitespace; got 'ab'",
        ),
        (
            ("-d", "."),
            "--delimiter takes one character (not a quote or part of a number), tab or "
            "whitespace; got '.'",
        ),
        (("--tsv", "-d", ","), "--tsv and --delimiter disagree; give one of them"),
    ],
)
def test_bad_delimiter_options(tmp_path, args, message):
    (tmp_path / "p.csv").write_text("1\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "p.csv", *args)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"Error: {message}\n")


@pytest.mark.parametrize(
    ("value", "sep"),
    [("tab", "\t"), ("\\t", "\t"), ("whitespace", WHITESPACE), (" ", WHITESPACE), (";", ";")],
)
def test_parse_delimiter(value, sep):
    assert parse_delimiter(value) == sep


def test_parse_delimiter_refuses_a_quote():
    with pytest.raises(UsageError):
        parse_delimiter('"')


# --------------------------------------------------------------------------- the library


def test_decide_reports_what_it_decided():
    heads = [
        Head(",a,b\n0,1,2\n1,3,4\n", "p.csv", "predictions", ".csv"),
        Head("b a\n1 2\n3 4\n", "t.txt", "targets", ".txt"),
    ]
    with pytest.warns(LossCliNote) as caught:
        p, t = decide(heads)
    assert [str(w.message) for w in caught] == [
        "p.csv: column 1 (no name, counting 0, 1, 2, …) is a row index, as pandas writes one; "
        "it is left out (pass --keep-index to keep it)",
        "t.txt: columns b, a put in the order of p.csv (a, b) by name; pass --strict-columns "
        "to make this an error",
    ]
    assert (p.sep, p.header, p.index, p.columns) == (",", True, True, ["a", "b"])
    assert (t.sep, t.header, t.order, t.columns) == (WHITESPACE, True, (1, 0), ["a", "b"])
    assert t.describe() == {
        "delimiter": "whitespace",
        "header": True,
        "index_dropped": False,
        "reordered": True,
        "delimiter_from": "detected",
        "header_from": "detected",
        "order_from": "names",
    }


def test_read_table_options(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("1|2\n3|4\n")
    table = read_table(path, options=Options(delimiter="|", header=True))
    assert table.columns == ["1", "2"]
    np.testing.assert_array_equal(table.data, [[3.0, 4.0]])
    with pytest.raises(InputError, match=re.escape("non-numeric value '3|4' at line 2")):
        read_table(path, options=Options(delimiter=","))


def test_columns_of_a_tsv_on_stdin():
    r = run("mse", "-", "--pred-col", "yhat", "--target-col", "y", input="y\tyhat\n0\t1\n0\t3\n")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "5.0\n", "")  # (1 + 9) / 2


def test_read_head_stops_after_its_lines():
    class Counting(io.BytesIO):
        reads = 0

        def read(self, n=-1):
            self.reads += 1
            return super().read(n)

    text = "".join(f"{i},{i}\n" for i in range(100_000)).encode()
    f = Counting(text)
    head = read_head(f, "x.csv", "predictions", ".csv")
    assert head.text.count("\n") == HEAD_LINES + 2 and not head.complete
    assert f.reads == 1  # one 64 KiB read holds the lines
    head = read_head(io.BytesIO(b"1,2\n3,4"), "x.csv", "predictions", ".csv")
    assert (head.text, head.complete) == ("1,2\n3,4", True)


def test_id_column_mode_matches_the_other_columns_by_name(tmp_path):
    (tmp_path / "p.csv").write_text("id,y0,y1\na,0.5,1.0\nb,2.0,0.0\n")
    (tmp_path / "t.csv").write_text("id,y1,y0\na,1.0,0.0\nb,1.0,1.0\n")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "--id-col", "id", "-f", "json")
    # errors 0.5, 0, 1, -1 (targets y0 = 0, 1; y1 = 1, 1): (0.25 + 0 + 1 + 1) / 4
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["value"] == 0.5625
    assert out["columns"] == {"predictions": ["y0", "y1"], "targets": ["y0", "y1"], "id": "id"}
    assert r.stderr == (
        f"Note: {tmp_path / 't.csv'}: columns y1, y0 put in the order of {tmp_path / 'p.csv'} "
        "(y0, y1) by name; pass --strict-columns to make this an error\n"
    )
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv", "--id-col", "id", "--strict-columns")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(f"Error: {tmp_path / 't.csv'}: columns y1, y0 are those of ")
