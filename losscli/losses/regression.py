"""Regression losses: elementwise functions of the error ŷ − y.

Every loss here is *elementwise*: the loss of a row is the mean over its D elements, ``mean``
is the mean over all N·D elements, ``sum`` their sum (see :mod:`losscli.losses._base`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from ._base import Loss, Param, Prepared, check_same_shape, format_index

__all__ = [
    "huber",
    "mae",
    "mse",
    "rmse",
    "smooth_l1",
    "squared_error",
    "squared_error_grad",
    "squared_error_sum",
]


def prepare_regression(predictions: np.ndarray, targets: np.ndarray, **options) -> Prepared:
    """Predictions and targets of one shape: a vector (N) or a matrix (N × D)."""
    check_same_shape(predictions, targets)
    return Prepared(predictions, targets, options)


def squared_error(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(ŷ − y)², elementwise; shape of the inputs."""
    err = predictions - targets
    np.square(err, out=err)
    return err


# A dot product of ŷ − y is over 8192 elements: in the CPU cache, and below the 10,000 from
# which OpenBLAS threads ddot (its threads only wait on each other's page faults, and on a
# busy machine on other work). ŷ − y is taken 64 Ki elements at a time (a 512 KiB scratch,
# within L2) and its 8 dot products in one call (np.vecdot, row by row the same ddot as
# np.dot, so the partial sums and the total are those of 8192-element blocks): ~12% less CPU
# than one subtraction and one call per dot product, on a memory-mapped 1e8-element pair.
SUM_BLOCK_ELEMENTS = 1 << 13
DIFF_BLOCK_ELEMENTS = 8 * SUM_BLOCK_ELEMENTS
_vecdot = getattr(np, "vecdot", None)  # numpy ≥ 2.0


def _dots(rows: np.ndarray) -> list[float]:
    """Each row of ``rows`` dotted with itself (``np.dot`` per row: the same ddot)."""
    if _vecdot is not None:
        return _vecdot(rows, rows).tolist()
    return [float(np.dot(x, x)) for x in rows]


