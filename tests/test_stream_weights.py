"""Issue 8: ``--sample-weights FILE`` beside one streamed table, and ``--against FILE`` as
Parquet, are read block by block beside the rows (sources.AlignedFile), never whole.

The report is the in-memory one for any block size (1, 7, 64, 10,000 values), from CSV and
Parquet tables with NPY, CSV and Parquet weights; expected values are an independent numpy
formula (the weighted mean Σ s_i·e_i²/Σ s_i and its gradient 2·s_i·e_i/Σ s_i, hand-derived);
a weights file that is short, long, non-numeric, NaN or negative is one ``Error:`` line, as
read whole; a table many blocks long with a weights file is not read whole (peak RSS).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from peak_rss import peak_rss_mib  # one helper for the peak RSS of a subprocess
from test_stream_against import _invoke, _value_free
from typer.testing import CliRunner

import losscli.io as lio
import losscli.sources as sources
from losscli.cli import app

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

runner = CliRunner()
SIZES = (1, 7, 64, 10_000)
N = 45
READ_ARRAY, READ_TABLE = lio.read_array, lio.read_table


def _table(d, kind: str, yhat, y) -> str:
    path = d / f"scores.{kind}"
    if kind == "parquet":
        pq.write_table(pa.table({"id": np.arange(len(y)), "yhat": yhat, "y": y}), path)
    else:
        with open(path, "w") as f:
            f.write("id,yhat,y\n")
            rows = enumerate(zip(yhat, y, strict=True))
            f.writelines(f"{i},{a!r},{b!r}\n" for i, (a, b) in rows)
    return str(path)


def _weights(d, kind: str, w, stem: str = "w") -> str:
    if kind == "npy":
        np.save(d / f"{stem}.npy", np.asarray(w))
        return str(d / f"{stem}.npy")
    if kind == "npy-column":  # (N, 1): one value per row too
        np.save(d / f"{stem}.npy", np.asarray(w).reshape(-1, 1))
        return str(d / f"{stem}.npy")
    if kind == "parquet":
        pq.write_table(pa.table({"w": np.asarray(w, dtype=np.float64)}), d / f"{stem}.parquet")
        return str(d / f"{stem}.parquet")
    assert kind == "csv"
    path = d / f"{stem}.csv"
    path.write_text("".join(f"{v!r}\n" if isinstance(v, float) else f"{v}\n" for v in w))
    return str(path)


def _run(monkeypatch, args, *, elements: int | None, setting: str = "TABLE_STREAM_BYTES"):
    """The CLI with the inputs read whole (``elements`` None) or streamed in blocks of
    ``elements`` values (``setting``: the size from which they stream), the weights file
    then never read whole."""
    stream = elements is not None
    monkeypatch.setattr(sources, setting, 0 if stream else 1 << 62)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", elements or (1 << 20))
    monkeypatch.setattr(sources, "MEMORY_BLOCK_ELEMENTS", 0)

    def refuse(read):
        def whole(path, *a, role=None, **k):
            assert not (stream and role == "sample weights"), "the weights were read whole"
            return read(path, *a, role=role, **k)

        return whole

    monkeypatch.setattr(lio, "read_array", refuse(READ_ARRAY))
    monkeypatch.setattr(lio, "read_table", refuse(READ_TABLE))
    held = []  # inputs read whole
    real = sources.MemoryInputs.__init__
    monkeypatch.setattr(
        sources.MemoryInputs, "__init__", lambda s, *a, **k: held.append(1) or real(s, *a, **k)
    )
    r = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert bool(held) != stream or r.exit_code == 2
    return r.exit_code, r.stdout, r.stderr


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    yhat, y = rng.standard_normal(N).tolist(), rng.standard_normal(N).tolist()
    w = (rng.random(N) * 2).tolist()
    w[3] = 0.0  # a zero weight is allowed
    return yhat, y, w


@pytest.mark.parametrize("wkind", ["npy", "npy-column", "csv", "parquet"])
@pytest.mark.parametrize("tkind", ["csv", "parquet"])
def test_weights_beside_a_streamed_table_are_the_in_memory_run(tmp_path, monkeypatch, tkind, wkind):
    yhat, y, w = _data()
    table = _table(tmp_path, tkind, yhat, y)
    weights = _weights(tmp_path, wkind, w)
    e = np.subtract(yhat, y)
    s = np.asarray(w)
    value = math.fsum(s * e**2) / math.fsum(s)  # Σ s_i·e_i² / Σ s_i
    grad = 2 * s * e / math.fsum(s)  # ∂/∂ŷ_i (hand-derived)
    cols = ["--pred-col", "yhat", "--target-col", "y", "--sample-weights", weights]
    base = ["mse", table, *cols, "-g", "-f", "json"]
    code, out, err = _run(monkeypatch, base, elements=None)
    assert (code, err) == (0, "")
    expected = json.loads(out)
    np.testing.assert_allclose(expected["value"], value, rtol=1e-12)
    np.testing.assert_allclose(expected["grad"], grad, rtol=1e-12, atol=1e-300)
    for elements in SIZES:
        code, out, err = _run(monkeypatch, base, elements=elements)
        assert (code, err) == (0, ""), (elements, err)
        got = json.loads(out)
        np.testing.assert_allclose(got["value"], value, rtol=1e-12)
        np.testing.assert_allclose(got["grad"], grad, rtol=1e-12, atol=1e-300)
        assert got["inputs"] == expected["inputs"]
        assert got["inputs"]["sample weights"] == weights
    # the sum and the row values: Σ s_i·e_i² and s_i·e_i²
    for reduction, want in (("sum", math.fsum(s * e**2)), ("none", s * e**2)):
        args = ["mse", table, *cols, "-r", reduction, "-f", "json"]
        for elements in (None, 7):
            got = json.loads(_run(monkeypatch, args, elements=elements)[1])["value"]
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("tkind", ["csv", "parquet"])
def test_against_with_weights_beside_a_streamed_table_is_the_in_memory_report(
    tmp_path, monkeypatch, tkind
):
    yhat, y, w = _data(1)
    table = _table(tmp_path, tkind, yhat, y)
    weights = _weights(tmp_path, "csv", w)
    s, e = np.asarray(w), np.subtract(yhat, y)
    right = 2 * s * e / math.fsum(s)  # hand-derived, as above
    wrong = right.copy()
    wrong[10:14] *= 3
    for yours, passed, failed in ((right, True, 0), (wrong, False, 4)):
        np.save(tmp_path / "g.npy", yours)
        args = ["mse", table, "--pred-col", "yhat", "--target-col", "y", "--sample-weights",
                weights, "--against", str(tmp_path / "g.npy"), "-f", "json"]  # fmt: skip
        code, out, _ = _run(monkeypatch, args, elements=None)
        assert code == (0 if passed else 1)
        expected = json.loads(out)["against"]
        assert (expected["passed"], expected["failed"]) == (passed, failed)
        for elements in SIZES:
            got = _run(monkeypatch, args, elements=elements)
            assert got[0] == code, got[2]
            got = json.loads(got[1])["against"]
            for key in ("passed", "checked", "failed", "findings", "analytic_matches_numeric"):
                assert got[key] == expected[key], (key, elements)
            # the elements that fail (rows 10-13); past them the errors are rounding-level
            # and their order may differ
            failing = got["worst"][: got["failed"]]
            assert [x["index"] for x in failing] == [x["index"] for x in expected["worst"][:failed]]
            for a, b in zip(failing, expected["worst"], strict=False):
                for key in ("yours", "analytic", "numeric"):  # Σs summed by blocks
                    np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=0)


def _bad(kind: str, w: list) -> tuple[list, str]:
    """A weights file's values made bad (``kind``) and the problem the error names."""
    w = list(w)
    if kind == "short":
        return w[:-1], f"sample weights have {N - 1} values but the predictions have {N} rows"
    if kind == "long":
        return [*w, 1.0], f"sample weights have {N + 1} values but the predictions have {N} rows"
    if kind == "text":
        w[30] = "abc"
        return w, "non-numeric value 'abc' at line 31, column 1"
    if kind == "nan":
        w[30] = w[33] = math.nan
        return w, "contains 2 NaN values (first at line 31, column 1); remove or impute them"
    if kind == "nan-npy":
        w[30] = w[33] = math.nan
        return w, "contains 2 NaN values (first at index 30); remove or impute them"
    assert kind == "negative"
    w[30], w[40] = -1.5, -2.0
    return w, "sample weights must be non-negative, found -1.5 at (row 30)"


