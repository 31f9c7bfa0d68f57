"""A streamed run says each counted warning once, about the whole input, as the in-memory
run says it: before, each block warned with its own counts and rows ("1000 of 1000 target
rows do not sum to 1 (first: row 0 …)" fifty times for 50,000 rows).

The expected counts and rows are hand-derived from how the inputs are built; the texts are
the in-memory run's, pinned once by hand for the first case.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from losscli import sources
from losscli.cli import app

runner = CliRunner()


@pytest.fixture
def streamed(monkeypatch):
    def invoke(*args: str, chunk: int):
        monkeypatch.setattr(sources, "STREAM_BYTES", 0)
        monkeypatch.setattr(sources, "CHUNK_ELEMENTS", chunk)
        result = runner.invoke(app, list(args))
        monkeypatch.setattr(sources, "STREAM_BYTES", 1 << 62)
        return result

    return invoke


def save(tmp_path, **arrays) -> list[str]:
    paths = []
    for name, a in arrays.items():
        np.save(tmp_path / f"{name}.npy", np.asarray(a, dtype=np.float64))
        paths.append(str(tmp_path / f"{name}.npy"))
    return paths


def soft_targets(n: int, off: list[int]) -> np.ndarray:
    t = np.full((n, 3), 1 / 3)
    t[off] *= 1.5  # these rows sum to 1.5
    return t


CASES = {
    # rows 10, 11, 40 of 50 do not sum to 1: "3 of 50 … (first: row 10 …)"
    "ce-rows": (["ce", "--logits"], lambda n: (np.zeros((n, 3)), soft_targets(n, [10, 11, 40]))),
    # probabilities below the clip 1e-7 at the target class in rows 5, 20, 33, 49
    "ce-clipped": (
        ["ce", "--clip", "1e-7"],
        lambda n: (
            np.where(
                np.isin(np.arange(n), [5, 20, 33, 49])[:, None],
                [1e-9, 0.5, 0.5 - 1e-9],
                [0.2, 0.3, 0.5],
            ),
            np.zeros(n),
        ),
    ),  # fmt: skip
    # bce probabilities within 1e-12 of 0 or 1 in rows 3, 30, 31
    "bce-clamped": (
        ["bce"],
        lambda n: (np.where(np.isin(np.arange(n), [3, 30, 31]), 1e-13, 0.5), np.ones(n)),
    ),
    # mape targets below --epsilon in rows 7, 8, 9, 44, 45
    "mape-floored": (
        ["mape"],
        lambda n: (np.ones(n), np.where(np.isin(np.arange(n), [7, 8, 9, 44, 45]), 0.0, 2.0)),
    ),
    # msle predictions below --floor 0 in rows 1 and 48
    "msle-floored": (
        ["msle", "--floor", "0"],
        lambda n: (np.where(np.isin(np.arange(n), [1, 48]), -0.5, 1.0), np.ones(n)),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_one_warning_for_the_whole_input(tmp_path, streamed, case, chunk):
    args, make = CASES[case]
    p, t = make(50)
    paths = save(tmp_path, p=p, t=t)
    whole = runner.invoke(app, [*args, *paths, "-f", "json"])
    assert whole.exit_code == 0, whole.stderr
    assert whole.stderr.count("Warning:") == 1
    for extra in ([], ["--check"]):  # a later pass says nothing again
        r = streamed(*args, *paths, "-f", "json", *extra, chunk=chunk)
        assert r.exit_code == 0, r.stderr
        assert [line for line in r.stderr.splitlines() if line.startswith("Warning:")] == [
            whole.stderr.strip()
        ]


def test_the_words_are_the_in_memory_ones_with_the_whole_inputs_counts(tmp_path, streamed):
    p, t = CASES["ce-rows"][1](50)
    paths = save(tmp_path, p=p, t=t)
    r = streamed("ce", "--logits", *paths, "-f", "plain", chunk=7)
    assert r.stderr == (
        "Warning: 3 of 50 target rows do not sum to 1 (first: row 10 sums to 1.5); the "
        "gradient takes the general form softmax(z)·Σy − y\n"
    )
    p, t = CASES["mape-floored"][1](50)
    paths = save(tmp_path, p=p, t=t)
    r = streamed("mape", *paths, "-f", "plain", chunk=7)
    assert r.stderr == (
        "Warning: 5 targets have |y| below --epsilon (2.22045e-16) and are divided by it instead: "
        "MAPE is not meaningful for targets near 0\n"
    )


def test_a_convention_run_streamed_warns_once(tmp_path, streamed):
    p, t = CASES["bce-clamped"][1](50)
    paths = save(tmp_path, p=p, t=t)
    r = streamed("bce", *paths, "--convention", "keras", "-f", "plain", chunk=7)
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("Warning:") == 1 and r.stderr.startswith("Warning: 3 predicted")
