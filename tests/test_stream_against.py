"""--against FILE streamed (issue 8): the user's gradient is read block by block beside the
predictions, and the report — counts, largest errors, worst elements, findings — is the
in-memory one for any split of the rows into blocks, from CSV and NPY; the comparison's
states merge in any grouping; a wrong shape or a bad cell in the gradient file is one
``Error:`` line; a big input is not read whole."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from peak_rss import peak_rss_mib  # one helper for the peak RSS of a subprocess
from test_engine import _write
from typer.testing import CliRunner

import losscli.engine as engine
import losscli.io as lio
import losscli.sources as sources
from losscli.against import AgainstState, Diagnosis, RowFindings, diagnose
from losscli.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
SIZES = (1, 7, 64, 10_000)
READ_ARRAY = lio.read_array


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _inputs(name: str, rng):
    """Predictions, targets, options, and the correct gradient (hand-derived, mean)."""
    if name == "mse":  # 2(ŷ − y)/(N·D)
        p, t = rng.standard_normal((103, 3)), rng.standard_normal((103, 3))
        return p, t, [], 2 * (p - t) / p.size
    if name == "ce":  # (softmax(z) − onehot(y))/N
        z, y = rng.standard_normal((61, 5)) * 2, rng.integers(0, 5, 61)
        return z, y, ["--logits"], (_softmax(z) - np.eye(5)[y]) / len(z)
    if name == "bce":  # (σ(z) − y)/(N·D)
        z, y = rng.standard_normal((67, 2)), rng.integers(0, 2, (67, 2)).astype(float)
        return z, y, ["--logits"], (1 / (1 + np.exp(-z)) - y) / z.size
    assert name == "mse-vector"  # 2(ŷ − y)/N, one column
    p, t = rng.standard_normal(89), rng.standard_normal(89)
    return p, t, [], 2 * (p - t) / p.size


def _wrong(kind: str, g: np.ndarray, rng) -> np.ndarray:
    g = g.copy()
    if kind == "twice":
        return 2 * g
    if kind == "times-n":  # the mean over rows forgotten
        return g * len(g)
    if kind == "rows":  # a few rows off by D (or 3), one element off by no factor
        g[5:9] *= 3
        g[40 if g.ndim == 1 else (40, 0)] += 1
        return g
    if kind == "column" and g.ndim == 2:
        g[:, 1] *= -1
        return g
    if kind == "noise":
        return g + rng.standard_normal(g.shape) * 1e-2
    if kind == "zero-rows":
        g[10:30] = 0
        return g
    return g


def _invoke(monkeypatch, args, *, elements: int | None, stdin=None) -> tuple[int, str, str]:
    """The CLI in memory (``elements`` None) or streamed with blocks of ``elements`` values,
    the gradient file then never read whole."""
    stream = elements is not None
    monkeypatch.setattr(sources, "STREAM_BYTES", 0 if stream else 1 << 62)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", elements or (1 << 20))
    monkeypatch.setattr(sources, "MEMORY_BLOCK_ELEMENTS", 0)
    # blocks of 10,000 values compared in pieces of 5 (the pieces of a big block)
    monkeypatch.setattr(engine, "COMPARE_ELEMENTS", 5 if elements == 10_000 else 1 << 16)
    real, calls = engine._Run.streamed, []
    monkeypatch.setattr(engine._Run, "streamed", lambda *a, **k: calls.append(1) or real(*a, **k))

    def whole(path, *a, role=None, **k):
        assert not (stream and role in ("gradient", "hessian")), f"the {role} file was read whole"
        return READ_ARRAY(path, *a, role=role, **k)

    monkeypatch.setattr(lio, "read_array", whole)
    r = runner.invoke(app, args, env={"COLUMNS": "200"}, input=stdin)
    assert bool(calls) == stream
    return r.exit_code, r.stdout, r.stderr


def _value_free(out: str, value: str) -> str:
    """The output without the value (the last bits of a sum depend on the blocks; the table's
    widths with it, so a table is compared from the comparison's section on)."""
    out = out.replace(value, "VALUE")
    section = out.find("Your gradient against")
    return out if section < 0 else out[section:]


CASES = [
    (name, wrong)
    for name in ("mse", "ce", "bce", "mse-vector")
    for wrong in ("right", "twice", "times-n", "rows", "column", "noise", "zero-rows")
    if not (name == "mse-vector" and wrong == "column")
]


@pytest.mark.parametrize(("name", "wrong"), CASES, ids=["-".join(c) for c in CASES])
def test_streamed_against_is_the_in_memory_report(tmp_path, monkeypatch, name, wrong):
    rng = np.random.default_rng(abs(hash((name, wrong))) % 2**32)
    p, t, options, g = _inputs(name, rng)
    yours = _wrong(wrong, g, rng)
    loss = name.removesuffix("-vector")
    for kind in ("npy", "csv"):
        files = [_write(tmp_path, "p", p, kind), _write(tmp_path, "t", t, kind)]
        against = _write(tmp_path, "g", yours, "csv" if kind == "npy" else "npy")
        for fmt in ("json", "plain") if kind == "npy" else ("json", "csv", "table"):
            args = [loss, *files, *options, "--against", against, "-f", fmt]
            code, expected, err = _invoke(monkeypatch, args, elements=None)
            assert code == (0 if wrong == "right" else 1), err
            value = json.loads(_invoke(monkeypatch, [*args, "-f", "json"], elements=None)[1])
            value = repr(value["value"])
            for elements in SIZES:
                got = _invoke(monkeypatch, args, elements=elements)
                streamed = json.loads(
                    _invoke(monkeypatch, [*args, "-f", "json"], elements=elements)[1]
                )["value"]
                assert got[0] == code and got[2] == err, (elements, got[2])
                assert _value_free(got[1], repr(streamed)) == _value_free(expected, value), (
                    kind,
                    fmt,
                    elements,
                )
    if wrong == "right":
        doc = json.loads(expected) if fmt == "json" else None
        assert doc is None or doc["against"]["passed"]


def _hess_inputs(name: str, rng):
    """Predictions, targets, options and the Hessian diagonal of the mean (hand-derived)."""
    if name == "ce":  # p(1 − p)/N, p = softmax(z)
        z, y = rng.standard_normal((61, 5)) * 2, rng.integers(0, 5, 61)
        p = _softmax(z)
        return z, y, ["--logits"], p * (1 - p) / len(z), p / len(z)
    if name == "bce":  # σ(z)(1 − σ(z))/(N·D)
        z, y = rng.standard_normal((67, 2)), rng.integers(0, 2, (67, 2)).astype(float)
        p = 1 / (1 + np.exp(-z))
        return z, y, ["--logits"], p * (1 - p) / z.size, p / z.size
    assert name == "mse"  # 2/(N·D) everywhere
    p, t = rng.standard_normal((103, 3)), rng.standard_normal((103, 3))
    return p, t, [], np.full(p.shape, 2 / p.size), None


HESS_CASES = [
    (name, wrong)
    for name in ("ce", "bce", "mse")
    for wrong in ("right", "twice", "times-n", "rows", "mistake")
    if not (name == "mse" and wrong == "mistake")
]


@pytest.mark.parametrize(("name", "wrong"), HESS_CASES, ids=["-".join(c) for c in HESS_CASES])
def test_streamed_against_hess_is_the_in_memory_report(tmp_path, monkeypatch, name, wrong):
    rng = np.random.default_rng(abs(hash((name, wrong, "hess"))) % 2**32)
    p, t, options, h, mistake = _hess_inputs(name, rng)
    yours = mistake if wrong == "mistake" else _wrong(wrong, h, rng)
    for kind in ("npy", "csv"):
        files = [_write(tmp_path, "p", p, kind), _write(tmp_path, "t", t, kind)]
        against = _write(tmp_path, "h", yours, "csv" if kind == "npy" else "npy")
        args = [name, *files, *options, "--against-hess", against, "-f", "json"]
        code, expected, err = _invoke(monkeypatch, args, elements=None)
        assert code == (0 if wrong == "right" else 1), err
        doc = json.loads(expected)
        for elements in SIZES:
            got = _invoke(monkeypatch, args, elements=elements)
            assert got[0] == code and got[2] == err
            assert json.loads(got[1])["against_hess"] == doc["against_hess"], (kind, elements)
    if wrong == "mistake":
        named = {"ce": "p instead of p(1 − p)", "bce": "σ(z) instead of σ(z)(1 − σ(z))"}[name]
        assert doc["against_hess"]["findings"][0].startswith(
            f"every element matches a common mistake: {named}"
        )


def test_streamed_against_finds_a_factor_of_n_on_the_rows_of_a_big_file(tmp_path, monkeypatch):
    # mse over N = 3000 rows of D = 2: the mean's gradient is 2e/(N·D); 2e/D is N times it
    # (hand-derived), found over blocks of 64 values
    rng = np.random.default_rng(3)
    p, t = rng.standard_normal((3000, 2)), rng.standard_normal((3000, 2))
    files = [_write(tmp_path, "p", p, "npy"), _write(tmp_path, "t", t, "csv")]
    against = _write(tmp_path, "g", 2 * (p - t) / 2, "csv")
    code, out, err = _invoke(
        monkeypatch, ["mse", *files, "--against", against, "-f", "plain"], elements=64
    )
    assert (code, err) == (1, "")
    assert out.splitlines()[3] == (
        "hint: every element is off by a factor of N = 3000 (yours = 3000 × losscli's): did you "
        "forget to divide by N, the mean over rows?"
    )


def test_streamed_against_with_sample_weights_and_reductions(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    p, t = rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
    w = rng.random(50) + 0.5
    files = [_write(tmp_path, "p", p, "npy"), _write(tmp_path, "t", t, "npy")]
    weights = _write(tmp_path, "w", w, "npy")
    for reduction, g in (
        ("mean", 2 * (p - t) * w[:, None] / (3 * w.sum())),  # Σ s_i·mean_j(e²)/Σ s_i
        ("sum", 2 * (p - t) * w[:, None]),
        ("none", 2 * (p - t) * w[:, None] / 3),
    ):
        for yours in (g, g * 3):
            against = _write(tmp_path, "g", yours, "npy")
            args = ["mse", *files, "--sample-weights", weights, "-r", reduction,
                    "--against", against, "-f", "json"]  # fmt: skip
            code, expected, _ = _invoke(monkeypatch, args, elements=None)
            for elements in (1, 7, 64):
                got = _invoke(monkeypatch, args, elements=elements)
                assert got[0] == code
                _same_within_rounding(
                    json.loads(got[1])["against"], json.loads(expected)["against"]
                )
            assert json.loads(expected)["against"]["passed"] == (yours is g)


def _same_within_rounding(got: dict, expected: dict) -> None:
    """Σ of the sample weights is summed by blocks: the mean's gradient may differ in its last
    bit from the one-block run's (as --grad does), so the numbers agree to 1e-12 relative."""
    for key in ("passed", "checked", "failed", "findings", "analytic_matches_numeric"):
        assert got[key] == expected[key], key
    if not expected["passed"]:  # errors far above rounding: the same worst elements
        assert [w["index"] for w in got["worst"]] == [w["index"] for w in expected["worst"]]
        for a, b in zip(got["worst"], expected["worst"], strict=True):
            for key in ("yours", "analytic", "numeric", "abs_err", "rel_err"):
                np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=0)


def test_streamed_against_names_the_ids_of_the_worst_rows(tmp_path, monkeypatch):
    # one table with ids: streamed by pyarrow above TABLE_STREAM_BYTES
    rng = np.random.default_rng(5)
    n = 40
    yhat, y = rng.standard_normal(n), rng.standard_normal(n)
    with open(tmp_path / "s.csv", "w") as f:
        f.write("id,yhat,y\n")
        f.writelines(
            f"r{i},{a!r},{b!r}\n"
            for i, (a, b) in enumerate(zip(yhat.tolist(), y.tolist(), strict=True))
        )
    g = 2 * (yhat - y) / n
    g[7] *= 5
    against = _write(tmp_path, "g", g, "npy")
    args = ["mse", str(tmp_path / "s.csv"), "--pred-col", "yhat", "--target-col", "y",
            "--id-col", "id", "--against", against, "-f", "json"]  # fmt: skip
    monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 1 << 62)
    code, expected, _ = _invoke(monkeypatch, args, elements=None)
    monkeypatch.setattr(sources, "TABLE_STREAM_BYTES", 0)
    got = _invoke(monkeypatch, args, elements=8)
    assert json.loads(got[1])["against"] == json.loads(expected)["against"]
    assert json.loads(got[1])["against"]["worst"][0]["id"] == "r7"


