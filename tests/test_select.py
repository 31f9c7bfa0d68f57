"""Column selection and the column-wise reader (losscli.select, losscli.frame), as the Python
API sees them. The CLI's messages are pinned in test_pipelines.py."""

from __future__ import annotations

import io

import numpy as np
import pytest

import losscli
from losscli.errors import InputError, UsageError
from losscli.frame import read_frame
from losscli.layout import Head, decide
from losscli.select import read_inputs, resolve_columns


def frame_of(text: str):
    return read_frame("-", stdin=io.BytesIO(text.encode()))


@pytest.mark.parametrize(
    ("first", "second", "header"),
    [
        (["1", "2"], ["3", "4"], False),  # numbers only: data
        (["x", "y"], ["1", "2"], True),
        (["id", "yhat"], ["a", "0.5"], True),  # text over a number: a header
        (["a", "0.5"], ["b", "0.7"], False),  # same shape as the next row: data with text ids
        (["id", "name"], ["a", "b"], True),  # all text: names
        (["x", "y"], None, True),  # one row of text
        (["a", "1"], ["b", "c"], True),  # shapes differ
    ],
)
def test_frame_header_rule(first, second, header):
    text = "\n".join(",".join(row) for row in [first, second] if row) + "\n"
    assert decide([Head(text, "f.csv", "input", ".csv")])[0].header is header


def test_frame_keeps_text_and_converts_on_request():
    frame = frame_of('id,p,y\n"a, b",1.5,2\nc,3,4\n')
    assert frame.columns == ["id", "p", "y"]
    assert (frame.width, frame.n_rows) == (3, 2)
    assert frame.labels(0) == ["a, b", "c"]
    np.testing.assert_array_equal(frame.numeric([2, 1]), [[2, 1.5], [4, 3]])
    with pytest.raises(InputError) as excinfo:
        frame.numeric([0])
    assert excinfo.value.message == (
        "column \"id\" is not numeric ('a, b' at line 2); numeric columns: p, y"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p,y\n1,\n", 'column "y" has an empty value at line 2'),
        (
            "p,y\n1,nan\n2,nan\n",
            'column "y" contains 2 NaN values (first at line 2); remove or impute them',
        ),
        (
            "p,y\n1,2\n1e999,3\n",
            'column "p" contains 1 infinite value (first at line 3); remove or impute them',
        ),
    ],
)
def test_frame_column_problems(text, message):
    frame = frame_of(text)
    with pytest.raises(InputError) as excinfo:
        frame.numeric(list(range(frame.width)))
    assert excinfo.value.message == message


def test_frame_shape_errors_as_the_table_reader_words_them():
    for text, message in (
        ("", "file is empty"),
        ("x,y\n", "has a header row but no data rows"),
        (
            "1,2,x\n",
            "has a header row but no data rows"
            "; its one line '1,2,x' was read as column names because 'x' is not a number: "
            "if the line is data, correct that value",
        ),
        ("a,b\n1,2\n3\n", "line 3 has 1 field, expected 2 (as on line 1)"),
    ):
        with pytest.raises(InputError) as excinfo:
            frame_of(text)
        assert excinfo.value.message == message


def test_npy_frame_by_number(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[7.0, 1.0], [8.0, 2.0]]))
    frame = read_frame(tmp_path / "a.npy")
    assert frame.columns is None and frame.labels(0) == ["7", "8"]
    assert resolve_columns(frame, ["2"], option="--pred-col") == [1]


@pytest.mark.parametrize(
    ("specs", "indices"),
    [
        (["b"], [1]),
        (["c", "a"], [2, 0]),
        (["a,c"], [0, 2]),
        (["p_*"], [3, 4]),
        (["p_?", "b"], [3, 4, 1]),
        (["2", "1"], [1, 0]),
        (["x,y"], [5]),  # a header name with a comma is taken whole
    ],
)
def test_resolve_columns(specs, indices):
    frame = frame_of('a,b,c,p_0,p_1,"x,y"\n1,2,3,4,5,6\n')
    assert resolve_columns(frame, specs, option="--pred-col") == indices


def test_duplicate_header_names_need_numbers():
    frame = frame_of("a,a\n1,2\n")
    with pytest.raises(InputError) as excinfo:
        resolve_columns(frame, ["a"], option="--pred-col")
    assert excinfo.value.message == (
        'column name "a" appears 2 times in the header; select the column by number (1, 2)'
    )


def test_many_columns_are_listed_briefly():
    names = [f"c{i}" for i in range(30)]
    frame = frame_of(",".join(names) + "\n" + ",".join("1" * 30) + "\n")
    with pytest.raises(InputError) as excinfo:
        resolve_columns(frame, ["zz"], option="--pred-col")
    assert excinfo.value.message == (
        'no column "zz"; columns: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, … 18 more'
    )


def test_huge_numbers_are_names_not_positions():
    frame = frame_of("a\n1\n")
    with pytest.raises(InputError) as excinfo:
        resolve_columns(frame, ["9" * 5000], option="--pred-col")
    assert excinfo.value.message.startswith('no column "999')


def test_read_inputs_api_one_file(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,p_0,p_1,label\na,1,2,0\nb,3,1,1\n")
    inputs = losscli.read_inputs(path, target_cols=["label"], id_col="id")
    assert isinstance(inputs, losscli.Inputs)
    np.testing.assert_array_equal(inputs.predictions, [[1, 2], [3, 1]])
    np.testing.assert_array_equal(inputs.targets, [0, 1])  # one column: a vector
    assert inputs.ids == ["a", "b"]
    assert inputs.columns == {"predictions": ["p_0", "p_1"], "targets": ["label"], "id": "id"}
    value = losscli.cross_entropy(inputs.predictions, inputs.targets, logits=True)
    assert value == pytest.approx((np.log1p(np.e) + np.log1p(np.exp(2))) / 2, rel=1e-15)


def test_read_inputs_api_two_files_whole(tmp_path):
    (tmp_path / "p.csv").write_text("1\n2\n")
    (tmp_path / "t.csv").write_text("0\n0\n")
    inputs = read_inputs(tmp_path / "p.csv", tmp_path / "t.csv")
    assert inputs.ids is None and inputs.columns is None
    assert inputs.predictions.tolist() == [1.0, 2.0]


def test_read_inputs_one_file_needs_a_side(tmp_path):
    with pytest.raises(UsageError) as excinfo:
        read_inputs(tmp_path / "s.csv")
    assert str(excinfo.value) == (
        "with one file, say which columns are which: --pred-col and/or --target-col"
    )


def test_no_columns_left(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,y\na,1\n")
    with pytest.raises(InputError) as excinfo:
        read_inputs(path, target_cols=["y"], id_col="id")
    assert excinfo.value.message == (
        "no columns are left for the predictions; select them with --pred-col"
    )
    assert excinfo.value.role == "predictions"


def test_two_files_id_in_one_of_them(tmp_path):
    (tmp_path / "p.csv").write_text("1\n2\n")
    (tmp_path / "t.csv").write_text("key,y\nk1,0\nk2,0\n")
    inputs = read_inputs(tmp_path / "p.csv", tmp_path / "t.csv", id_col="key")
    assert inputs.ids == ["k1", "k2"]
    assert inputs.columns == {"predictions": ["1"], "targets": ["y"], "id": "key"}
    with pytest.raises(InputError) as excinfo:
        read_inputs(tmp_path / "p.csv", tmp_path / "t.csv", id_col="nope")
    assert excinfo.value.message == (
        f'no column "nope" here or in {tmp_path / "t.csv"} for --id-col; columns here: 1'
    )