BAD = [
    ("short", "npy"), ("short", "csv"), ("short", "parquet"), ("long", "npy"), ("long", "csv"),
    ("text", "csv"), ("nan", "csv"), ("nan-npy", "npy"), ("negative", "csv"),
    ("negative", "npy"),
]  # fmt: skip


@pytest.mark.parametrize("tkind", ["csv", "parquet"])
@pytest.mark.parametrize(("bad", "wkind"), BAD, ids=["-".join(b) for b in BAD])
def test_a_bad_weights_file_is_one_error_naming_it(tmp_path, monkeypatch, tkind, bad, wkind):
    yhat, y, w = _data(2)
    table = _table(tmp_path, tkind, yhat, y)
    values, problem = _bad(bad, w)
    weights = _weights(tmp_path, wkind, values)
    out = tmp_path / "g.npy"
    args = ["mse", table, "--pred-col", "yhat", "--target-col", "y", "--sample-weights",
            weights, "--grad-out", str(out)]  # fmt: skip
    for elements in (None, *SIZES):
        r = _run(monkeypatch, args, elements=elements)
        assert r == (2, "", f"Error: {weights}: {problem}\n"), elements
        assert not out.exists()


def test_a_parquet_weights_file_with_a_missing_value_is_the_in_memory_error(tmp_path, monkeypatch):
    yhat, y, w = _data(3)
    table = _table(tmp_path, "parquet", yhat, y)
    weights = tmp_path / "w.parquet"
    pq.write_table(pa.table({"w": pa.array([*w[:20], None, *w[21:]], pa.float64())}), weights)
    message = (
        f'Error: {weights}: column "w" has 1 missing value (first at row 20); remove or impute '
        "them; pick the numeric columns with --pred-col/--target-col\n"
    )
    args = ["mse", table, "--pred-col", "yhat", "--target-col", "y", "--sample-weights", weights]
    monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 1 << 62)
    r = runner.invoke(app, [str(a) for a in args])
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", message)
    for elements in (1, 64):
        monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", elements)
        r = runner.invoke(app, [str(a) for a in args])
        assert (r.exit_code, r.stdout, r.stderr) == (2, "", message)


