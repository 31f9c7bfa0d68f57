"""Row blocks in threads (losscli.parallel): results do not depend on the number of threads."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losscli.parallel as parallel
from losscli.gradcheck import numeric_gradient
from losscli.losses import cross_entropy, mse
from losscli.losses.regression import squared_error_sum


@pytest.fixture
def with_threads(monkeypatch):
    """Run ``f()`` with ``LOSSCLI_THREADS`` set to each of ``counts``; return the results."""

    def run(f, counts=("1", "2", "3")):
        results = []
        for n in counts:
            monkeypatch.setenv("LOSSCLI_THREADS", n)
            results.append(f())
        return results

    return run


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.setenv("LOSSCLI_THREADS", "3")
    assert parallel.threads() == 3
    for ignored in ("0", "many", ""):
        monkeypatch.setenv("LOSSCLI_THREADS", ignored)
        assert 1 <= parallel.threads() <= parallel.MAX_THREADS


def test_blocks_cover_the_rows_in_order_on_aligned_bounds(with_threads):
    def blocks():
        return parallel.map_row_blocks(lambda b: (b.start, b.stop), 1000, 1000, align=64)

    one, two, three = with_threads(blocks)
    assert one == [(0, 1000)]
    for split in (two, three):
        assert split[0][0] == 0 and split[-1][1] == 1000
        assert all(a[1] == b[0] and a[1] % 64 == 0 for a, b in zip(split, split[1:], strict=False))
    assert len(two) == 2 and len(three) == 3
    assert parallel.map_row_blocks(lambda b: b, 10, 10) == [slice(0, 10)]  # too little work


def test_blocks_inside_a_thread_of_the_pool_run_in_that_thread(with_threads):
    def outer(block):
        inner = parallel.map_row_blocks(lambda b: (b.start, b.stop), 500, 1000)
        return block.start, inner

    _, two = with_threads(lambda: parallel.map_row_blocks(outer, 500, 1000), ("1", "2"))
    assert [inner for _, inner in two] == [[(0, 250), (250, 500)]] * 2


@pytest.mark.parametrize("targets", ["index", "weighted", "prob"])
def test_cross_entropy_is_bit_for_bit_the_same_in_threads(with_threads, targets):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3001, 100)) * 4  # 3001 rows: blocks end at awkward rows
    y = rng.integers(0, 100, 3001)
    options = {"logits": True}
    if targets == "weighted":
        y[::5] = -100
        options["class_weights"] = np.linspace(0.5, 2.0, 100)
    if targets == "prob":
        y = rng.dirichlet(np.ones(100), 3001)
    prepared = cross_entropy.prepare_inputs(z, y, **options)
    one, *more = with_threads(lambda: cross_entropy.rows_and_row_grad(prepared))
    for rows, grad in more:
        assert rows.tobytes() == one[0].tobytes() and grad.tobytes() == one[1].tobytes()


def test_squared_error_sum_is_the_same_in_threads_and_close_to_the_sum(with_threads):
    rng = np.random.default_rng(1)
    p, t = rng.normal(size=(70_001, 3)), rng.normal(size=(70_001, 3))
    one, *more = with_threads(lambda: squared_error_sum(p, t))
    assert more == [one] * len(more)
    assert one == pytest.approx(math.fsum(((p - t) ** 2).ravel().tolist()), rel=1e-14)
    assert mse.row_total(mse.prepare_inputs(p, t)) == pytest.approx(
        float(mse.row_values(mse.prepare_inputs(p, t)).sum()), rel=1e-14
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_squared_error_sum_is_not_finite_when_an_input_is_not(bad):
    p, t = np.zeros(50_000), np.zeros(50_000)
    for a in (p, t):
        a[31_337] = bad
        assert not math.isfinite(squared_error_sum(p, t))
        a[31_337] = 0.0
    p[7] = t[7] = np.inf  # inf − inf is NaN
    assert math.isnan(squared_error_sum(p, t))


def test_numeric_gradient_is_the_same_in_threads(with_threads):
    rng = np.random.default_rng(2)
    z, y = rng.normal(size=(5000, 20)), rng.integers(0, 20, 5000)  # several row blocks
    prepared = cross_entropy.prepare_inputs(z, y, logits=True)
    one, *more = with_threads(lambda: numeric_gradient(cross_entropy, prepared))
    for grad in more:
        assert grad.tobytes() == one.tobytes()