# --------------------------------------------------------------------------- the states


def _blocks(n: int, rng) -> list[tuple[int, int]]:
    cuts = sorted(set(rng.integers(1, n, 5).tolist()))
    edges = [0, *cuts, n]
    return list(zip(edges[:-1], edges[1:], strict=True))


def test_against_state_merges_to_the_one_block_state_in_any_grouping():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((40, 3))
    analytic = rng.standard_normal((40, 3))
    numeric = analytic + rng.standard_normal((40, 3)) * 1e-9
    yours = analytic.copy()
    yours[3:7] *= 2
    yours[20, 2] = 5.0
    yours[30:] = 0.0
    whole = AgainstState.of(x, yours, analytic, numeric, keep=5)
    parts = [
        AgainstState.of(x[a:b], yours[a:b], analytic[a:b], numeric[a:b], start=a, keep=5)
        for a, b in _blocks(40, rng)
    ]
    left = parts[0]
    for part in parts[1:]:
        left = left.merge(part)
    right = parts[-1]
    for part in reversed(parts[:-1]):
        right = part.merge(right)
    for state in (left, right):
        assert state.elements(5) == whole.elements(5)
        assert (
            (state.checked, state.failed)
            == (whole.checked, whole.failed)
            == (120, 4 * 3 + 1 + 10 * 3)
        )
        assert (state.max_abs, state.max_rel) == (whole.max_abs, whole.max_rel)
        plan = state.diagnosis.plan(rtol=1e-3, atol=1e-5)
        rows = None
        for a, b in _blocks(40, rng):
            f = RowFindings.of(yours[a:b], analytic[a:b], plan, start=a, rtol=1e-3, atol=1e-5)
            rows = f if rows is None else rows.merge(f)
        assert state.result(rows).findings == diagnose(yours, analytic)


