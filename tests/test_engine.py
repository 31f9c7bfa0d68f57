"""The one engine: any split of the rows into blocks gives the run of one block.

For every registered loss and every reduction it has (batchmean included), value, gradient
(printed and written with --grad-out), top-K, histogram and check verdict of the one-block
run equal those of runs with blocks of 1, 7, 64 and 10,000 values, from CSV, TSV and NPY files
streamed and from inputs held in memory. Issue 13 (the streamed kl batchmean gradient N times
too large) is what these tests would have caught: the old equivalence tests never ran
batchmean, nor compared a written gradient for a reduction with a denominator from CSV.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from peak_rss import peak_rss_mib  # one helper for the peak RSS of a subprocess
from typer.testing import CliRunner

import losscli
import losscli.sources as sources
from losscli.cli import app
from losscli.engine import Block, partial
from losscli.states import ExactSum, HistState, RangeState, TopState

runner = CliRunner()


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _inputs(name: str, rng) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Valid predictions, targets and options for each registered loss."""
    if name in ("mse", "mae", "huber", "smooth-l1", "rmse"):
        return rng.standard_normal((83, 3)), rng.standard_normal((83, 3)), []
    if name == "ce":
        y = rng.integers(0, 5, 71)
        return rng.standard_normal((71, 5)) * 2, y, ["--logits", "--ignore-index", "2"]
    if name == "nll":
        return _log_softmax(rng.standard_normal((71, 4))), rng.integers(0, 4, 71), []
    if name == "bce":
        return rng.standard_normal((67, 2)), rng.integers(0, 2, (67, 2)).astype(float), ["--logits"]
    if name == "kl":
        p = _log_softmax(rng.standard_normal((59, 4)))
        return p, np.exp(_log_softmax(rng.standard_normal((59, 4)))), []
    issue10 = _issue10_inputs(name, rng)
    if issue10 is not None:
        return issue10
    # the classification losses of issue 10
    binary = rng.standard_normal((67, 2)) * 2, rng.integers(0, 2, (67, 2)).astype(float)
    if name in ("sigmoid-focal", "hinge", "squared-hinge", "soft-margin", "multilabel-soft-margin"):
        return (*binary, ["--alpha", "0.25"] if name == "sigmoid-focal" else [])
    classes = rng.standard_normal((71, 4)) * 2, rng.integers(0, 4, 71)
    if name in ("softmax-focal", "poly1", "categorical-hinge", "sparsemax"):
        return (*classes, ["--logits"] if name == "softmax-focal" else [])
    if name == "multi-margin":
        return (*classes, ["--p", "2", "--class-weights", "1,2,3,0.5"])
    if name == "brier":
        return np.exp(_log_softmax(classes[0])), classes[1], []
    raise AssertionError(f"no inputs for {name}: add them here")


def _issue10_inputs(name: str, rng) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """The regression, likelihood, pair and segmentation losses (issue 10)."""
    n = 61
    pos = rng.uniform(0.2, 4, (n, 3)), rng.uniform(0.2, 4, (n, 3))
    signs = rng.choice([-1.0, 1.0], n)
    table = {
        "log-cosh": (rng.standard_normal((n, 3)), rng.standard_normal((n, 3)), []),
        "pinball": (*pos, ["--quantile", "0.3"]),
        "mape": (*pos, []),
        "msle": (*pos, []),
        "poisson-nll": (rng.standard_normal((n, 2)), rng.poisson(2.0, (n, 2)).astype(float), []),
        "gaussian-nll": (
            rng.standard_normal((n, 3)),
            rng.standard_normal((n, 3)),
            ["--var", "0.5"],
        ),
        "tweedie": (*pos, ["--power", "1.5"]),
        "poisson-deviance": (*pos, []),
        "gamma-deviance": (*pos, []),
        "cosine-similarity": (rng.standard_normal((n, 3)), rng.standard_normal((n, 3)), []),
        "cosine-embedding": (rng.standard_normal((n, 4)), signs, ["--margin", "0.2"]),
        "margin-ranking": (rng.standard_normal((n, 2)), signs, ["--margin", "0.1"]),
        "hinge-embedding": (rng.uniform(0, 3, n), signs, []),
        "dice": (rng.uniform(0.05, 0.95, (n, 4)), rng.integers(0, 2, (n, 4)).astype(float), []),
        "tversky": (
            rng.standard_normal((n, 4)),
            rng.integers(0, 2, (n, 4)).astype(float),
            ["--logits", "--alpha", "0.3", "--beta", "0.7"],
        ),
    }
    return table.get(name)


