"""Streaming (losscli.sources + losscli.engine): streamed and in-memory runs agree, memory
stays bounded.

Big-file behaviour is tested on small files with small blocks (``CHUNK_ELEMENTS``), never on
gigabytes. ``STREAM_BYTES = 0`` makes every two-file run stream.
"""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from peak_rss import peak_rss_mib, write_random_npy  # one helper for the peak RSS of a subprocess
from typer.testing import CliRunner

import losscli.engine as engine
import losscli.sources as sources
from losscli.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def streamed(monkeypatch):
    """Return a function that runs the CLI streamed with ``chunk`` elements per chunk."""

    def invoke(*args: str, chunk: int = 7):
        monkeypatch.setattr(sources, "STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", chunk)
        calls = []
        real = engine._Run.streamed
        monkeypatch.setattr(
            engine._Run, "streamed", lambda *a, **k: calls.append(1) or real(*a, **k)
        )
        result = run(*args)
        monkeypatch.setattr(sources, "STREAM_BYTES", 1 << 62)
        result.streamed = bool(calls)
        return result

    return invoke


def in_memory(*args: str):
    return run(*args)


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    p, t = rng.standard_normal((103, 3)), rng.standard_normal((103, 3))
    z = rng.standard_normal((61, 5)) * 3
    y = rng.integers(0, 5, 61)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    np.save(tmp_path / "p32.npy", p.astype(np.float32))
    np.save(tmp_path / "v.npy", p[:, 0])
    np.save(tmp_path / "w.npy", t[:, 0])
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    np.savetxt(tmp_path / "p.csv", p, delimiter=",", fmt="%.17g", header="a,b,c", comments="")
    np.savetxt(tmp_path / "t.tsv", t, delimiter="\t", fmt="%.17g")
    np.savetxt(tmp_path / "z.csv", z, delimiter=",", fmt="%.17g")
    np.savetxt(tmp_path / "y.csv", y, fmt="%d", header="label", comments="")
    with open(tmp_path / "p.csv", "rb") as f, gzip.open(tmp_path / "p.csv.gz", "wb") as g:
        g.write(f.read())
    return tmp_path


CASES = [
    ["mse", "{d}/p.npy", "{d}/t.npy"],
    ["mse", "{d}/p.csv", "{d}/t.tsv", "-r", "sum"],
    ["mse", "{d}/p.csv.gz", "{d}/t.npy", "-r", "none"],
    ["mse", "{d}/p32.npy", "{d}/t.tsv", "-g", "-f", "json"],
    ["mse", "{d}/v.npy", "{d}/w.npy", "-g", "-c", "-f", "csv"],
    ["ce", "{d}/z.npy", "{d}/y.csv", "--logits", "-g", "-c", "-f", "json"],
    ["ce", "{d}/z.csv", "{d}/y.npy", "--logits", "-r", "none", "-g"],
    ["ce", "{d}/z.csv", "{d}/y.npy", "--logits", "-r", "sum", "-c", "-f", "csv"],
    # ignored rows in several chunks: the reported count is over the whole file
    ["ce", "{d}/z.npy", "{d}/y.npy", "--logits", "--ignore-index", "2", "-g", "-f", "json"],
]


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])  # 7: chunks split at awkward row counts
@pytest.mark.parametrize("args", CASES, ids=lambda a: "-".join(x for x in a if "{" not in x))
def test_streamed_output_is_the_in_memory_output(data, streamed, args, chunk):
    args = [a.format(d=data) for a in args]
    expected = in_memory(*args)
    got = streamed(*args, chunk=chunk)
    assert got.streamed
    assert (got.exit_code, got.stderr) == (expected.exit_code, expected.stderr)
    if "json" in args:
        a, b = json.loads(got.stdout), json.loads(expected.stdout)
        assert a["value"] == pytest.approx(b["value"], rel=1e-13)
        assert {k: v for k, v in a.items() if k != "value"} == {
            k: v for k, v in b.items() if k != "value"
        }
    else:  # the value (line 1 of plain, 2 of csv) within summation error, the rest exactly
        at = 1 if "csv" in args and "none" not in args else 0
        got_lines, expected_lines = got.stdout.split("\n"), expected.stdout.split("\n")
        value = got_lines.pop(at).split(",")[-1]
        assert float(value) == pytest.approx(
            float(expected_lines.pop(at).split(",")[-1]), rel=1e-13
        )
        assert got_lines == expected_lines


