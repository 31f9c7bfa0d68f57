"""Streamed NPY inputs of more than two dimensions: blocks are slices along axis 0 of the
memory map, laid out by the loss as in memory (losscli.losses.RowLayout), so the value, the
gradient, --reduction none and --grad-out are those of the in-memory run.

The in-memory results themselves are pinned against PyTorch in tests/test_kdim.py; here every
streamed run is compared with the in-memory run of the same command.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from peak_rss import peak_rss_mib  # one helper for the peak RSS of a subprocess
from typer.testing import CliRunner

import losscli.engine as engine
import losscli.sources as sources
from losscli.cli import app

runner = CliRunner()
BLOCKS = [1, 7, 64, 10_000]  # rows (samples) per block; 7 splits at awkward counts


def run(args, *, block=None, monkeypatch=None, width=1):
    """The CLI in memory (``block`` None) or streamed with ``block`` rows of ``width``
    elements per block; returns the result and whether it was streamed."""
    calls = []
    if block is not None:
        monkeypatch.setattr(sources, "STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", block * width)
        real = engine._Run.streamed
        monkeypatch.setattr(
            engine._Run, "streamed", lambda *a, **k: calls.append(1) or real(*a, **k)
        )
    try:
        r = runner.invoke(app, [str(a) for a in args])
    finally:
        if block is not None:
            monkeypatch.setattr(sources, "STREAM_BYTES", 1 << 62)
            monkeypatch.undo()
    return r, bool(calls)


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(10)
    n = 90
    np.save(tmp_path / "z.npy", rng.normal(size=(n, 3, 4, 5)) * 2)  # (N, C, d1, d2)
    np.save(tmp_path / "zl.npy", rng.normal(size=(n, 4, 5, 3)) * 2)  # (N, d1, d2, C)
    y = rng.integers(0, 3, size=(n, 4, 5)).astype(np.float64)
    y[40:, 1, 2] = 1  # class 1 everywhere there, so --ignore-index 1 drops positions late on
    np.save(tmp_path / "y.npy", y)
    logp = rng.normal(size=(n, 3, 4, 5))
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    np.save(tmp_path / "logp.npy", logp)
    np.save(tmp_path / "a.npy", rng.normal(size=(n, 4, 6)))
    np.save(tmp_path / "b.npy", rng.normal(size=(n, 4, 6)))
    np.save(tmp_path / "w.npy", rng.random(n) + 0.5)
    return tmp_path


CASES = {
    "ce": (["ce", "{d}/z.npy", "{d}/y.npy", "--logits"], 60),
    "ce-weights-smoothing": (
        [
            "ce",
            "{d}/z.npy",
            "{d}/y.npy",
            "--logits",
            "--class-weights",
            "1,2.5,0.5",
            "--label-smoothing",
            "0.1",
        ],
        60,
    ),  # fmt: skip
    "ce-ignore": (["ce", "{d}/z.npy", "{d}/y.npy", "--logits", "--ignore-index", "1"], 60),
    "ce-class-last": (["ce", "{d}/zl.npy", "{d}/y.npy", "--logits", "--class-axis", "-1"], 60),
    "ce-sum": (["ce", "{d}/z.npy", "{d}/y.npy", "--logits", "-r", "sum"], 60),
    "ce-sample-weights": (
        ["ce", "{d}/z.npy", "{d}/y.npy", "--logits", "--sample-weights", "{d}/w.npy"],
        60,
    ),
    "nll": (["nll", "{d}/logp.npy", "{d}/y.npy"], 60),
    "nll-ignore": (["nll", "{d}/logp.npy", "{d}/y.npy", "--ignore-index", "1"], 60),
    "mse": (["mse", "{d}/a.npy", "{d}/b.npy"], 24),
    "mse-sum": (["mse", "{d}/a.npy", "{d}/b.npy", "-r", "sum"], 24),
    "mae-sample-weights": (["mae", "{d}/a.npy", "{d}/b.npy", "--sample-weights", "{d}/w.npy"], 24),
}


def _args(case, d):
    args, width = CASES[case]
    return [a.format(d=d) for a in args], width


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("reduction", [None, "none"])
@pytest.mark.parametrize("case", list(CASES))
def test_streamed_equals_in_memory(data, monkeypatch, case, reduction, block):
    args, width = _args(case, data)
    if reduction is not None:
        if "-r" in args:
            return
        args += ["-r", reduction]
    a, b = data / "a_grad.npy", data / "b_grad.npy"
    expected, _ = run([*args, "-g", "-f", "json", "--grad-out", a])
    got, streamed = run(
        [*args, "-g", "-f", "json", "--grad-out", b], block=block, monkeypatch=monkeypatch,
        width=width,
    )  # fmt: skip
    assert expected.exit_code == 0, expected.output
    assert got.exit_code == 0, got.output
    assert streamed
    e, g = json.loads(expected.stdout), json.loads(got.stdout)
    assert g["shape"] == e["shape"]
    np.testing.assert_allclose(np.array(g["value"]), np.array(e["value"]), rtol=1e-13)
    np.testing.assert_allclose(
        np.array(g["grad"]), np.array(e["grad"]), rtol=1e-13, atol=1e-15
    )  # a few ulps of 1
    ga, gb = np.load(a), np.load(b)
    assert gb.shape == ga.shape == tuple(e["shape"])
    np.testing.assert_allclose(gb, ga, rtol=1e-13, atol=1e-15)  # a few ulps of 1


def test_grad_out_of_mse_is_the_in_memory_file(data, monkeypatch):
    # mean over N rows known up front: the gradient is scaled as written, byte for byte
    args, width = _args("mse", data)
    a, b = data / "a_grad.npy", data / "b_grad.npy"
    run([*args, "--grad-out", a])
    r, streamed = run([*args, "--grad-out", b], block=7, monkeypatch=monkeypatch, width=width)
    assert (r.exit_code, streamed) == (0, True)
    assert b.read_bytes() == a.read_bytes()


def test_nonfinite_value_is_named_by_its_full_index(data, monkeypatch):
    z = np.load(data / "z.npy")
    z[70, 2, 3, 1] = np.nan
    np.save(data / "z.npy", z)
    args, width = _args("ce", data)
    expected, _ = run(args)
    got, streamed = run(args, block=7, monkeypatch=monkeypatch, width=width)
    assert streamed
    assert (
        (got.exit_code, got.stderr)
        == (expected.exit_code, expected.stderr)
        == (
            2,
            f"Error: {data}/z.npy: contains 1 NaN value (first at index (70, 2, 3, 1)); remove or "
            "impute them\n",
        )
    )


def test_class_index_error_counts_positions_as_in_memory(data, monkeypatch):
    y = np.load(data / "y.npy")
    y[50, 2, 3] = 7  # position 50·20 + 2·5 + 3 = 1013 of the N·d1·d2 kernel rows
    np.save(data / "y.npy", y)
    args, width = _args("ce", data)
    expected, _ = run(args)
    got, streamed = run(args, block=7, monkeypatch=monkeypatch, width=width)
    assert streamed
    assert (got.exit_code, got.stderr) == (expected.exit_code, expected.stderr)
    assert "(row 1013)" in got.stderr


def test_mismatched_rows_name_the_full_shapes(data, monkeypatch):
    np.save(data / "y.npy", np.load(data / "y.npy")[:80])
    args, width = _args("ce", data)
    got, streamed = run(args, block=7, monkeypatch=monkeypatch, width=width)
    assert streamed and got.exit_code == 2
    assert got.stderr == (
        f"Error: {data}/y.npy: targets of shape (80, 4, 5) fit predictions of shape (90, 3, 4, 5) "
        "neither as class indices (shape (90, 4, 5): the predictions' without the class axis "
        "1) nor as probabilities (the same shape); for (N, d1, …, C) inputs pass "
        "--class-axis -1\n"
    )


@pytest.mark.parametrize("block", [1, 7, 10_000])
@pytest.mark.parametrize("case", ["ce-weights-smoothing", "ce-ignore", "ce-class-last",
                                  "ce-sample-weights", "nll", "mse-sum"])  # fmt: skip
def test_check_streamed_equals_in_memory(data, monkeypatch, case, block):
    # every element checked, each named by its full index in the file's layout
    args, width = _args(case, data)
    args += ["--check", "-f", "json"]
    expected, _ = run(args)
    got, streamed = run(args, block=block, monkeypatch=monkeypatch, width=width)
    assert (expected.exit_code, got.exit_code, streamed) == (0, 0, True)
    e, g = json.loads(expected.stdout)["check"], json.loads(got.stdout)["check"]
    assert g["passed"] and e["passed"]
    assert g["checked"] == e["checked"] == np.load(args[1]).size
    assert g["max_abs_err"] == pytest.approx(e["max_abs_err"], rel=1e-6, abs=1e-300)
    if g["max_abs_err"]:  # (nll's is 0: the streamed check then names no element)
        assert g["max_abs_err_at"] == e["max_abs_err_at"]
        assert len(g["max_abs_err_at"]) == np.load(args[1]).ndim
    assert [w["index"] for w in g["worst"]] == [w["index"] for w in e["worst"]]
    z = np.load(args[1])
    assert all(w["input"] == z[tuple(w["index"])] for w in g["worst"])


def test_sampled_check_of_a_kdim_input_counts_its_rows(data, monkeypatch):
    monkeypatch.setattr(engine, "CHECK_MAX_ELEMENTS", 600)  # of the 5,400 elements
    args, width = _args("ce", data)
    got, streamed = run([*args, "--check", "-f", "json"], block=7, monkeypatch=monkeypatch,
                        width=width)  # fmt: skip
    assert (got.exit_code, streamed) == (0, True)
    check = json.loads(got.stdout)["check"]
    assert check["passed"]
    assert check["checked"] == 60 * check["sample_rows"]  # whole samples of 3·4·5 elements
    assert all(len(w["index"]) == 4 for w in check["worst"])


def test_memory_stays_bounded_on_a_kdim_file(tmp_path):
    # (N, C, d1, d2) logits and their targets, 192 MiB together, read in blocks of ~1 MiB:
    # what stays resident is the blocks and the mapped pages not yet released (up to 32 MiB a
    # file, RELEASE_BYTES), measured against the same run on a file of two rows.
    n, shape = 6144, (3, 32, 32)
    z = np.lib.format.open_memmap(tmp_path / "z.npy", "w+", np.float64, (n, *shape))
    y = np.lib.format.open_memmap(tmp_path / "y.npy", "w+", np.float64, (n, *shape[1:]))
    rng = np.random.default_rng(4)
    for start in range(0, n, 512):
        z[start : start + 512] = rng.normal(size=(512, *shape))
        y[start : start + 512] = rng.integers(0, 3, size=(512, *shape[1:]))
    z.flush(), y.flush()
    del z, y
    np.save(tmp_path / "z2.npy", np.zeros((2, *shape)))
    np.save(tmp_path / "y2.npy", np.zeros((2, *shape[1:])))
    size_mib = sum(p.stat().st_size for p in tmp_path.glob("?.npy")) / (1 << 20)
    env = {"LOSSCLI_STREAM_BYTES": "0", "LOSSCLI_CHUNK_ELEMENTS": str(1 << 17)}

    def ce(z: str, y: str) -> list[str]:
        return ["ce", str(tmp_path / z), str(tmp_path / y), "--logits", "-f", "plain"]

    streamed_mib, out = peak_rss_mib(ce("z.npy", "y.npy"), env)
    small_mib, _ = peak_rss_mib(ce("z2.npy", "y2.npy"), env)
    assert size_mib > 192
    assert streamed_mib - small_mib < 100, (streamed_mib, small_mib)  # measured: ~70
    # the value as computed here from the whole arrays (numpy, log-sum-exp over axis 1)
    zz, yy = np.load(tmp_path / "z.npy"), np.load(tmp_path / "y.npy").astype(np.int64)
    m = zz.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(zz - m).sum(axis=1, keepdims=True)))[:, 0]
    picked = np.take_along_axis(zz, yy[:, None], axis=1)[:, 0]
    assert math.isclose(float(out), float((lse - picked).mean()), rel_tol=1e-12)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize(
    "case", ["ce-weights-smoothing", "ce-ignore", "ce-class-last", "nll", "mse"]
)
def test_top_streamed_equals_in_memory(data, monkeypatch, case, block):
    args, width = _args(case, data)
    args += ["--top", "12", "-f", "json"]
    expected, _ = run(args)
    got, streamed = run(args, block=block, monkeypatch=monkeypatch, width=width)
    assert (expected.exit_code, got.exit_code, streamed) == (0, 0, True)
    e, g = json.loads(expected.stdout)["top"], json.loads(got.stdout)["top"]
    assert len(e) == 12 and all(len(x["index"]) == 3 for x in e)
    assert [x["index"] for x in g] == [x["index"] for x in e]
    assert [x["row"] for x in g] == [x["index"][0] for x in e]
    np.testing.assert_allclose([x["loss"] for x in g], [x["loss"] for x in e], rtol=1e-13)


@pytest.mark.parametrize("block", BLOCKS)
def test_top_ties_keep_the_order_of_positions_when_streamed(tmp_path, monkeypatch, block):
    z = np.zeros((30, 3, 2, 2))  # every position loses log 3 but three, which lose more
    z[20, 0, 1, 1], z[3, 0, 0, 1], z[29, 0, 1, 0] = 3.0, 2.0, 2.0
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", np.ones((30, 2, 2)))
    args = ["ce", tmp_path / "z.npy", tmp_path / "y.npy", "--logits", "--top", "6", "-f", "json"]
    expected, _ = run(args)
    got, streamed = run(args, block=block, monkeypatch=monkeypatch, width=12)
    assert streamed
    index = [x["index"] for x in json.loads(got.stdout)["top"]]
    assert index == [x["index"] for x in json.loads(expected.stdout)["top"]]
    # hand-derived: the three, then the first positions in row-major order
    assert index == [[20, 1, 1], [3, 0, 1], [29, 1, 0], [0, 0, 0], [0, 0, 1], [0, 1, 0]]


@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_against_of_kdim_streamed_inputs_is_the_in_memory_comparison(
    data, tmp_path, monkeypatch, factor
):
    # A K-dim gradient file has no rows to align with streamed blocks: it is compared whole,
    # in the inputs' layout (it was refused as "shape (90, 3, 4, 5) but ... (1800, 3)").
    # The gradient here is hand-derived: (softmax over axis 1 − one-hot) / positions.
    z = np.load(tmp_path / "z.npy")
    y = np.load(tmp_path / "y.npy").astype(int)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    onehot = np.moveaxis(np.eye(3)[y], -1, 1)
    np.save(tmp_path / "g.npy", factor * (e / e.sum(axis=1, keepdims=True) - onehot) / y.size)
    args = ["ce", tmp_path / "z.npy", tmp_path / "y.npy", "--logits",
            "--against", tmp_path / "g.npy", "-f", "json"]  # fmt: skip
    whole, _ = run(args)
    streamed, _ = run(args, block=7, monkeypatch=monkeypatch, width=60)
    assert whole.exit_code == streamed.exit_code == (0 if factor == 1.0 else 1), streamed.output
    assert json.loads(streamed.stdout)["against"] == json.loads(whole.stdout)["against"]
    assert json.loads(whole.stdout)["against"]["passed"] is (factor == 1.0)