def test_weights_of_several_columns_are_the_in_memory_error(tmp_path, monkeypatch):
    # (N, 2): not one value per row; read whole, where the loss counts its 2N values
    yhat, y, w = _data(4)
    table = _table(tmp_path, "csv", yhat, y)
    np.save(tmp_path / "w.npy", np.c_[w, w])
    args = ["mse", table, "--pred-col", "yhat", "--target-col", "y", "--sample-weights",
            str(tmp_path / "w.npy")]  # fmt: skip
    monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0)
    r = runner.invoke(app, args)
    assert (r.exit_code, r.stdout, r.stderr) == (
        2,
        "",
        f"Error: {tmp_path / 'w.npy'}: sample weights have {2 * N} values but the predictions "
        f"have {N} rows\n",
    )


def test_shards_with_a_weights_file_are_refused(tmp_path):
    yhat, y, w = _data(5)
    (tmp_path / "shards").mkdir()
    _table(tmp_path / "shards", "csv", yhat, y)
    args = ["mse", str(tmp_path / "shards"), "--pred-col", "yhat", "--target-col", "y",
            "--sample-weights", _weights(tmp_path, "npy", w)]  # fmt: skip
    r = runner.invoke(app, args)
    assert (r.exit_code, r.stdout, r.stderr) == (
        2,
        "",
        "Error: with a folder of shards, give the weights as a column: --weight-col\n",
    )