CASES = [
    (name, reduction) for name, loss in losscli.REGISTRY.items() for reduction in loss.reductions
]


def _write(d, stem: str, a: np.ndarray, kind: str) -> str:
    path = d / f"{stem}.{kind}"
    if kind == "npy":
        np.save(path, a)
    else:
        np.savetxt(path, a, delimiter="," if kind == "csv" else "\t", fmt="%.17g")
    return str(path)


def _run(monkeypatch, args, *, stream: bool, elements: int | None):
    monkeypatch.setattr(sources, "STREAM_BYTES", 0 if stream else 1 << 62)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", elements or (1 << 20))
    monkeypatch.setattr(sources, "MEMORY_BLOCK_ELEMENTS", 0 if stream else elements or 0)
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def _same(got: dict, expected: dict, got_file, expected_file) -> None:
    assert got["shape"] == expected["shape"]
    np.testing.assert_allclose(got["value"], expected["value"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(got["grad"], expected["grad"], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(np.load(got_file), np.load(expected_file), rtol=1e-12, atol=0)
    assert [r["row"] for r in got["top"]] == [r["row"] for r in expected["top"]]
    np.testing.assert_allclose(
        [r["loss"] for r in got["top"]], [r["loss"] for r in expected["top"]], rtol=1e-12
    )
    assert got["hist"]["counts"] == expected["hist"]["counts"]
    np.testing.assert_allclose(got["hist"]["edges"], expected["hist"]["edges"], rtol=1e-12)
    assert got["check"]["passed"] == expected["check"]["passed"]
    assert got["check"]["checked"] == expected["check"]["checked"]
    assert got.get("details") == expected.get("details")


@pytest.mark.parametrize("kind", ["memory", "csv", "tsv", "npy"])
@pytest.mark.parametrize(("name", "reduction"), CASES, ids=["-".join(c) for c in CASES])
def test_any_block_size_gives_the_one_block_run(tmp_path, monkeypatch, name, reduction, kind):
    rng = np.random.default_rng(abs(hash((name, reduction))) % 2**32)
    p, t, options = _inputs(name, rng)
    file_kind = "csv" if kind == "memory" else kind
    files = [_write(tmp_path, "p", p, file_kind), _write(tmp_path, "t", t, file_kind)]
    common = [name, *files, *options, "-r", reduction, "-f", "json", "-g", "-c"]
    common += ["--top", "5", "--bins", "7"]
    one = tmp_path / "one.npy"
    expected = _run(monkeypatch, [*common, "--grad-out", str(one)], stream=False, elements=None)
    for elements in (1, 7, 64, 10_000):
        out = tmp_path / f"g{elements}.npy"
        got = _run(
            monkeypatch,
            [*common, "--grad-out", str(out)],
            stream=kind != "memory",
            elements=elements,
        )
        _same(got, expected, out, one)


def test_streamed_kl_batchmean_gradient_is_divided_by_n(tmp_path, monkeypatch):
    # Issue 13. kl_div(x, t) = Σ t·(log t − x), so ∂/∂x = −t, and batchmean divides by N:
    # the gradient is −t/N (hand-derived; torch.nn.functional.kl_div agrees).
    rng = np.random.default_rng(13)
    x = _log_softmax(rng.standard_normal((3000, 4)))
    t = np.exp(_log_softmax(rng.standard_normal((3000, 4))))
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", fmt="%.17g")
    np.savetxt(tmp_path / "t.csv", t, delimiter=",", fmt="%.17g")
    monkeypatch.setattr(sources, "STREAM_BYTES", 4096)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 1000)
    t = np.loadtxt(tmp_path / "t.csv", delimiter=",")
    for name in ("g.npy", "g.csv"):
        r = runner.invoke(
            app,
            [
                "kl",
                str(tmp_path / "x.csv"),
                str(tmp_path / "t.csv"),
                "-r",
                "batchmean",
                "-c",
                "--grad-out",
                str(tmp_path / name),
            ],
        )
        assert r.exit_code == 0, r.stderr
        g = (
            np.load(tmp_path / name)
            if name.endswith("npy")
            else np.loadtxt(tmp_path / name, delimiter=",")
        )
        np.testing.assert_allclose(g, -t / 3000, rtol=1e-15, atol=0)


# --------------------------------------------------------------------------- states


def test_partial_states_merge_in_any_grouping():
    rng = np.random.default_rng(3)
    z, y = rng.standard_normal((50, 4)), rng.integers(0, 4, 50)
    ce = losscli.cross_entropy
    parts = [
        partial(ce, Block(z[a:b], y[a:b], start=a), logits=True, top=3)
        for a, b in ((0, 7), (7, 30), (30, 50))
    ]
    left = parts[0].merge(parts[1]).merge(parts[2])
    right = parts[0].merge(parts[1].merge(parts[2]))
    expected = ce(z, y, logits=True)
    assert left.value(ce, "mean") == right.value(ce, "mean")
    assert left.value(ce, "mean") == pytest.approx(expected, rel=1e-14)
    rows = ce(z, y, logits=True, reduction="none")
    assert left.top.rows.tolist() == np.argsort(-rows, kind="stable")[:3].tolist()
    assert left.top.rows.tolist() == right.top.rows.tolist()


def test_exact_sum_does_not_depend_on_grouping():
    xs = [1e16, 1.0, -1e16, 3.0, 1e-3]
    a = ExactSum()
    for x in xs:
        a = a.merge(ExactSum.of(x))
    b = (
        ExactSum.of(xs[4])
        .merge(ExactSum.of(xs[3]).merge(ExactSum.of(xs[2])))
        .merge(ExactSum.of(xs[0]).merge(ExactSum.of(xs[1])))
    )
    assert float(a) == float(b) == 4.001  # the exact sum, rounded once


def test_histogram_states_count_like_one_pass():
    rows = np.array([0.0, 0.5, 1.0, 4.0, np.nan, 2.0, 2.0])
    span = RangeState.of(rows[:3]).merge(RangeState.of(rows[3:]))
    assert (span.lo, span.hi, span.nonfinite) == (0.0, 4.0, 1)
    edges = np.array([0.0, 2.0, 4.0])
    h = HistState.of(rows[:4], edges).merge(HistState.of(rows[4:], edges))
    # [0, 2): 0, 0.5, 1; [2, 4]: 4, 2, 2 (the last bin keeps its right edge)
    assert h.counts.tolist() == [3, 3] and h.nonfinite == 1


def test_top_state_ties_keep_row_order():
    a = TopState(2, np.array([0, 1]), np.array([1.0, 2.0]), {})
    b = TopState(2, np.array([5, 6]), np.array([2.0, np.nan]), {})
    assert b.merge(a).rows.tolist() == a.merge(b).rows.tolist() == [6, 1]


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("value", ["abc", "", "12x", "-5"])
def test_bad_size_setting_is_one_error_line(value):
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "losscli", "mse", "--format", "plain"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "LOSSCLI_STREAM_BYTES": value},
    )
    assert r.returncode == 2
    assert r.stderr.endswith(
        f"Error: LOSSCLI_STREAM_BYTES={value!r} is not a size; give a whole number such as "
        "4096, 1e6, 64M or 64MiB\n"
    )
    assert r.stderr.count("Error:") == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("value", "expected"), [("4096", 4096), ("1e6", 10**6), ("64M", 64 << 20), ("64MiB", 64 << 20)]
)
def test_size_settings(monkeypatch, value, expected):
    monkeypatch.setenv("LOSSCLI_CHUNK_ELEMENTS", value)
    assert sources.parse_size("LOSSCLI_CHUNK_ELEMENTS", 1) == expected


