"""--convention streamed: each rule folded over blocks of 1, 7, 64 and 10,000 rows gives the
frameworks' own values, recorded by tests/make_convention_fixtures.py,
tests/make_convention_fixtures_classification.py and tests/make_convention_fixtures_regression.py
in tests/fixtures/conventions*.json (the tolerance each case's reference allows, see
test_conventions.tolerance: 1e-12 relative for float64 references).

Small blocks are forced as tests/test_stream.py does (``STREAM_BYTES = 0``, ``CHUNK_ELEMENTS`` a
block's values), never with big files; the bounded-memory test runs a subprocess.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from peak_rss import peak_rss_mib, write_random_npy  # one helper for the peak RSS of a subprocess
from typer.testing import CliRunner

import losscli
import losscli.engine as engine
import losscli.sources as sources
from losscli.cli import app
from losscli.conventions import RULES

FIXTURES = Path(__file__).parent / "fixtures"
CASES = [
    case
    for f in sorted(FIXTURES.glob("conventions*.json"))
    for case in json.loads(f.read_text())["cases"]
    if case["convention"] != "torch"
]
BLOCKS = (1, 7, 64, 10_000)
runner = CliRunner()


def _id(case: dict) -> str:
    return f"{case['loss']}-{case['convention']}-{case['reduction']}-{case['call']}" + (
        "-weighted" if case["sample_weights"] is not None else ""
    )


def _streams(case: dict) -> bool:
    return (case["loss"], case["convention"]) in RULES  # every rule streams


def _tolerance(case: dict) -> tuple[float, float]:
    # as tests/test_conventions.py: Keras's and TF1's float32 casts, else float64 throughout
    return (1e-6, 1e-7) if case["float32_reference"] else (1e-12, 1e-15)


@pytest.fixture
def streamed(monkeypatch):
    """Run ``losscli.evaluate`` (the CLI's engine path) with ``block`` rows per block, and
    assert the run streamed (the fold saw streamed inputs, not one block read whole)."""

    def invoke(*args, block: int, width: int = 1, **kwargs):
        monkeypatch.setattr(sources, "STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", block * width)
        seen = []
        real = engine._fold_convention
        monkeypatch.setattr(
            engine,
            "_fold_convention",
            lambda loss, rule, inputs, *a: (
                seen.append(inputs.in_memory) or real(loss, rule, inputs, *a)
            ),
        )
        try:
            return losscli.evaluate(*args, **kwargs)
        finally:
            assert seen and not any(seen), "the run was not streamed"
            monkeypatch.setattr(sources, "STREAM_BYTES", 1 << 62)

    return invoke


def _files(tmp_path: Path, case: dict) -> tuple[str, str, str | None, int]:
    p, t = np.array(case["predictions"], float), np.array(case["targets"], float)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    w = None
    if case["sample_weights"] is not None:
        w = str(tmp_path / "w.npy")
        np.save(w, np.array(case["sample_weights"], float))
    width = max(math.prod(p.shape[1:]), math.prod(t.shape[1:]))
    return str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), w, width


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize(
    "case",
    [c for c in CASES if _streams(c) and c["reduction"] in ("mean", "sum")],
    ids=_id,
)
def test_streamed_matches_the_framework(tmp_path, streamed, case, block):
    p, t, w, width = _files(tmp_path, case)
    r = streamed(
        case["loss"], p, t, block=block, width=width, convention=case["convention"],
        reduction=case["reduction"], sample_weights=w, **case["options"],
    )  # fmt: skip
    rtol, atol = _tolerance(case)
    np.testing.assert_allclose(r.value, case["expected"], rtol=rtol, atol=atol)


@pytest.mark.parametrize("block", (1, 7))
@pytest.mark.parametrize(
    "case", [c for c in CASES if _streams(c) and c["reduction"] == "none"][::4], ids=_id
)
def test_streamed_none_matches_the_framework(tmp_path, streamed, case, block):
    # every 4th unreduced case: the values of the blocks concatenated in row order
    p, t, w, width = _files(tmp_path, case)
    r = streamed(
        case["loss"], p, t, block=block, width=width, convention=case["convention"],
        reduction="none", sample_weights=w, **case["options"],
    )  # fmt: skip
    rtol, atol = _tolerance(case)
    np.testing.assert_allclose(r.value, np.array(case["expected"]), rtol=rtol, atol=atol)


def test_the_cases_cover_every_rule_that_streams():
    streaming = set(RULES)
    covered = {(c["loss"], c["convention"]) for c in CASES if _streams(c)}
    assert streaming == covered
    kinds = {(c["reduction"], c["sample_weights"] is not None) for c in CASES if _streams(c)}
    assert {("mean", False), ("mean", True), ("sum", False), ("sum", True)} <= kinds


def test_the_rules_given_every_label_are_the_ones_that_need_them():
    # Keras's hinge maps 0/1 labels to ±1 only when all are 0 or 1; sklearn's binary
    # hinge_loss takes its two classes from all of y_true: a first pass finds them
    needs = {key for key, rule in RULES.items() if rule.labels}
    assert needs == {("hinge", "keras"), ("squared-hinge", "keras"), ("hinge", "sklearn")}


@pytest.mark.parametrize("block", (1, 2))
def test_a_rule_given_every_label_sees_them_all_when_streamed(tmp_path, monkeypatch, block):
    # sklearn's binary hinge_loss maps the smaller of the two labels of all of y_true to −1: a
    # block of 1s alone would map them to −1 too. Hand-derived, rows (x, y): (0.5, 1) → 0.5,
    # (2, 1) → 0, (0.25, −1) → 1.25: mean 1.75 / 3
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", block)
    np.save(tmp_path / "p.npy", np.array([0.5, 2.0, 0.25]))
    np.save(tmp_path / "t.npy", np.array([1.0, 1.0, -1.0]))
    p, t = str(tmp_path / "p.npy"), str(tmp_path / "t.npy")
    assert losscli.evaluate("hinge", p, t, convention="sklearn").value == pytest.approx(
        1.75 / 3, rel=1e-15
    )
    # Keras's hinge of 0/1 labels, a block of 1s alone: mapped as 0/1 labels (2y − 1 = 1):
    # rows max(0, 1 − x): 0.5, 0, 1.75 (y = 0 → −1: 1 + 0.75): mean 2.25 / 3
    np.save(tmp_path / "p.npy", np.array([0.5, 2.0, 0.75]))
    np.save(tmp_path / "t.npy", np.array([1.0, 1.0, 0.0]))
    assert losscli.evaluate("hinge", p, t, convention="keras").value == pytest.approx(
        2.25 / 3, rel=1e-15
    )
    # Keras's hinge: 0/1 labels in the first block, −1 later, is refused as the whole input is
    np.save(tmp_path / "t.npy", np.array([1.0, 0.0, -1.0]))
    r = _cli("hinge", p, t, "--convention", "keras")
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {t}: hinge labels mix 0 and −1 (first 0 at (row 1), first −1 at (row 2)); give "
        "±1 labels, or 0/1 labels (mapped to −1/1 as Keras does)\n"
    )


# --------------------------------------------------------------------------- errors


def _cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def _stream_cli(monkeypatch, *args, block: int = 7):
    monkeypatch.setattr(sources, "STREAM_BYTES", 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", block)
    return _cli(*args)


def test_an_error_in_a_later_block_names_its_row(tmp_path, monkeypatch):
    # row 22 (counted from 0, as in memory) is 1.5, outside [0, 1]: the fourth block of 7
    p = np.full(30, 0.5)
    p[22] = 1.5
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", np.zeros(30))
    args = ("bce", tmp_path / "p.npy", tmp_path / "t.npy", "--convention", "sklearn")
    streamed = _stream_cli(monkeypatch, *args)
    monkeypatch.setattr(sources, "STREAM_BYTES", 1 << 62)
    whole = _cli(*args)
    assert (streamed.exit_code, streamed.stdout) == (2, "")
    assert streamed.stderr == whole.stderr
    assert streamed.stderr == (
        f"Error: {tmp_path / 'p.npy'}: probabilities must lie in [0, 1], found 1.5 at (row 22) — "
        "pass --logits if these are raw scores\n"
    )


def test_an_error_of_the_framework_in_a_later_block(tmp_path, monkeypatch):
    # sklearn's log_loss refuses soft targets, here in the third block only
    t = np.zeros(20)
    t[15] = 0.5
    np.save(tmp_path / "p.npy", np.full(20, 0.5))
    np.save(tmp_path / "t.npy", t)
    r = _stream_cli(
        monkeypatch, "bce", tmp_path / "p.npy", tmp_path / "t.npy", "--convention", "sklearn"
    )
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == "Error: scikit-learn's log_loss takes 0/1 labels, not soft targets\n"


def test_streamed_sklearn_refuses_weights_that_are_all_zero(tmp_path, monkeypatch):
    # all-zero weights over many blocks: decided at the end, from every block's weights
    np.save(tmp_path / "p.npy", np.full(20, 0.5))
    np.save(tmp_path / "t.npy", np.zeros(20))
    np.save(tmp_path / "w.npy", np.zeros(20))
    args = ["mse", tmp_path / "p.npy", tmp_path / "t.npy", "--convention", "sklearn"]
    r = _stream_cli(monkeypatch, *args, "--sample-weights", tmp_path / "w.npy")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "Error: scikit-learn's metrics raise on sample weights that are all zero; give at "
        "least one non-zero weight\n"
    )
    # one non-zero weight in the last block: Σ s·L / Σ s = 0.25 (hand-derived)
    w = np.zeros(20)
    w[19] = 2.0
    np.save(tmp_path / "w.npy", w)
    r = _stream_cli(monkeypatch, *args, "--sample-weights", tmp_path / "w.npy", "-f", "plain")
    assert (r.exit_code, float(r.stdout)) == (0, 0.25)


def test_rows_that_differ_are_refused_streamed(tmp_path, monkeypatch):
    np.save(tmp_path / "p.npy", np.full(20, 0.5))
    np.save(tmp_path / "t.npy", np.zeros(19))
    args = ("mse", tmp_path / "p.npy", tmp_path / "t.npy", "--convention", "keras")
    streamed = _stream_cli(monkeypatch, *args)
    monkeypatch.setattr(sources, "STREAM_BYTES", 1 << 62)
    whole = _cli(*args)
    assert (streamed.exit_code, streamed.stdout) == (2, "")
    assert streamed.stderr == whole.stderr


def test_streamed_none_too_big_to_print_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "WHOLE_ARRAY_MAX_BYTES", 100)  # 12 values
    np.save(tmp_path / "p.npy", np.full(20, 0.5))
    np.save(tmp_path / "t.npy", np.zeros(20))
    r = _stream_cli(
        monkeypatch, "mse", tmp_path / "p.npy", tmp_path / "t.npy", "--convention", "keras",
        "-r", "none",
    )  # fmt: skip
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith("Error: the row values of --reduction none of this streamed input")


def test_a_streamed_csv_matches_its_hand_derived_value(tmp_path, monkeypatch):
    # keras mse of rows (1, 3) vs (0, 0), (2, 2) vs (1, 1): per-sample means 5 and 1, over
    # N = 2 with weights 1 and 3: (5 + 3) / 2 = 4
    (tmp_path / "p.csv").write_text("1,3\n2,2\n")
    (tmp_path / "t.csv").write_text("0,0\n1,1\n")
    (tmp_path / "w.csv").write_text("1\n3\n")
    r = _stream_cli(
        monkeypatch, "mse", tmp_path / "p.csv", tmp_path / "t.csv", "--sample-weights",
        tmp_path / "w.csv", "--convention", "keras", "-f", "plain", block=2,
    )  # fmt: skip
    assert (r.exit_code, float(r.stdout)) == (0, 4.0)


# --------------------------------------------------------------------------- memory


def test_streamed_convention_memory_is_bounded(tmp_path):
    # 2 × 96 MiB of float64 through 1 MiB blocks: read whole, sklearn's rule alone would hold
    # both files and its squared errors (> 250 MiB)
    n = 12 * (1 << 20)
    for name, seed in (("p.npy", 0), ("t.npy", 1)):
        write_random_npy(tmp_path / name, n, seed)
    env = {"LOSSCLI_STREAM_BYTES": "0", "LOSSCLI_CHUNK_ELEMENTS": str(1 << 17)}
    args = ["mse", str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), "--convention", "sklearn"]
    streamed_mib, out = peak_rss_mib([*args, "-f", "plain"], env)
    baseline_mib, _ = peak_rss_mib(["--version"], {})
    assert streamed_mib - baseline_mib < 120, (streamed_mib, baseline_mib)
    p, t = np.load(tmp_path / "p.npy", mmap_mode="r"), np.load(tmp_path / "t.npy", mmap_mode="r")
    expected = (
        math.fsum(
            math.fsum(np.square(p[i : i + (1 << 20)] - t[i : i + (1 << 20)]))
            for i in range(0, n, 1 << 20)
        )
        / n
    )  # sklearn.metrics.mean_squared_error: the plain mean of (ŷ − y)²
    assert float(out) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("block", (1, 2))
def test_three_dimensional_inputs_checked_with_the_whole_shape_streamed(
    tmp_path, monkeypatch, block
):
    # Keras takes (N, d1, D) values with weights only for N = 1: a one-row block must not pass
    # for a 2-row input (the message names the file's shape, as in memory)
    p = np.arange(8.0).reshape(2, 2, 2)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", p + 1.0)
    np.save(tmp_path / "w.npy", np.array([1.0, 2.0]))
    args = ["mse", tmp_path / "p.npy", tmp_path / "t.npy", "--convention", "keras"]
    r = _stream_cli(monkeypatch, *args, "--sample-weights", tmp_path / "w.npy", block=4 * block)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "Error: Keras aligns sample weights with the last axis of its per-sample values, (2, 2) "
        "for predictions shaped (2, 2, 2), not one weight per sample; give N rows × D columns, "
        "or drop --sample-weights\n"
    )
    # hand-derived: every squared error is 1; sum_over_batch_size of the (2, 2) values = 1
    r = _stream_cli(monkeypatch, *args, "-f", "plain", block=4 * block)
    assert (r.exit_code, float(r.stdout)) == (0, 1.0)


def test_block_sums_merge_exactly_in_any_grouping():
    # absolute errors 2^53, 1, 1, a block each: in floats (2^53 + 1) + 1 rounds to 2^53 while
    # 2^53 + (1 + 1) is 2^53 + 2, the exact sum; the merge keeps it exact in either grouping:
    # sklearn's mean (2^53 + 2)/3
    rule = losscli.conventions.RULES["mae", "sklearn"]
    a, b, c = (rule.partial(np.array([x]), np.array([0.0])) for x in (2.0**53, 1.0, 1.0))
    expected = (2**53 + 2) / 3  # Python ints: correctly rounded
    assert rule.reduce(a.merge(b).merge(c), "mean") == expected
    assert rule.reduce(a.merge(b.merge(c)), "mean") == expected