def test_diagnosis_merge_is_associative():
    rng = np.random.default_rng(8)
    y, r = rng.standard_normal((9, 2)), rng.standard_normal((9, 2))
    a, b, c = (Diagnosis.of(y[s], r[s], rtol=1e-3, atol=1e-5) for s in np.split(np.arange(9), 3))
    one, two = a.merge(b).merge(c), a.merge(b.merge(c))
    for field in ("count", "lo", "hi", "rest"):
        np.testing.assert_array_equal(getattr(one.columns, field), getattr(two.columns, field))
    np.testing.assert_array_equal(one.bad, two.bad)


def test_the_constant_ratio_is_the_midpoint_of_the_ratios():
    # ratios 3, 3, 3.0059: their median 3 is 0.0059 > rtol·3 from the third, so a median
    # finds no constant; the midpoint c = 3.00295 is within 0.00295 ≤ rtol·c of all three
    # (hand-derived), and |c − 3| ≤ rtol·3 names it D = 3 (a mergeable rule: min and max)
    reference = np.array([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0]])  # N = 2, D = 3
    yours = reference * np.array([[3.0, 3.0, 3.0059], [3.0, 3.0, 3.0]])
    assert diagnose(yours, reference) == [
        "every element is off by a factor of D = 3 (yours = 3.00295 × losscli's): did you "
        "forget to divide by D, the columns each row's loss averages?"
    ]
    # a spread of 0.0062 > 2·rtol·c: no constant over the whole array (nor over column 2,
    # whose ratios are the same two), but columns 0 and 1, row 1, and element (0, 2) alone
    yours = reference * np.array([[3.0, 3.0, 3.0062], [3.0, 3.0, 3.0]])
    factor = (
        "a factor of D = 3 (yours = 3 × losscli's): did you forget to divide by D, the columns "
        "each row's loss averages?"
    )
    assert diagnose(yours, reference) == [
        f"columns 0, 1 are off by {factor}",
        f"row 1 is off by {factor}",
        "1 of 6 elements differ with no common factor (e.g. at (row 0, col 2) yours is 12.0248, "
        "losscli's 4)",
    ]