def squared_error_sum(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Σ (ŷ − y)² over all elements: ŷ − y dotted with itself 8192 elements at a time, the
    blocks' sums added with ``math.fsum``. NaN or ±inf in either input makes it NaN or inf
    (so a finite sum means finite inputs). One thread: reading the inputs is the bottleneck,
    and a second thread measured no faster."""
    p, t = predictions.reshape(-1), targets.reshape(-1)
    dot, step = SUM_BLOCK_ELEMENTS, DIFF_BLOCK_ELEMENTS
    scratch = np.empty(min(step, p.size))
    sums: list[float] = []
    with np.errstate(invalid="ignore"):  # inf − inf: the caller reports the input instead
        for start in range(0, p.size, step):
            stop = min(p.size, start + step)
            err = np.subtract(p[start:stop], t[start:stop], out=scratch[: stop - start])
            whole = err.size // dot * dot
            if whole:
                sums.extend(_dots(err[:whole].reshape(-1, dot)))
            if whole < err.size:
                rest = err[whole:]
                sums.append(float(np.dot(rest, rest)))
    return math.fsum(sums)


def squared_error_grad(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """∂(ŷ − y)²/∂ŷ = 2(ŷ − y), elementwise."""
    grad = predictions - targets
    grad *= 2.0
    return grad


def squared_error_hess(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """∂²(ŷ − y)²/∂ŷ² = 2, elementwise."""
    return np.full_like(predictions, 2.0)


def _regression_samples(options) -> tuple[str, str]:
    return ("regression_preds.csv", "regression_targets.csv")


mse = Loss(
    name="mse",
    summary="Mean squared error",
    formula="mean over elements of (ŷ − y)²",
    gradient_formula="2(ŷ − y)/(N·D) for mean; 2(ŷ − y) for sum; 2(ŷ − y)/D per row for none",
    reference="torch.nn.functional.mse_loss",
    values=squared_error,
    grad_kernel=squared_error_grad,
    sum_kernel=squared_error_sum,
    hess_kernel=squared_error_hess,
    prepare=prepare_regression,
    elementwise=True,
    sample_data=_regression_samples,
    examples=(
        "losscli mse preds.csv targets.csv",
        "losscli mse preds.npy targets.csv --grad --format json",
        "losscli mse preds.csv targets.csv --reduction none",
        "cat preds.csv | losscli mse - targets.csv --check",
    ),
    example=([[1.0, 2.0], [0.5, -1.0]], [[0.0, 2.5], [0.5, 0.0]], {}),
    doc="""Mean squared error, as ``torch.nn.functional.mse_loss``.

Per row: ``L_i = (1/D) Σ_j (ŷ_ij − y_ij)²``. ``mean``: the mean over all N·D elements;
``sum``: the sum over all elements; ``none``: the N row values ``L_i``.

Shapes: ``predictions`` and ``targets`` both ``(N,)`` or both ``(N, D)``.

Gradient w.r.t. ``predictions``: ``2(ŷ − y)/(N·D)`` under ``mean``, ``2(ŷ − y)`` under ``sum``,
and under ``none`` each row's own gradient ``2(ŷ − y)/D``.

>>> import losscli
>>> losscli.mse([1.0, 2.0], [0.0, 0.0])
2.5
>>> losscli.mse.grad([1.0, 2.0], [0.0, 0.0])
array([1., 2.])
""",
)


# --------------------------------------------------------------------------- mae


def absolute_error(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """|ŷ − y|, elementwise."""
    return np.abs(predictions - targets)


def absolute_error_grad(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """sign(ŷ − y), elementwise, 0 where ŷ = y (PyTorch's choice of subgradient)."""
    return np.sign(predictions - targets)


def absolute_error_hess(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0: |e| is linear on either side of its kink at e = 0, where it has no derivative."""
    return np.zeros_like(predictions)


MAE_HESS_NOTE = (
    "0 almost everywhere (|e| is piecewise linear; undefined at ŷ = y): "
    "a Newton step or a GBDT learns nothing from it"
)


def absolute_error_kinks(predictions: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
    """Where |ŷ − y| has no derivative: ŷ = y (the subgradient interval is [−1, 1])."""
    return predictions == targets


mae = Loss(
    name="mae",
    aliases=("l1",),
    summary="Mean absolute error (L1)",
    formula="mean over elements of |ŷ − y|",
    gradient_formula="sign(ŷ − y)/(N·D) for mean (0 where ŷ = y); sign(ŷ − y) for sum",
    reference="torch.nn.functional.l1_loss",
    values=absolute_error,
    grad_kernel=absolute_error_grad,
    hess_kernel=absolute_error_hess,
    hess_note=MAE_HESS_NOTE,
    kinks=absolute_error_kinks,
    hess_kinks=absolute_error_kinks,
    prepare=prepare_regression,
    elementwise=True,
    sample_data=_regression_samples,
    examples=(
        "losscli mae preds.csv targets.csv --grad",
        "losscli l1 preds.npy targets.npy --reduction sum",
    ),
    example=([[1.0, 2.0], [0.5, -1.0]], [[0.0, 2.5], [0.5, 0.0]], {}),
    doc="""Mean absolute error (L1 loss), as ``torch.nn.functional.l1_loss``.

Per row: ``L_i = (1/D) Σ_j |ŷ_ij − y_ij|``; ``mean`` over all N·D elements, ``sum`` over all.

Gradient w.r.t. ``predictions``: ``sign(ŷ − y)/(N·D)`` under ``mean``. |x| has no derivative at
0; like PyTorch, losscli uses the subgradient 0 there (where ŷ = y exactly).

>>> import losscli
>>> losscli.mae([1.0, 2.0, 3.0], [1.0, 0.0, 4.0])
1.0
>>> losscli.mae.grad([1.0, 2.0, 3.0], [1.0, 0.0, 4.0], reduction="sum")
array([ 0.,  1., -1.])
""",
)


# --------------------------------------------------------------------------- huber, smooth-l1


def _piecewise(err: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """|e| and the mask of the quadratic zone |e| < width."""
    a = np.abs(err)
    return a, a < width


def huber_values(predictions: np.ndarray, targets: np.ndarray, *, delta: float) -> np.ndarray:
    """½e² where |e| < δ, else δ(|e| − ½δ); e = ŷ − y."""
    err = predictions - targets
    a, inside = _piecewise(err, delta)
    return np.where(inside, 0.5 * err * err, delta * (a - 0.5 * delta))


def huber_grad(predictions: np.ndarray, targets: np.ndarray, *, delta: float) -> np.ndarray:
    """e where |e| < δ, else δ·sign(e): the error clipped to [−δ, δ]."""
    return np.clip(predictions - targets, -delta, delta)


def smooth_l1_values(predictions: np.ndarray, targets: np.ndarray, *, beta: float) -> np.ndarray:
    """½e²/β where |e| < β, else |e| − ½β; plain |e| when β = 0."""
    err = predictions - targets
    if beta == 0.0:
        return np.abs(err)
    a, inside = _piecewise(err, beta)
    return np.where(inside, 0.5 * err * err / beta, a - 0.5 * beta)


def smooth_l1_grad(predictions: np.ndarray, targets: np.ndarray, *, beta: float) -> np.ndarray:
    """e/β where |e| < β, else sign(e); sign(e) (0 at e = 0) when β = 0."""
    err = predictions - targets
    if beta == 0.0:
        return np.sign(err)
    return np.clip(err / beta, -1.0, 1.0)


def huber_hess(predictions: np.ndarray, targets: np.ndarray, *, delta: float) -> np.ndarray:
    """1 where |e| < δ, else 0 (also at |e| = δ, as torch's double backward of huber_loss)."""
    return (np.abs(predictions - targets) < delta).astype(np.float64)


def smooth_l1_hess(predictions: np.ndarray, targets: np.ndarray, *, beta: float) -> np.ndarray:
    """1/β where |e| < β, else 0; 0 everywhere when β = 0 (the L1 loss)."""
    if beta == 0.0:
        return np.zeros_like(predictions)
    return np.where(np.abs(predictions - targets) < beta, 1.0 / beta, 0.0)


def _no_kinks(predictions: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
    """Huber is C¹ everywhere: its gradient exists at every point."""
    return np.zeros(predictions.shape, dtype=bool)


def huber_hess_kinks(predictions: np.ndarray, targets: np.ndarray, *, delta: float) -> np.ndarray:
    """|e| = δ: the loss is C¹ there but not C² (its Hessian jumps from 1 to 0)."""
    return np.abs(predictions - targets) == delta


def smooth_l1_hess_kinks(
    predictions: np.ndarray, targets: np.ndarray, *, beta: float
) -> np.ndarray:
    """|e| = β: C¹ but not C² (the Hessian jumps from 1/β to 0); e = 0 when β = 0."""
    if beta == 0.0:
        return predictions == targets
    return np.abs(predictions - targets) == beta


def smooth_l1_kinks(predictions: np.ndarray, targets: np.ndarray, *, beta: float) -> np.ndarray:
    """With β = 0 (the L1 loss), ŷ = y; smooth otherwise (C¹, like Huber)."""
    return predictions == targets if beta == 0.0 else np.zeros(predictions.shape, dtype=bool)


def _positive_option(name: str, value: float, *, allow_zero: bool) -> None:
    if not (value > 0 or (allow_zero and value == 0)) or not np.isfinite(value):
        bound = "≥ 0" if allow_zero else "> 0"
        raise UsageError(f"--{name} must be a finite number {bound}, got {value!r}")


def _prepare_huber(predictions: np.ndarray, targets: np.ndarray, *, delta: float) -> Prepared:
    _positive_option("delta", float(delta), allow_zero=False)
    return prepare_regression(predictions, targets, delta=float(delta))


def _prepare_smooth_l1(predictions: np.ndarray, targets: np.ndarray, *, beta: float) -> Prepared:
    _positive_option("beta", float(beta), allow_zero=True)
    return prepare_regression(predictions, targets, beta=float(beta))


huber = Loss(
    name="huber",
    summary="Huber loss: quadratic for small errors, linear (slope δ) for large ones",
    formula="mean over elements of ½e² if |e| < δ else δ(|e| − ½δ), e = ŷ − y",
    gradient_formula="clip(e, −δ, δ)/(N·D) for mean; clip(e, −δ, δ) for sum",
    reference="torch.nn.functional.huber_loss",
    values=huber_values,
    grad_kernel=huber_grad,
    hess_kernel=huber_hess,
    hess_note="0 beyond |e| ≥ δ (the linear part); |e| = δ is C¹ but not C²",
    kinks=_no_kinks,
    hess_kinks=huber_hess_kinks,
    prepare=_prepare_huber,
    params=(Param("delta", float, 1.0, "Where the loss turns from quadratic to linear (> 0)."),),
    elementwise=True,
    sample_data=_regression_samples,
    examples=(
        "losscli huber preds.csv targets.csv --delta 0.5 --grad",
        "losscli huber preds.npy targets.npy --check",
    ),
    example=([[0.5, 3.0], [-2.0, 1.0]], [[0.0, 0.0], [0.0, 1.5]], {"delta": 1.0}),
    doc="""Huber loss, as ``torch.nn.functional.huber_loss``.

Elementwise, with ``e = ŷ − y``: ``½e²`` where ``|e| < δ``, else ``δ(|e| − ½δ)``. Rows are the
mean over their D elements; ``mean`` is over all N·D elements.

Gradient w.r.t. ``predictions``: ``clip(e, −δ, δ)``, divided by N·D under ``mean``. Huber with
``δ`` equals ``δ ×`` smooth-L1 with ``β = δ``.

>>> import losscli
>>> losscli.huber([0.5, 3.0], [0.0, 0.0], delta=1.0)
1.3125
>>> losscli.huber.grad([0.5, 3.0], [0.0, 0.0], delta=1.0, reduction="sum")
array([0.5, 1. ])
""",
)

smooth_l1 = Loss(
    name="smooth-l1",
    summary="Smooth L1 loss: quadratic (scaled by 1/β) for small errors, |e| − ½β beyond",
    formula="mean over elements of ½e²/β if |e| < β else |e| − ½β, e = ŷ − y",
    gradient_formula="clip(e/β, −1, 1)/(N·D) for mean; clip(e/β, −1, 1) for sum",
    reference="torch.nn.functional.smooth_l1_loss",
    values=smooth_l1_values,
    grad_kernel=smooth_l1_grad,
    hess_kernel=smooth_l1_hess,
    hess_note="0 beyond |e| ≥ β; |e| = β is C¹ but not C²; 0 everywhere for β = 0",
    hess_kinks=smooth_l1_hess_kinks,
    kinks=smooth_l1_kinks,
    prepare=_prepare_smooth_l1,
    params=(Param("beta", float, 1.0, "Width of the quadratic zone (≥ 0; 0 gives the L1 loss)."),),
    elementwise=True,
    sample_data=_regression_samples,
    examples=(
        "losscli smooth-l1 preds.csv targets.csv --beta 0.5",
        "losscli smooth-l1 preds.npy targets.npy --grad --check",
    ),
    example=([[0.5, 3.0], [-2.0, 1.0]], [[0.0, 0.0], [0.0, 1.5]], {"beta": 1.0}),
    doc="""Smooth L1 loss, as ``torch.nn.functional.smooth_l1_loss``.

Elementwise, with ``e = ŷ − y``: ``½e²/β`` where ``|e| < β``, else ``|e| − ½β``; with ``β = 0``
it is the L1 loss. Rows are the mean over their D elements; ``mean`` is over all N·D elements.

Gradient w.r.t. ``predictions``: ``clip(e/β, −1, 1)``, divided by N·D under ``mean``. The two
differ by a factor: ``huber(δ) = δ · smooth_l1(β = δ)``, so the linear part of smooth-L1 always
has slope 1 while Huber's has slope δ.

>>> import losscli
>>> losscli.smooth_l1([0.5, 3.0], [0.0, 0.0], beta=1.0)
1.3125
>>> losscli.smooth_l1([0.25], [0.0], beta=0.5)
0.0625
""",
)


# --------------------------------------------------------------------------- rmse


def _sqrt(u: Any) -> Any:
    return np.sqrt(u)


def _sqrt_grad(u: Any) -> Any:
    """d√u/du = 1/(2√u), undefined at u = 0: raise there rather than return inf or NaN."""
    u = np.asarray(u, dtype=np.float64)
    zero = u == 0
    if zero.any():
        where = (
            "every error is zero"
            if u.ndim == 0
            else f"row {int(np.argmax(zero))} has all errors zero {format_index(np.argmax(zero))}"
        )
        raise InputError(
            f"the gradient of rmse is undefined here: {where}, and √u has no derivative at 0 "
            "(the value, 0, is fine; use mse for a gradient at a perfect fit)",
            role="predictions",
        )
    return 0.5 / np.sqrt(u)


def _sqrt_hess(u: Any) -> Any:
    """d²√u/du² = −1/(4 u^(3/2)); undefined at u = 0 (raised by :func:`_sqrt_grad` first)."""
    u = np.asarray(u, dtype=np.float64)
    _sqrt_grad(u)
    return -0.25 / (u * np.sqrt(u))


rmse = Loss(
    name="rmse",
    summary="Root mean squared error: the square root of the mse",
    formula="√(mean over elements of (ŷ − y)²)",
    gradient_formula="(ŷ − y)/(N·D·rmse) for mean; per row (ŷ − y)/(D·rmse_i) for none",
    reference=(
        "torch.sqrt(torch.nn.functional.mse_loss(...)); "
        "sklearn.metrics.root_mean_squared_error for vectors"
    ),
    values=squared_error,
    grad_kernel=squared_error_grad,
    prepare=prepare_regression,
    elementwise=True,
    transform=_sqrt,
    transform_grad=_sqrt_grad,
    transform_hess=_sqrt_hess,
    scaled_squares=True,
    hess_kernel=squared_error_hess,
    hess_note=(
        "the mean's Hessian is dense (f''(u)·∇u∇uᵀ + f'(u)·∇²u; this is its diagonal); "
        "undefined at a perfect fit"
    ),
    reductions=("mean", "none"),
    sample_data=_regression_samples,
    examples=(
        "losscli rmse preds.csv targets.csv",
        "losscli rmse preds.csv targets.csv --sample-weights w.csv --grad",
    ),
    example=([[1.0, 2.0], [0.5, -1.0]], [[0.0, 2.5], [0.5, 0.0]], {}),
    doc="""Root mean squared error: ``√mse``, as ``torch.sqrt(F.mse_loss(p, y))``.

``mean``: the square root of the mean of ``(ŷ − y)²`` over all N·D elements (with sample
weights, of their weighted mean over rows, as ``sklearn.metrics.root_mean_squared_error``);
``none``: the square root of each row's mean. There is no ``sum``. For N × D inputs this is the
square root of the mean over all elements; scikit-learn instead averages the D per-column
RMSEs (its ``multioutput="uniform_average"``).

Gradient w.r.t. ``predictions``: ``(ŷ − y)/(N·D·rmse)`` under ``mean``. It is undefined when
every error is zero (√ has no derivative at 0); asking for it then raises ``InputError``.

>>> import losscli
>>> losscli.rmse([3.0, 4.0], [0.0, 0.0])
3.5355339059327378
>>> losscli.rmse.grad([3.0, 4.0], [0.0, 0.0])
array([0.42426407, 0.56568542])
""",
)
