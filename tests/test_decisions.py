"""Readings every block of an input must share (``losscli.losses.Decision``): hinge's labels
are read as 0/1 (0 → −1, as Keras) or as ±1 from the values a block holds, so a streamed
input whose early blocks hold 0s and whose later blocks hold −1s was read two ways at once —
each block alone was fine — and printed a number where the whole input is refused. The merge
of the block states now refuses it with the rows of both, as the whole input does.

Expected values are hand-derived: hinge max(0, 1 − y·x) with 0 read as −1.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import losscli
from losscli import sources
from losscli.cli import app
from losscli.engine import Block, partial
from losscli.errors import InputError

runner = CliRunner()
FIX = "give ±1 labels, or 0/1 labels (mapped to −1/1 as Keras does)"


def mixed(loss: str, zero: int, minus: int) -> str:
    return f"{loss} labels mix 0 and −1 (first 0 at (row {zero}), first −1 at (row {minus})); {FIX}"


@pytest.fixture
def streamed(monkeypatch):
    def invoke(*args: str, chunk: int):
        monkeypatch.setattr(sources, "STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", chunk)
        return runner.invoke(app, list(args))

    return invoke


def write(tmp_path, p, t):
    np.save(tmp_path / "p.npy", np.asarray(p, dtype=np.float64))
    np.save(tmp_path / "t.npy", np.asarray(t, dtype=np.float64))
    return str(tmp_path / "p.npy"), str(tmp_path / "t.npy")


@pytest.mark.parametrize("loss", ["hinge", "squared-hinge", "soft-margin"])
@pytest.mark.parametrize("chunk", [1, 2, 7, 64])
def test_0_1_then_minus_1_in_a_later_block_is_refused_as_the_whole_input(
    tmp_path, streamed, loss, chunk
):
    # 0s in rows 1 and 3, the first −1 in row 9: with blocks of 1, 2 or 7 rows no block holds
    # both; with 64 one block does — every run gives the in-memory message
    t = [1, 0, 1, 0, 1, 1, 1, 1, 1, -1, 1, -1]
    p, t = write(tmp_path, np.linspace(-1, 1, len(t)), t)
    whole = runner.invoke(app, [loss, p, t])
    assert (whole.exit_code, whole.stderr) == (2, f"Error: {t}: {mixed(loss, 1, 9)}\n")
    r = streamed(loss, p, t, "-f", "json", chunk=chunk)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", whole.stderr)


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_minus_1_first_then_0_names_both_rows_in_file_order(tmp_path, streamed, chunk):
    p, t = write(tmp_path, [0.5, 0.5, 0.5, 0.5], [-1, 1, 1, 0])
    r = streamed("hinge", p, t, chunk=chunk)
    assert (r.exit_code, r.stderr) == (2, f"Error: {t}: {mixed('hinge', 3, 0)}\n")


@pytest.mark.parametrize("labels", [[1, 1, 1, 0, 0, 1], [1, 1, 1, -1, -1, 1]])
@pytest.mark.parametrize("chunk", [1, 2, 3, 64])
def test_blocks_of_1s_alone_agree_with_either_reading(tmp_path, streamed, labels, chunk):
    # x = 0.5 everywhere: max(0, 1 − 0.5) = 0.5 for y = 1, max(0, 1 + 0.5) = 1.5 for y = −1
    # (0 read as −1); two of the six are −1: (4·0.5 + 2·1.5)/6 = 5/6
    p, t = write(tmp_path, [0.5] * 6, labels)
    r = streamed("hinge", p, t, "-f", "plain", chunk=chunk)
    assert (r.exit_code, r.stderr) == (0, "")
    assert float(r.stdout) == pytest.approx(5 / 6, rel=1e-15)


def test_partial_states_refuse_on_merge_in_any_order():
    x = np.array([0.5, 0.5])
    a = partial(losscli.hinge, Block(x, np.array([0.0, 1.0])))
    b = partial(losscli.hinge, Block(x, np.array([1.0, 1.0]), start=2))
    c = partial(losscli.hinge, Block(x, np.array([1.0, -1.0]), start=4))
    for left, right in ((a.merge(b), c), (a, b.merge(c)), (c, a), (c.merge(b), a)):
        with pytest.raises(InputError) as e:
            left.merge(right)
        assert (e.value.message, e.value.role) == (mixed("hinge", 0, 5), "targets")
    # a block of 1s merges with either; the value is the whole input's
    assert a.merge(b).value(losscli.hinge, "mean") == pytest.approx((1.5 + 0.5 * 3) / 4)


def test_shards_name_rows_counted_over_the_shards(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "a.csv").write_text("p,y\n0.5,0\n0.2,1\n")
    (folder / "b.csv").write_text("p,y\n0.5,1\n0.2,-1\n")
    r = runner.invoke(app, ["hinge", str(folder), "--pred-col", "p", "--target-col", "y"])
    assert (r.exit_code, r.stderr) == (2, f"Error: {folder}: {mixed('hinge', 0, 3)}\n")
