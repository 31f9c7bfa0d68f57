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
        return rng.standard_normal((67, 2)), rng.integers(0, 2, (67, 2)).astype(float), [
            "--logits"
        ]
    if name == "kl":
        p = _log_softmax(rng.standard_normal((59, 4)))
        return p, np.exp(_log_softmax(rng.standard_normal((59, 4)))), []
    raise AssertionError(f"no inputs for {name}: add them here")


CASES = [
    (name, reduction)
    for name, loss in losscli.REGISTRY.items()
    for reduction in loss.reductions
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
            ["kl", str(tmp_path / "x.csv"), str(tmp_path / "t.csv"), "-r", "batchmean", "-c",
             "--grad-out", str(tmp_path / name)],
        )
        assert r.exit_code == 0, r.stderr
        g = np.load(tmp_path / name) if name.endswith("npy") else np.loadtxt(
            tmp_path / name, delimiter=","
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
    b = ExactSum.of(xs[4]).merge(ExactSum.of(xs[3]).merge(ExactSum.of(xs[2]))).merge(
        ExactSum.of(xs[0]).merge(ExactSum.of(xs[1]))
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


def test_dask_engine_is_not_there_yet():
    with pytest.raises(losscli.UsageError, match="--engine dask is not available yet"):
        losscli.evaluate("mse", [1.0], [0.0], engine="dask")
