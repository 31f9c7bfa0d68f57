"""Classification losses: cross-entropy from probabilities or logits, negative log-likelihood,
and binary cross-entropy.

ce and nll are row losses: each row's loss is a function of the whole row; ``mean`` divides the
sum of rows by N, or by the summed class weights of the targets (see
:mod:`losscli.losses._base`). bce is elementwise, like the regression losses.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from ._base import (
    Loss,
    Param,
    Prepared,
    check_log_probabilities,
    check_same_rows,
    check_same_shape,
    check_unit_interval,
    format_index,
    parse_numbers,
    warn,
    warn_counted,
)
from ._rowblock import softmax_cross_entropy
from .hints import (
    labels_given_as_predictions,
    looks_like_probabilities,
    looks_one_based,
    looks_swapped,
)

__all__ = [
    "bce",
    "class_coefficients",
    "cross_entropy",
    "log_softmax",
    "nll",
    "softmax",
    "resolve_class_targets",
]

TINY = float(np.finfo(np.float64).tiny)
ROW_SUM_TOLERANCE = 1e-6


# --------------------------------------------------------------------------- numerics


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``z − logsumexp(z)``, shifted by the row maximum so no exp overflows."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``exp(z) / Σ exp(z)``, max-shifted."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


# --------------------------------------------------------------------------- targets


def resolve_class_targets(
    predictions: np.ndarray,
    targets: np.ndarray,
    mode: str = "auto",
    *,
    ignore_index: int | None = None,
) -> tuple[np.ndarray, str]:
    """Decide whether ``targets`` are class indices or probability rows and validate them.

    ``auto``: a single column of whole numbers is class indices; an (N × C) array shaped like
    the predictions is probability rows (one-hot or soft). Returns ``(targets, "index"|"prob")``
    with indices as int64. Indices equal to ``ignore_index`` are kept as they are, unchecked.
    """
    if predictions.ndim != 2:
        swapped = labels_given_as_predictions(predictions, targets)
        raise InputError(
            f"needs a matrix of N rows × C classes, got a vector of {len(predictions)} values "
            "(a CSV with one column); give one column per class"
            + (f" — {swapped}" if swapped else ""),
            role="predictions",
        )
    n_classes = predictions.shape[1]
    single_column = targets.ndim == 1 or (targets.ndim == 2 and targets.shape[1] == 1)
    if mode == "auto":
        mode = (
            "prob"
            if targets.shape == predictions.shape
            and not (n_classes == 1 and _is_whole(targets).all())
            else "index"
        )
        if mode == "index" and not single_column:
            check_same_shape(predictions, targets)
    if mode == "prob":
        if single_column and n_classes > 1:
            raise InputError(
                f"--targets prob needs N × C probability rows shaped like the predictions "
                f"{tuple(predictions.shape)}, got shape {tuple(targets.shape)}",
                role="targets",
            )
        check_same_shape(predictions, targets)
        return targets, "prob"
    if not single_column:
        raise InputError(
            f"--targets index needs one column of class indices, got shape {tuple(targets.shape)}",
            role="targets",
        )
    indices = targets.reshape(-1)
    check_same_rows(predictions, indices, names=("predictions", "targets"))
    if ignore_index is None:
        return _validate_indices(indices, n_classes), "index"
    ignored = indices == ignore_index
    checked = _validate_indices(np.where(ignored, 0.0, indices), n_classes)
    return np.where(ignored, np.int64(ignore_index), checked), "index"


def _warn_if_swapped(predictions: np.ndarray, targets: np.ndarray) -> None:
    swapped = looks_swapped(predictions, targets)
    if swapped:
        warn(swapped)


def _is_whole(a: np.ndarray) -> np.ndarray:
    return np.floor(a) == a


def _validate_indices(indices: np.ndarray, n_classes: int) -> np.ndarray:
    fractional = ~_is_whole(indices)
    if fractional.any():
        i = int(np.argmax(fractional))
        raise InputError(
            f"class index {float(indices[i])!r} at {format_index(i)} is not a whole number; class "
            f"indices are integers in [0, {n_classes}) — for probability targets give N × "
            f"{n_classes} rows",
            role="targets",
        )
    negative = indices < 0
    if negative.any():
        i = int(np.argmax(negative))
        raise InputError(
            f"class index {int(indices[i])} at {format_index(i)} is negative; class indices "
            f"run from 0 to {n_classes - 1}",
            role="targets",
        )
    too_big = indices >= n_classes
    if too_big.any():
        i = int(np.argmax(too_big))
        one_based = looks_one_based(indices, n_classes)
        raise InputError(
            f"class index {int(indices[i])} at {format_index(i)} is out of range for "
            f"{n_classes} classes (valid: 0 to {n_classes - 1})"
            + (f"; {one_based}" if one_based else ""),
            role="targets",
        )
    return indices.astype(np.int64)


def _rows_off_text(what: str, consequence: str, count, total, first, detail) -> str:
    return (
        f"{count} of {total} {what} rows do not sum to 1 (first: row {first} sums to "
        f"{detail!r}); {consequence}"
    )


def _clipped_text(clip: float, count, total, first, detail) -> str:
    return (
        f"clipped {count} predicted probabilit{'y' if count == 1 else 'ies'} below "
        f"{clip:g} to {clip:g} before taking the log (set the floor with --clip)"
    )


def _bce_clamped_text(count, total, first, detail) -> str:
    return (
        f"{count} predicted probabilit{'y lies' if count == 1 else 'ies lie'} within "
        "1e-12 of 0 or 1, where, as in PyTorch, log is floored at −100 and the "
        "gradient's p(1 − p) at 1e-12 (finite differences will not agree there; "
        "--logits with raw scores avoids this)"
    )


def _warn_rows_not_summing_to_one(a: np.ndarray, what: str, consequence: str) -> None:
    sums = a.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        i = int(np.argmax(off))
        warn_counted(
            functools.partial(_rows_off_text, what, consequence),
            int(off.sum()),
            len(a),
            i,
            float(sums[i]),
        )


# --------------------------------------------------------------------------- class options

DEFAULT_IGNORE_INDEX = -100  # PyTorch's default: a target of -100 never counts


def class_coefficients(
    targets: np.ndarray,
    kind: str,
    n_classes: int,
    *,
    class_weights: np.ndarray | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Fold the targets and the class options into coefficients ``a``.

    Every loss of this module is then ``−Σ_c a_ic · log p_ic`` per row, whatever the options:

    - class indices: ``a_ic = w_c · ((1 − ε)·[c = y_i] + ε/C)``, 0 in ignored rows;
    - probability rows: ``a_ic = w_c · ((1 − ε)·y_ic + ε/C)``.

    Returns ``(a, row_weights)``. ``row_weights`` are the ``(N,)`` weights whose sum divides the
    loss under ``mean``: ``w_{y_i}`` (0 for ignored rows) for class indices, exactly as PyTorch;
    None for probability rows, whose ``mean`` divides by N. ``a`` is the dense (N × C) matrix,
    except for class indices without smoothing, the common case, where each row has a single
    coefficient, ``row_weights[i]`` at class ``a[i]``: ``a`` is then the (N,) class indices
    (ignored rows pointing at class 0 with weight 0), and the kernels index instead of summing.
    """
    if kind == "prob":
        a = targets * (1.0 - label_smoothing) + label_smoothing / n_classes
        return (a if class_weights is None else a * class_weights), None
    n = len(targets)
    keep = np.ones(n, dtype=bool) if ignore_index is None else targets != ignore_index
    safe = np.where(keep, targets, 0)
    row_weights = keep.astype(np.float64)
    if class_weights is not None:
        row_weights *= class_weights[safe]
    if not label_smoothing:
        return safe, row_weights
    a = np.full((n, n_classes), label_smoothing / n_classes)
    a[np.arange(n), safe] += 1.0 - label_smoothing
    if class_weights is not None:
        a *= class_weights
    a[~keep] = 0.0
    return a, row_weights


