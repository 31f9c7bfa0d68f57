"""Margin losses: hinge and squared hinge (Keras / optax), categorical hinge (Keras),
multi-margin (torch ``multi_margin_loss``), soft-margin and multilabel soft-margin (torch).

Labels of the binary ones are ±1; 0/1 labels are mapped to −1/+1 as Keras's
``convert_binary_labels_to_hinge`` does. Where a loss has a kink (the hinge at the margin, a
tie in categorical hinge's max, multi-margin's ``max(0, ·)``), the gradient kernel returns the
subgradient the reference library's autodiff returns there, and the ``kinks`` kernel flags those
elements so the checker reports them as kinks rather than failures.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from ._base import (
    Decision,
    Loss,
    Param,
    Prepared,
    check_same_shape,
    check_unit_interval,
    format_index,
)
from .classification import (
    class_weight_vector,
    parse_class_weights,
    resolve_class_targets,
    sigmoid,
)
from .focal import TARGETS, check_finite_option, dense_class_targets, log_sigmoid

__all__ = [
    "categorical_hinge",
    "hinge",
    "multi_margin",
    "multilabel_soft_margin",
    "signed_labels",
    "soft_margin",
    "squared_hinge",
]


def signed_labels(targets: np.ndarray, *, loss: str) -> tuple[np.ndarray, dict[str, Decision]]:
    """±1 labels: −1 and 1 are kept, 0 becomes −1 (Keras's mapping of 0/1 labels); and the
    reading taken (0/1 or ±1), which every block of a streamed input must share.

    A label outside {−1, 0, 1}, or 0 and −1 in the same input (Keras would not map such a
    batch, and a 0 there is almost surely a mistake), is an error.
    """
    bad = (targets != -1.0) & (targets != 0.0) & (targets != 1.0)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise InputError(
            f"{loss} labels are −1 or 1 (or 0/1, mapped to −1/1 as Keras does), found "
            f"{float(targets[tuple(idx)])!r} at {format_index(idx)}",
            role="targets",
        )
    conflict = functools.partial(_mixed_labels, loss)
    seen = {}
    for value, label in (("0/1", 0.0), ("±1", -1.0)):
        where = np.argwhere(targets == label)
        if len(where):
            seen[value] = Decision(value, tuple(int(i) for i in where[0]), conflict)
    if len(seen) == 2:
        raise InputError(conflict(*sorted(seen.values(), key=lambda d: d.at)), role="targets")
    decisions = {"labels": next(iter(seen.values()))} if seen else {}
    return np.where(targets == 0.0, -1.0, targets), decisions


def _mixed_labels(loss: str, first: Decision, second: Decision) -> str:
    zero, minus = (first, second) if first.value == "0/1" else (second, first)
    return (
        f"{loss} labels mix 0 and −1 (first 0 at {format_index(zero.at)}, first −1 at "
        f"{format_index(minus.at)}); give ±1 labels, or 0/1 labels (mapped to −1/1 as Keras does)"
    )


def _describe_labels(targets: np.ndarray) -> dict[str, Any]:
    # the same words for every block of an input (a block of 1s alone says nothing of 0s)
    return {"targets_are": "labels −1/1 (0 read as −1, as Keras)"}


def _prepare_signed(name: str):
    def prepare(predictions: np.ndarray, targets: np.ndarray) -> Prepared:
        check_same_shape(predictions, targets)
        y, decisions = signed_labels(targets, loss=name)
        return Prepared(predictions, y, {}, describe=_describe_labels(targets), decisions=decisions)

    return prepare


def _kink_factor(m: np.ndarray) -> np.ndarray:
    """d max(m, 0)/dm: 1 above, 0 below, ½ at m = 0 (jax's ``maximum``, hence Keras and optax)."""
    return np.where(m > 0, 1.0, np.where(m == 0, 0.5, 0.0))


def _binary_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    return ("binary_logits.csv", "binary_labels.csv")


def _class_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    return ("classification_logits.csv", "classification_labels.csv")


# --------------------------------------------------------------------------- hinge


def _hinge_values(x, y):
    return np.maximum(1.0 - y * x, 0.0)


def _hinge_grad(x, y):
    return 0.0 - y * _kink_factor(1.0 - y * x) + 0.0  # no −0.0


def _hinge_hess(x, y):
    return np.zeros_like(x)


def _at_margin(x, y):
    return 1.0 - y * x == 0


hinge = Loss(
    name="hinge",
    summary="Hinge loss of scores against ±1 (or 0/1) labels",
    formula="max(0, 1 − y·x) per element, y in {−1, 1} (0/1 labels mapped to −1/1)",
    gradient_formula=(
        "−y where y·x < 1, 0 where y·x > 1, −y/2 at the margin; divided by N·D for mean"
    ),
    reference="keras.losses.hinge / optax.losses.hinge_loss",
    values=_hinge_values,
    grad_kernel=_hinge_grad,
    hess_kernel=_hinge_hess,
    hess_note="0 everywhere (piecewise linear); undefined at the margin y·x = 1",
    kinks=_at_margin,
    prepare=_prepare_signed("hinge"),
    elementwise=True,
    sample_data=_binary_samples,
    examples=("losscli hinge scores.csv labels.csv --grad",),
    example=([[0.3, -2.0], [1.5, -0.5]], [[1.0, 0.0], [1.0, 1.0]], {}),
    doc="""Hinge loss, as ``keras.losses.hinge`` and ``optax.losses.hinge_loss``.

Elementwise ``max(0, 1 − y·x)`` with labels ``y`` in {−1, 1}; 0/1 labels are mapped to −1/1,
as Keras does (``convert_binary_labels_to_hinge``; optax takes ±1 only). Shapes: both ``(N,)``
or both ``(N, D)``; a row is the mean of its D elements (Keras's mean over the last axis) and
``mean`` is over all N·D elements (Keras's ``sum_over_batch_size``).

Gradient w.r.t. ``x``: ``−y`` where ``y·x < 1``, 0 where ``y·x > 1``. At the margin
``y·x = 1`` the loss has a kink; the gradient returned there is ``−y/2``, the subgradient jax's
``maximum`` (hence Keras on jax and optax) returns, and ``kinks`` flags the element. Hessian:
0.

>>> import losscli
>>> losscli.hinge([0.5, 2.0, -1.0], [1, 1, 0])  # (0.5 + 0 + 0) / 3
0.16666666666666666
""",
)


# --------------------------------------------------------------------------- squared hinge


def _squared_hinge_values(x, y):
    return np.maximum(1.0 - y * x, 0.0) ** 2


def _squared_hinge_grad(x, y):
    return 0.0 - 2.0 * y * np.maximum(1.0 - y * x, 0.0)


def _squared_hinge_hess(x, y):
    return 2.0 * y * y * _kink_factor(1.0 - y * x) ** 2


squared_hinge = Loss(
    name="squared-hinge",
    summary="Squared hinge loss of scores against ±1 (or 0/1) labels",
    formula="max(0, 1 − y·x)² per element, y in {−1, 1} (0/1 labels mapped to −1/1)",
    gradient_formula="−2y·max(0, 1 − y·x); divided by N·D for mean",
    reference="keras.losses.squared_hinge",
    values=_squared_hinge_values,
    grad_kernel=_squared_hinge_grad,
    hess_kernel=_squared_hinge_hess,
    hess_note="2 inside the margin, 0 outside; it jumps at y·x = 1 (½ there, as jax)",
    kinks=_at_margin,
    prepare=_prepare_signed("squared-hinge"),
    elementwise=True,
    sample_data=_binary_samples,
    examples=("losscli squared-hinge scores.csv labels.csv --grad",),
    example=([[0.3, -2.0], [1.5, -0.5]], [[1.0, 0.0], [1.0, 1.0]], {}),
    doc="""Squared hinge loss, as ``keras.losses.squared_hinge``.

Elementwise ``max(0, 1 − y·x)²`` with labels in {−1, 1}; 0/1 labels are mapped to −1/1, as
Keras does. Shapes and reductions as :data:`hinge`.

Gradient ``−2y·max(0, 1 − y·x)``, continuous everywhere. Hessian diagonal ``2y² = 2`` inside
the margin, 0 outside; at ``y·x = 1`` it jumps and jax's value there is ``2·(½)² = ½``, which
is returned; ``kinks`` flags such elements (the gradient is exact there, its derivative is not
defined).

>>> import losscli
>>> losscli.squared_hinge([0.5, 2.0], [1, 0])  # (0.25 + 9) / 2
4.625
""",
)


# --------------------------------------------------------------------------- categorical hinge


def _categorical_hinge_parts(x, y):
    u = (1.0 - y) * x
    neg = u.max(axis=1, keepdims=True)
    pos = (y * x).sum(axis=1, keepdims=True)
    m = neg - pos + 1.0
    tied = u == neg
    share = tied / tied.sum(axis=1, keepdims=True)  # jnp.max splits its gradient among ties
    return m[:, 0], share, tied


def _categorical_hinge_values(x, y):
    return np.maximum(_categorical_hinge_parts(x, y)[0], 0.0)


def _categorical_hinge_grad(x, y):
    m, share, _ = _categorical_hinge_parts(x, y)
    return _kink_factor(m)[:, None] * ((1.0 - y) * share - y) + 0.0  # no −0.0


def _categorical_hinge_kinks(x, y):
    m, _, tied = _categorical_hinge_parts(x, y)
    at_margin = np.broadcast_to((m == 0)[:, None], x.shape)
    several = (tied.sum(axis=1) > 1) & (m >= 0)
    return at_margin | (tied & (1.0 - y != 0) & several[:, None])


def _prepare_categorical_hinge(
    predictions: np.ndarray, targets: np.ndarray, *, target_type: str
) -> Prepared:
    y, kind = dense_class_targets(predictions, targets, target_type)
    if kind == "prob":
        check_unit_interval(
            y, role="targets", what="categorical-hinge targets", fix="give one-hot rows"
        )
    describe = {"targets_are": "class indices" if kind == "index" else "probability rows"}
    return Prepared(predictions, y, {}, describe=describe)


categorical_hinge = Loss(
    name="categorical-hinge",
    summary="Categorical hinge loss of scores against class indices or one-hot rows",
    formula="max(0, max_c((1 − y_c)·x_c) − Σ_c y_c x_c + 1) per row",
    gradient_formula=(
        "(1 − y_j)·[j is the argmax] − y_j inside the margin (ties share the argmax equally), "
        "0 outside, half at the margin; divided by N for mean"
    ),
    reference="keras.losses.categorical_hinge",
    values=_categorical_hinge_values,
    grad_kernel=_categorical_hinge_grad,
    hess_kernel=_hinge_hess,
    hess_note="0 everywhere (piecewise linear); undefined at the margin and at ties of the max",
    kinks=_categorical_hinge_kinks,
    prepare=_prepare_categorical_hinge,
    params=(TARGETS,),
    sample_data=_class_samples,
    examples=("losscli categorical-hinge scores.csv labels.csv --grad",),
    example=([[2.0, 0.5, -1.0], [0.5, 0.8, 3.0]], [0, 1], {}),
    doc="""Categorical hinge loss, as ``keras.losses.categorical_hinge``.

Per row, with ``neg = max_c((1 − y_c)·x_c)`` and ``pos = Σ_c y_c x_c``:
``L_i = max(0, neg − pos + 1)``. As in Keras the true class enters the max as ``0·x_y = 0``,
so ``neg ≥ 0`` for one-hot targets. Targets: ``(N,)`` class indices (one-hot rows) or
``(N, C)`` rows. ``mean`` divides by N.

Gradient: inside the margin, ``(1 − y_j)·τ_j − y_j`` where ``τ`` is 1 at the argmax of
``(1 − y)·x`` (shared equally by tied entries, as jax's ``max``); 0 outside the margin. At
the margin (``neg − pos + 1 = 0``) half of that is returned (jax's ``maximum``); ``kinks``
flags the row there, and tied entries of the max. Hessian: 0.

>>> import losscli
>>> losscli.categorical_hinge([[2.0, 1.5, 0.0]], [0])  # max(0, 1.5 − 2 + 1)
0.5
""",
)


# --------------------------------------------------------------------------- multi-margin


def _multi_margin_parts(x, y, margin):
    n, c = x.shape
    rows = np.arange(n)
    z = margin - x[rows, y][:, None] + x
    z[rows, y] = 0.0  # the target class is not a term
    active = z > 0  # torch's backward: a term counts only where z > 0 (subgradient 0 at z = 0)
    active[rows, y] = False
    return rows, z, active


def _multi_margin_values(x, y, *, p, margin, row_weights):
    _, z, active = _multi_margin_parts(x, y, margin)
    terms = np.where(active, z, 0.0) ** p
    return row_weights * terms.sum(axis=1) / x.shape[1]


def _multi_margin_grad(x, y, *, p, margin, row_weights):
    rows, z, active = _multi_margin_parts(x, y, margin)
    g = np.where(active, 1.0 if p == 1 else 2.0 * z, 0.0) * (row_weights / x.shape[1])[:, None]
    g[rows, y] = 0.0 - g.sum(axis=1)
    return g


def _multi_margin_hess(x, y, *, p, margin, row_weights):
    rows, _, active = _multi_margin_parts(x, y, margin)
    if p == 1:
        return np.zeros_like(x)
    h = active * (2.0 * row_weights / x.shape[1])[:, None]
    h[rows, y] = h.sum(axis=1)
    return h


def _multi_margin_kinks(x, y, *, p, margin, row_weights):
    rows, z, _ = _multi_margin_parts(x, y, margin)
    edge = z == 0
    edge[rows, y] = False
    edge[rows, y] = edge.any(axis=1)
    return edge


def _prepare_multi_margin(
    predictions: np.ndarray, targets: np.ndarray, *, p: Any, margin: Any, class_weights: Any
) -> Prepared:
    if p not in (1, 2):
        raise UsageError(f"--p must be 1 or 2 (as torch's multi_margin_loss), got {p!r}")
    margin = check_finite_option("--margin", margin)
    y, _ = resolve_class_targets(predictions, targets, "index")
    w = class_weight_vector(class_weights, predictions.shape[1])
    row_weights = np.ones(len(y)) if w is None else w[y]
    # facts that are ints add up over the blocks of a run (counts): p is a float here
    describe = {"targets_are": "class indices", "p": float(p), "margin": margin}
    if w is not None:
        describe["class_weights"] = ", ".join(f"{v:g}" for v in w)
    options = {"p": int(p), "margin": margin, "row_weights": row_weights}
    return Prepared(predictions, y, options, describe=describe, per_row=("row_weights",))


CLASS_WEIGHTS = Param(
    "class_weights",
    str,
    None,
    "Weight of each class: a comma list (1,2.5,1) or a file of C numbers; a row's terms are "
    "multiplied by the weight of its target class. mean still divides by N, as torch.",
    parse=parse_class_weights,
    metavar="W",
)

multi_margin = Loss(
    name="multi-margin",
    summary="Multi-class margin (hinge) loss of scores against class indices",
    formula="Σ_{c≠y} w_y · max(0, margin − x_y + x_c)^p / C per row, p in {1, 2}",
    gradient_formula=(
        "x_c (c ≠ y): w_y·p·z_c^(p−1)/C where z_c = margin − x_y + x_c > 0; x_y: minus their sum; "
        "divided by N for mean"
    ),
    reference="torch.nn.functional.multi_margin_loss",
    values=_multi_margin_values,
    grad_kernel=_multi_margin_grad,
    hess_kernel=_multi_margin_hess,
    hess_note=(
        "p = 1: 0 everywhere (piecewise linear); p = 2: 2w_y/C per active term, jumping at z = 0"
    ),
    kinks=_multi_margin_kinks,
    prepare=_prepare_multi_margin,
    params=(
        Param("p", int, 1, "Exponent of each margin term: 1 (hinge) or 2 (squared hinge)."),
        Param("margin", float, 1.0, "The margin by which the target's score should win."),
        CLASS_WEIGHTS,
    ),
    sample_data=_class_samples,
    examples=(
        "losscli multi-margin scores.csv labels.csv --grad",
        "losscli multi-margin scores.npy labels.npy --p 2 --margin 0.5 --class-weights 1,2,1,1",
    ),
    example=([[2.0, 1.5, -1.0], [0.5, 0.8, 3.0]], [0, 1], {}),
    doc="""Multi-class margin loss, as ``torch.nn.functional.multi_margin_loss``.

Per row, with ``z_c = margin − x_y + x_c``::

    L_i = Σ_{c ≠ y} w_y · max(0, z_c)^p / C

``p`` is 1 or 2, ``margin`` defaults to 1, ``w`` are optional class weights (torch's
``weight``: the weight of the row's target class multiplies its terms; ``mean`` still divides
by N, unlike cross-entropy). Targets are ``(N,)`` class indices. Shapes: ``(N, C)`` scores.

Gradient: ``w_y·p·z_c^(p−1)/C`` at ``c ≠ y`` where ``z_c > 0``, minus their sum at ``y``.
At ``z_c = 0`` torch's backward counts the term only where ``z_c > 0``: the subgradient
returned is 0 there (for p = 2 the gradient is continuous anyway), and ``kinks`` flags
``c`` and ``y``. Hessian diagonal: 0 for p = 1; for p = 2, ``2w_y/C`` at each active ``c``
and ``2w_y/C`` times their number at ``y``.

>>> import losscli
>>> losscli.multi_margin([[0.1, 0.2, 0.4, 0.8]], [3])  # torch's doc example, torch's float64 value
0.32499999999999996
""",
)


# --------------------------------------------------------------------------- soft margin


def _soft_margin_values(x, y):
    return 0.0 - log_sigmoid(y * x)  # log(1 + e^(−y·x))


def _soft_margin_grad(x, y):
    return 0.0 - y * sigmoid(-y * x)


def _soft_margin_hess(x, y):
    return y * y * sigmoid(y * x) * sigmoid(-y * x)


soft_margin = Loss(
    name="soft-margin",
    summary="Soft-margin (logistic) loss of scores against ±1 (or 0/1) labels",
    formula="log(1 + exp(−y·x)) per element, y in {−1, 1} (0/1 labels mapped to −1/1)",
    gradient_formula="−y·σ(−y·x); divided by N·D for mean",
    reference="torch.nn.functional.soft_margin_loss",
    values=_soft_margin_values,
    grad_kernel=_soft_margin_grad,
    hess_kernel=_soft_margin_hess,
    prepare=_prepare_signed("soft-margin"),
    elementwise=True,
    sample_data=_binary_samples,
    examples=("losscli soft-margin scores.csv labels.csv --grad",),
    example=([[0.3, -2.0], [1.5, -0.5]], [[1.0, -1.0], [1.0, 1.0]], {}),
    doc="""Soft-margin loss, as ``torch.nn.functional.soft_margin_loss``.

Elementwise ``log(1 + exp(−y·x))``, computed as ``−log σ(y·x)`` without overflow. Labels are
−1 or 1 as torch documents; 0/1 labels are mapped to −1/1 like the hinge losses (torch would
compute ``log 2`` for a 0 label). Shapes: both ``(N,)`` or both ``(N, D)``; ``mean`` is over all
N·D elements, as torch.

Gradient ``−y·σ(−y·x)``; Hessian diagonal ``y²·σ(y·x)·σ(−y·x)``.

>>> import losscli, math
>>> losscli.soft_margin([0.0], [1.0]) == math.log(2)
True
""",
)


# --------------------------------------------------------------------------- multilabel soft margin


def _as_matrix(x: np.ndarray) -> np.ndarray:
    return x[:, None] if x.ndim == 1 else x


def _multilabel_values(x, y, *, class_weights):
    xm, ym = _as_matrix(x), _as_matrix(y)
    ls = log_sigmoid(xm)
    terms = 0.0 - (ym * ls + (1.0 - ym) * (ls - xm))  # log σ(−x) = log σ(x) − x
    if class_weights is not None:
        terms = terms * class_weights
    return terms.sum(axis=1) / xm.shape[1]


def _multilabel_grad(x, y, *, class_weights):
    c = 1 if x.ndim == 1 else x.shape[1]
    g = (sigmoid(x) - y) / c
    return g if class_weights is None else g * class_weights


def _multilabel_hess(x, y, *, class_weights):
    c = 1 if x.ndim == 1 else x.shape[1]
    h = sigmoid(x) * sigmoid(-x) / c
    return h if class_weights is None else h * class_weights


def _prepare_multilabel(
    predictions: np.ndarray, targets: np.ndarray, *, class_weights: Any
) -> Prepared:
    check_same_shape(predictions, targets)
    check_unit_interval(
        targets,
        role="targets",
        what="multilabel-soft-margin targets",
        fix="they are 0/1 labels per class (or soft ones in [0, 1])",
    )
    n_classes = 1 if predictions.ndim == 1 else predictions.shape[1]
    w = class_weight_vector(class_weights, n_classes)
    describe: dict[str, Any] = {"targets_are": "labels per class"}
    if w is not None:
        describe["class_weights"] = ", ".join(f"{v:g}" for v in w)
    return Prepared(predictions, targets, {"class_weights": w}, describe=describe)


multilabel_soft_margin = Loss(
    name="multilabel-soft-margin",
    summary="Multi-label soft-margin loss of scores against 0/1 labels per class",
    formula="−(1/C) Σ_c w_c [y_c log σ(x_c) + (1 − y_c) log σ(−x_c)] per row",
    gradient_formula="w_c (σ(x_c) − y_c)/C; divided by N for mean",
    reference="torch.nn.functional.multilabel_soft_margin_loss",
    values=_multilabel_values,
    grad_kernel=_multilabel_grad,
    hess_kernel=_multilabel_hess,
    prepare=_prepare_multilabel,
    params=(
        Param(
            "class_weights",
            str,
            None,
            "Weight of each class (column): a comma list (1,2.5,1) or a file of C numbers, "
            "as torch's weight.",
            parse=parse_class_weights,
            metavar="W",
        ),
    ),
    sample_data=_binary_samples,
    examples=(
        "losscli multilabel-soft-margin scores.csv labels.csv --grad",
        "losscli multilabel-soft-margin scores.npy labels.npy --class-weights 1,2,1",
    ),
    example=([[0.3, -2.0], [1.5, -0.5]], [[1.0, 0.0], [1.0, 1.0]], {}),
    doc="""Multi-label soft-margin loss, as ``torch.nn.functional.multilabel_soft_margin_loss``.

Per row of C labels::

    L_i = −(1/C) Σ_c w_c [y_c log σ(x_c) + (1 − y_c) log σ(−x_c)]

i.e. the class-weighted bce with logits averaged over the row; but a row loss: ``sum`` adds
the N row values (not the N·C elements), ``mean`` divides by N, as torch. Targets are 0/1
(soft values in [0, 1] are accepted, as torch computes them). Shapes: ``(N, C)`` both (a
vector is N rows of one class).

Gradient ``w_c (σ(x_c) − y_c)/C``; Hessian diagonal ``w_c σ(x_c) σ(−x_c)/C``.

>>> import losscli, math
>>> losscli.multilabel_soft_margin([[0.0, 0.0]], [[1.0, 0.0]]) == math.log(2)
True
""",
)
