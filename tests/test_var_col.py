"""gaussian-nll --var-col: the variances as a column of the one file holding the inputs, one
per row, in memory and streamed (like --weight-col).

Expected values: the formula of torch.nn.functional.gaussian_nll_loss (its per-row variance
layout is pinned against torch in tests/test_regression_losses.py) written out here in numpy:
½(log v + (μ − y)²/v), its mean, and (μ − y)/(v·N·D).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import losscli
import losscli.engine as engine
import losscli.sources as sources
from losscli.cli import app
from losscli.errors import UsageError

runner = CliRunner()
N = 200


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(8)
    mu, mu2, y, y2 = (rng.normal(size=N) for _ in range(4))
    v = rng.random(N) + 0.1

    def write(name: str, v: np.ndarray) -> str:
        lines = ["id,mu,mu2,y,y2,v"] + [
            ",".join([f"r{i}", *(repr(float(a[i])) for a in (mu, mu2, y, y2, v))]) for i in range(N)
        ]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        return str(tmp_path / name)

    bad = v.copy()
    bad[57] = 0.0
    negative = v.copy()
    negative[3] = -1.5
    return {
        "path": write("g.csv", v),
        "bad": write("bad.csv", bad),
        "negative": write("negative.csv", negative),
        "mu": np.column_stack([mu, mu2]),
        "y": np.column_stack([y, y2]),
        "v": v,
        "dir": tmp_path,
    }


def run(args, *, block=None, monkeypatch=None):
    """The CLI in memory, or streamed (``block`` rows of the one table per block)."""
    calls = []
    if block is not None:
        monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", block)
        real = engine._Run.streamed
        monkeypatch.setattr(
            engine._Run, "streamed", lambda *a, **k: calls.append(1) or real(*a, **k)
        )
    try:
        r = runner.invoke(app, [str(a) for a in args])
    finally:
        if block is not None:
            monkeypatch.undo()
    return r, bool(calls)


def _expected(mu, y, v):
    vv = v[:, None] if mu.ndim == 2 else v
    value = float(np.mean(0.5 * (np.log(vv) + (mu - y) ** 2 / vv)))
    grad = (mu - y) / (np.broadcast_to(vv, mu.shape) * mu.size)
    return value, grad


@pytest.mark.parametrize("block", [None, 1, 7, 64, 10_000])
@pytest.mark.parametrize("columns", [["mu"], ["mu,mu2"]], ids=["vector", "two-columns"])
def test_value_and_gradient(table, monkeypatch, block, columns):
    targets = columns[0].replace("mu", "y")
    args = ["gaussian-nll", table["path"], "--pred-col", *columns, "--target-col", targets]
    args += ["--var-col", "v", "-g", "-f", "json"]
    r, streamed = run(args, block=block, monkeypatch=monkeypatch)
    assert r.exit_code == 0, r.output
    assert streamed == (block is not None)
    d = 2 if "," in columns[0] else 1
    mu, y = table["mu"][:, :d], table["y"][:, :d]
    if d == 1:
        mu, y = mu[:, 0], y[:, 0]
    value, grad = _expected(mu, y, table["v"])
    doc = json.loads(r.stdout)
    assert doc["value"] == pytest.approx(value, rel=1e-13)
    np.testing.assert_allclose(np.array(doc["grad"]), grad, rtol=1e-13)


@pytest.mark.parametrize("block", [1, 7, 10_000])
def test_grad_out_top_and_check_streamed_equal_in_memory(table, monkeypatch, block):
    args = ["gaussian-nll", table["path"], "--pred-col", "mu,mu2", "--target-col", "y,y2"]
    args += ["--var-col", "v", "--top", "3", "--check", "-f", "json"]
    a, b = table["dir"] / "a.npy", table["dir"] / "b.npy"
    expected, _ = run([*args, "--grad-out", a])
    got, streamed = run([*args, "--grad-out", b], block=block, monkeypatch=monkeypatch)
    assert (expected.exit_code, got.exit_code, streamed) == (0, 0, True), got.output
    e, g = json.loads(expected.stdout), json.loads(got.stdout)
    assert g["top"] == e["top"]
    assert g["check"]["passed"] and g["check"]["checked"] == e["check"]["checked"] == 2 * N
    np.testing.assert_allclose(np.load(b), np.load(a), rtol=1e-13)
    _, grad = _expected(table["mu"], table["y"], table["v"])
    np.testing.assert_allclose(np.load(a), grad, rtol=1e-13)


@pytest.mark.parametrize("block", [None, 1, 7, 64])
@pytest.mark.parametrize(
    ("name", "found"), [("bad", "0.0 at (row 57)"), ("negative", "-1.5 at (row 3)")]
)
def test_a_variance_not_above_zero_is_one_error_naming_file_and_row(
    table, monkeypatch, block, name, found
):
    out = table["dir"] / "g.npy"
    args = ["gaussian-nll", table[name], "--pred-col", "mu", "--target-col", "y"]
    r, _ = run([*args, "--var-col", "v", "--grad-out", out], block=block, monkeypatch=monkeypatch)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {table[name]}: variances must be finite and > 0, found {found} — give σ², not "
        "σ or log σ² (torch clamps a variance of 0 to --epsilon; give that value if you mean "
        "it)\n"
    )
    assert not out.exists()


def test_a_variance_column_of_text_is_the_readers_error(table):
    args = ["gaussian-nll", table["path"], "--pred-col", "mu", "--target-col", "y"]
    r, _ = run([*args, "--var-col", "id"])
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {table['path']}: column \"id\" is not numeric ('r0' at line 2); numeric "
        "columns: mu, mu2, y, y2, v\n"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--var", "2"], "Error: give --var or --var-col, not both\n"),
        (["--pred-col", "v"], None),  # the column is both
        (["--var-col", "zz"], None),
    ],
)
def test_usage_errors(table, extra, message):
    base = ["gaussian-nll", table["path"], "--target-col", "y"]
    if extra[0] == "--var-col":
        args = [*base, "--pred-col", "mu", *extra]
        message = f'Error: {table["path"]}: no column "zz"; columns: id, mu, mu2, y, y2, v\n'
    elif extra[0] == "--pred-col":
        args = [*base, *extra, "--var-col", "v"]
        message = (
            f'Error: {table["path"]}: column "v" is the --var-col; it cannot be in --pred-col\n'
        )
    else:
        args = [*base, "--pred-col", "mu", "--var-col", "v", *extra]
    r, _ = run(args)
    assert (r.exit_code, r.stderr) == (2, message)


def test_two_files_take_var_not_var_col(table):
    np.save(table["dir"] / "p.npy", table["mu"])
    np.save(table["dir"] / "t.npy", table["y"])
    r, _ = run(["gaussian-nll", table["dir"] / "p.npy", table["dir"] / "t.npy", "--var-col", "v"])
    assert (r.exit_code, r.stderr) == (
        2,
        "Error: --var-col takes a column of the one file holding predictions and targets "
        "(PREDS alone with --pred-col/--target-col); with two files give --var FILE\n",
    )


def test_python_api(table):
    report = losscli.evaluate(
        "gaussian-nll", table["path"], pred_cols=["mu"], target_cols=["y"], var_col="v"
    )
    assert report.value == pytest.approx(
        _expected(table["mu"][:, 0], table["y"][:, 0], table["v"])[0], rel=1e-13
    )
    with pytest.raises(UsageError, match="var_col names a column of a table"):
        losscli.gaussian_nll([1.0], [0.0], var_col="v")


def test_an_error_in_the_first_streamed_block_of_a_table_is_the_losss(tmp_path, monkeypatch):
    # the loss words it on stand-ins of the table's full shape (the rows counted to the end),
    # not of no rows ("array is empty"), and their zeros raise no warning of their own
    (tmp_path / "c.csv").write_text("p0,p1,y\n0.1,0.2,0\n0.3,0.1,5\n0.2,0.2,1\n")
    args = ["ce", tmp_path / "c.csv", "--pred-col", "p0,p1", "--target-col", "y", "--logits"]
    r, streamed = run(args, block=64, monkeypatch=monkeypatch)
    assert streamed
    assert (r.exit_code, r.stderr) == (
        2,
        f"Error: {tmp_path / 'c.csv'}: class index 5 at (row 1) is out of range for 2 classes "
        "(valid: 0 to 1)\n",
    )


@pytest.mark.parametrize("block", [None, 7])
def test_parquet_and_shards(table, monkeypatch, block):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    columns = {"mu": table["mu"][:, 0], "y": table["y"][:, 0], "v": table["v"]}
    pq.write_table(pa.table(columns), table["dir"] / "g.parquet")
    (table["dir"] / "shards").mkdir()
    for k, part in enumerate((slice(0, 120), slice(120, N))):
        piece = pa.table({name: values[part] for name, values in columns.items()})
        pq.write_table(piece, table["dir"] / "shards" / f"part-{k}.parquet")
    value, _ = _expected(columns["mu"], columns["y"], columns["v"])
    for path in (table["dir"] / "g.parquet", table["dir"] / "shards"):
        args = ["gaussian-nll", path, "--pred-col", "mu", "--target-col", "y", "--var-col", "v"]
        r, _ = run([*args, "-f", "plain"], block=block, monkeypatch=monkeypatch)
        assert r.exit_code == 0, r.output
        assert float(r.stdout) == pytest.approx(value, rel=1e-13)
    bad = dict(columns, v=np.where(np.arange(N) == 130, -2.0, columns["v"]))
    pq.write_table(
        pa.table({k: v[120:] for k, v in bad.items()}), table["dir"] / "shards" / "part-1.parquet"
    )
    args = ["gaussian-nll", table["dir"] / "shards", "--pred-col", "mu", "--target-col", "y"]
    r, _ = run([*args, "--var-col", "v"], block=block, monkeypatch=monkeypatch)
    assert r.exit_code == 2
    assert r.stderr.startswith(
        f"Error: {table['dir'] / 'shards' / 'part-1.parquet'}: variances must be finite and > 0, "
        "found -2.0 at (row 10) — "
    )  # the shard's own row


def test_refused_on_dask(table):
    args = ["gaussian-nll", table["path"], "--pred-col", "mu", "--target-col", "y"]
    r, _ = run([*args, "--var-col", "v", "--engine", "dask"])
    assert (r.exit_code, r.stderr) == (
        2,
        "Error: --var-col is not available with --engine dask (it gives the value, --top and "
        "--hist); run it with --engine local\n",
    )


# --------------------------------------------------------------------------- streamed tables


@pytest.mark.parametrize("block", [1, 7])
@pytest.mark.parametrize("top", [[], ["--top", "2"]], ids=["check", "check-top"])
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_check_with_ids_streamed_is_the_in_memory_output(table, monkeypatch, block, top, fmt):
    # the streamed run keeps the ids of the rows the check names (it used to keep only the
    # --top rows', and the check's JSON then failed looking the others up)
    args = ["gaussian-nll", table["path"], "--pred-col", "mu,mu2", "--target-col", "y,y2"]
    args += ["--var-col", "v", "--id-col", "id", "--check", *top, "-f", fmt]
    expected, _ = run(args)
    got, streamed = run(args, block=block, monkeypatch=monkeypatch)
    assert (expected.exit_code, got.exit_code, streamed) == (0, 0, True), got.output
    if fmt == "csv":
        assert got.stdout == expected.stdout
        return
    e, g = json.loads(expected.stdout), json.loads(got.stdout)
    assert [w["id"] for w in g["check"]["worst"]] == [w["id"] for w in e["check"]["worst"]]
    assert all(w["id"] == f"r{w['index'][0]}" for w in g["check"]["worst"])
    assert g.get("top") == e.get("top")


@pytest.mark.parametrize("block", [1, 7, 64])
def test_against_and_hess_check_streamed_take_the_variance_column(table, monkeypatch, block):
    # Before: these later passes prepared their blocks without --var-col, so every variance
    # was 1 there ("no --var given" warning) and a correct gradient was reported as wrong.
    mu, y, v = table["mu"][:, 0], table["y"][:, 0], table["v"]
    _, grad = _expected(mu, y, v)  # hand-derived (μ − y)/(v·N)
    g = table["dir"] / "grad.csv"
    np.savetxt(g, grad)
    h = table["dir"] / "hess.csv"
    np.savetxt(h, 1 / (v * N))  # ∂²/∂μ² of ½(μ − y)²/v, over the mean's N
    base = ["gaussian-nll", table["path"], "--pred-col", "mu", "--target-col", "y",
            "--var-col", "v", "-f", "json"]  # fmt: skip
    for extra, key in (
        (["--against", g], "against"),
        (["--against-hess", h], "against_hess"),
        (["--hess", "--check"], "hess_check"),
    ):
        whole, _ = run([*base, *extra])
        streamed, was_streamed = run([*base, *extra], block=block, monkeypatch=monkeypatch)
        assert was_streamed and whole.exit_code == streamed.exit_code == 0, streamed.output
        assert streamed.stderr == whole.stderr == ""
        doc = json.loads(streamed.stdout)[key]
        assert doc["passed"] is True
        if key != "hess_check":
            assert doc == json.loads(whole.stdout)[key]