def _class_weight_vector(weights: Any, n_classes: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != n_classes:
        raise InputError(
            f"class weights have {len(w)} values but the predictions have {n_classes} classes "
            "(columns); give one weight per class",
            role="class weights",
        )
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"class weights must be finite and non-negative, found {float(w[i])!r} for class {i}",
            role="class weights",
        )
    return w


def _check_label_smoothing(label_smoothing: float) -> float:
    if not 0.0 <= label_smoothing <= 1.0:
        raise UsageError(f"--label-smoothing must lie in [0, 1], got {label_smoothing!r}")
    return float(label_smoothing)


def _check_ignore_index(ignore_index: Any) -> int:
    # An int is compared as an int: float(2**63 - 1) rounds up, so a float test would refuse a
    # valid int64.
    whole = isinstance(ignore_index, int | np.integer) and not isinstance(ignore_index, bool)
    if not whole and float(ignore_index) != int(ignore_index):
        raise UsageError(f"--ignore-index must be a whole number, got {ignore_index!r}")
    if not -(2**63) <= int(ignore_index) < 2**63:
        raise UsageError(f"--ignore-index must fit in int64, got {ignore_index!r}")
    return int(ignore_index)


def _parse_class_weights(text: str) -> np.ndarray:
    return parse_numbers(text, role="class weights")


CLASS_WEIGHTS = Param(
    "class_weights",
    str,
    None,
    "Weight of each class: a comma list (1,2.5,1) or a file of C numbers. Under mean the loss "
    "is divided by the summed weights of the (non-ignored) targets, as in PyTorch.",
    parse=_parse_class_weights,
    metavar="W",
)
CLASS_AXIS = Param(
    "class_axis",
    int,
    1,
    "The class axis of inputs with more than 2 dimensions: 1 for (N, C, d1, …) as torch, "
    "-1 for (N, d1, …, C) as optax and Keras.",
    metavar="AXIS",
)
IGNORE_INDEX = Param(
    "ignore_index",
    int,
    DEFAULT_IGNORE_INDEX,
    "Targets equal to this class index add nothing and are left out of the mean "
    "(class-index targets only).",
    metavar="K",
)


