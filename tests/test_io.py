"""Tests for losscli.io: readers, error messages, atomic writer."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import losscli.io as lio
from losscli.errors import InputError, UsageError
from losscli.io import Table, format_float, read_array, read_table, write_array

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["scan", "pandas"])
def engine(request, monkeypatch):
    """Run a test through both CSV parsers; record when the pandas path fell back to the scan."""
    scans = []
    if request.param == "pandas":
        monkeypatch.setattr(lio, "_PANDAS_MIN_BYTES", 0)
        real_scan = lio._scan

        def spy(*args):
            scans.append(args)
            return real_scan(*args)

        monkeypatch.setattr(lio, "_scan", spy)
    return type("Engine", (), {"name": request.param, "fallbacks": scans})


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def message(excinfo) -> str:
    return excinfo.value.message


# --- import cost ---------------------------------------------------------------------------------


def test_import_and_small_read_do_not_import_pandas(tmp_path):
    csv_path = write(tmp_path, "p.csv", "x\n" + "\n".join(str(i) for i in range(10)) + "\n")
    code = (
        "import sys, losscli.io as m\n"
        "assert 'pandas' not in sys.modules, 'import'\n"
        f"assert m.read_array({csv_path!r}).tolist() == [float(i) for i in range(10)]\n"
        "assert 'pandas' not in sys.modules, 'small read'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# --- valid CSV -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected", "columns"),
    [
        ("crlf.csv", "x,y\r\n1,2\r\n3,4\r\n", [[1, 2], [3, 4]], ["x", "y"]),
        ("bom.csv", "\ufeffx,y\n1,2\n", [[1, 2]], ["x", "y"]),
        ("bom_noheader.csv", "\ufeff1,2\n3,4\n", [[1, 2], [3, 4]], None),
        ("trailing_blank.csv", "1,2\n3,4\n\n\n  \n", [[1, 2], [3, 4]], None),
        ("quoted.csv", '"a","b"\n"1.5","-2"\n', [[1.5, -2]], ["a", "b"]),
        ("sci.csv", "1e-3,2.5E+4\n-1.5e2,+.5\n", [[1e-3, 2.5e4], [-150, 0.5]], None),
        ("spaces.csv", " x , y \n 1 , 2 \n\t3,4\t\n", [[1, 2], [3, 4]], ["x", "y"]),
        ("no_newline.csv", "1,2\n3,4", [[1, 2], [3, 4]], None),
        ("single_row.csv", "1,2,3", [[1, 2, 3]], None),
        ("single_col.csv", "v\n1\n2\n3\n", [[1], [2], [3]], ["v"]),
        ("leading_blank.csv", "\n\nx\n5\n", [[5]], ["x"]),
        ("blank_middle.csv", "1\n\n2\n", [[1], [2]], None),
        ("tabs.tsv", "a\tb\n1\t2\n", [[1, 2]], ["a", "b"]),
        ("tabs.TAB", "1\t2\n", [[1, 2]], None),
        ("upper.CSV", "1,2\n", [[1, 2]], None),
        ("other.txt", "1,2\n", [[1, 2]], None),
        ("ints.csv", "1,2\n3,4\n", [[1, 2], [3, 4]], None),
        ("dot.csv", "1.,.5\n", [[1.0, 0.5]], None),
    ],
)
def test_valid_csv(tmp_path, engine, name, content, expected, columns):
    table = read_table(write(tmp_path, name, content))
    assert table.data.dtype == np.float64
    assert table.data.ndim == 2
    assert table.data.tolist() == expected
    assert table.columns == columns
    assert table.source == str(tmp_path / name)
    assert table.data.flags.c_contiguous and table.data.flags.writeable
    assert engine.fallbacks == []  # the pandas path took every valid file itself


@pytest.mark.parametrize(
    ("first_row", "is_header"),
    [
        ("x,y", True),
        ("1,2", False),
        ("1,b", True),  # any non-number makes it a header
        ('"1","2"', False),  # quoted numbers are numbers
        (" 1 , 2 ", False),
        ("1e5,-2.5E-3", False),
        ('"a",2', True),
    ],
)
def test_header_detection(tmp_path, engine, first_row, is_header):
    table = read_table(write(tmp_path, "h.csv", f"{first_row}\n7,8\n"))
    assert (table.columns is not None) == is_header
    assert table.data.tolist()[-1] == [7, 8]
    assert len(table.data) == (1 if is_header else 2)


def test_nan_first_row_is_data_not_header(tmp_path, engine):
    with pytest.raises(InputError) as excinfo:
        read_table(write(tmp_path, "h.csv", "nan,1\n7,8\n"))
    assert message(excinfo) == (
        "contains 1 NaN value (first at line 1, column 1); remove or impute them"
    )


def test_header_names_are_cleaned(tmp_path, engine):
    table = read_table(write(tmp_path, "h.csv", ' "pred" , y,\tz\n1,2,3\n'))
    assert table.columns == ["pred", "y", "z"]


def test_read_array_shapes(tmp_path, engine):
    one = write(tmp_path, "one.csv", "y\n1\n2\n")
    two = write(tmp_path, "two.csv", "1,2\n3,4\n")
    assert read_array(one).shape == (2,)
    assert read_array(one).tolist() == [1.0, 2.0]
    assert read_array(two).shape == (2, 2)


def test_csv_parses_to_exact_float64(tmp_path, engine):
    values = np.array([0.1, 1 / 3, 2.2250738585072014e-308, 5e-324, 1.7976931348623157e308, -0.0])
    path = write(tmp_path, "v.csv", "\n".join(repr(float(v)) for v in values) + "\n")
    got = read_array(path)
    assert got.tobytes() == values.tobytes()


# --- CSV errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "file is empty"),
        ("  \n\n\t\n", "file is empty"),
        ("\ufeff\n", "file is empty"),
        ("x,y\n", "has a header row but no data rows"),
        ("x,y\n\n  \n", "has a header row but no data rows"),
        # a lone line with numbers in it: maybe data with a typo, so the message says which cell
        (
            "1,2,x\n",
            "has a header row but no data rows"
            "; its one line '1,2,x' was read as column names because 'x' is not a number: "
            "if the line is data, correct that value",
        ),
        ("x,y\n1,2\n3,4\n5,abc\n", "non-numeric value 'abc' at line 4, column 2 (\"y\")"),
        ("1,2\n3,4\nabc,5\n", "non-numeric value 'abc' at line 3, column 1"),
        ("1\n2\nNA\n", "non-numeric value 'NA' at line 3, column 1"),
        ("1\n2\n1_000\n", "non-numeric value '1_000' at line 3, column 1"),
        ("1\n" + "x" * 50 + "\n", "non-numeric value '" + "x" * 37 + "...' at line 2, column 1"),
        ("1,2\n3,4\n\n5,6\n7,8,9\n", "line 5 has 3 fields, expected 2 (as on line 1)"),
        ("1,2\n3\n", "line 2 has 1 field, expected 2 (as on line 1)"),
        ("a,b,c\n1,2,3\n4,5\n", "line 3 has 2 fields, expected 3 (as on line 1)"),
        ("a,b\n1,2,3\n", "line 2 has 3 fields, expected 2 (as on line 1)"),
        ("\n1,2\n3\n", "line 3 has 1 field, expected 2 (as on line 2)"),
        ("1,2,3\n4,5,6\n1,,3\n", "empty value at line 3, column 2"),
        ("a,b\n1, \n", 'empty value at line 2, column 2 ("b")'),
        ('1,""\n', "empty value at line 1, column 2"),
        (
            "1,2\nnan,3\n4,NaN\n-nan,5\n",
            "contains 3 NaN values (first at line 2, column 1); remove or impute them",
        ),
        (
            "x\n1\ninf\n",
            "contains 1 infinite value (first at line 3, column 1); remove or impute them",
        ),
        (
            "1,-inf\nInfinity,1e400\n",
            "contains 3 infinite values (first at line 1, column 2); remove or impute them",
        ),
        (  # NaN is reported before infinity
            "inf\nnan\n",
            "contains 1 NaN value (first at line 2, column 1); remove or impute them",
        ),
    ],
)
def test_csv_errors(tmp_path, engine, content, expected):
    path = write(tmp_path, "bad.csv", content)
    with pytest.raises(InputError) as excinfo:
        read_table(path, role="targets")
    assert message(excinfo) == expected
    assert excinfo.value.role == "targets"
    assert excinfo.value.source == path
    assert str(excinfo.value) == f"{path}: {expected}"
    assert "\n" not in str(excinfo.value)


def test_line_numbers_count_crlf_and_quoted_newlines(tmp_path, engine):
    path = write(tmp_path, "q.csv", 'name,v\r\n"a\r\nb",1\r\n2,x\r\n')
    with pytest.raises(InputError) as excinfo:
        read_table(path)
    assert message(excinfo) == "non-numeric value 'a\\r\\nb' at line 2, column 1 (\"name\")"


def test_not_utf8(tmp_path, engine):
    path = write(tmp_path, "latin.csv", b"x\n1\n" + b"\xe9\n")
    with pytest.raises(InputError) as excinfo:
        read_table(path)
    assert message(excinfo) == "file is not UTF-8 text; save it as UTF-8"


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.csv")
    with pytest.raises(InputError) as excinfo:
        read_table(path, role="predictions")
    assert message(excinfo) == "file not found"
    assert str(excinfo.value) == f"{path}: file not found"
    assert excinfo.value.role == "predictions"


@pytest.mark.parametrize("name", ["dir.csv", "dir.npy"])
def test_directory(tmp_path, name):
    (tmp_path / name).mkdir()
    with pytest.raises(InputError) as excinfo:
        read_table(tmp_path / name)
    assert message(excinfo) == "is a directory, expected a file"
    assert excinfo.value.source == str(tmp_path / name)  # PathLike shown as its path


def test_permission_denied_mocked(tmp_path, monkeypatch):
    path = write(tmp_path, "p.csv", "1\n")

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(lio, "open", deny, raising=False)  # shadows the builtin in losscli.io
    with pytest.raises(InputError) as excinfo:
        read_table(path)
    assert message(excinfo) == "permission denied"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied_real(tmp_path):
    path = write(tmp_path, "p.csv", "1\n")
    os.chmod(path, 0)
    with pytest.raises(InputError) as excinfo:
        read_table(path)
    assert message(excinfo) == "permission denied"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_reads_from_named_pipe(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    import threading

    def feed():
        with open(fifo, "w") as f:
            f.write("x\n1\n2\n")

    feeder = threading.Thread(target=feed)
    feeder.start()
    assert read_array(fifo).tolist() == [1.0, 2.0]
    feeder.join()


# --- stdin ---------------------------------------------------------------------------------------


def test_stdin(engine):
    table = read_table("-", stdin=io.BytesIO(b"a,b\r\n1,2\r\n"))
    assert table.data.tolist() == [[1.0, 2.0]]
    assert table.columns == ["a", "b"]
    assert table.source == "<stdin>"
    assert read_array("-", stdin=io.BytesIO(b"1\n2\n")).tolist() == [1.0, 2.0]


def test_stdin_error_names_stdin(engine):
    with pytest.raises(InputError) as excinfo:
        read_table("-", role="targets", stdin=io.BytesIO(b"1\nx\n"))
    assert str(excinfo.value) == "<stdin>: non-numeric value 'x' at line 2, column 1"


def test_stdin_text_stream():
    assert read_array("-", stdin=io.StringIO("1\n2\n")).tolist() == [1.0, 2.0]


def test_stdin_tty():
    class Tty(io.BytesIO):
        def isatty(self):
            return True

    with pytest.raises(InputError) as excinfo:
        read_table("-", stdin=Tty(b"1\n"))
    assert message(excinfo) == (
        "reading from stdin but it is a terminal: pipe data in, "
        "e.g. `cat preds.csv | losscli mse - targets.csv`"
    )


def test_stdin_npy():
    buf = io.BytesIO()
    np.save(buf, np.array([1.5, 2.5], dtype=np.float32))
    got = read_array("-", stdin=io.BytesIO(buf.getvalue()))
    assert got.dtype == np.float64
    assert got.tolist() == [1.5, 2.5]


def test_path_named_dash_via_pathlike_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("-").write_text("3\n")
    assert read_array(Path("-")).tolist() == [3.0]


# --- NPY -----------------------------------------------------------------------------------------


def save(tmp_path: Path, name: str, array) -> str:
    path = tmp_path / name
    if array.dtype.hasobject:
        # An NPY of Python objects is its header followed by a pickle of the array: written by
        # hand, so the test suite never asks numpy to pickle anything.
        with open(path, "wb") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "|O", "fortran_order": False, "shape": array.shape}
            )
            pickle.dump(array, f, protocol=3)
    else:
        np.save(path, array)
    return str(path)


@pytest.mark.parametrize(
    "array",
    [
        np.array([1.5, -2.0, 3.25]),
        np.array([1.5, -2.0, 3.25], dtype=np.float32),
        np.array([1.5, -2.0, 3.25], dtype=">f8"),
        np.array([1, -2, 3], dtype=np.int64),
        np.array([1, 2, 3], dtype=np.uint8),
        np.array([1.5, -2.0, 3.25], dtype=np.float16),
    ],
)
def test_npy_numeric_dtypes_cast_to_float64(tmp_path, array):
    got = read_array(save(tmp_path, "a.npy", array))
    assert got.dtype == np.float64
    assert got.tolist() == array.astype(np.float64).tolist()


def test_npy_bool_reads_as_zero_one(tmp_path):
    got = read_array(save(tmp_path, "b.npy", np.array([True, False, True])))
    assert got.tolist() == [1.0, 0.0, 1.0]


def test_npy_shapes(tmp_path):
    matrix = np.arange(6.0).reshape(2, 3)
    column = np.arange(3.0).reshape(3, 1)
    assert read_array(save(tmp_path, "m.npy", matrix)).tolist() == matrix.tolist()
    assert read_array(save(tmp_path, "c.npy", column)).shape == (3, 1)  # stays 2-D
    table = read_table(save(tmp_path, "v.npy", np.arange(3.0)))
    assert table.data.shape == (3, 1)
    assert table.columns is None
    fortran = np.asfortranarray(matrix)
    got = read_array(save(tmp_path, "f.npy", fortran))
    assert got.tolist() == matrix.tolist() and got.flags.c_contiguous


def test_npy_extension_case_insensitive(tmp_path):
    path = tmp_path / "UP.NPY"
    with open(path, "wb") as f:
        np.save(f, np.array([4.0]))
    assert read_array(path).tolist() == [4.0]


def npy_error(path) -> str:
    with pytest.raises(InputError) as excinfo:
        read_table(path, role="weights")
    assert excinfo.value.role == "weights"
    assert excinfo.value.source == str(path)
    assert "\n" not in str(excinfo.value)
    return message(excinfo)


OBJECTS = (
    "NPY holds Python objects (dtype object); losscli reads numeric arrays only and never unpickles"
)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([1, "a", None], dtype=object), OBJECTS),
        (np.array([(1, [2])], dtype=[("a", "i4"), ("b", "O")]), OBJECTS),
        (np.array(["abc", "d"]), "NPY dtype <U3 is not numeric"),
        (np.array([b"ab"]), "NPY dtype |S2 is not numeric"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "NPY dtype <M8[D] is not numeric"),
        (
            np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]),
            "NPY dtype [('a', '<f8'), ('b', '<i4')] is not numeric",
        ),
        (np.array([1 + 2j]), "NPY dtype <c16 is complex; losscli takes real numbers only"),
        (
            np.array([[[1.0, 2.0], [3.0, np.nan]]]),
            "contains 1 NaN value (first at index (0, 1, 1)); remove or impute them",
        ),
        (np.zeros(0), "array is empty"),
        (np.zeros((3, 0)), "array is empty"),
        (np.float64(3.0), "array is a 0-d scalar; losscli takes a vector or a matrix"),
        (
            np.array([[1.0, np.nan], [np.nan, 2.0], [np.nan, np.inf]]),
            "contains 3 NaN values (first at row 0, col 1); remove or impute them",
        ),
        (
            np.array([1.0, 2.0, -np.inf]),
            "contains 1 infinite value (first at index 2); remove or impute them",
        ),
    ],
)
def test_npy_errors(tmp_path, array, expected):
    assert npy_error(save(tmp_path, "bad.npy", array)) == expected


def test_npy_of_more_than_two_dimensions_is_read_as_it_is(tmp_path):
    # (N, C, d1) inputs for ce/nll (tests/test_kdim.py); the loss decides what it takes
    array = np.arange(24.0).reshape(2, 3, 4)
    assert np.array_equal(read_array(save(tmp_path, "k.npy", array), role="predictions"), array)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "file is empty"),
        (b"1,2\n3,4\n", "not a valid NPY file (no NPY magic bytes)"),
        (b"\x93NUM", "not a valid NPY file (no NPY magic bytes)"),
        (
            pickle.dumps([1.0, 2.0]),
            "file is a Python pickle, not an NPY array; losscli never unpickles",
        ),
        (b"PK\x03\x04" + b"\0" * 40, "not a valid NPY file (a zip archive such as .npz)"),
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': garbage", "not a valid NPY file (corrupt header)"),
        (
            b"\x93NUMPY\x09\x00\x10\x00" + b" " * 16,
            "not a valid NPY file (unknown format version 9.0)",
        ),
    ],
)
def test_npy_not_valid(tmp_path, content, expected):
    assert npy_error(write(tmp_path, "bad.npy", content)) == expected


def test_npy_corrupt_header_dict(tmp_path):
    header = b"{'descr': '<f8', 'fortran_order': False}"  # no 'shape' key
    header += b" " * (64 - 10 - len(header) - 1) + b"\n"
    content = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
    assert npy_error(write(tmp_path, "bad.npy", content)) == "not a valid NPY file (corrupt header)"


def test_npy_truncated(tmp_path):
    path = save(tmp_path, "t.npy", np.arange(10.0))
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:-12])
    assert npy_error(path) == "not a valid NPY file (truncated: 68 of 80 data bytes)"


def test_npy_never_unpickles(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append(a))
    npy_error(save(tmp_path, "o.npy", np.array([{"x": 1}], dtype=object)))
    assert calls == []


def test_npz_by_extension_is_read_as_csv(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, a=np.zeros(2))
    with pytest.raises(InputError) as excinfo:
        read_table(path)
    assert message(excinfo) == "file is not UTF-8 text; save it as UTF-8"


# --- writing -------------------------------------------------------------------------------------

AWKWARD = np.array(
    [0.1, 1 / 3, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 123456789.0, 1e16]
)


def test_write_npy_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    for array in (AWKWARD, rng.standard_normal((7, 3)) * 10.0 ** rng.integers(-300, 300, (7, 3))):
        path = tmp_path / "g.npy"
        write_array(path, array)
        got = np.load(path, allow_pickle=False)
        assert got.dtype == array.dtype and got.shape == array.shape
        assert got.tobytes() == array.tobytes()


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".CSV"])
def test_write_text_round_trip(tmp_path, engine, ext):
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((50, 4)) * 10.0 ** rng.integers(-300, 300, (50, 4))
    for array in (AWKWARD, matrix):
        path = tmp_path / f"g{ext}"
        write_array(path, array)
        got = read_array(path)
        assert got.shape == array.shape
        assert got.tobytes() == array.tobytes()


def test_write_csv_text(tmp_path):
    write_array(tmp_path / "v.csv", np.array([0.1, -0.0, 1e16, 3]))
    assert (tmp_path / "v.csv").read_bytes() == b"0.1\n-0.0\n1e+16\n3.0\n"
    write_array(tmp_path / "m.tsv", np.array([[1, 2.5], [1 / 3, 4]]))
    assert (tmp_path / "m.tsv").read_text() == "1.0\t2.5\n0.3333333333333333\t4.0\n"
    write_array(tmp_path / "big.csv", np.arange(10000.0))  # spans several write chunks
    assert (tmp_path / "big.csv").read_text() == "".join(f"{i}.0\n" for i in range(10000))


def test_write_overwrites_existing_output(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("old\n")
    write_array(path, np.array([1.0]))
    assert path.read_text() == "1.0\n"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_written_file_has_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_array(tmp_path / "g.npy", np.zeros(2))
    finally:
        os.umask(old)
    assert (tmp_path / "g.npy").stat().st_mode & 0o777 == 0o644


def test_write_bad_extension(tmp_path):
    with pytest.raises(UsageError) as excinfo:
        write_array("x.txt", np.zeros(2))
    assert str(excinfo.value) == "--grad-out must end in .npy, .csv or .tsv, got 'x.txt'"


def test_write_3d_as_csv(tmp_path):
    with pytest.raises(UsageError) as excinfo:
        write_array(tmp_path / "g.csv", np.zeros((2, 2, 2)))
    assert str(excinfo.value) == "cannot write a 3-D array as CSV; use .npy"
    write_array(tmp_path / "g.npy", np.zeros((2, 2, 2)))  # NPY takes any shape
    assert np.load(tmp_path / "g.npy").shape == (2, 2, 2)


REFUSE = "refusing to overwrite input file {}; choose another --grad-out path"


def test_refuse_same_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("preds.csv").write_text("1\n")
    with pytest.raises(InputError) as excinfo:
        write_array("preds.csv", np.zeros(1), protect=["targets.csv", "preds.csv"])
    assert str(excinfo.value) == REFUSE.format("preds.csv")
    assert Path("preds.csv").read_text() == "1\n"


def test_refuse_other_spelling_symlink_and_hardlink(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    Path("preds.csv").write_text("1\n")
    spellings = ["./sub/../preds.csv", str(tmp_path / "preds.csv")]
    if hasattr(os, "symlink"):
        os.symlink("preds.csv", "link.csv")
        spellings.append("link.csv")
    if hasattr(os, "link"):
        os.link("preds.csv", "hard.csv")
        spellings.append("hard.csv")
    for target in spellings:
        with pytest.raises(InputError) as excinfo:
            write_array(target, np.zeros(1), protect=[Path("preds.csv")])
        assert str(excinfo.value) == REFUSE.format("preds.csv")
    assert Path("preds.csv").read_text() == "1\n"
    write_array("other.csv", np.zeros(1), protect=["preds.csv", "-"])  # unrelated path is fine
    assert Path("other.csv").read_text() == "0.0\n"


def test_write_missing_parent(tmp_path):
    target = str(tmp_path / "no" / "such" / "g.npy")
    with pytest.raises(InputError) as excinfo:
        write_array(target, np.zeros(1))
    assert str(excinfo.value) == (
        f"{target}: directory {tmp_path / 'no' / 'such'} does not exist; create it first"
    )


def test_write_target_is_directory(tmp_path):
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(InputError) as excinfo:
        write_array(tmp_path / "d.npy", np.zeros(1))
    assert excinfo.value.message == "is a directory, expected a file"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
@pytest.mark.parametrize("ext", [".csv", ".npy"])
def test_write_is_atomic(tmp_path, monkeypatch, error, ext):
    target = tmp_path / f"g{ext}"
    target.write_bytes(b"previous contents")

    def fail_midway(f, *args, **kwargs):
        f.write(b"partial")
        raise error

    monkeypatch.setattr(lio, "_write_text", fail_midway)
    monkeypatch.setattr(np, "save", fail_midway)
    with pytest.raises(type(error)):
        write_array(target, np.arange(5.0))
    assert target.read_bytes() == b"previous contents"
    assert leftovers(tmp_path) == [target.name]


def test_write_failed_rename_cleans_up(tmp_path, monkeypatch):
    def no_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(InputError) as excinfo:
        write_array(tmp_path / "g.csv", np.arange(3.0))
    assert excinfo.value.message == "cannot write file (No space left on device)"
    assert leftovers(tmp_path) == []


def test_format_float():
    assert format_float(0.1) == "0.1"
    assert format_float(np.float32(0.1)) == "0.10000000149011612"
    assert format_float(np.float64(1e16)) == "1e+16"
    assert format_float(3) == "3.0"
    assert format_float(-0.0) == "-0.0"
    assert format_float(float("nan")) == "nan"
    assert float(format_float(1 / 3)) == 1 / 3


def test_table_is_frozen(tmp_path):
    table = read_table(write(tmp_path, "t.csv", "1\n"))
    assert isinstance(table, Table)
    with pytest.raises(AttributeError):
        table.source = "x"


# --- the two CSV parsers agree -------------------------------------------------------------------

CELL = st.text(alphabet='0123456789.eE+-nafity "x', min_size=0, max_size=8)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(CELL, min_size=2, max_size=2), min_size=1, max_size=3))
def test_scan_and_pandas_agree(rows):
    raw = ("\n".join(",".join(r) for r in rows) + "\n").encode()

    def parse(threshold):
        old = lio._PANDAS_MIN_BYTES
        lio._PANDAS_MIN_BYTES = threshold
        try:
            table = read_table("-", stdin=io.BytesIO(raw))
            return table.data.tobytes(), table.data.shape, table.columns
        except InputError as e:
            return e.message
        finally:
            lio._PANDAS_MIN_BYTES = old

    assert parse(0) == parse(1 << 30)


@pytest.mark.parametrize("ext", [".gz", ".bz2", ".xz"])
def test_compressed_npy_is_read_whole_as_the_plain_file(tmp_path, ext):
    import bz2
    import gzip
    import lzma

    compress = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[ext]
    a = np.array([[0.25, -1.5], [3.0, 1e-300]])
    np.save(tmp_path / "a.npy", a)
    (tmp_path / f"a.npy{ext}").write_bytes(compress((tmp_path / "a.npy").read_bytes()))
    np.testing.assert_array_equal(read_array(tmp_path / f"a.npy{ext}"), a)
    # not an NPY inside: the NPY reader's message (was "file is not UTF-8 text")
    (tmp_path / f"b.npy{ext}").write_bytes(compress(b"1,2\n3,4\n"))
    with pytest.raises(InputError) as e:
        read_array(tmp_path / f"b.npy{ext}", role="predictions")
    assert str(e.value) == f"{tmp_path / f'b.npy{ext}'}: not a valid NPY file (no NPY magic bytes)"