# --------------------------------------------------------------------------- bad input


def _error(monkeypatch, tmp_path, against: str, *, elements: int | None = 7, preds="npy"):
    p = np.arange(12.0).reshape(6, 2)
    files = [_write(tmp_path, "p", p, preds), _write(tmp_path, "t", np.zeros((6, 2)), "npy")]
    code, out, err = _invoke(monkeypatch, ["mse", *files, "--against", against], elements=elements)
    return code, out, err


@pytest.mark.parametrize("kind", ["npy", "csv"])
@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((5, 2), "has shape (5, 2) but the predictions have shape (6, 2)"),
        ((7, 2), "has shape (7, 2) but the predictions have shape (6, 2)"),
        ((6, 3), "has shape (6, 3) but the predictions have shape (6, 2)"),
        ((2, 6), "has shape (2, 6) but the predictions have shape (6, 2) (transposed?)"),
    ],
)
def test_a_gradient_file_of_another_shape_is_one_error(
    tmp_path, monkeypatch, kind, shape, expected
):
    against = _write(tmp_path, "g", np.ones(shape), kind)
    message = f"Error: {against}: the gradient {expected}; give one value per prediction\n"
    for elements in (None, 1, 7):
        code, out, err = _error(monkeypatch, tmp_path, against, elements=elements)
        assert (code, out, err) == (2, "", message)


