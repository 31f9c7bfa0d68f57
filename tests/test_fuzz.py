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

NAMES = ["a", "b", "y", "id", "p_0", "p_1", "label", "x y", "é", "", "Unnamed: 0", "0", "1"]
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
    maybe("--delimiter", pick([",", "tab", "whitespace", ";"], ["", "ab", '"', ".", "\n"]))
    maybe("--tsv")
    maybe(pick(["--header", "--no-header"], ["--header"]))
    maybe("--keep-index")
    maybe("--strict-columns")
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