@pytest.mark.parametrize("wkind", ["parquet", "npy"])
def test_weights_beside_two_streamed_files(tmp_path, monkeypatch, wkind):
    # mse over (N, 3): Σ s_i·mean_j(e_ij²)/Σ s_i (hand-derived); a Parquet weights file
    # streams beside NPY/CSV inputs as an NPY one does
    rng = np.random.default_rng(9)
    p, t = rng.standard_normal((N, 3)), rng.standard_normal((N, 3))
    s = rng.random(N) + 0.25
    np.save(tmp_path / "p.npy", p)
    np.savetxt(tmp_path / "t.csv", t, delimiter=",", fmt="%.17g")
    weights = _weights(tmp_path, wkind, s.tolist())
    value = math.fsum(s * ((p - t) ** 2).mean(axis=1)) / math.fsum(s)
    args = ["mse", str(tmp_path / "p.npy"), str(tmp_path / "t.csv"), "--sample-weights",
            weights, "-f", "json"]  # fmt: skip
    for elements in (None, *SIZES):
        code, out, err = _run(monkeypatch, args, elements=elements, setting="STREAM_BYTES")
        assert (code, err) == (0, "")
        np.testing.assert_allclose(json.loads(out)["value"], value, rtol=1e-12)
    # two weights per row: the in-memory count of its values, not a block's
    np.save(tmp_path / "w2.npy", np.c_[s, s])
    args = ["mse", str(tmp_path / "p.npy"), str(tmp_path / "t.csv"), "--sample-weights",
            str(tmp_path / "w2.npy")]  # fmt: skip
    message = (
        f"Error: {tmp_path / 'w2.npy'}: sample weights have {2 * N} values but the predictions "
        f"have {N} rows\n"
    )
    monkeypatch.setattr(lio, "read_array", READ_ARRAY)  # read whole, as said
    monkeypatch.setattr(lio, "read_table", READ_TABLE)
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 7)
    r = runner.invoke(app, args)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", message)


# --------------------------------------------------------------------------- Parquet gradient


def _parquet(path, g: np.ndarray) -> str:
    g = g.reshape(len(g), -1)
    pq.write_table(pa.table({f"g{j}": g[:, j] for j in range(g.shape[1])}), path)
    return str(path)


@pytest.mark.parametrize("wrong", ["right", "twice", "rows"])
@pytest.mark.parametrize("shape", [(37, 3), (41,)])
def test_a_parquet_gradient_streams_as_read_whole(tmp_path, monkeypatch, shape, wrong):
    # mse of the mean: 2(ŷ − y)/(N·D) (hand-derived); yours right, twice it, or rows 5-8 ×3
    rng = np.random.default_rng(6)
    p, t = rng.standard_normal(shape), rng.standard_normal(shape)
    g = 2 * (p - t) / p.size
    g = {"right": g, "twice": 2 * g, "rows": np.concatenate([g[:5], 3 * g[5:9], g[9:]])}[wrong]
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    against = _parquet(tmp_path / "g.parquet", g)
    args = ["mse", str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), "--against", against]
    code, out, err = _invoke(monkeypatch, [*args, "-f", "json"], elements=None)
    assert code == (0 if wrong == "right" else 1), err
    expected = json.loads(out)
    plain = _invoke(monkeypatch, [*args, "-f", "plain"], elements=None)[1]
    for elements in SIZES:  # _invoke asserts the gradient file is not read whole
        got = _invoke(monkeypatch, [*args, "-f", "json"], elements=elements)
        assert got[0] == code and got[2] == err
        assert json.loads(got[1])["against"] == expected["against"], elements
        streamed = _invoke(monkeypatch, [*args, "-f", "plain"], elements=elements)[1]
        value = repr(json.loads(got[1])["value"])
        assert _value_free(streamed, value) == _value_free(plain, repr(expected["value"]))
    if wrong == "twice":
        assert expected["against"]["findings"][0].startswith(
            "every element is off by a factor of 2 (yours = 2 × losscli's)"
        )