def test_an_unknown_engine_is_a_usage_error():
    with pytest.raises(
        losscli.UsageError, match="unknown engine 'spark'; choose one of local, dask"
    ):
        losscli.evaluate("mse", [1.0], [0.0], engine="spark")


# --------------------------------------------------------------------------- tables, shards


@pytest.fixture
def table(tmp_path):
    """(N × 3) logits with ids and labels and weights, as one CSV, one TSV, one Parquet, a
    folder of 3 Parquet shards and a glob of 3 CSV shards; and the same as two NPY files."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(8)
    n = 157
    z, y, w = rng.standard_normal((n, 3)) * 2, rng.integers(0, 3, n), rng.random(n) + 0.5
    ids = [f"r{i}" for i in range(n)]
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "w.npy", w)

    def text(path, rows, sep=","):
        with open(path, "w") as f:
            f.write(sep.join(["id", "logit_0", "logit_1", "logit_2", "label", "w"]) + "\n")
            for i in rows:
                cells = [ids[i], *(repr(float(v)) for v in z[i]), str(y[i]), repr(float(w[i]))]
                f.write(sep.join(cells) + "\n")

    def parquet(path, rows, group=20):
        columns = {"id": [ids[i] for i in rows]}
        columns.update({f"logit_{j}": z[rows, j] for j in range(3)})
        columns.update({"label": y[rows], "w": w[rows]})
        pq.write_table(pa.table(columns), path, row_group_size=group)

    everything = list(range(n))
    text(tmp_path / "all.csv", everything)
    text(tmp_path / "all.tsv", everything, "\t")
    import bz2
    import gzip

    (tmp_path / "all.csv.gz").write_bytes(gzip.compress((tmp_path / "all.csv").read_bytes()))
    (tmp_path / "all.tsv.bz2").write_bytes(bz2.compress((tmp_path / "all.tsv").read_bytes()))
    parquet(tmp_path / "all.parquet", np.arange(n))
    parquet(tmp_path / "one-group.parquet", np.arange(n), group=n)  # blocks split the group
    (tmp_path / "pq").mkdir()
    (tmp_path / "csv").mkdir()
    for k, part in enumerate(np.array_split(np.arange(n), 3)):
        parquet(tmp_path / "pq" / f"part-{k}.parquet", part)
        text(tmp_path / "csv" / f"part-{k}.csv", part.tolist())
    return tmp_path


TABLES = [
    "all.csv", "all.tsv", "all.csv.gz", "all.tsv.bz2", "all.parquet", "one-group.parquet", "pq",
    "csv/*.csv",
]  # fmt: skip


@pytest.mark.parametrize("name", ["all.csv.gz", "all.tsv.bz2"])
def test_a_compressed_table_is_streamed_not_read_whole(table, monkeypatch, name):
    monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 64)

    def whole(self):
        raise AssertionError("read whole")

    monkeypatch.setattr(sources._TableFile, "_read_exact", whole)
    r = runner.invoke(
        app, ["ce", str(table / name), "--pred-col", "logit_*", "--target-col", "label",
              "--logits", "-f", "json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    expected = runner.invoke(
        app, ["ce", str(table / "z.npy"), str(table / "y.npy"), "--logits", "-f", "json"]
    )
    assert json.loads(r.stdout)["value"] == pytest.approx(
        json.loads(expected.stdout)["value"], rel=1e-12
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", TABLES)
def test_tables_and_shards_give_the_two_file_run(table, monkeypatch, name, reduction):
    monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0)
    cols = ["--pred-col", "logit_*", "--target-col", "label", "--id-col", "id"]
    flags = ["--logits", "-r", reduction, "-f", "json", "-g", "-c", "--top", "4", "--bins", "5"]
    one = table / "one.npy"
    expected = _run(
        monkeypatch,
        ["ce", str(table / "z.npy"), str(table / "y.npy"), *flags, "--grad-out", str(one)],
        stream=False,
        elements=None,
    )
    for elements in (1, 7, 64, 10_000):
        out = table / f"g{elements}.npy"
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", elements)
        r = runner.invoke(app, ["ce", str(table / name), *cols, *flags, "--grad-out", str(out)])
        assert r.exit_code == 0, r.stderr
        got = json.loads(r.stdout)
        _same(got, expected, out, one)
        assert [row["id"] for row in got["top"]] == [f"r{row['row']}" for row in got["top"]]
        assert got["columns"] == {
            "predictions": ["logit_0", "logit_1", "logit_2"],
            "targets": ["label"],
            "id": "id",
        }


@pytest.mark.parametrize("name", TABLES)
def test_weight_col_is_the_sample_weights_file(table, monkeypatch, name):
    monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 64)
    base = ["--logits", "-f", "json", "-g"]
    expected = json.loads(
        runner.invoke(
            app,
            [
                "ce",
                str(table / "z.npy"),
                str(table / "y.npy"),
                *base,
                "--sample-weights",
                str(table / "w.npy"),
            ],
        ).stdout
    )
    cols = ["--pred-col", "logit_*", "--target-col", "label", "--weight-col", "w"]
    r = runner.invoke(app, ["ce", str(table / name), *cols, *base])
    assert r.exit_code == 0, r.stderr
    got = json.loads(r.stdout)
    np.testing.assert_allclose(got["value"], expected["value"], rtol=1e-12)
    np.testing.assert_allclose(got["grad"], expected["grad"], rtol=1e-12)


def test_a_bad_shard_is_one_error_naming_it_and_its_row(table, tmp_path):
    path = table / "csv" / "part-1.csv"
    lines = path.read_text().splitlines()
    cells = lines[4].split(",")
    cells[4] = "7"  # data row 3 of the shard: a class that does not exist
    lines[4] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "g.npy"
    r = runner.invoke(
        app,
        [
            "ce",
            str(table / "csv"),
            "--pred-col",
            "logit_*",
            "--target-col",
            "label",
            "--logits",
            "--grad-out",
            str(out),
        ],
    )
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {path}: class index 7 at (row 3) is out of range for 3 classes (valid: 0 to 2)\n"
    )
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_shard_with_a_non_numeric_cell_names_the_shard_and_line(table):
    path = table / "csv" / "part-2.csv"
    lines = path.read_text().splitlines()
    cells = lines[7].split(",")
    cells[2] = "oops"
    lines[7] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    r = runner.invoke(
        app,
        ["ce", str(table / "csv"), "--pred-col", "logit_*", "--target-col", "label", "--logits"],
    )
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {path}: column \"logit_1\" is not numeric ('oops' at line 8); numeric columns: "
        "logit_0, logit_2, label, w\n"
    )


def test_shards_with_different_columns_name_both(table):
    pq = pytest.importorskip("pyarrow.parquet")
    first, second = table / "pq" / "part-0.parquet", table / "pq" / "part-1.parquet"
    t = pq.read_table(second)
    pq.write_table(t.rename_columns(["id", "logit_0", "logit_1", "logit_2", "y", "w"]), second)
    r = runner.invoke(
        app,
        ["ce", str(table / "pq"), "--pred-col", "logit_*", "--target-col", "label", "--logits"],
    )
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {second}: its columns differ from those of {first}: [id, logit_0, logit_1, "
        "logit_2, y, w] vs [id, logit_0, logit_1, logit_2, label, w]; every shard must hold "
        "the same columns\n"
    )


def test_shards_with_different_types_name_both(table):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    first, second = table / "pq" / "part-0.parquet", table / "pq" / "part-1.parquet"
    t = pq.read_table(second)
    t = t.set_column(4, "label", pa.array(t.column("label").to_numpy().astype(np.float64)))
    pq.write_table(t, second)
    r = runner.invoke(
        app,
        ["ce", str(table / "pq"), "--pred-col", "logit_*", "--target-col", "label", "--logits"],
    )
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {second}: its column types differ from those of {first}: [id: string, "
        "logit_0: double, logit_1: double, logit_2: double, label: double, w: double] vs [id: "
        "string, logit_0: double, logit_1: double, logit_2: double, label: int64, w: double]; "
        "every shard must hold the same columns\n"
    )


def test_an_empty_folder_is_an_error(tmp_path):
    (tmp_path / "none").mkdir()
    r = runner.invoke(app, ["mse", str(tmp_path / "none"), "--pred-col", "a"])
    assert (r.exit_code, r.stderr) == (
        2,
        f"Error: {tmp_path / 'none'}: folder holds no CSV, TSV, NPY or Parquet files\n",
    )


def test_a_csv_on_one_enormous_line_is_one_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "MAX_ROW_BYTES", 1000)
    (tmp_path / "p.csv").write_text(",".join(["0.5"] * 400) + "\n")
    (tmp_path / "t.csv").write_text(",".join(["0"] * 400) + "\n")
    r = runner.invoke(app, ["mse", str(tmp_path / "p.csv"), str(tmp_path / "t.csv")])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {tmp_path / 'p.csv'}: line 1 is longer than 0 MiB; losscli reads rows of at "
        "most 0 MiB — put one row of values per line (e.g. one value per line for a long "
        "vector), or save the array as NPY\n"
    )


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_one_file_table_streams_in_bounded_memory(tmp_path, kind):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(5)
    n = 1_500_000  # ~70 MB of CSV, ~36 MB of float64 columns; blocks of 64 Ki rows
    y = rng.standard_normal(n)
    yhat = y + 0.5
    path = tmp_path / f"scores.{kind}"

    def write(path, yhat, y):
        if kind == "parquet":
            table = pa.table({"id": np.arange(len(y)), "yhat": yhat, "y": y})
            pq.write_table(table, path, row_group_size=65_536)
            return
        with open(path, "w") as f:
            f.write("id,yhat,y\n")
            for start in range(0, len(y), 100_000):
                a, b = yhat[start : start + 100_000].tolist(), y[start : start + 100_000].tolist()
                rows = enumerate(zip(a, b, strict=True))
                f.write("".join(f"{start + i},{u!r},{v!r}\n" for i, (u, v) in rows))

    write(path, yhat, y)
    del y, yhat
    cols = ["--pred-col", "yhat", "--target-col", "y"]
    env = {"LOSSCLI_CHUNK_ELEMENTS": "64Ki"}
    streamed, out = peak_rss_mib(["mse", str(path), *cols], env)
    whole, _ = peak_rss_mib(["mse", str(path), *cols], {"LOSSCLI_TABLE_STREAM_BYTES": "1T"})
    # 0.5² = 0.25 for every row (hand-derived); streamed, the run holds a few blocks, not the
    # file's columns and the whole-file reader's copies of them.
    assert float(out) == pytest.approx(0.25, rel=1e-12)
    assert streamed < whole - 40, (streamed, whole)


def test_one_parquet_row_group_many_blocks_long_streams_in_bounded_memory(tmp_path):
    # Issue 8: a 40 MB file in ONE row group, blocks of 16 Ki values (128 KiB). pyarrow read
    # unbuffered holds each column's chunk of the row group whole (+50 MiB here, 2 GiB for the
    # benchmark's 1M × 101 file); buffered it holds a page and the dictionary per column.
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    n = 2_500_000
    y = np.random.default_rng(9).standard_normal(n)
    big, small = tmp_path / "big.parquet", tmp_path / "small.parquet"
    pq.write_table(pa.table({"yhat": y + 0.5, "y": y}), big, row_group_size=n)
    pq.write_table(pa.table({"yhat": y[:1000] + 0.5, "y": y[:1000]}), small)
    assert pq.ParquetFile(big).metadata.num_row_groups == 1
    assert big.stat().st_size > 40e6
    del y
    env = {"LOSSCLI_TABLE_STREAM_BYTES": "0", "LOSSCLI_CHUNK_ELEMENTS": "16Ki"}
    cols = ["--pred-col", "yhat", "--target-col", "y"]
    grad = tmp_path / "g.npy"
    big_mib, out = peak_rss_mib(["mse", str(big), *cols, "--grad-out", str(grad)], env)
    small_mib, _ = peak_rss_mib(
        ["mse", str(small), *cols, "--grad-out", str(tmp_path / "s.npy")], env
    )
    assert big_mib - small_mib < 20, (big_mib, small_mib)  # measured: +10 (before: +50)
    # 0.5² for every row; the gradient of the mean 2·0.5/n (hand-derived), written block by
    # block
    assert float(out.split()[-1]) == pytest.approx(0.25, rel=1e-12)
    g = np.load(grad)
    assert g.shape == (n,)
    np.testing.assert_allclose(g, 1.0 / n, rtol=1e-12)


def test_parquet_integer_columns_are_read_as_the_exact_reader_reads_them(tmp_path, monkeypatch):
    # 2**53 + 1 rounds to 2**53 in float64, as numpy's astype rounds it, streamed or whole
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "ints.parquet"
    big = 2**53 + 1
    p = pa.array([big, 3, 1, big], pa.int64())
    t = pa.array([0, 1, 1, 0], pa.uint8())
    flag = pa.array([True, False, True, False])
    pq.write_table(pa.table({"p": p, "t": t, "b": flag}), path, row_group_size=3)
    got = {}
    for streamed in (False, True):
        monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0 if streamed else 1 << 40)
        if streamed:  # by the batch reader, not handed to the exact reader

            def whole(self):
                raise AssertionError("read whole")

            monkeypatch.setattr(sources._TableFile, "_read_exact", whole)
        got[streamed] = [
            losscli.evaluate("mse", str(path), pred_cols=[c], target_cols=["t"]).value
            for c in ("p", "b")
        ]
    # (2**53)² · 2 + 2² on 4 rows; (1² + 1² + 0 + 0) / 4 for the booleans (hand-derived)
    assert got[True] == got[False] == [(2.0**106 * 2 + 4) / 4, 0.5]


def test_ignore_index_takes_any_int64():
    # Issue 14's aside: 2**63 − 1 is a valid int64 (no label equals it, so nothing is ignored).
    z, y = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([0, 1])
    top = np.iinfo(np.int64).max
    assert losscli.cross_entropy(z, y, logits=True, ignore_index=top) == losscli.cross_entropy(
        z, y, logits=True
    )
    r = runner.invoke(app, ["ce", "--logits", "--ignore-index", str(top + 1)])
    assert (r.exit_code, r.stderr.splitlines()[-1]) == (
        2,
        f"Error: --ignore-index must fit in int64, got {top + 1}",
    )


@pytest.mark.parametrize("stream", [False, True])
def test_range_fixes_the_histogram_edges(tmp_path, monkeypatch, stream):
    np.save(tmp_path / "p.npy", np.array([0.0, 1.0, 2.0, 3.0]))
    np.save(tmp_path / "t.npy", np.zeros(4))
    files = [str(tmp_path / "p.npy"), str(tmp_path / "t.npy")]
    # row losses 0, 1, 4, 9 (hand-derived); outside values count in the end bins
    for given, edges, counts in (("0,10", [0, 5, 10], [3, 1]), ("2,5", [2, 3, 4, 5], [2, 0, 2])):
        bins = str(len(counts))
        got = _run(
            monkeypatch,
            ["mse", *files, "--range", given, "--bins", bins, "-f", "json"],
            stream=stream,
            elements=1 if stream else None,
        )
        assert (got["hist"]["edges"], got["hist"]["counts"]) == (edges, counts)


@pytest.mark.parametrize("given", ["1,0", "abc", "0,inf", "1,2,3"])
def test_bad_range_is_one_error(given):
    r = runner.invoke(app, ["mse", "--range", given])
    assert (r.exit_code, r.stdout, r.stderr) == (
        2,
        "",
        f"Error: --range takes LO,HI, two finite numbers with LO < HI, got {given!r}\n",
    )


def test_top_leaves_out_ignored_rows(tmp_path):
    # Issue 9: a row whose target is --ignore-index (-100) adds nothing to the loss, so it is
    # not a "worst row"; the summary counts it (hand-derived: rows 2 and 0 remain).
    (tmp_path / "z.csv").write_text("2,0,-1\n0,1,0\n1,1,3\n")
    (tmp_path / "y.csv").write_text("0\n-100\n1\n")
    r = CliRunner().invoke(
        app,
        [
            "ce",
            str(tmp_path / "z.csv"),
            str(tmp_path / "y.csv"),
            "--logits",
            "--top",
            "3",
            "-f",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [row["row"] for row in doc["top"]] == [2, 0]
    assert doc["details"]["ignored_rows"] == 1


def test_partial_top_leaves_out_ignored_rows():
    from losscli.engine import Block, partial

    z = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 3.0]])
    state = partial("ce", Block(z, np.array([0.0, -100.0, 1.0]), start=10), top=3, logits=True)
    assert state.top.result().rows.tolist() == [12, 10]


def test_a_block_whose_rows_are_all_ignored_adds_no_top_rows():
    from losscli.engine import Block, partial

    z = np.array([[2.0, 0.0], [0.0, 1.0]])
    ignored = partial("ce", Block(z[:1], np.array([-100.0])), top=2, logits=True)
    kept = partial("ce", Block(z[1:], np.array([1.0]), start=1), top=2, logits=True)
    assert ignored.top.result().rows.tolist() == []
    assert ignored.merge(kept).top.result().rows.tolist() == [1]
