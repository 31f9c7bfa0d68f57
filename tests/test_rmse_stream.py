"""rmse, the one loss that is not row-separable (issue 8): --hess --check, --against-hess and
--check stream in bounded memory, in memory the one-block case of the same code (the same
verdicts and numbers for blocks of 1, 7, 64 and 10,000 values), errors beyond 2^±400 scaled
as the value and gradient are, --reduction none's Hessian scaled row by row.

Expected values are derived by hand. rmse R = √u, u = Σ_r s_r·Σ_d e_rd²/(D·W), W = Σ_r s_r:
    ∂u/∂ŷ_i = 2·s_r·e_i/(D·W),  ∂²u/∂ŷ_i² = 2·s_r/(D·W),
    ∂²R/∂ŷ_i² = f''(u)·(∂u)² + f'(u)·∂²u = s_r/(D·W·R) − s_r²·e_i²/(D²·W²·R³)
(f = √: f' = 1/(2√u), f'' = −1/(4u^(3/2))); under ``none`` each row its own R_r = √(Σ_d e²/D)
and W = 1, times s_r.
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
from peak_rss import peak_rss_mib  # one helper for the peak RSS of a subprocess
from test_engine import _write
from typer.testing import CliRunner

import losscli
import losscli.engine as engine
import losscli.sources as sources
from losscli.cli import app

runner = CliRunner()
checker = importlib.import_module("losscli.gradcheck")  # losscli.gradcheck is the function
BLOCKS = (1, 7, 64, 10_000)


def _hess_by_hand(e: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
    """s_r/(D·W·R) − s_r²·e_i²/(D²·W²·R³) (module docstring), e of shape (N, D) or (N,)."""
    e2 = e.reshape(len(e), -1)
    d = e2.shape[1]
    s = np.ones(len(e)) if s is None else s
    w = s.sum()
    r = np.sqrt((s[:, None] * e2**2).sum() / (d * w))
    sr = s[:, None]
    return (sr / (d * w * r) - sr**2 * e2**2 / (d * d * w * w * r**3)).reshape(e.shape)


def _invoke(monkeypatch, args, *, elements: int | None) -> tuple[int, dict, str]:
    """The CLI in memory (``elements`` None) or streamed in blocks of ``elements`` values, the
    inputs then never held whole (``MemoryInputs.whole`` and the whole-array path refused)."""
    stream = elements is not None
    monkeypatch.setattr(sources, "STREAM_BYTES", 0 if stream else 1 << 62)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", elements or (1 << 20))
    monkeypatch.setattr(sources, "MEMORY_BLOCK_ELEMENTS", 0)
    real, calls = engine._Run.streamed, []
    monkeypatch.setattr(engine._Run, "streamed", lambda *a, **k: calls.append(1) or real(*a, **k))
    r = runner.invoke(app, [*args, "-f", "json"], env={"COLUMNS": "200"})
    assert bool(calls) == stream, (elements, r.stderr)
    return r.exit_code, json.loads(r.stdout) if r.stdout else {}, r.stderr


def _same_check(got: dict, expected: dict) -> None:
    """Two check sections agree: verdicts and counts exactly; the figures of the elements
    both name among the worst, the analytic ones to 1e-12 and the finite differences to 1e-8
    (the merged sums' last bits depend on the blocks, and a difference quotient at eps 1e-6
    turns an ulp of the gradient into ~1e-10 of the result), the inputs exactly; both far
    within the tolerance (max_rel_err below 1e-6 where the check allows 1e-3)."""
    exact = ("passed", "checked", "failed", "kinks", "clamped", "uncertain", "sampled")
    assert {k: got[k] for k in exact} == {k: expected[k] for k in exact}
    theirs = {tuple(w["index"]): w for w in expected["worst"]}
    common = [w for w in got["worst"] if tuple(w["index"]) in theirs]
    assert common
    for w in common:
        other = theirs[tuple(w["index"])]
        assert w["input"] == other["input"] and w["status"] == other["status"]
        assert w["analytic"] == pytest.approx(other["analytic"], rel=1e-12, abs=0)
        assert w["numeric"] == pytest.approx(other["numeric"], rel=1e-8, abs=0)
    if expected["passed"]:
        assert got["max_rel_err"] < 1e-6 and expected["max_rel_err"] < 1e-6


def _files(tmp_path, p, t, s=None, kind="npy") -> list[str]:
    files = [_write(tmp_path, "p", p, kind), _write(tmp_path, "t", t, kind)]
    if s is not None:
        files += ["--sample-weights", _write(tmp_path, "s", s, kind)]
    return files


# ----------------------------------------------------------------- --hess --check


def test_moved_gradient_is_the_gradient_with_one_element_moved():
    # Loss.moved_grad's element i against the analytic gradient of the whole input with
    # element i alone moved (evaluate(..., grad=True) once per element: written independently)
    rng = np.random.default_rng(1)
    p, t, s = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.uniform(0.5, 2, 4)
    prepared = losscli.rmse.prepare_inputs(p, t)
    for reduction in ("mean", "none"):
        got = losscli.rmse.moved_grad(prepared, 0.25, reduction=reduction, sample_weights=s)
        for i in np.ndindex(p.shape):
            moved = p.copy()
            moved[i] += 0.25
            g = losscli.evaluate(
                "rmse", moved, t, sample_weights=s, reduction=reduction, grad=True
            ).grad
            assert got[i] == pytest.approx(g[i], rel=1e-13), (reduction, i)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", [(50,), (25, 2)], ids=["D=1", "D=2"])
def test_hess_check_by_hand_in_memory_and_streamed(tmp_path, monkeypatch, shape, weighted):
    rng = np.random.default_rng(2)
    p, t = rng.standard_normal(shape), rng.standard_normal(shape)
    s = rng.uniform(0.5, 2.0, shape[0]) if weighted else None
    expected = _hess_by_hand(p - t, s)
    args = ["rmse", *_files(tmp_path, p, t, s), "--hess", "--check"]
    code, one, err = _invoke(monkeypatch, args, elements=None)
    assert code == 0, err
    np.testing.assert_allclose(one["hess"], expected, rtol=1e-12, atol=0)
    assert one["hess_check"]["passed"] and one["hess_check"]["checked"] == p.size
    assert one["hess_check"]["max_rel_err"] < 1e-7  # central differences at eps 1e-6
    for elements in BLOCKS:
        code, got, err = _invoke(monkeypatch, args, elements=elements)
        assert code == 0, (elements, err)
        np.testing.assert_allclose(got["hess"], expected, rtol=1e-12, atol=0)
        _same_check(got["hess_check"], one["hess_check"])
        _same_check(got["check"], one["check"])


def test_hess_check_numbers_are_the_in_memory_ones(tmp_path, monkeypatch):
    # the worst elements' figures, element by element: the same method on any split
    rng = np.random.default_rng(3)
    p, t = rng.standard_normal((40, 2)), rng.standard_normal((40, 2))
    args = ["rmse", *_files(tmp_path, p, t), "--hess", "--check"]
    _, one, _ = _invoke(monkeypatch, args, elements=None)
    worst = {tuple(w["index"]): w for w in one["hess_check"]["worst"]}
    hess = np.asarray(one["hess"])
    for elements in BLOCKS:
        _, got, _ = _invoke(monkeypatch, args, elements=elements)
        np.testing.assert_allclose(got["hess"], hess, rtol=1e-13, atol=0)
        for w in got["hess_check"]["worst"]:
            at = tuple(w["index"])
            assert w["analytic"] == pytest.approx(hess[at], rel=1e-13)
            if at in worst:
                assert w["numeric"] == pytest.approx(worst[at]["numeric"], rel=1e-8)
                assert w["input"] == worst[at]["input"] == p[at]


def test_hess_check_fails_a_wrong_hessian_streamed(tmp_path, monkeypatch):
    # the check is of losscli's own Hessian: a Hessian step made wrong (f''·(∂u)² dropped,
    # i.e. the diagonal 1/(N·R) alone) fails where e_i² is large enough to matter (N small)
    p, t = np.array([3.0, 0.0, 0.0, 0.0]), np.zeros(4)
    args = ["rmse", *_files(tmp_path, p, t), "--hess", "--check"]
    real = type(losscli.rmse).block_hess

    def without_first_term(self, prepared, **k):
        return real(self, prepared, **k) + (prepared.predictions**2) / (16 * 1.5**3)

    monkeypatch.setattr(type(losscli.rmse), "block_hess", without_first_term)
    for elements in (None, 1, 3):
        code, got, err = _invoke(monkeypatch, args, elements=elements)
        # R = 3/2, N = 4: the term is e²/(N²·R³) = 9/(16·3.375) at element 0, 0 elsewhere
        assert code == 1 and got["hess_check"]["failed"] == 1, (elements, err)
        assert got["hess_check"]["max_abs_err_at"] == [0]


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e305], ids=["1e200", "1e-200", "1e305"])
def test_check_and_hess_check_of_errors_whose_squares_overflow(tmp_path, monkeypatch, scale):
    # errors beyond 2^±400: the value, gradient, Hessian and their differences scaled by
    # 2^-k; ∂R/∂ŷ = e/(N·D·R) is scale-free, ∂²R/∂ŷ² scales as 1/scale (by hand on e/scale)
    rng = np.random.default_rng(4)
    a = rng.uniform(0.5, 1.5, (12, 2)) * rng.choice([-1.0, 1.0], (12, 2))
    p, t = a * scale, np.zeros((12, 2))
    expected_h = _hess_by_hand(a) / scale
    expected_g = a / (a.size * np.sqrt(np.mean(a**2)))
    args = ["rmse", *_files(tmp_path, p, t), "--hess", "--check", "--grad"]
    code, one, err = _invoke(monkeypatch, args, elements=None)
    assert code == 0 and one["check"]["passed"] and one["hess_check"]["passed"], err
    for elements in BLOCKS:
        code, got, err = _invoke(monkeypatch, args, elements=elements)
        assert code == 0, (elements, err)
        np.testing.assert_allclose(got["grad"], expected_g, rtol=1e-13, atol=0)
        np.testing.assert_allclose(got["hess"], expected_h, rtol=1e-13, atol=0)
        _same_check(got["check"], one["check"])
        _same_check(got["hess_check"], one["hess_check"])
        assert got["check"]["max_rel_err"] < 1e-6 and got["hess_check"]["max_rel_err"] < 1e-6
        worst = got["check"]["worst"][0]  # the inputs and steps shown unscaled
        assert worst["input"] == p[tuple(worst["index"])]
        assert worst["step"] > 1e-7 * abs(worst["input"])


def test_check_in_memory_is_the_streamed_one(tmp_path, monkeypatch):
    # the same method (each row's squared errors differenced, the merged mean's √ by the chain
    # rule): in memory as accurate as streamed (it was ~5e-05 per element of the whole √ at
    # N = 10,000)
    rng = np.random.default_rng(5)
    p, t = rng.standard_normal(3000), rng.standard_normal(3000)
    args = ["rmse", *_files(tmp_path, p, t), "--check"]
    code, one, err = _invoke(monkeypatch, args, elements=None)
    assert code == 0 and one["check"]["max_rel_err"] < 1e-8, err
    for elements in BLOCKS:
        code, got, _ = _invoke(monkeypatch, args, elements=elements)
        assert code == 0
        _same_check(got["check"], one["check"])


# ----------------------------------------------------------------- --reduction none


@pytest.mark.parametrize("exponent", [450, -450])
def test_none_hessian_of_rows_beyond_2_to_the_400(tmp_path, monkeypatch, exponent):
    # row r's own R_r = √(Σ_d e²/D): ∂²(s_r·R_r)/∂ŷ² = s_r/(D·R_r) − s_r·e²/(D²·R_r³), which
    # scales as 2^-450 / 2^450 with the errors (homogeneous of degree −1; by hand on e·2^-k)
    a = np.array([[3.0, 4.0], [1.0, -1.0], [0.5, 2.0]])
    s = np.array([1.0, 2.0, 0.5])
    r = np.sqrt((a**2).mean(axis=1, keepdims=True))
    by_hand = s[:, None] / (2 * r) - s[:, None] * a**2 / (4 * r**3)
    scaled = np.ldexp(a, exponent)
    rows = np.vstack([scaled, a])  # the last rows ordinary: each row its own scale
    expected = np.vstack([np.ldexp(by_hand, -exponent), by_hand])
    w = np.concatenate([s, s])
    got = losscli.rmse.hess(rows, np.zeros_like(rows), reduction="none", sample_weights=w)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    args = ["rmse", *_files(tmp_path, rows, np.zeros_like(rows), w), "-r", "none"]
    args += ["--hess", "--check"]
    for elements in (None, *BLOCKS):
        code, out, err = _invoke(monkeypatch, args, elements=elements)
        assert code == 0 and out["hess_check"]["passed"] and out["check"]["passed"], err
        np.testing.assert_allclose(out["hess"], expected, rtol=1e-14, atol=0)


def test_none_hess_check_streams_by_hand(tmp_path, monkeypatch):
    rng = np.random.default_rng(6)
    p, t = rng.standard_normal((30, 3)), rng.standard_normal((30, 3))
    e = p - t
    r = np.sqrt((e**2).mean(axis=1, keepdims=True))
    expected = 1 / (3 * r) - e**2 / (9 * r**3)
    args = ["rmse", *_files(tmp_path, p, t), "-r", "none", "--hess", "--check"]
    _, one, _ = _invoke(monkeypatch, args, elements=None)
    for elements in (None, *BLOCKS):
        code, got, err = _invoke(monkeypatch, args, elements=elements)
        assert code == 0, err
        np.testing.assert_allclose(got["hess"], expected, rtol=1e-13, atol=0)
        _same_check(got["hess_check"], one["hess_check"])


# ----------------------------------------------------------------- --against-hess


@pytest.mark.parametrize("kind", ["npy", "csv"])
def test_against_hess_streams_right_twice_and_one_wrong(tmp_path, monkeypatch, kind):
    rng = np.random.default_rng(7)
    p, t = rng.standard_normal((40, 2)), rng.standard_normal((40, 2))
    s = rng.uniform(0.5, 2.0, 40)
    h = _hess_by_hand(p - t, s)
    one_wrong = h.copy()
    one_wrong[13, 1] *= 5
    files = _files(tmp_path, p, t, s)
    for name, yours, code in (("right", h, 0), ("twice", 2 * h, 1), ("one", one_wrong, 1)):
        against = _write(tmp_path, f"h_{name}", yours, kind)
        args = ["rmse", *files, "--against-hess", against]
        got_code, one, err = _invoke(monkeypatch, args, elements=None)
        assert got_code == code, (name, err)
        expected = one["against_hess"]
        assert expected["analytic_matches_numeric"], name
        if name == "right":
            assert expected["passed"] and expected["findings"] == []
        elif name == "twice":
            assert expected["failed"] == p.size
            assert expected["findings"][0].startswith(
                "every element is off by a factor of D = 2 (yours = 2 × "
            )
        else:
            assert expected["failed"] == 1 and expected["worst"][0]["index"] == [13, 1]
        for elements in BLOCKS:
            got_code, got, err = _invoke(monkeypatch, args, elements=elements)
            assert got_code == code, (name, elements, err)
            mine = got["against_hess"]
            assert mine["findings"] == expected["findings"], (name, elements)
            assert mine["failed"] == expected["failed"]
            assert mine["analytic_matches_numeric"]
            assert mine["worst"][0]["index"] == expected["worst"][0]["index"]
            assert mine["max_abs_err"] == pytest.approx(expected["max_abs_err"], rel=1e-9)


# ----------------------------------------------------------------- bounded memory


def test_hess_check_is_not_read_whole(tmp_path, monkeypatch):
    rng = np.random.default_rng(8)
    p, t = rng.standard_normal(500), rng.standard_normal(500)
    args = ["rmse", *_files(tmp_path, p, t), "--hess", "--check"]
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", 64)

    def whole(self):
        raise AssertionError("read whole")

    monkeypatch.setattr(sources.MemoryInputs, "whole", whole)
    r = runner.invoke(app, [*args, "-f", "json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["hess_check"]["passed"] and out["hess_check"]["checked"] == 500


def test_hess_check_streams_in_bounded_memory(tmp_path):
    n = 1_000_000  # 8 MB of float64 per input; blocks of 16 Ki values
    for name, fill in (("p", 1.5), ("t", 0.0)):
        a = np.lib.format.open_memmap(tmp_path / f"{name}.npy", "w+", np.float64, (n,))
        a[:] = fill
        a[::2] = -fill  # errors ±1.5: R = 1.5
        a.flush()
        del a
    args = ["rmse", str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), "--hess", "-f", "json"]
    env = {"LOSSCLI_CHUNK_ELEMENTS": "16Ki", "LOSSCLI_STREAM_BYTES": "1M"}
    checked, out = peak_rss_mib([*args, "--check"], env)
    hess_only, _ = peak_rss_mib(args, env)
    report = json.loads(out)
    assert report["hess_check"]["passed"] and report["hess_check"]["checked"] == n
    assert report["check"]["passed"] and report["check"]["checked"] == n
    # ∂²R/∂ŷ² = 1/(N·R) − e²/(N²·R³) with e² = R² = 2.25 (by hand)
    assert report["hess"][0] == pytest.approx(1 / (n * 1.5) - 1 / (n * n * 1.5), rel=1e-12)
    # the checks hold a few blocks and their differences beside the printed Hessian (8 MB),
    # not the 16 MB of inputs and the whole-array differences
    assert checked < hess_only + 12, (checked, hess_only)


def test_sampled_check_takes_the_same_rows_in_memory_and_streamed(tmp_path, monkeypatch):
    # above the sampling threshold (here 50 elements) both check the same seeded rows
    monkeypatch.setattr(checker, "MAX_CHECKED", 50)
    monkeypatch.setattr(engine, "CHECK_MAX_ELEMENTS", 50)
    rng = np.random.default_rng(9)
    p, t = rng.standard_normal((200, 2)), rng.standard_normal((200, 2))
    args = ["rmse", *_files(tmp_path, p, t), "--check"]
    code, one, err = _invoke(monkeypatch, args, elements=None)
    assert code == 0 and one["check"]["sampled"] and one["check"]["population"] == 400, err
    for elements in BLOCKS:
        code, got, err = _invoke(monkeypatch, args, elements=elements)
        assert code == 0, err
        assert got["check"]["sample_rows"] == one["check"]["sample_rows"]
        _same_check(got["check"], one["check"])


def test_gradcheck_of_rmse_is_the_row_wise_check():
    # losscli.gradcheck (the Python API, no run) checks rmse as the CLI does: accurate, and
    # linear in N (N = 100,000 would take hours element by element through the whole √)
    rng = np.random.default_rng(10)
    p, t = rng.standard_normal((100_000, 2)), rng.standard_normal((100_000, 2))
    result = losscli.gradcheck(losscli.rmse, p, t, atol=0)  # the gradient is ~1e-6: no atol
    assert result.passed and result.checked == p.size and result.max_rel_err < 1e-8
    wrong = losscli.rmse.grad(p, t) * 1.01  # a gradient 1 % off fails everywhere
    assert losscli.gradcheck(losscli.rmse, p, t, analytic=wrong, atol=0).failed == p.size