def test_a_bad_cell_mid_stream_in_the_gradient_file_is_one_error(tmp_path, monkeypatch):
    rows = ["1,2"] * 6
    rows[4] = "1,abc"
    against = tmp_path / "g.csv"
    against.write_text("\n".join(rows) + "\n")
    _, _, expected = _error(monkeypatch, tmp_path, str(against), elements=None)
    assert expected.startswith(f"Error: {against}: ") and "abc" in expected
    assert expected.count("\n") == 1
    for elements in (1, 4, 7):
        assert _error(monkeypatch, tmp_path, str(against), elements=elements) == (2, "", expected)


def test_a_non_finite_value_in_the_gradient_file_is_one_error(tmp_path, monkeypatch):
    g = np.ones((6, 2))
    g[3, 1] = np.nan
    against = _write(tmp_path, "g", g, "npy")
    _, _, expected = _error(monkeypatch, tmp_path, against, elements=None)
    assert expected.startswith(f"Error: {against}: ") and "NaN" in expected
    for elements in (1, 4):
        assert _error(monkeypatch, tmp_path, against, elements=elements) == (2, "", expected)


# --------------------------------------------------------------------------- memory


# NPY pages released every 4 MiB (RELEASE_BYTES), so that the windows of three files stay small
# beside them
SMALL_RELEASE = "import losscli.sources\nlosscli.sources.RELEASE_BYTES = 4 << 20\n"


@pytest.mark.parametrize("loss", ["mse", "rmse"])
def test_streamed_against_does_not_read_the_files_whole(tmp_path, loss):
    # 3 × 48 MiB of float64 (predictions, targets, the user's gradient) through blocks of
    # 128 Ki values (1 MiB): the streamed comparison holds a few blocks, not the files
    n, d = 1 << 20, 6
    rng = np.random.default_rng(9)
    arrays = {}
    for name in ("p.npy", "t.npy", "g.npy"):
        arrays[name] = np.lib.format.open_memmap(tmp_path / name, "w+", np.float64, (n, d))
    squares = 0.0
    for start in range(0, n, 1 << 16):
        part = slice(start, start + (1 << 16))
        p, t = rng.standard_normal((1 << 16, d)), rng.standard_normal((1 << 16, d))
        arrays["p.npy"][part], arrays["t.npy"][part] = p, t
        arrays["g.npy"][part] = 2 * (p - t) / (n * d)  # mse: 2e/(N·D)
        squares += float(((p - t) ** 2).sum())
    if loss == "rmse":  # e/(N·D·R), R = √(Σe²/(N·D)): mse's gradient / (2R)
        arrays["g.npy"][:] /= 2 * np.sqrt(squares / (n * d))
    for a in arrays.values():
        a.flush()
    del arrays, a
    args = [loss, *(str(tmp_path / f) for f in ("p.npy", "t.npy")), "-f", "json",
            "--against", str(tmp_path / "g.npy")]  # fmt: skip
    env = {"LOSSCLI_STREAM_BYTES": "0", "LOSSCLI_CHUNK_ELEMENTS": str(1 << 17)}
    streamed_mib, out = peak_rss_mib(args, env, setup=SMALL_RELEASE)
    baseline_mib, _ = peak_rss_mib(["--version"], setup=SMALL_RELEASE)
    doc = json.loads(out)["against"]
    assert doc["passed"] and doc["checked"] == n * d
    # the three files alone are 144 MiB (in memory, with the arrays it computes: ~400 MiB)
    assert streamed_mib - baseline_mib < 100, (streamed_mib, baseline_mib)