@pytest.mark.parametrize("ext", [".npy", ".csv", ".tsv"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_grad_out_streamed_equals_in_memory(data, streamed, tmp_path, ext, reduction, loss):
    files = ["{d}/p.csv", "{d}/t.npy"] if loss == "mse" else ["{d}/z.csv", "{d}/y.csv"]
    args = [loss, *(f.format(d=data) for f in files), "-r", reduction]
    args += ["--logits"] if loss == "ce" else []
    a, b = tmp_path / f"a{ext}", tmp_path / f"b{ext}"
    expected = in_memory(*args, "--grad-out", str(a))
    got = streamed(*args, "--grad-out", str(b), chunk=5)
    assert got.streamed and got.exit_code == 0
    assert got.stderr == expected.stderr.replace(str(a), str(b))
    assert b.read_bytes() == a.read_bytes()  # bit for bit, NPY header included
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_grad_out_of_npy_inputs_is_scaled_as_written(data, streamed, tmp_path):
    args = ["mse", str(data / "p.npy"), str(data / "t.npy")]
    in_memory(*args, "--grad-out", str(tmp_path / "a.npy"))
    streamed(*args, "--grad-out", str(tmp_path / "b.npy"), chunk=4)
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "files",
    [
        ("p.npy", "z.npy"),  # rows differ (NPY: known before reading)
        ("p.csv", "short.csv"),  # rows differ (CSV: found at the end)
        ("bad.csv", "t.npy"),  # a non-numeric cell deep in the file
        ("nan.csv", "t.npy"),  # NaN values: counted over the whole file
        ("nan.npy", "t.npy"),
        ("p.npy", "nan.npy"),  # NPY: NaN found through the chunk's sum (mse's sum kernel)
        ("ninf.npy", "t.npy"),
        ("inf.npy", "inf.npy"),  # inf − inf
        ("p.csv", "wide.csv"),
    ],
)
def test_errors_are_the_in_memory_errors(data, streamed, files):
    p = np.load(data / "p.npy")
    np.savetxt(data / "short.csv", p[:-1], delimiter=",")
    np.savetxt(data / "wide.csv", np.hstack([p, p]), delimiter=",")
    lines = (data / "p.csv").read_text().splitlines()
    lines[90] = "1,2,x"
    (data / "bad.csv").write_text("\n".join(lines) + "\n")
    lines = (data / "p.csv").read_text().splitlines()
    lines[50], lines[80] = "nan,1,2", "1,nan,inf"
    (data / "nan.csv").write_text("\n".join(lines) + "\n")
    bad = p.copy()
    bad[70, 2] = np.nan
    bad[9, 1] = np.inf
    np.save(data / "nan.npy", bad)
    bad = p.copy()
    bad[64, 1] = -np.inf
    np.save(data / "ninf.npy", bad)
    bad[64, 1] = np.inf
    np.save(data / "inf.npy", bad)
    args = ["mse", str(data / files[0]), str(data / files[1])]
    expected = in_memory(*args)
    got = streamed(*args, chunk=5)
    assert expected.exit_code == 2 and expected.stderr.startswith("Error: ")
    assert (got.exit_code, got.stdout, got.stderr) == (2, "", expected.stderr)


def test_finite_inputs_whose_squares_overflow_give_inf_as_in_memory(data, streamed):
    big = np.full((40, 3), 1e200)
    np.save(data / "big.npy", big)
    np.save(data / "small.npy", -big)
    args = ["mse", str(data / "big.npy"), str(data / "small.npy")]
    got = streamed(*args, chunk=5)
    assert (got.exit_code, got.stdout) == (0, "inf\n") == (0, in_memory(*args).stdout)


@pytest.mark.parametrize(
    "options",
    [
        [],  # every row weighs 1: scaled by N as written
        ["--class-weights", "1,2,1,0.5,1"],  # the first chunk shows the denominator is not N
        ["--ignore-index", "3"],  # rows of class 3 first appear after the first chunk
    ],
)
def test_ce_grad_out_of_npy_inputs_is_the_in_memory_file(data, streamed, tmp_path, options):
    y = np.load(data / "y.npy")
    y[:12] = np.where(y[:12] == 3, 0, y[:12])
    np.save(data / "y3.npy", y)
    args = ["ce", str(data / "z.npy"), str(data / "y3.npy"), "--logits", *options]
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    expected = in_memory(*args, "--grad-out", str(a), "-g", "-f", "json")
    got = streamed(*args, "--grad-out", str(b), "-g", "-f", "json", chunk=50)
    got, expected = json.loads(got.stdout), json.loads(expected.stdout)
    assert got["grad"] == expected["grad"]  # the printed gradient is not the one scaled in place
    assert got["value"] == pytest.approx(expected["value"], rel=1e-13)
    assert b.read_bytes() == a.read_bytes()


ODD_CSV = {  # read streamed exactly as in memory, by pyarrow and by pandas (or the scanner)
    "crlf.csv": "x,y\r\n1,2\r\n3,4\r\n",
    "bom.csv": "\ufeffx,y\n1,2\n3,4\n",
    "bom_no_header.csv": "\ufeff1,2\n3,4\n",
    "blank_lines.csv": "1,2\n\n3,4\n  \n",
    "leading_blank.csv": "\n\nx,y\n1,2\n3,4\n",
    "quoted.csv": '"a","b"\n"1","2"\n"3","4"\n',
    "spaces.csv": " x , y \n 1 , 2 \n\t3,4\t\n",
    "space_then_quote.csv": '1, "2"\n3,4\n',
    "no_newline.csv": "1,2\n3,4",
    "numbers.csv": "1.,.5\n+3,4e0\n",
    "empty_cell.csv": "1,\n3,4\n",
    "na.csv": "1,NA\n3,4\n",
    "nan.csv": "1,nan\n3,4\n",
    "hex.csv": "0x1,2\n3,4\n",
    "ragged.csv": "1,2\n3\n",
    "narrow_header.csv": "x\n1,2\n3,4\n",
    "wide_header.csv": "x,y,z\n1,2\n3,4\n",
    "tab.tsv": "1\t2\n3\t 4\n",
}


@pytest.mark.parametrize("pyarrow", [True, False])
@pytest.mark.parametrize("name", ODD_CSV)
def test_odd_csv_streamed_as_in_memory(tmp_path, streamed, monkeypatch, name, pyarrow):
    monkeypatch.setattr(sources, "USE_PYARROW", pyarrow)
    (tmp_path / name).write_text(ODD_CSV[name], newline="")
    (tmp_path / "t.csv").write_text("5,6\n7,8.5\n")
    args = ["mse", str(tmp_path / name), str(tmp_path / "t.csv"), "-r", "sum", "-g"]
    expected = in_memory(*args)
    got = streamed(*args, chunk=1)
    assert (got.exit_code, got.stdout, got.stderr) == (
        expected.exit_code,
        expected.stdout,
        expected.stderr,
    )


def test_plain_csv_is_read_by_pyarrow_without_pandas(data, tmp_path):
    pytest.importorskip("pyarrow")
    code = (
        "import sys, losscli.sources as s\n"
        "s.STREAM_BYTES = 0\n"
        "scans = []\n"
        "s.CsvSource._scan_chunks = lambda *a: scans.append(1)\n"
        "from losscli.cli import main\n"
        f"sys.argv = ['losscli', 'mse', {str(data / 'p.csv')!r}, {str(data / 't.tsv')!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(scans, 'pandas' in sys.modules, file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.stderr.strip().splitlines()[-1] == "[] False"
    assert float(r.stdout) == pytest.approx(
        float(in_memory("mse", str(data / "p.csv"), str(data / "t.tsv")).stdout)
    )


def test_ce_index_error_names_the_row_in_the_file(data, streamed):
    y = np.load(data / "y.npy")
    y[47] = 9
    np.save(data / "y9.npy", y)
    args = ["ce", str(data / "z.npy"), str(data / "y9.npy"), "--logits"]
    expected = in_memory(*args)
    got = streamed(*args, chunk=10)
    assert "at (row 47)" in expected.stderr
    assert (got.exit_code, got.stderr) == (2, expected.stderr)


def test_gradient_on_stdout_too_big_points_to_grad_out(data, streamed, monkeypatch):
    monkeypatch.setattr(engine, "WHOLE_ARRAY_MAX_BYTES", 100)
    r = streamed("mse", str(data / "p.npy"), str(data / "t.npy"), "-g")
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: the gradient of this streamed input has 309 values")
    assert "--grad-out FILE.npy" in r.stderr and r.stderr.count("\n") == 1


def test_sampled_check_is_seeded_and_says_how_many(data, streamed, monkeypatch):
    monkeypatch.setattr(engine, "CHECK_MAX_ELEMENTS", 100)
    args = ["ce", str(data / "z.npy"), str(data / "y.npy"), "--logits", "-c", "-f", "json"]
    first, second = streamed(*args, chunk=50), streamed(*args, chunk=50)
    check = json.loads(first.stdout)["check"]
    assert first.stdout == second.stdout
    assert 0 < check["checked"] < 61 * 5 and check["checked"] % 5 == 0 and check["passed"]
    # ... and says so, in JSON and on stderr, as the in-memory check does
    assert (check["sampled"], check["population"], check["population_rows"]) == (True, 305, 61)
    assert check["seed"] == 0 and check["checked"] == 5 * check["sample_rows"]
    assert first.stderr == (
        f"Note: the check covered a seeded sample of {check['sample_rows']} of 61 rows "
        f"({check['checked']} of 305 elements, seed 0), as inputs of more than 100 elements "
        "are sampled\n"
    )
    # the rows sampled do not depend on the chunks
    assert streamed(*args, chunk=15).stdout == first.stdout


# --------------------------------------------------------------------------- accuracy, memory


def test_chunk_sums_are_accurate_for_many_elements():
    # 1e6 values whose exact mean is known: pairwise within chunks, fsum across them.
    x = np.full(1_000_000, 0.1)
    parts = [float(c.sum()) for c in np.array_split(x, 97)]
    assert abs(math.fsum(parts) / x.size - 0.1) / 0.1 < 1e-14


def test_float32_inputs_are_accumulated_in_float64(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    p = (rng.random(200_000) + 1).astype(np.float32)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", np.zeros_like(p))
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 4096)
    r = run("mse", str(tmp_path / "p.npy"), str(tmp_path / "t.npy"))
    exact = math.fsum(float(v) ** 2 for v in p.tolist()) / p.size
    assert abs(float(r.stdout) - exact) / exact < 1e-14


def test_memory_stays_bounded_on_a_file_many_chunks_long(tmp_path, monkeypatch):
    # 2 × 96 MiB of float64 through 1 MiB chunks, with pages released every 4 MiB.
    n = 12 * (1 << 20)
    for name, seed in (("p.npy", 0), ("t.npy", 1)):
        write_random_npy(tmp_path / name, n, seed)
    env = {"LOSSCLI_STREAM_BYTES": "0", "LOSSCLI_CHUNK_ELEMENTS": str(1 << 17)}
    args = ["mse", str(tmp_path / "p.npy"), str(tmp_path / "t.npy")]
    streamed_mib, out = peak_rss_mib(args, env)
    baseline_mib, _ = peak_rss_mib(["--version"], {})
    # All of both files would be 192 MiB; the streamed run holds a few chunks and windows.
    assert streamed_mib - baseline_mib < 120, (streamed_mib, baseline_mib)
    p, t = np.load(tmp_path / "p.npy"), np.load(tmp_path / "t.npy")
    assert float(out) == pytest.approx(float(np.mean((p - t) ** 2)), rel=1e-13)


def test_memory_stays_bounded_on_csv(tmp_path):
    rng = np.random.default_rng(2)
    block = "\n".join(",".join(repr(v) for v in row) for row in rng.random((20_000, 4)).tolist())
    for name in ("p.csv", "t.csv"):
        with open(tmp_path / name, "w") as f:
            for _ in range(15):  # 300,000 rows, ~23 MB per file
                f.write(block + "\n")
    env = {"LOSSCLI_STREAM_BYTES": "0", "LOSSCLI_CHUNK_ELEMENTS": str(1 << 14)}
    args = ["mse", str(tmp_path / "p.csv"), str(tmp_path / "t.csv")]
    streamed_mib, _ = peak_rss_mib(args, env)
    in_memory_mib, _ = peak_rss_mib(args, {"LOSSCLI_STREAM_BYTES": str(1 << 40)})
    assert streamed_mib < in_memory_mib - 20, (streamed_mib, in_memory_mib)


# --------------------------------------------------------------------------- progress


def test_no_progress_bar_when_stderr_is_not_a_terminal(data, streamed, monkeypatch):
    import losscli.progress as progress

    monkeypatch.setattr(progress, "DELAY", 0.0)
    r = streamed("mse", str(data / "p.npy"), str(data / "t.npy"), chunk=3)
    assert (r.exit_code, r.stderr) == (0, "")


def test_progress_bar_on_a_terminal_unless_quiet(monkeypatch):
    import io

    import losscli.progress as progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(progress, "DELAY", 0.0)
    shown, quiet = Terminal(), Terminal()
    with progress.Progress(100, "mse: reading", stream=shown) as bar:
        bar.update(50)
    with progress.Progress(100, "mse: reading", stream=quiet, quiet=True) as bar:
        bar.update(50)
    assert "mse: reading" in shown.getvalue()
    assert quiet.getvalue() == ""


def test_progress_waits_a_second_before_drawing(monkeypatch):
    import io

    import losscli.progress as progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    with progress.Progress(100, "quick", stream=out) as bar:
        bar.update(100)
    assert out.getvalue() == "" and "rich.progress" not in sys.modules or out.getvalue() == ""