def test_a_bad_parquet_gradient_is_the_in_memory_error(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    p, t = rng.standard_normal((30, 2)), rng.standard_normal((30, 2))
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    g = 2 * (p - t) / p.size
    short = _parquet(tmp_path / "short.parquet", g[:-1])
    hole = tmp_path / "hole.parquet"
    column = pa.array([*g[:12, 0].tolist(), None, *g[13:, 0].tolist()], pa.float64())
    pq.write_table(pa.table({"a": column, "b": g[:, 1]}), hole)
    text = tmp_path / "text.parquet"
    pq.write_table(pa.table({"a": g[:, 0], "b": [str(v) for v in g[:, 1]]}), text)
    for path, problem in (
        (short, "the gradient has shape (29, 2) but the predictions have shape (30, 2); give "
                "one value per prediction"),
        (hole, 'column "a" has 1 missing value (first at row 12); remove or impute them; pick '
               "the numeric columns with --pred-col/--target-col"),
        (text, 'column "b" is not numeric (type string); numeric columns: a; pick the numeric '
               "columns with --pred-col/--target-col"),
    ):  # fmt: skip
        args = ["mse", str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), "--against", str(path)]
        expected = (2, "", f"Error: {path}: {problem}\n")
        assert _invoke(monkeypatch, args, elements=None) == expected
        monkeypatch.setattr(lio, "read_array", READ_ARRAY)  # the error reads it whole
        for elements in (1, 64):
            monkeypatch.setattr(sources, "STREAM_BYTES", 0)
            monkeypatch.setattr(sources, "CHUNK_ELEMENTS", elements)
            r = runner.invoke(app, args)
            assert (r.exit_code, r.stdout, r.stderr) == expected


# --------------------------------------------------------------------------- memory


def test_a_table_and_weights_file_many_blocks_long_are_not_read_whole(tmp_path):
    n = 1_000_000  # ~45 MB of CSV and 8 MB of weights; blocks of 64 Ki rows
    rng = np.random.default_rng(8)
    y = rng.standard_normal(n)
    path = tmp_path / "scores.csv"
    with open(path, "w") as f:
        f.write("id,yhat,y\n")
        for start in range(0, n, 100_000):
            part = y[start : start + 100_000].tolist()
            f.write("".join(f"{start + i},{v + 0.5!r},{v!r}\n" for i, v in enumerate(part)))
    np.save(tmp_path / "w.npy", rng.random(n) + 0.5)
    del y
    args = ["mse", str(path), "--pred-col", "yhat", "--target-col", "y", "--sample-weights",
            str(tmp_path / "w.npy")]  # fmt: skip
    streamed, out = peak_rss_mib(args, {"LOSSCLI_CHUNK_ELEMENTS": "64Ki"})
    whole, _ = peak_rss_mib(args, {"LOSSCLI_TABLE_STREAM_BYTES": "1T"})
    # every row's error is 0.5: Σ s_i·0.25/Σ s_i = 0.25 whatever the weights (hand-derived).
    # Measured: ~130 MiB streamed, ~1 GiB read whole (the table's text and frames, weights).
    assert float(out) == pytest.approx(0.25, rel=1e-12)
    assert streamed < whole - 200, (streamed, whole)
    assert streamed < 200, streamed


def test_a_weights_or_gradient_file_the_fast_readers_reject_is_read_by_the_scanner(
    tmp_path, monkeypatch
):
    # ' "0.5"' (a blank, then a quoted number) makes pandas' and pyarrow's block fail: the
    # pass starts again with losscli's scanner, which reads it as the whole-file reader does
    # (beside a table this was an internal error: TableInputs had no restart)
    yhat, y, w = _data(10)
    table = _table(tmp_path, "csv", yhat, y)
    s, e = np.asarray(w), np.subtract(yhat, y)
    lines = [repr(v) for v in w]
    lines[20] = f' "{lines[20]}"'
    weights = tmp_path / "w.csv"
    weights.write_text("\n".join(lines) + "\n")
    g = (2 * e / N).tolist()  # the unweighted mean's gradient (hand-derived)
    against = tmp_path / "g.csv"
    against.write_text("\n".join([*map(repr, g[:9]), f' "{g[9]!r}"', *map(repr, g[10:])]) + "\n")
    cols = ["mse", table, "--pred-col", "yhat", "--target-col", "y", "-f", "json"]
    restarts = []
    real = sources.AlignedFile.restart
    monkeypatch.setattr(sources.AlignedFile, "restart", lambda a: restarts.append(1) or real(a))
    for elements in (None, 1, 7, 64):
        code, out, err = _run(monkeypatch, [*cols, "--sample-weights", str(weights)],
                              elements=elements)  # fmt: skip
        assert (code, err) == (0, "")
        value = math.fsum(s * e**2) / math.fsum(s)
        np.testing.assert_allclose(json.loads(out)["value"], value, rtol=1e-12)
        code, out, err = _run(monkeypatch, [*cols, "--against", str(against)], elements=elements)
        assert (code, err) == (0, ""), err
        assert json.loads(out)["against"]["passed"]
    assert len(restarts) == 6  # the weights' and the gradient's, at each of 3 block sizes