@pytest.mark.parametrize("kind", ["npy", "csv"])
def test_a_hessian_file_of_another_shape_is_one_error(tmp_path, monkeypatch, kind):
    p = np.arange(12.0).reshape(6, 2)
    files = [_write(tmp_path, "p", p, "npy"), _write(tmp_path, "t", np.zeros((6, 2)), "csv")]
    against = _write(tmp_path, "h", np.ones((4, 2)), kind)
    message = (
        f"Error: {against}: the Hessian diagonal has shape (4, 2) but the predictions have "
        "shape (6, 2); give one value per prediction\n"
    )
    for elements in (None, 1, 7):
        args = ["mse", *files, "--against-hess", against]
        assert _invoke(monkeypatch, args, elements=elements) == (2, "", message)


# --------------------------------------------------------------------------- --hess --check


def _hess_check_inputs(name: str, rng):
    if name == "huber":  # errors of exactly ±δ = 1 on some elements: kinks of the gradient
        t = np.round(rng.standard_normal((53, 2)) * 4) / 4  # quarters: t ± 1 is exact
        p = t + rng.standard_normal((53, 2))
        p[::5, 0] = t[::5, 0] + 1.0
        p[2::7, 1] = t[2::7, 1] - 1.0
        return p, t, []
    if name == "mse-vector":
        return rng.standard_normal(89), rng.standard_normal(89), []
    p, t, options, _, _ = _hess_inputs(name, rng)
    return p, t, options


@pytest.mark.parametrize("name", ["ce", "bce", "mse", "huber", "mse-vector"])
def test_streamed_hess_check_is_the_in_memory_one(tmp_path, monkeypatch, name):
    rng = np.random.default_rng(abs(hash((name, "hess-check"))) % 2**32)
    p, t, options = _hess_check_inputs(name, rng)
    loss = name.removesuffix("-vector")
    for kind in ("npy", "csv"):
        files = [_write(tmp_path, "p", p, kind), _write(tmp_path, "t", t, kind)]
        for reduction in ("mean", "sum"):
            args = [loss, *files, *options, "-r", reduction, "--hess", "--check", "-f", "json"]
            code, expected, err = _invoke(monkeypatch, args, elements=None)
            doc = json.loads(expected)
            # (huber: the gradient's own check fails next to its kinks; the Hessian's passes)
            assert code in (0, 1) and doc["hess_check"]["passed"], err
            if name == "huber":
                assert err.startswith("Warning: ") and "lie on a kink of huber's gradient" in err
            for elements in SIZES:
                got = _invoke(monkeypatch, args, elements=elements)
                assert got[0] == code and got[2] == err, (kind, reduction, elements)
                streamed = json.loads(got[1])
                assert streamed["hess_check"] == doc["hess_check"], (kind, reduction, elements)
                np.testing.assert_allclose(streamed["hess"], doc["hess"], rtol=1e-12, atol=0)


def test_a_gradient_npy_of_three_dimensions_is_one_error(tmp_path, monkeypatch):
    # A K-dim gradient is compared whole, in the inputs' layout (tests/test_kdim_stream.py),
    # so over the streaming budget too the inputs are read whole and the error is the same.
    against = _write(tmp_path, "g", np.ones((6, 2, 1)), "npy")
    message = (
        f"Error: {against}: the gradient has shape (6, 2, 1) but the predictions have shape "
        "(6, 2); give one value per prediction\n"
    )
    assert _error(monkeypatch, tmp_path, against, elements=None) == (2, "", message)
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    files = [_write(tmp_path, "p", np.arange(12.0).reshape(6, 2), "npy"),
             _write(tmp_path, "t", np.zeros((6, 2)), "npy")]  # fmt: skip
    r = runner.invoke(app, ["mse", *files, "--against", against])
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", message)


def test_gradient_files_with_a_header_tabs_or_gzip_stream_as_read_whole(tmp_path, monkeypatch):
    import gzip

    rng = np.random.default_rng(10)
    p, t, _, g = _inputs("mse", rng)
    yours = _wrong("rows", g, rng)
    files = [_write(tmp_path, "p", p, "npy"), _write(tmp_path, "t", t, "csv")]
    header = tmp_path / "g.csv"
    np.savetxt(header, yours, delimiter=",", fmt="%.17g", header="a,b,c", comments="")
    (tmp_path / "g.csv.gz").write_bytes(gzip.compress(header.read_bytes()))
    for against in (str(header), _write(tmp_path, "g", yours, "tsv"), str(header) + ".gz"):
        args = ["mse", *files, "--against", against, "-f", "json"]
        expected = _invoke(monkeypatch, args, elements=None)
        assert expected[0] == 1
        for elements in (1, 64):
            got = _invoke(monkeypatch, args, elements=elements)
            assert json.loads(got[1])["against"] == json.loads(expected[1])["against"]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind", ["npy", "csv"])
