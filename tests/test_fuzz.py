"""Fuzz the real CLI with malformed files and random option combinations.

Whatever it is fed, losscli must end with exit 0, 1 or 2 — never 3 (an internal error, a bug)
and never a traceback; on exit 2 print exactly one ``Error:`` line on stderr and nothing on
stdout; and never leave a file behind or change one, except the outputs it was asked to write
on success.

The number of examples is ``LOSSCLI_FUZZ_EXAMPLES`` (default 300, about 20 s). A longer run::

    LOSSCLI_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py -q

Hypothesis prints the smallest failing input, reproducible with ``@reproduce_failure``.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from losscli.cli import app
from losscli.losses import REGISTRY

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"

EXAMPLES = int(os.environ.get("LOSSCLI_FUZZ_EXAMPLES", "300"))
runner = CliRunner()

# --------------------------------------------------------------------------- file contents

NAMES = ["a", "b", "y", "id", "p_0", "p_1", "label", "x y", "é", ""]
CELLS = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "2",
            "-1",
            "0.5",
            "1e-300",
            "-1e300",
            "1e308",
            "5e-324",
            "2.2e-308",
            "3",
            " 1 ",
            '"2"',
            "nan",
            "inf",
            "-Infinity",
            "",
            "abc",
            "1,5",
            "0x10",
            "1_0",
            "+.5",
            "1.",
            "１",
            "\x00",
            '"',
            "1e",
            "--1",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-3, 5).map(str),
    st.sampled_from(NAMES),
    st.text(max_size=4),
)


@st.composite
def csv_bytes(draw) -> bytes:
    sep = draw(st.sampled_from([",", "\t", ";", " "]))
    width = draw(st.integers(1, 4))
    rows = []
    if draw(st.booleans()):
        rows.append([draw(st.sampled_from(NAMES)) for _ in range(width)])
    for _ in range(draw(st.integers(0, 6))):
        ragged = draw(st.integers(0, 9)) == 0
        rows.append(
            draw(
                st.lists(
                    CELLS, min_size=1 if ragged else width, max_size=width + 1 if ragged else width
                )
            )
        )
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(sep.join(r) for r in rows)
    text += draw(st.sampled_from(["", newline, newline * 3, newline + "  " + newline]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    data = (bom + text).encode("utf-8", errors="surrogatepass")
    return _mutate(draw, data)


@st.composite
def npy_bytes(draw) -> bytes:
    dtype = draw(st.sampled_from(["f8", "f4", "i4", "u1", "?", "c16", "U3", "O", "M8[D]"]))
    shape = draw(st.sampled_from([(), (0,), (3,), (3, 1), (3, 2), (2, 2, 2), (1, 3)]))
    size = int(np.prod(shape)) if shape else 1
    if dtype == "O":
        array = np.array([None] * size, dtype=object).reshape(shape)
    elif dtype == "M8[D]":
        array = np.zeros(shape, dtype=dtype)
    else:
        values = draw(
            st.lists(
                st.floats(-1e3, 1e3) | st.sampled_from([np.nan, np.inf, 1e300]),
                min_size=size,
                max_size=size,
            )
        )
        with np.errstate(all="ignore"):
            array = np.array(values).astype(dtype).reshape(shape)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=dtype == "O")
    return _mutate(draw, buffer.getvalue())


@st.composite
def parquet_bytes(draw) -> bytes:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return b"PAR1" + draw(st.binary(max_size=20)) + b"PAR1"
    n = draw(st.integers(0, 3))
    columns = {
        name: draw(
            st.sampled_from(
                [
                    [0.5] * n,
                    list(range(n)),
                    ["t"] * n,
                    [None] * n,
                    [True] * n,
                    [float("nan")] * n,
                ]
            )
        )
        for name in draw(st.lists(st.sampled_from(NAMES[:7]), min_size=1, max_size=3, unique=True))
    }
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return _mutate(draw, buffer.getvalue())


def _mutate(draw, data: bytes) -> bytes:
    how = draw(st.integers(0, 5))
    if how == 0 and data:
        return data[: draw(st.integers(0, len(data) - 1))]  # truncated
    if how == 1 and data:
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at + 1 :]
    return data


BAD_CONTENT = st.one_of(csv_bytes(), npy_bytes(), parquet_bytes(), st.binary(max_size=64))
EXTENSION = st.sampled_from([".csv", ".tsv", ".npy", ".parquet", ".txt", ""])
VALUES = st.one_of(
    st.floats(-10, 10),
    st.floats(0, 1),
    st.sampled_from([0.0, 1.0, 1e-300, 5e-324, 1e150, -1e150, 1e300, 2.2e-308, 0.5]),
)


@st.composite
def good_files(draw) -> tuple[list, dict[str, str | None]]:
    """Well-formed inputs, so that runs get past the readers: a predictions file, a targets
    file and one file holding both, each as (extension, bytes), sometimes lightly damaged;
    and the column options that fit the one file (``pred``, ``target``, ``id``)."""
    n, d = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    preds = np.array(draw(st.lists(VALUES, min_size=n * d, max_size=n * d))).reshape(n, d)
    if draw(st.booleans()):
        targets = np.array(draw(st.lists(st.integers(0, d), min_size=n, max_size=n)), float)
        targets = targets.reshape(n, 1)
        t_names = ["label"]
    else:
        targets = np.array(draw(st.lists(VALUES, min_size=n * d, max_size=n * d))).reshape(n, d)
        t_names = [f"y_{j}" for j in range(d)]
    p_names = [f"p_{j}" for j in range(d)]
    ids = [draw(st.sampled_from(["a", "b", "7", "x,y", ' "q" ', "é", ""])) for _ in range(n)]
    with_id = draw(st.booleans())
    header = draw(st.booleans())

    def encode(names, columns, ext) -> bytes:
        if with_id:
            names, columns = ["id", *names], [ids, *columns]
        if ext == ".npy":
            buffer = io.BytesIO()
            np.save(buffer, np.column_stack(columns[with_id:]))
            return buffer.getvalue()
        if ext == ".parquet":
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError:
                return b""
            buffer = io.BytesIO()
            pq.write_table(pa.table(dict(zip(names, columns, strict=True))), buffer)
            return buffer.getvalue()
        sep = "\t" if ext == ".tsv" else ","
        lines = [sep.join(names)] if header else []
        lines += [sep.join(_cell(col[i]) for col in columns) for i in range(n)]
        return ("\n".join(lines) + "\n").encode()

    files = []
    for names, array in (
        (p_names, preds),
        (t_names, targets),
        (p_names + t_names, np.hstack([preds, targets])),
    ):
        ext = draw(st.sampled_from([".csv", ".csv", ".tsv", ".npy", ".parquet"]))
        data = encode(names, list(array.T), ext)
        files += [ext, _mutate(draw, data) if draw(st.integers(0, 5)) == 0 else data]
    ext = files[-2]
    if ext == ".parquet" or (header and ext != ".npy"):
        columns = {"pred": "p_*", "target": "label" if len(t_names) == 1 else "y_*"}
        columns["id"] = "id" if with_id else None
    else:  # no header: by number
        first = 2 if with_id and ext != ".npy" else 1
        numbers = [str(first + j) for j in range(d + len(t_names))]
        columns = {"pred": ",".join(numbers[:d]), "target": ",".join(numbers[d:])}
        columns["id"] = "1" if first == 2 else None
    columns["two_id"] = "id" if with_id else None
    columns["shape"] = (n, d)
    return files, columns


def _cell(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace('"', '""') + '"' if "," in v or '"' in v else v
    return repr(float(v))


# --------------------------------------------------------------------------- options

ODD_COLUMNS = ["1", "2", "0", "99", "p_0,p_1", "a", "*", "", "x y", "[", "é", "label,label"]
ODD_NUMBERS = ["0", "-1", "1e300", "nan", "inf", "abc", "1e-320"]


@st.composite
def options(draw, command: str, tmp: Path, mode: str, columns: dict | None) -> list[str]:
    """Options for one run: coherent with the inputs, or (no ``columns``) anything at all."""
    args: list[str] = []
    chaos = columns is None

    def maybe(*items: str) -> None:
        if draw(st.integers(0, 2)) == 0:
            args.extend(items)

    def pick(good: list[str], bad: list[str]) -> str:
        return draw(st.sampled_from(good + bad if chaos else good))

    maybe("--grad")
    maybe("--check")
    maybe("--reduction", pick(["mean", "sum", "none"], ["avg", ""]))
    maybe("--format", pick(["plain", "json", "csv", "table"], ["xml"]))
    maybe("--top", pick(["1", "3", "1000000000000"], ["0", "-2", "x"]))
    maybe("--hist")
    maybe("--bins", pick(["1", "3", "1000"], ["0", "1001"]))
    if chaos:
        maybe("--pred-col", pick(["p_*", "p_0"], ODD_COLUMNS))
        maybe("--target-col", pick(["y_*", "label", "y_0"], ODD_COLUMNS))
        maybe("--pred-col", pick(["p_1", "p_2"], ODD_COLUMNS))
        maybe("--id-col", pick(["id"], ODD_COLUMNS))
    elif mode == "one":
        side = draw(st.sampled_from(["pred", "target", "both"]))
        for name in ("pred", "target"):
            if side in (name, "both"):
                args += [f"--{name}-col", columns[name]]
        if columns["id"]:
            maybe("--id-col", columns["id"])
    elif mode in ("two", "stdin") and columns["two_id"]:
        maybe("--id-col", columns["two_id"])
    maybe("--eps", pick(["1e-6", "1e-4", "1e-3"], ODD_NUMBERS))
    maybe("--rtol", pick(["1e-3", "0.5"], ODD_NUMBERS))
    maybe("--atol", pick(["1e-5", "1e-9"], ODD_NUMBERS))
    maybe("--output", str(tmp / pick(["out.json", "out.csv", "out.txt"], ["p.csv", "sub/o", "."])))
    maybe("--grad-out", str(tmp / pick(["g.npy", "g.csv"], ["g.txt", "t.csv", "out.json", "."])))
    maybe("--sample-weights", pick([str(tmp / "w.csv")], [str(tmp / "p.csv"), "-", "nope"]))
    maybe("--against", pick([str(tmp / "yours.csv")], [str(tmp / "w.csv"), "-", "nope"]))
    for param in REGISTRY[command].params:  # the loss's own options, whatever they are
        if param.type is bool:
            maybe(param.flag)
        elif param.choices:
            maybe(param.flag, pick(list(param.choices), ["bogus"]))
        elif param.type is float:
            maybe(param.flag, pick(["1e-12", "0.1", "0.5", "1", "2"], ODD_NUMBERS))
        elif param.type is int:
            maybe(param.flag, pick(["-100", "0", "1"], ["x", "99999999999999999999", "-1"]))
        else:  # lists of numbers, or a file of them
            maybe(
                param.flag,
                pick(["1,2", "0.5", "1,2,3,4", "1"], ["a", "", "nan", "-1,2", str(tmp / "w.csv")]),
            )
    maybe("--debug")
    return args


# --------------------------------------------------------------------------- the test


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_cli_never_crashes(data):
    command = data.draw(st.sampled_from(sorted(REGISTRY)), label="command")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        columns = None  # chaos: any bytes, any options
        if data.draw(st.integers(0, 2), label="well-formed") > 0:
            files, columns = data.draw(good_files())
            p_ext, p_bytes, t_ext, t_bytes, one_ext, one_bytes = files
        else:
            p_ext, t_ext, one_ext = (data.draw(EXTENSION) for _ in range(3))
            p_bytes, t_bytes, one_bytes = (data.draw(BAD_CONTENT) for _ in range(3))
        preds, targets, both = tmp / f"p{p_ext}", tmp / f"t{t_ext}", tmp / f"both{one_ext}"
        for path, content in ((preds, p_bytes), (targets, t_bytes), (both, one_bytes)):
            path.write_bytes(content)
        n, d = columns["shape"] if columns else (3, 2)
        weights = data.draw(st.lists(VALUES, min_size=n, max_size=n + (columns is None)))
        (tmp / "w.csv").write_text("".join(f"{abs(w)!r}\n" for w in weights))
        yours = data.draw(st.lists(VALUES, min_size=n * d, max_size=n * d))
        (tmp / "yours.csv").write_text(
            "".join(",".join(map(repr, yours[i * d : (i + 1) * d])) + "\n" for i in range(n))
        )
        stdin = None
        mode = data.draw(st.sampled_from(["two", "one", "stdin", "sample"]), label="mode")
        if mode == "two":
            files = [str(preds), str(targets)]
        elif mode == "one":
            files = [str(both)]
        elif mode == "stdin":
            files, stdin = ["-", str(targets)], p_bytes
        else:
            files = []
        args = [command, *files, *data.draw(options(command, tmp, mode, columns), label="options")]
        if data.draw(st.integers(0, 19), label="list or explain") == 0:
            args = [
                *data.draw(st.sampled_from([["list"], ["explain", command], ["explain", "x"]])),
                *data.draw(
                    st.sampled_from(
                        [[], ["-f", "json"], ["-f", "plain"], ["-f", "csv"], ["-f", "table"]]
                    )
                ),
            ]
        before = _snapshot(tmp)

        result = runner.invoke(app, args, input=stdin)

        out, err = result.stdout, result.stderr
        event(f"exit {result.exit_code}")
        if result.exit_code == 2:
            message = err.splitlines()[-1] if err else "(none)"
            event(message.replace(folder, "").replace(str(SAMPLES), "")[:50])
        context = f"args={args!r}\nstdout={out!r}\nstderr={err!r}"
        assert result.exception is None or isinstance(result.exception, SystemExit), context
        assert result.exit_code in (0, 1, 2), context
        if "--debug" not in args:
            assert "Traceback" not in out + err, context
        after = _snapshot(tmp)
        asked = {Path(a).name for a in _values_of(args, "--output", "--grad-out")}
        inputs = {Path(f).name for f in files}
        for name, content in before.items():
            if result.exit_code == 2 or name in inputs or name not in asked:
                assert after.get(name) == content, f"{name} changed or removed\n{context}"
        new = set(after) - set(before)
        assert not [n for n in new if n.startswith(".")], f"temporary file left\n{context}"
        if result.exit_code == 2:
            errors = [line for line in err.splitlines() if line.startswith("Error:")]
            assert len(errors) == 1 and err.splitlines()[-1] == errors[0], context
            assert out == "", context
            assert not new, f"files written on failure: {new}\n{context}"
        else:
            assert new <= asked, f"unexpected files {new - asked}\n{context}"
            assert out or "--output" in args, context


def _values_of(args: list[str], *flags: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a in flags]


# --------------------------------------------------------------------------- NPY header fields
# Each field of an NPY header drawn on its own (issue 12): the shape's entries (negative, bool,
# float, huge, nested), the descr, fortran_order, missing and extra keys, the header length
# and the data length. The reader must give a float64 array or one InputError, whatever it is.

SHAPE_ENTRIES = st.one_of(
    st.integers(-3, 4),
    st.sampled_from(["True", "False", "1.5", "-0", "2**70", "None", "'3'", "(2,)", "1e3"]),
    st.just(str(2**63)),
)
DESCRS = st.sampled_from(
    ["'<f8'", "'<f4'", "'<i8'", "'>i4'", "'|u1'", "'|b1'", "'<c16'", "'|S3'", "'|O'", "'<M8[D]'",
     "[('a', '<f8')]", "'f8'", "'<f16'", "'bogus'", "3", "None"]
)  # fmt: skip


@st.composite
def npy_header_bytes(draw) -> bytes:
    entries = draw(st.lists(SHAPE_ENTRIES, max_size=3))
    shape = "(" + ", ".join(map(str, entries)) + ("," if len(entries) == 1 else "") + ")"
    fields = {
        "'descr'": draw(DESCRS),
        "'fortran_order'": draw(st.sampled_from(["False", "True", "0", "'x'"])),
        "'shape'": draw(st.sampled_from([shape, shape, "[2, 3]", "3", "()"])),
    }
    if draw(st.integers(0, 5)) == 0:
        fields.pop(draw(st.sampled_from(sorted(fields))))
    if draw(st.integers(0, 5)) == 0:
        fields["'extra'"] = "1"
    text = "{" + "".join(f"{k}: {v}, " for k, v in fields.items()) + "}"
    header = text.encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    length = len(header) + draw(st.sampled_from([0, 0, 0, -1, 1, 1000]))
    version = draw(st.sampled_from([b"\x01\x00", b"\x01\x00", b"\x02\x00", b"\x09\x00"]))
    size = length.to_bytes(4 if version == b"\x02\x00" else 2, "little", signed=True)
    data = draw(st.sampled_from([b"", b"\0" * 7, b"\0" * 48, b"\0" * 200]))
    return b"\x93NUMPY" + version + size + header + data


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=npy_header_bytes(), command=st.sampled_from(["mse", "bce", "ce"]))
def test_npy_header_fields_never_crash(content, command):
    import losscli

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "h.npy"
        path.write_bytes(content)
        try:
            array = losscli.read_array(path)
        except losscli.InputError as e:
            event(str(e.message)[:40])
        else:
            assert array.dtype == np.float64 and array.ndim in (1, 2) and array.size > 0
            assert np.isfinite(array).all()
        result = runner.invoke(app, [command, str(path), str(path)])
        context = f"content={content!r}\nstderr={result.stderr!r}"
        assert result.exit_code in (0, 1, 2), context
        assert "Traceback" not in result.stderr, context
        if result.exit_code == 2:
            assert result.stderr.count("Error:") == 1 and result.stdout == "", context
        assert path.read_bytes() == content, context


# ------------------------------------------------------------------------ option files as outputs
# Every file a run reads — PREDS, TARGETS, --sample-weights, and the option files
# (--class-weights, --pos-weight) — named as -o or --grad-out, spelled as given, relatively,
# through a symlink, a hard link or a detour through the directory: always refused, unchanged.

OPTION_FILE_RUNS = {
    "class weights": (["ce", "z.csv", "y.csv", "--logits", "--class-weights", "F"], "cw.csv"),
    "pos weight": (["bce", "z1.csv", "y.csv", "--logits", "--pos-weight", "F"], "pw.csv"),
    "sample weights": (["mse", "p.csv", "t.csv", "--sample-weights", "F"], "w.csv"),
    "predictions": (["mse", "F", "t.csv"], "p.csv"),
    "targets": (["mse", "p.csv", "F"], "t.csv"),
}
OPTION_FILE_CONTENT = {
    "z.csv": "0,1\n2,0\n",
    "z1.csv": "0.5\n-1\n",
    "y.csv": "0\n1\n",
    "p.csv": "1,2\n3,4\n",
    "t.csv": "0,0\n0,0\n",
    "cw.csv": "1,3\n",
    "pw.csv": "2\n",
    "w.csv": "1\n3\n",
}


@settings(max_examples=max(20, EXAMPLES // 3), deadline=None)
@given(
    role=st.sampled_from(sorted(OPTION_FILE_RUNS)),
    flag=st.sampled_from(["-o", "--output", "--grad-out"]),
    spelling=st.sampled_from(["as given", "relative", "symlink", "hardlink", "detour"]),
    other=st.sampled_from([None, "-o", "--grad-out"]),
)
def test_option_files_are_never_outputs(role, flag, spelling, other):
    args, name = OPTION_FILE_RUNS[role]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "sub").mkdir()
        for file, text in OPTION_FILE_CONTENT.items():
            (tmp / file).write_text(text)
        read = tmp / name
        if spelling == "symlink":
            target = tmp / "link.csv"
            target.symlink_to(read)
        elif spelling == "hardlink":
            target = tmp / "hard.csv"
            os.link(read, target)
        elif spelling == "detour":
            target = tmp / "sub" / ".." / name
        elif spelling == "relative":
            target = Path(os.path.relpath(read))
        else:
            target = read
        full = [str(read) if a == "F" else str(tmp / a) if a.endswith(".csv") else a for a in args]
        if flag == "--grad-out" and target.suffix != ".csv":
            return
        full += [flag, str(target)]
        if other is not None and other != flag and {other, flag} != {"-o", "--output"}:
            full += [other, str(tmp / ("g.npy" if other == "--grad-out" else "o.txt"))]
        before = {p.name: p.read_bytes() for p in tmp.iterdir() if p.is_file()}
        result = runner.invoke(app, full)
        context = f"args={full!r}\nstderr={result.stderr!r}"
        assert result.exit_code == 2, context
        assert result.stderr.startswith(f"Error: refusing to overwrite input file {read}"), context
        after = {p.name: p.read_bytes() for p in tmp.iterdir() if p.is_file()}
        assert after == before, context


# --------------------------------------------------------------------------- environment
# The environment variables losscli reads, with the values people write (1e6, 64M, "", abc,
# negative, huge), in a real process (they are read at start-up): exit 0 or 2, no traceback.

ENV_VALUES = st.one_of(
    st.sampled_from(["", " ", "abc", "1e6", "64M", "64MB", "1k", "-1", "0", "1", "2", "0x10",
                     "1.5", "99999999999999999999999", "nan", "inf", "１２", " 8 ", "1_000"]),
    st.integers(-5, 1 << 30).map(str),
)  # fmt: skip
ENV_NAMES = ["LOSSCLI_STREAM_BYTES", "LOSSCLI_CHUNK_ELEMENTS", "LOSSCLI_THREADS", "COLUMNS"]


@settings(max_examples=max(10, EXAMPLES // 20), deadline=None)
@given(
    values=st.dictionaries(st.sampled_from(ENV_NAMES), ENV_VALUES, min_size=1),
    command=st.sampled_from(["mse", "ce --logits", "list"]),
)
def test_environment_variables_never_crash(values, command):
    import subprocess
    import sys

    env = {**os.environ, **values, "PYTHONPATH": str(SAMPLES.parent)}
    env.pop("LOSSCLI_DEBUG", None)
    args = [sys.executable, "-m", "losscli", *command.split()]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    context = f"env={values!r}\nargs={args!r}\nstderr={result.stderr!r}"
    assert result.returncode in (0, 2), context
    assert "Traceback" not in result.stderr, context
    if result.returncode == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, context
        assert any(name in errors[0] for name in values), context