@pytest.mark.parametrize("setting", ["TABLE_STREAM_BYTES", "STREAM_BYTES"])
def test_weights_on_stdin_beside_streamed_rows_are_named_stdin(tmp_path, monkeypatch, setting):
    yhat, y, w = _data(11)
    if setting == "TABLE_STREAM_BYTES":
        inputs = [_table(tmp_path, "csv", yhat, y), "--pred-col", "yhat", "--target-col", "y"]
    else:
        np.save(tmp_path / "p.npy", np.asarray(yhat))
        np.save(tmp_path / "t.npy", np.asarray(y))
        inputs = [str(tmp_path / "p.npy"), str(tmp_path / "t.npy")]
    s, e = np.asarray(w), np.subtract(yhat, y)
    monkeypatch.setattr(sources, setting, 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 7)
    args = ["mse", *inputs, "--sample-weights", "-", "-f", "plain"]
    r = runner.invoke(app, args, input="".join(f"{v!r}\n" for v in w))
    assert (r.exit_code, r.stderr) == (0, "")
    np.testing.assert_allclose(float(r.stdout), math.fsum(s * e**2) / math.fsum(s), rtol=1e-12)
    r = runner.invoke(app, args, input="".join(f"{v!r}\n" for v in w[:-2]))
    assert (r.exit_code, r.stdout, r.stderr) == (
        2,
        "",
        f"Error: <stdin>: sample weights have {N - 2} values but the predictions have {N} rows\n",
    )


# --------------------------------------------------------------------------- K-dim gradient


def _kdim(name: str, rng):
    """K-dim inputs, options and the gradient of the mean (hand-derived)."""
    if name == "mse":  # (N, 4, 6): 2(ŷ − y)/(N·4·6)
        p, t = rng.standard_normal((23, 4, 6)), rng.standard_normal((23, 4, 6))
        return p, t, [], 2 * (p - t) / p.size
    z = rng.standard_normal((19, 3, 4, 5)) * 2  # (N, C, d1, d2)
    y = rng.integers(0, 3, (19, 4, 5))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    g = (e / e.sum(axis=1, keepdims=True) - np.moveaxis(np.eye(3)[y], -1, 1)) / y.size
    if name == "ce":  # (softmax over axis 1 − onehot)/(N·d1·d2)
        return z, y.astype(np.float64), ["--logits"], g
    assert name == "ce-class-last"  # (N, d1, d2, C), --class-axis -1
    zl, gl = np.moveaxis(z, 1, -1), np.moveaxis(g, 1, -1)
    return zl, y.astype(np.float64), ["--logits", "--class-axis", "-1"], gl


