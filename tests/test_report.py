"""--top and --hist computations (losscli.report): pure functions, hand-derived values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losscli.report import histogram, top_rows


def test_top_rows_elementwise_vector():
    top = top_rows(
        [1.0, 4.0, 0.25], [1.0, 2.0, 0.5], [0.0, 0.0, 1.0], 2, element_losses=[1.0, 4.0, 0.25]
    )
    assert top.rows.tolist() == [1, 0]
    assert top.loss.tolist() == [4.0, 1.0]
    assert list(top.fields) == ["prediction", "target"]
    assert top.fields["prediction"].tolist() == [2.0, 1.0]
    assert top.fields["target"].tolist() == [0.0, 0.0]


def test_top_rows_elementwise_matrix_names_the_worst_element():
    p = np.array([[1.0, 5.0], [0.0, 0.0]])
    t = np.array([[0.0, 0.0], [0.0, 1.0]])
    top = top_rows([13.0, 0.5], p, t, 5, element_losses=(p - t) ** 2)
    assert top.rows.tolist() == [0, 1]  # k > N: every row
    assert top.fields["col"].tolist() == [1, 1]
    assert top.fields["prediction"].tolist() == [5.0, 0.0]
    assert top.fields["target"].tolist() == [0.0, 1.0]


def test_top_rows_classes_index_and_probability_targets():
    z = np.array([[3.0, 0.0, 1.0], [0.0, 0.0, 9.0]])
    top = top_rows([0.2, 7.0], z, np.array([0, 1]), 1)
    assert (top.rows.tolist(), top.fields["predicted"].tolist(), top.fields["target"].tolist()) == (
        [1],
        [2],
        [1],
    )
    soft = np.array([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    top = top_rows([0.2, 7.0], z, soft, 2)
    assert top.fields["target"].tolist() == [2, 1]


def test_top_rows_ties_keep_row_order_and_nan_comes_first():
    top = top_rows([1.0, np.nan, 2.0, 2.0], np.zeros(4), np.zeros(4), 4, element_losses=np.zeros(4))
    assert top.rows.tolist() == [1, 2, 3, 0]


def test_top_rows_rejects_k_below_one():
    with pytest.raises(ValueError):
        top_rows([1.0], [1.0], [0.0], 0)


def test_histogram_edges_and_counts():
    h = histogram([1.0, 4.0, 0.25], bins=2)
    assert h.edges.tolist() == [0.25, 2.125, 4.0]
    assert h.counts.tolist() == [2, 1]
    assert (h.total, h.nonfinite) == (3, 0)


def test_histogram_right_edge_is_in_the_last_bin():
    assert histogram([0.0, 1.0, 2.0], bins=2).counts.tolist() == [1, 2]


def test_histogram_equal_values_one_bin():
    h = histogram([3.0, 3.0], bins=10)
    assert (h.edges.tolist(), h.counts.tolist()) == ([3.0, 3.0], [2])


def test_histogram_nonfinite_left_out():
    h = histogram([np.inf, np.nan, 1.0], bins=4)
    assert (h.counts.tolist(), h.nonfinite) == ([1], 2)
    empty = histogram([np.inf], bins=4)
    assert (empty.edges.size, empty.counts.size, empty.nonfinite) == (0, 0, 1)


def test_histogram_whole_float_range_does_not_overflow():
    h = histogram([-1.7e308, 0.0, 1.7e308], bins=1)
    assert h.edges.tolist() == [-1.7e308, 1.7e308] and h.counts.tolist() == [3]
    h = histogram([-1.7e308, 0.0, 1.7e308], bins=2)
    assert np.isfinite(h.edges).all() and h.counts.tolist() == [1, 2]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=30),
    bins=st.integers(1, 50),
)
def test_histogram_counts_every_finite_value_once(values, bins):
    h = histogram(values, bins=bins)
    finite = [v for v in values if np.isfinite(v)]
    assert h.total == len(finite)
    assert h.nonfinite == len(values) - len(finite)
    assert np.all(np.diff(h.edges) >= 0)
    if finite:
        assert h.edges[0] == min(finite) and h.edges[-1] == max(finite)