def test_streamed_rmse_against_is_the_in_memory_report(tmp_path, monkeypatch, kind, weighted):
    # rmse R = √(Σ s_i·mean_j(e_ij²)/Σ s_i): ∂R/∂ŷ_ij = s_i·e_ij/(D·Σs·R) (hand-derived). Streamed,
    # the analytic gradient is the merged mean's (finish_grad, as --grad) and the finite
    # differences each row's squared errors' through the merged √ by the chain rule (as the
    # streamed --check); in memory the same, so the reports are the same bits (unweighted)
    rng = np.random.default_rng(12)
    p, t = rng.standard_normal((41, 3)), rng.standard_normal((41, 3))
    w = rng.random(41) + 0.5 if weighted else np.ones(41)
    e = p - t
    r = np.sqrt((w[:, None] * e**2).sum() / (3 * w.sum()))
    g = w[:, None] * e / (3 * w.sum() * r)
    files = [_write(tmp_path, "p", p, kind), _write(tmp_path, "t", t, kind)]
    if weighted:
        files += ["--sample-weights", _write(tmp_path, "w", w, "npy")]
    for wrong, yours, finding in (
        ("right", g, None),
        ("twice", 2 * g, "every element is off by a factor of 2 (yours = 2 × losscli's)"),
        ("1/N", g / len(g), "every element is off by a factor of 1/N = 1/41"),
    ):
        against = _write(tmp_path, "g", yours, "csv" if kind == "npy" else "npy")
        args = ["rmse", *files, "--against", against, "-f", "json"]
        code, out, err = _invoke(monkeypatch, args, elements=None)
        assert code == (0 if wrong == "right" else 1), err
        expected = json.loads(out)["against"]
        assert expected["passed"] == (wrong == "right")
        assert expected["analytic_matches_numeric"]
        if finding is not None:
            assert expected["findings"][0].startswith(finding), expected["findings"]
        for elements in (1, 7, 64):
            got = _invoke(monkeypatch, args, elements=elements)
            assert got[0] == code and got[2] == err, (elements, got[2])
            if weighted:  # Σs summed by blocks: the last bit may differ (as for mse)
                _same_within_rounding(json.loads(got[1])["against"], expected)
            else:
                assert json.loads(got[1])["against"] == expected, (wrong, elements)


def test_streamed_rmse_none_against_is_the_in_memory_report(tmp_path, monkeypatch):
    # none: row i's R_i = √(mean_j e_ij²), ∂R_i/∂ŷ_ij = e_ij/(D·R_i) (hand-derived); each
    # row's own, so blocks stream: the finite differences each row's squared errors' through
    # its own √ by the chain rule, in memory the same, so the reports are the same bits. Row
    # 3's errors at 1e200 and row 5's at 1e-200 (squares beyond 2^±400): scaled by rows
    rng = np.random.default_rng(15)
    p, t = rng.standard_normal((23, 3)), rng.standard_normal((23, 3))
    p[3], t[3], p[5], t[5] = p[3] * 1e200, t[3] * 1e200, p[5] * 1e-200, t[5] * 1e-200
    e = p - t
    c = np.ones((23, 1))
    c[3], c[5] = 1e200, 1e-200
    g = (e / c) / (3 * np.sqrt(((e / c) ** 2).mean(axis=1, keepdims=True)))  # scale-free
    off = g.copy()
    off[7] *= 5
    files = [_write(tmp_path, "p", p, "npy"), _write(tmp_path, "t", t, "npy")]
    for wrong, yours, finding in (
        ("right", g, None),
        ("twice", 2 * g, "every element is off by a factor of 2 (yours = 2 × losscli's)"),
        ("row", off, "row 7 is off by a constant factor of 5 (yours = 5 × losscli's)"),
    ):
        against = _write(tmp_path, "g", yours, "csv")
        args = ["rmse", *files, "-r", "none", "--against", against, "-f", "json"]
        code, out, err = _invoke(monkeypatch, args, elements=None)
        assert code == (0 if wrong == "right" else 1), err
        expected = json.loads(out)["against"]
        assert expected["passed"] == (wrong == "right") and expected["checked"] == 69
        assert expected["analytic_matches_numeric"], expected
        if finding is not None:
            assert expected["findings"][0].startswith(finding), expected["findings"]
        for elements in (1, 7, 64):
            got = _invoke(monkeypatch, args, elements=elements)
            assert got[0] == code and got[2] == err, (elements, got[2])
            assert json.loads(got[1])["against"] == expected, (wrong, elements)


