"""Custom objectives for gradient-boosting libraries: XGBoost's ``obj=`` and LightGBM's
callable ``objective``, from any registered loss with a Hessian.

Both libraries call ``objective(preds, data) -> (grad, hess)`` once per boosting round, with
``preds`` the raw margins (before any sigmoid or softmax) and ``data.get_label()`` /
``data.get_weight()`` the labels and sample weights; they want the gradient and the Hessian
diagonal of the *per-sample* loss, not of the mean (a mean would shrink every Newton step by
N). That is losscli's ``reduction="sum"`` with the sample weights: element (i, j) gets
``s_i·∂ℓ_ij`` and ``s_i·∂²ℓ_ij`` — for one column exactly ``--reduction none``. See
docs/gbdt.md for the conventions and a worked example.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import UsageError
from .losses import Loss, get_loss

__all__ = ["objective", "LAYOUTS"]

LAYOUTS = ("auto", "rows", "classes")


def objective(
    loss: Loss | str,
    *,
    layout: str = "auto",
    hess_floor: float = 0.0,
    match_xgboost: bool = False,
    **options: Any,
) -> Callable[[Any, Any], tuple[np.ndarray, np.ndarray]]:
    """A custom objective ``(preds, data) -> (grad, hess)`` for ``xgboost.train(obj=...)`` and
    LightGBM's ``params["objective"]``, computing ``loss`` (with its ``options``, e.g.
    ``logits=True``) per sample.

    ``preds`` are margins: a vector of N for one output (``binary:logistic``, regression), an
    N × C matrix for C classes (XGBoost ≥ 2 ``multi:softprob``, LightGBM ≥ 4 ``multiclass``).
    Older versions pass C classes flattened to N·C values; say how with ``layout``: ``"rows"``
    (each row's C margins together: old XGBoost) or ``"classes"`` (all rows of class 0, then
    class 1, …: old LightGBM); ``"auto"`` refuses flattened input rather than guess. The
    gradient and Hessian come back in the layout they came in.

    ``hess_floor`` raises the Hessian to at least that value (XGBoost floors its own at 1e-16,
    so a confident prediction never gives a zero Hessian); 0 (default) leaves it exact.

    ``match_xgboost=True`` (bce with ``logits=True`` only) computes as XGBoost's built-in
    ``binary:logistic`` does, in float32: p = 1/(1 + expf(−m)), gradient (p − y)·w, Hessian
    max(p(1 − p), 1e-16)·w, so ``obj=`` trains the same model bit for bit. The default is the
    exact float64 derivative, which XGBoost rounds to float32 when it stores it: margins then
    agree with the built-in's to float32 resolution (~1e-7), not to the bit.

    >>> import numpy as np, losscli
    >>> class Data:  # what xgboost.DMatrix and lightgbm.Dataset offer
    ...     def get_label(self): return np.array([1.0, 0.0])
    ...     def get_weight(self): return None
    >>> obj = losscli.objective(losscli.bce, logits=True)
    >>> grad, hess = obj(np.array([0.0, 0.0]), Data())
    >>> grad.tolist(), hess.tolist()
    ([-0.5, 0.5], [0.25, 0.25])
    """
    if isinstance(loss, str):
        try:
            loss = get_loss(loss)
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
    if layout not in LAYOUTS:
        raise UsageError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if not np.isfinite(hess_floor) or hess_floor < 0:
        raise UsageError(f"hess_floor must be a finite number ≥ 0, got {hess_floor!r}")
    if not loss.has_hess:
        raise UsageError(f"{loss.name} has no Hessian, so it cannot be a boosting objective")
    if not loss.separable or "sum" not in loss.reductions:
        raise UsageError(
            f"{loss.name} is not a sum of per-sample losses (its reduction is applied before a "
            "final transform), so it has no per-sample gradient for a boosting objective"
        )
    resolved = loss.resolve_options(**options)  # bad options fail now, not in round 1
    if match_xgboost and (loss.name != "bce" or options != {"logits": True}):
        raise UsageError(
            "match_xgboost reproduces XGBoost's binary:logistic: use it with losscli.bce and "
            "logits=True alone"
        )

    def gbdt_objective(preds: Any, data: Any) -> tuple[np.ndarray, np.ndarray]:
        margins = np.asarray(preds, dtype=np.float64)
        labels = np.asarray(data.get_label(), dtype=np.float64)
        weights = data.get_weight() if hasattr(data, "get_weight") else None
        if weights is not None and np.size(weights) == 0:
            weights = None  # xgboost.DMatrix gives an empty array when it has none
        if match_xgboost:
            return _xgboost_logistic(preds, labels, weights)
        matrix = _unflatten(margins, len(labels), layout, loss)
        _, grad, hess = loss.value_grad_hess(
            matrix, labels, reduction="sum", sample_weights=weights, **resolved
        )
        if hess_floor:
            hess = np.maximum(hess, hess_floor)
        return _like(grad, margins, layout), _like(hess, margins, layout)

    gbdt_objective.__name__ = f"{loss.name}_objective"
    gbdt_objective.__doc__ = f"losscli {loss.name} as a boosting objective (per-sample)."
    return gbdt_objective


def _xgboost_logistic(preds: Any, labels: np.ndarray, weights: Any) -> tuple[Any, Any]:
    """XGBoost's binary:logistic gradient and Hessian in its own float32 arithmetic
    (src/objective/regression_loss.h, LogisticRegression; expf is the correctly rounded float
    of the float64 exp, as glibc's is)."""
    m = np.asarray(preds, dtype=np.float32)
    one = np.float32(1.0)
    with np.errstate(over="ignore"):
        p = one / (one + np.exp(-m.astype(np.float64)).astype(np.float32))
    w = one if weights is None else np.asarray(weights, dtype=np.float32)
    grad = (p - labels.astype(np.float32)) * w
    hess = np.maximum(p * (one - p), np.float32(1e-16)) * w
    return grad, hess


def _unflatten(margins: np.ndarray, n: int, layout: str, loss: Loss) -> np.ndarray:
    """N·C flattened margins → N × C, as ``layout`` says; anything else as it is."""
    if margins.ndim != 1 or margins.size == n or n == 0 or margins.size % n:
        return margins
    c = margins.size // n
    if layout == "rows":
        return margins.reshape(n, c)
    if layout == "classes":
        return np.ascontiguousarray(margins.reshape(c, n).T)  # the same bits as N × C input
    raise UsageError(
        f"the margins are a flat vector of {margins.size} = {n} rows × {c} values: pass "
        'layout="rows" (each row\'s values together, older XGBoost) or layout="classes" '
        f"(class by class, older LightGBM) to losscli.objective({loss.name}, ...)"
    )


def _like(result: np.ndarray, margins: np.ndarray, layout: str) -> np.ndarray:
    if result.shape == margins.shape:
        return result
    if layout == "classes":
        return np.ascontiguousarray(result.T).reshape(margins.shape)
    return result.reshape(margins.shape)