def _row_weights(p: np.ndarray, t: np.ndarray, *, row_weights: np.ndarray | None, **_: Any):
    """The ``weights`` kernel of this module: computed once by ``class_coefficients``."""
    return row_weights


def _describe_class_options(describe: dict[str, Any], row_weights, options: dict) -> None:
    if options.get("class_weights") is not None:
        describe["class_weights"] = ", ".join(f"{w:g}" for w in options["class_weights"])
    if row_weights is not None and (row_weights == 0).any():
        describe["ignored_rows"] = int((row_weights == 0).sum())
    if options.get("label_smoothing"):
        describe["label_smoothing"] = options["label_smoothing"]


# --------------------------------------------------------------------------- cross-entropy


def prepare_cross_entropy(
    predictions: np.ndarray,
    targets: np.ndarray,
    *,
    logits: bool,
    targets_mode: str,
    clip: float,
    class_weights: Any = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    label_smoothing: float = 0.0,
) -> Prepared:
    """Validate predictions and targets for cross-entropy; warn about what is not an error.

    The targets and the class options become the coefficient matrix of
    :func:`class_coefficients`, which the kernels take in place of the targets.
    """
    ignore_index = _check_ignore_index(ignore_index)
    t, kind = resolve_class_targets(predictions, targets, targets_mode, ignore_index=ignore_index)
    if not (0.0 < clip < 1.0):
        raise UsageError(f"--clip must lie in (0, 1), got {clip!r}")
    if kind == "prob" and ignore_index != DEFAULT_IGNORE_INDEX:
        raise UsageError(
            "--ignore-index applies to class-index targets only; these targets are probability "
            "rows (give one column of class indices to ignore some)"
        )
    options = {
        "class_weights": _class_weight_vector(class_weights, predictions.shape[1]),
        "label_smoothing": _check_label_smoothing(label_smoothing),
    }
    a, row_weights = class_coefficients(
        t, kind, predictions.shape[1], ignore_index=ignore_index, **options
    )
    if kind == "prob":
        _warn_if_swapped(predictions, t)
    if logits:
        probabilities = looks_like_probabilities(predictions, ROW_SUM_TOLERANCE)
        if probabilities:
            warn(probabilities)
        if kind == "prob":
            _warn_rows_not_summing_to_one(
                t, "target", "the gradient takes the general form softmax(z)·Σy − y"
            )
    else:
        outside = (predictions < 0.0) | (predictions > 1.0)
        if outside.any():
            idx = np.argwhere(outside)[0]
            raise InputError(
                f"probabilities must lie in [0, 1], found {float(predictions[tuple(idx)])!r} at "
                f"{format_index(idx)} — pass --logits if these are raw scores",
                role="predictions",
            )
        _warn_rows_not_summing_to_one(
            predictions,
            "prediction",
            "used as given, not renormalised (if they are raw scores, pass --logits)",
        )
        # the probabilities whose log enters the loss
        if a.ndim == 1:
            used = predictions[np.arange(len(a)), a][row_weights != 0]
        else:
            used = predictions[a != 0]
        clipped = int((used < clip).sum())
        if clipped:
            warn_counted(functools.partial(_clipped_text, clip), clipped)
    describe = {
        "predictions_are": "logits" if logits else "probabilities",
        "targets_are": "class indices" if kind == "index" else "probability rows",
    }
    _describe_class_options(describe, row_weights, options)
    kernel_options = {"logits": logits, "clip": clip, "row_weights": row_weights}
    return Prepared(predictions, a, kernel_options, describe=describe, per_row=("row_weights",))