def test_rmse_against_hess_streams(tmp_path, monkeypatch):
    # the Hessian's differences are each element's move of the merged mean (Loss.moved_grad):
    # streamed beside the predictions as --against (tests/test_rmse_stream.py for the numbers)
    rng = np.random.default_rng(13)
    p, t = rng.standard_normal((20, 2)), rng.standard_normal((20, 2))
    files = [_write(tmp_path, "p", p, "npy"), _write(tmp_path, "t", t, "npy")]
    g = _write(tmp_path, "g", np.zeros((20, 2)), "npy")
    code, out, err = _invoke(
        monkeypatch, ["rmse", *files, "--against-hess", g, "-f", "json"], elements=7
    )
    assert code == 1 and not json.loads(out)["against_hess"]["passed"], err


@pytest.mark.parametrize("kind", ["npy", "csv"])
def test_a_gradient_on_stdin_streams_as_a_file(tmp_path, monkeypatch, kind):
    # --against -: stdin copied to a private file (as the inputs are), read beside the
    # predictions; the report is the in-memory one, errors name <stdin>, the copy is removed
    spools = tmp_path / "spools"
    spools.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spools))
    rng = np.random.default_rng(14)
    p, t = rng.standard_normal((37, 2)), rng.standard_normal((37, 2))
    g = 2 * (p - t) / p.size  # mse: 2(ŷ − y)/(N·D)
    files = [_write(tmp_path, "p", p, "npy"), _write(tmp_path, "t", t, "npy")]
    for name, loss, yours in (("right", "mse", g), ("twice", "mse", 2 * g)):
        data = Path(_write(tmp_path, "g", yours, kind)).read_bytes()
        args = [loss, *files, "--against", "-", "-f", "json"]
        code, expected, err = _invoke(monkeypatch, args, elements=None, stdin=data)
        assert code == (0 if name == "right" else 1), err
        assert json.loads(expected)["against"]["passed"] == (name == "right")
        for elements in (1, 7, 64):
            got = _invoke(monkeypatch, args, elements=elements, stdin=data)
            assert got[0] == code and got[2] == err, (elements, got[2])
            assert json.loads(got[1])["against"] == json.loads(expected)["against"]
            assert not list(spools.iterdir())
    bad = b"\n".join([b"1,2"] * 5 + [b"3"] + [b"1,2"] * 31) + b"\n"
    for elements in (None, 7):
        code, out, err = _invoke(
            monkeypatch, ["mse", *files, "--against", "-"], elements=elements, stdin=bad
        )
        assert (code, out) == (2, "")
        assert err == "Error: <stdin>: line 6 has 1 field, expected 2 (as on line 1)\n"
        assert not list(spools.iterdir())


@pytest.mark.parametrize("scale", [1e200, 1e-200], ids=["huge", "tiny"])
def test_rmse_against_with_errors_whose_squares_overflow(tmp_path, monkeypatch, scale):
    # errors of 1e±200 (squares beyond float64): the finite differences are of the errors
    # scaled by 2^-k, as the gradient's; ∂R/∂ŷ = e/(N·D·R), R computed on e/scale (by hand)
    rng = np.random.default_rng(15)
    p, t = rng.standard_normal((10, 2)) * scale, np.zeros((10, 2))
    r = np.sqrt(np.mean((p / scale) ** 2)) * scale
    files = [_write(tmp_path, "p", p, "npy"), _write(tmp_path, "t", t, "npy")]
    against = _write(tmp_path, "g", p / (p.size * r), "npy")
    args = ["rmse", *files, "--against", against, "-f", "json"]
    code, out, err = _invoke(monkeypatch, args, elements=None)
    expected = json.loads(out)["against"]
    assert code == 0 and expected["analytic_matches_numeric"] and expected["findings"] == [], err
    for elements in (1, 7):
        got = _invoke(monkeypatch, args, elements=elements)
        assert got[0] == 0 and json.loads(got[1])["against"]["analytic_matches_numeric"]