@pytest.mark.parametrize("wrong", ["right", "twice", "rows", "element", "positions"])
@pytest.mark.parametrize("name", ["mse", "ce", "ce-class-last"])
def test_a_kdim_gradient_streams_along_axis_0_as_read_whole(tmp_path, monkeypatch, name, wrong):
    rng = np.random.default_rng(12)
    p, t, options, g = _kdim(name, rng)
    yours = g.copy()
    if wrong == "twice":
        yours *= 2
    elif wrong == "rows":  # samples 5-8 off by 3
        yours[5:9] *= 3
    elif wrong == "element":
        yours[(11,) + (1,) * (g.ndim - 1)] += 1
    elif wrong == "positions":  # the mean over positions forgotten: × d1·d2 (or 4·6 for mse)
        yours *= g[0].size // (3 if name != "mse" else 1)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    np.save(tmp_path / "g.npy", yours)
    args = [name.removesuffix("-class-last"), str(tmp_path / "p.npy"), str(tmp_path / "t.npy"),
            *options, "--against", str(tmp_path / "g.npy"), "-f", "json"]  # fmt: skip
    code, out, err = _invoke(monkeypatch, args, elements=None)
    assert code == (0 if wrong == "right" else 1), err
    expected = json.loads(out)["against"]
    assert expected["checked"] == p.size
    for elements in SIZES:  # _invoke asserts the gradient file is not read whole
        got = _invoke(monkeypatch, args, elements=elements)
        assert got[0] == code and got[2] == err, (elements, got[2])
        if name == "mse":
            assert json.loads(got[1])["against"] == expected, elements
        else:  # ce's streamed gradient of the mean rounds in its last bit where the
            # in-memory one does not (as --grad-out does; a rounding of 1/N·d1·d2)
            _same_failures(json.loads(got[1])["against"], expected)
    if wrong == "element":
        assert expected["worst"][0]["index"] == [11, *([1] * (g.ndim - 1))]


def _same_failures(got: dict, expected: dict) -> None:
    """The same comparison up to rounding: counts and findings equal, the failing elements
    the same ones with the same numbers to 1e-12 (past them the errors are rounding-level
    and their order may differ)."""
    for key in ("passed", "checked", "failed", "findings", "analytic_matches_numeric"):
        assert got[key] == expected[key], key
    failing = expected["worst"][: expected["failed"]]
    assert [w["index"] for w in got["worst"][: len(failing)]] == [w["index"] for w in failing]
    for a, b in zip(got["worst"], failing, strict=False):
        for key in ("input", "yours", "analytic", "numeric", "abs_err", "rel_err"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=0)


def test_a_kdim_gradient_of_another_shape_is_the_in_memory_error(tmp_path, monkeypatch):
    rng = np.random.default_rng(13)
    p, t, _, g = _kdim("mse", rng)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    for yours, given in ((g.reshape(23, -1), "(23, 24)"), (g[:-1], "(22, 4, 6)"),
                         (g.transpose(0, 2, 1), "(23, 6, 4)")):  # fmt: skip
        np.save(tmp_path / "g.npy", yours)
        args = ["mse", str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), "--against",
                str(tmp_path / "g.npy")]  # fmt: skip
        message = (
            f"Error: {tmp_path / 'g.npy'}: the gradient has shape {given} but the predictions "
            "have shape (23, 4, 6); give one value per prediction\n"
        )
        for elements in (None, 7):
            assert _invoke(monkeypatch, args, elements=elements) == (2, "", message)


@pytest.mark.parametrize("wrong", ["right", "rows", "mistake"])
def test_a_kdim_hessian_streams_along_axis_0_as_read_whole(tmp_path, monkeypatch, wrong):
    # ce over (N, C, d1, d2): the diagonal of the mean p(1 − p)/(N·d1·d2), p = softmax over
    # axis 1 (hand-derived); samples 4 twice it, or p/(N·d1·d2) (a common mistake)
    rng = np.random.default_rng(14)
    z, y = rng.standard_normal((13, 3, 4, 5)), rng.integers(0, 3, (13, 4, 5))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    h = p * (1 - p) / y.size
    if wrong == "rows":
        h[4] *= 2
    elif wrong == "mistake":
        h = p / y.size
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y.astype(np.float64))
    np.save(tmp_path / "h.npy", h)
    args = ["ce", str(tmp_path / "z.npy"), str(tmp_path / "y.npy"), "--logits",
            "--against-hess", str(tmp_path / "h.npy"), "-f", "json"]  # fmt: skip
    code, out, err = _invoke(monkeypatch, args, elements=None)
    assert code == (0 if wrong == "right" else 1), err
    expected = json.loads(out)["against_hess"]
    for elements in SIZES:  # _invoke asserts the Hessian file is not read whole
        got = _invoke(monkeypatch, args, elements=elements)
        assert got[0] == code and got[2] == err, (elements, got[2])
        _same_failures(json.loads(got[1])["against_hess"], expected)
    if wrong == "mistake":
        assert expected["findings"][0].startswith(
            "every element matches a common mistake: p instead of p(1 − p)"
        )