def _ce_values_and_grad(
    p: np.ndarray,
    a: np.ndarray,
    *,
    logits: bool,
    clip: float,
    row_weights: np.ndarray | None = None,
    want_grad: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows ``−Σ_c a_ic log p_ic`` and their gradient, ``a`` from :func:`class_coefficients`
    (dense, or class indices with the coefficients ``row_weights``)."""
    rows = np.arange(len(p))
    index = a.ndim == 1
    if logits:
        # Row-blocked and in place: one exp per element gives both log-sum-exp and softmax.
        return softmax_cross_entropy(
            p, a, index=index, row_weights=row_weights, want_grad=want_grad
        )
    floored = np.maximum(p, clip)
    if index:
        values = 0.0 - row_weights * np.log(floored[rows, a])
    else:
        values = 0.0 - np.einsum("ij,ij->i", a, np.log(floored))
    if not want_grad:
        return values, None
    # d/dp of −a·log(max(p, clip)): −a/p above the floor, 0 below it (as torch.clamp's backward).
    grad = np.zeros_like(p)
    if index:
        grad[rows, a] = np.where(p[rows, a] >= clip, 0.0 - row_weights / floored[rows, a], 0.0)
        return values, grad
    np.divide(a, floored, out=grad, where=p >= clip)
    return values, np.subtract(0.0, grad, out=grad)


def _ce_values(p: np.ndarray, a: np.ndarray, **options: Any) -> np.ndarray:
    return _ce_values_and_grad(p, a, want_grad=False, **options)[0]


def _ce_grad(p: np.ndarray, a: np.ndarray, **options: Any) -> np.ndarray:
    return _ce_values_and_grad(p, a, **options)[1]


def _ce_mass_and_softmax(
    z: np.ndarray, a: np.ndarray, row_weights
) -> tuple[np.ndarray, np.ndarray]:
    """``(Σ_c a_ic per row, softmax(z))``: the row's target mass that multiplies its Hessian."""
    mass = row_weights if a.ndim == 1 else a.sum(axis=1)
    return mass, softmax(z)


def _ce_hess(
    p: np.ndarray, a: np.ndarray, *, logits: bool, clip: float, row_weights=None
) -> np.ndarray:
    """Diagonal of each row's Hessian. Logits: ``Σ_c a_c · s(1 − s)``, s = softmax(z) (the
    row's value is ``Σa·logsumexp(z) − a·z``). Probabilities: ``a/p²`` where ``p ≥ clip``, 0
    below the floor (the gradient −a/p is 0 there)."""
    if logits:
        mass, s = _ce_mass_and_softmax(p, a, row_weights)
        s *= 1.0 - s
        s *= mass[:, None]
        return s
    hess = np.zeros_like(p)
    if a.ndim == 1:
        rows = np.arange(len(p))
        picked = p[rows, a]
        kept = picked >= clip
        hess[rows[kept], a[kept]] = row_weights[kept] / (picked[kept] * picked[kept])
        return hess
    kept = p >= clip
    hess[kept] = a[kept] / (p[kept] * p[kept])
    return hess


def _ce_hess_blocks(
    p: np.ndarray, a: np.ndarray, *, logits: bool, clip: float, row_weights=None
) -> np.ndarray:
    """(N, C, C): each row's ``Σ_c a_c · (diag s − s sᵀ)``, s = softmax(z)."""
    if not logits:
        raise UsageError(
            "ce has no full Hessian blocks from probabilities: its Hessian is diagonal there "
            "(a/p², use --hess); --hess full needs --logits"
        )
    mass, s = _ce_mass_and_softmax(p, a, row_weights)
    blocks = -s[:, :, None] * s[:, None, :]
    blocks *= mass[:, None, None]
    # each block's diagonal (a writable view): the very numbers of the diagonal kernel
    np.einsum("ijj->ij", blocks)[...] = _ce_hess(
        p, a, logits=True, clip=clip, row_weights=row_weights
    )
    return blocks


def _inverse(a: np.ndarray) -> np.ndarray:
    """1/a, and 1 where a = 0 (a mistake that changes nothing there)."""
    out = np.ones_like(a, dtype=np.float64)
    np.divide(1.0, a, out=out, where=a != 0)
    return out


SOFTPROB_FACTOR_2 = (
    "2p(1 − p), twice the diagonal (the factor XGBoost's multi:softprob objective uses)"
)


def _ce_hess_mistakes(p: np.ndarray, a: np.ndarray, *, logits: bool, clip: float, row_weights=None):
    if not logits:
        return []
    mass, s = _ce_mass_and_softmax(p, a, row_weights)
    return [
        ("p instead of p(1 − p) (the softmax, not its derivative)", _inverse(1.0 - s)),
        (
            "Σy missing: each row's Hessian is Σ_c y_c · p(1 − p) (class weights, label "
            "smoothing or target rows not summing to 1 change Σy)",
            _inverse(mass)[:, None],
        ),
        (SOFTPROB_FACTOR_2, 2.0),
    ]


def _ce_clamps(
    p: np.ndarray, a: np.ndarray, *, logits: bool, clip: float, row_weights=None, **_: Any
) -> np.ndarray | None:
    """Where --clip is active: a probability below the floor whose log enters the loss."""
    if logits:
        return None
    if a.ndim == 1:
        mask = np.zeros(p.shape, dtype=bool)
        rows = np.arange(len(p))
        mask[rows, a] = (p[rows, a] < clip) & (row_weights != 0)
        return mask
    return (p < clip) & (a != 0)


def _ce_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    preds = "classification_logits.csv" if options.get("logits") else "classification_probs.csv"
    return (preds, "classification_labels.csv")


def _prepare(predictions: np.ndarray, target_array: np.ndarray, **options: Any) -> Prepared:
    return prepare_cross_entropy(
        predictions,
        target_array,
        logits=bool(options["logits"]),
        targets_mode=options["target_type"],
        clip=float(options["clip"]),
        class_weights=options["class_weights"],
        ignore_index=options["ignore_index"],
        label_smoothing=float(options["label_smoothing"]),
    )


cross_entropy = Loss(
    name="ce",
    aliases=("cross-entropy",),
    summary="Cross-entropy of probabilities or logits against class indices or probability rows",
    formula="H = −Σ_c y_c log p_c per row; with --logits, log p = log_softmax(z)",
    gradient_formula=(
        "logits: softmax(z)·Σy − y (= softmax(z) − y when target rows sum to 1); "
        "probabilities: −y/p; y weighted and smoothed by the class options; divided by N "
        "(Σ w_y with class weights) for mean"
    ),
    reference="torch.nn.functional.cross_entropy (logits); −Σ y·log(clamp(p, clip)) otherwise",
    values=_ce_values,
    grad_kernel=_ce_grad,
    value_and_grad_kernel=_ce_values_and_grad,
    hess_kernel=_ce_hess,
    hess_blocks_kernel=_ce_hess_blocks,
    hess_mistakes=_ce_hess_mistakes,
    hess_note=(
        "logits: Σy·p(1 − p), full blocks Σy·(diag p − p pᵀ) with --hess full; "
        "probabilities: y/p² (0 below --clip)"
    ),
    clamps=_ce_clamps,
    prepare=_prepare,
    weights=_row_weights,
    params=(
        Param("logits", bool, False, "Predictions are raw scores (logits), not probabilities."),
        Param(
            "target_type",
            str,
            "auto",
            "Targets are class indices (one column) or probability rows (N × C); auto detects.",
            choices=("auto", "index", "prob"),
            cli_flag="--targets",
        ),
        Param(
            "clip",
            float,
            TINY,
            "Floor for probabilities before the log, so log(0) stays finite (probabilities only; "
            "default: the smallest normal float64, 2.2e-308).",
        ),
        CLASS_WEIGHTS,
        IGNORE_INDEX,
        CLASS_AXIS,
        Param(
            "label_smoothing",
            float,
            0.0,
            "Mix the targets with the uniform distribution: y ← (1 − A)·y + A/C, A in [0, 1].",
            metavar="A",
        ),
    ),
    sample_data=_ce_samples,
    examples=(
        "losscli ce --logits --grad",
        "losscli ce logits.csv labels.csv --logits --check",
        "losscli ce probs.csv onehot.csv --reduction none",
        "losscli ce logits.npy soft.npy --logits --targets prob --format json",
        "losscli ce logits.csv labels.csv --logits --class-weights 1,2,1,0.5 --ignore-index 0",
        "losscli ce logits.csv labels.csv --logits --label-smoothing 0.1 --grad",
    ),
    example=([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], [0, 1], {"logits": True}),
    doc="""Cross-entropy, as ``torch.nn.functional.cross_entropy``.

Per row: ``H_i = −Σ_c y_ic log p_ic``. With ``logits=True`` the predictions are scores ``z`` and
``log p = log_softmax(z)``, computed with a max shift so logits of ±1e4 stay finite and exact.
Without it the predictions are probabilities in [0, 1]; values below ``clip`` are raised to it
before the log (reported as a warning) so ``log(0)`` never yields inf.

Shapes: ``predictions`` ``(N, C)``; ``targets`` either ``(N,)`` class indices in ``[0, C)`` or
``(N, C)`` probability rows (one-hot or soft). ``mean`` divides the sum of ``H_i`` by N.

Options, with PyTorch's semantics: ``class_weights`` (C numbers, or a comma list / file name)
multiply each class's term, and with class indices ``mean`` divides by ``Σ_i w_{y_i}`` instead
of N; ``ignore_index`` (default -100) drops the rows whose target is that index, from the sum and
from the mean's denominator; ``label_smoothing`` ``ε`` replaces the targets by
``(1 − ε)·y + ε/C`` (the smoothed part weighted by the class weights too, but not in the
denominator). Probability-row targets always divide ``mean`` by N.

Gradient w.r.t. the logits: ``softmax(z)·Σ_c a_c − a`` with ``a`` the weighted, smoothed targets
(``softmax(z) − y`` when each target row sums to 1 and there are no options); w.r.t.
probabilities: ``−a/p`` (0 where ``p < clip``); divided by the mean's denominator.

>>> import losscli
>>> losscli.cross_entropy([[1000.0, 0.0]], [1], logits=True)
1000.0
>>> losscli.cross_entropy([[0.0, 0.0], [0.0, 0.0]], [0, 1], logits=True, class_weights=[3, 1])
0.6931471805599453
""",
)


# --------------------------------------------------------------------------- nll


def _prepare_nll(
    predictions: np.ndarray, targets: np.ndarray, *, class_weights: Any, ignore_index: int
) -> Prepared:
    ignore_index = _check_ignore_index(ignore_index)
    t, _ = resolve_class_targets(predictions, targets, "index", ignore_index=ignore_index)
    check_log_probabilities(
        predictions,
        role="predictions",
        what="nll's predictions",
        fix="take the log of probabilities, or use `ce --logits` for raw scores",
    )
    w = _class_weight_vector(class_weights, predictions.shape[1])
    a, row_weights = class_coefficients(
        t, "index", predictions.shape[1], class_weights=w, ignore_index=ignore_index
    )
    describe = {"predictions_are": "log-probabilities", "targets_are": "class indices"}
    _describe_class_options(describe, row_weights, {"class_weights": w})
    return Prepared(
        predictions, a, {"row_weights": row_weights}, describe=describe, per_row=("row_weights",)
    )


def _nll_values(x: np.ndarray, y: np.ndarray, *, row_weights: np.ndarray) -> np.ndarray:
    """Rows ``−w_{y_i} x_{i,y_i}`` (0 for ignored rows); ``y`` from :func:`class_coefficients`."""
    return 0.0 - row_weights * x[np.arange(len(x)), y]  # 0.0 − x: no −0.0 in the output


def _nll_grad(x: np.ndarray, y: np.ndarray, *, row_weights: np.ndarray) -> np.ndarray:
    grad = np.zeros_like(x)
    grad[np.arange(len(x)), y] = 0.0 - row_weights
    return grad


def _zero_hess(x: np.ndarray, y: np.ndarray, **_: Any) -> np.ndarray:
    """0: the loss is linear in its inputs."""
    return np.zeros_like(x)


def _nll_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    return ("classification_logprobs.csv", "classification_labels.csv")


nll = Loss(
    name="nll",
    summary="Negative log-likelihood of log-probabilities against class indices",
    formula="−w_y · x_{i,y} per row (x = log-probabilities, y = class index)",
    gradient_formula=(
        "−w_y at the target class, 0 elsewhere; divided by Σ w_y (N without weights) for mean"
    ),
    reference="torch.nn.functional.nll_loss",
    values=_nll_values,
    grad_kernel=_nll_grad,
    hess_kernel=_zero_hess,
    hess_note=(
        "0 everywhere: nll is linear in the log-probabilities (the curvature is in "
        "log_softmax; use ce --logits for the Hessian w.r.t. logits)"
    ),
    prepare=_prepare_nll,
    weights=_row_weights,
    params=(CLASS_WEIGHTS, IGNORE_INDEX, CLASS_AXIS),
    sample_data=_nll_samples,
    examples=(
        "losscli nll logprobs.csv labels.csv --grad",
        "losscli nll logprobs.npy labels.npy --class-weights 1,2,1 --ignore-index 0",
    ),
    example=([[-0.5, -1.2, -2.3], [-2.0, -0.3, -1.8]], [0, 2], {}),
    doc="""Negative log-likelihood, as ``torch.nn.functional.nll_loss``.

Per row: ``L_i = −w_{y_i} · x_{i, y_i}`` where ``x`` are log-probabilities (e.g. the output of
``log_softmax``) and ``y`` class indices; 0 for rows whose target is ``ignore_index``
(default -100). ``mean`` divides the sum by ``Σ_i w_{y_i}`` over the non-ignored rows (by their
number without class weights); all rows ignored gives NaN, as PyTorch.

Shapes: ``predictions`` ``(N, C)``; ``targets`` ``(N,)`` class indices in ``[0, C)``.

Gradient w.r.t. ``predictions``: ``−w_{y_i}`` at ``(i, y_i)``, 0 elsewhere, divided by the
mean's denominator. ``ce --logits`` is ``nll`` of ``log_softmax(z)``.

>>> import losscli
>>> losscli.nll([[-0.5, -1.5], [-2.0, -0.1]], [0, 1])
0.3
>>> losscli.nll.grad([[-0.5, -1.5], [-2.0, -0.1]], [0, 1])
array([[-0.5,  0. ],
       [ 0. , -0.5]])
""",
)


# --------------------------------------------------------------------------- bce

LOG_FLOOR = -100.0  # binary_cross_entropy clamps each log at −100, so log(0) stays finite
# ...and the gradient's p(1 − p) at PyTorch's EPSILON, 1e-12 stored as a float32 constant
# (9.999999960041972e-13), which the float64 fixtures confirm to the last bit.
BCE_EPSILON = float(np.float32(1e-12))


def _bce_prob_values(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """−(y log p + (1 − y) log(1 − p)), each log floored at −100."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.maximum(np.log(p), LOG_FLOOR)
        log_1mp = np.maximum(np.log1p(-p), LOG_FLOOR)
    return (y - 1.0) * log_1mp - y * log_p


def _bce_prob_grad(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(p − y) / max(p(1 − p), 1e-12): PyTorch's formula, exact away from 0 and 1."""
    return (p - y) / np.maximum((1.0 - p) * p, BCE_EPSILON)


def _bce_clamps(p: np.ndarray, y: np.ndarray, *, logits: bool, **_: Any) -> np.ndarray | None:
    """Where, on probabilities, a log is floored at −100 or p(1 − p) at 1e-12 (and p ≠ y,
    where the gradient is exactly 0): the elements the warning of _prepare_bce counts."""
    if logits:
        return None
    return (p * (1.0 - p) < BCE_EPSILON) & (p != y)


def _warn_bce_clamps(p: np.ndarray, y: np.ndarray) -> None:
    """Say how many probabilities sit where PyTorch's floors (log at −100, p(1 − p) at 1e-12)
    take over from the formula (the elements of :func:`_bce_clamps`)."""
    clamped = int(_bce_clamps(p, y, logits=False).sum())
    if clamped:
        warn_counted(_bce_clamped_text, clamped)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(1e4) = inf gives 1/(1 + inf) = 0, exactly right
        return 1.0 / (1.0 + np.exp(-z))


def _bce_logit_values(z: np.ndarray, y: np.ndarray, pos_weight) -> np.ndarray:
    """(1 − y)·z − (1 + (w⁺ − 1)·y)·log σ(z), with log σ(z) = min(z, 0) − log1p(e^−|z|)."""
    log_sigmoid = np.minimum(z, 0.0) - np.log1p(np.exp(-np.abs(z)))
    if pos_weight is not None:
        log_sigmoid *= (pos_weight - 1.0) * y + 1.0
    return (1.0 - y) * z - log_sigmoid


def _bce_logit_grad(z: np.ndarray, y: np.ndarray, pos_weight) -> np.ndarray:
    """σ(z) − y; with a positive-class weight w⁺: (w⁺y + 1 − y)·σ(z) − w⁺y."""
    if pos_weight is None:
        return _sigmoid(z) - y
    wy = pos_weight * y
    return (wy + 1.0 - y) * _sigmoid(z) - wy


def _bce_prob_hess(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d/dp of the gradient above: ``y/p² + (1 − y)/(1 − p)²`` (= ``(p² − 2py + y)/(p(1 − p))²``,
    whose numerator cancels to nothing near p = y = 1) where ``p(1 − p) ≥ 1e-12``; ``1/1e-12``
    where the floor holds the denominator."""
    floored = (1.0 - p) * p < BCE_EPSILON
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = y / (p * p) + (1.0 - y) / ((1.0 - p) * (1.0 - p))
    return np.where(floored, 1.0 / BCE_EPSILON, exact)


def _bce_logit_hess(z: np.ndarray, y: np.ndarray, pos_weight) -> np.ndarray:
    """σ(z)·σ(−z) (= σ(1 − σ), without cancelling for large z); with w⁺: (w⁺y + 1 − y)·σσ(−)."""
    h = _sigmoid(z) * _sigmoid(-z)
    if pos_weight is not None:
        h *= pos_weight * y + 1.0 - y
    return h


def _bce_hess(p: np.ndarray, y: np.ndarray, *, logits: bool, pos_weight=None) -> np.ndarray:
    return _bce_logit_hess(p, y, pos_weight) if logits else _bce_prob_hess(p, y)


def _bce_hess_mistakes(p: np.ndarray, y: np.ndarray, *, logits: bool, pos_weight=None):
    if not logits:
        return [
            (
                "y/p² only: the (1 − y)/(1 − p)² term is missing",
                _inverse(1.0 + (1.0 - y) * p * p / np.maximum(y * (1.0 - p) ** 2, TINY)),
            )
        ]
    mistakes = [
        (
            "σ(z) instead of σ(z)(1 − σ(z)) (the sigmoid, not its derivative)",
            _inverse(_sigmoid(-p)),
        )
    ]
    if pos_weight is not None:
        mistakes.append(
            ("the --pos-weight factor w⁺y + 1 − y is missing", _inverse(pos_weight * y + 1.0 - y))
        )
    return mistakes


def _bce_values(p: np.ndarray, y: np.ndarray, *, logits: bool, pos_weight=None) -> np.ndarray:
    return _bce_logit_values(p, y, pos_weight) if logits else _bce_prob_values(p, y)


def _bce_grad(p: np.ndarray, y: np.ndarray, *, logits: bool, pos_weight=None) -> np.ndarray:
    return _bce_logit_grad(p, y, pos_weight) if logits else _bce_prob_grad(p, y)


def _prepare_bce(
    predictions: np.ndarray, targets: np.ndarray, *, logits: bool, pos_weight: Any
) -> Prepared:
    check_same_shape(predictions, targets)
    check_unit_interval(
        targets,
        role="targets",
        what="bce targets",
        fix="they are the probability of the positive class (0 or 1 for hard labels)",
    )
    _warn_if_swapped(predictions, targets)
    n_cols = predictions.shape[1] if predictions.ndim == 2 else 1
    if pos_weight is not None:
        if not logits:
            raise UsageError(
                "--pos-weight needs --logits (PyTorch's binary_cross_entropy has no pos_weight; "
                "binary_cross_entropy_with_logits has)"
            )
        pos_weight = np.asarray(pos_weight, dtype=np.float64).reshape(-1)
        if len(pos_weight) not in (1, n_cols):
            raise InputError(
                f"--pos-weight takes one value or one per column ({n_cols}), got {len(pos_weight)}",
                role="pos weight",
            )
        bad = ~np.isfinite(pos_weight) | (pos_weight < 0)
        if bad.any():
            raise InputError(
                f"--pos-weight values must be finite and non-negative, found "
                f"{float(pos_weight[np.argmax(bad)])!r}",
                role="pos weight",
            )
    if not logits:
        check_unit_interval(
            predictions,
            role="predictions",
            what="probabilities",
            fix="pass --logits if these are raw scores",
        )
        _warn_bce_clamps(predictions, targets)
    describe = {"predictions_are": "logits" if logits else "probabilities"}
    if pos_weight is not None:
        describe["pos_weight"] = ", ".join(f"{w:g}" for w in pos_weight)
    options = {"logits": bool(logits), "pos_weight": pos_weight}
    return Prepared(predictions, targets, options, describe=describe)


def _bce_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    preds = "binary_logits.csv" if options.get("logits") else "binary_probs.csv"
    return (preds, "binary_labels.csv")


def _parse_pos_weight(text: str) -> np.ndarray:
    return parse_numbers(text, role="pos weight")


bce = Loss(
    name="bce",
    summary="Binary cross-entropy of probabilities, or of logits with --logits",
    formula="−(y log p + (1 − y) log(1 − p)) per element; with --logits, p = σ(z)",
    gradient_formula=(
        "probabilities: (p − y)/(p(1 − p)); logits: σ(z) − y "
        "(with --pos-weight w: (wy + 1 − y)σ(z) − wy); divided by N·D for mean"
    ),
    reference=(
        "torch.nn.functional.binary_cross_entropy; with --logits, "
        "torch.nn.functional.binary_cross_entropy_with_logits"
    ),
    values=_bce_values,
    grad_kernel=_bce_grad,
    hess_kernel=_bce_hess,
    hess_mistakes=_bce_hess_mistakes,
    hess_note=(
        "logits: σ(z)(1 − σ(z)) (times w⁺y + 1 − y with --pos-weight), tends to 0 for confident "
        "logits; probabilities: y/p² + (1 − y)/(1 − p)²"
    ),
    clamps=_bce_clamps,
    prepare=_prepare_bce,
    elementwise=True,
    params=(
        Param("logits", bool, False, "Predictions are raw scores (logits), not probabilities."),
        Param(
            "pos_weight",
            str,
            None,
            "Weight of the positive term (with --logits): one number, or a comma list or file "
            "with one per column.",
            parse=_parse_pos_weight,
            metavar="W",
        ),
    ),
    sample_data=_bce_samples,
    examples=(
        "losscli bce --grad",
        "losscli bce probs.csv labels.csv --check",
        "losscli bce logits.npy labels.npy --logits --pos-weight 3",
        "losscli bce logits.csv labels.csv --logits --pos-weight 1,4,2 --grad",
    ),
    example=([[0.9, 0.2], [0.4, 0.7]], [[1.0, 0.0], [1.0, 1.0]], {}),
    doc="""Binary cross-entropy, as ``torch.nn.functional.binary_cross_entropy`` (probabilities)
or, with ``logits=True``, ``binary_cross_entropy_with_logits``.

Elementwise: ``−(y log p + (1 − y) log(1 − p))``. On probabilities each log is floored at −100,
as PyTorch documents, so ``p = 0`` or ``1`` gives a finite loss; the gradient
``(p − y)/p(1 − p)`` has its denominator floored at 1e-12 likewise (a warning says how many
elements this touches). With logits ``z`` it is computed as ``(1 − y)z − log σ(z)`` with
``log σ(z) = min(z, 0) − log1p(e^−|z|)``, exact for logits of ±1e4; ``pos_weight`` ``w⁺`` (one
number or one per column) multiplies the positive term: ``(1 − y)z − (1 + (w⁺ − 1)y) log σ(z)``.

Rows are the mean over their D elements; ``mean`` is over all N·D elements. Targets lie in
[0, 1] (hard 0/1 labels or soft ones). Shapes: both ``(N,)`` or both ``(N, D)``.

Gradient w.r.t. probabilities: ``(p − y)/(p(1 − p))``; w.r.t. logits: ``σ(z) − y`` (with
``pos_weight``: ``(w⁺y + 1 − y)σ(z) − w⁺y``); divided by N·D under ``mean``.

>>> import losscli
>>> losscli.bce([0.0], [1.0])
100.0
>>> losscli.bce([1e4, -1e4], [0.0, 1.0], logits=True)
10000.0
""",
)


# --------------------------------------------------------------------------- shared with the other
# classification modules (focal, margin, scoring): public names for the helpers above.

sigmoid = _sigmoid
bce_prob_values = _bce_prob_values
bce_prob_grad = _bce_prob_grad
bce_prob_hess = _bce_prob_hess
bce_clamps = _bce_clamps
warn_bce_clamps = _warn_bce_clamps
check_label_smoothing = _check_label_smoothing
class_weight_vector = _class_weight_vector
warn_rows_not_summing_to_one = _warn_rows_not_summing_to_one
parse_class_weights = _parse_class_weights
