"""Divergences between probability distributions: the Kullback-Leibler divergence.

KL is a row loss: each row's loss is the *sum* over its C classes, ``batchmean`` divides the
sum of rows by N (the true KL per sample), ``mean`` by N·C, as PyTorch's ``kl_div``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import (
    Loss,
    Param,
    Prepared,
    check_log_probabilities,
    check_same_shape,
    check_unit_interval,
)
from .classification import warn_rows_not_summing_to_one

__all__ = ["kl"]


def kl_values(x: np.ndarray, t: np.ndarray, *, log_target: bool) -> np.ndarray:
    """Rows ``Σ_c q_c (log q_c − x_c)``, with ``0·log 0 = 0``; ``q = e^t`` with ``log_target``."""
    if log_target:
        elements = np.exp(t) * (t - x)
    else:
        # xlogy(q, q) − q·x: q log q taken as 0 where q = 0
        q_log_q = np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0)
        elements = q_log_q - t * x
    return elements.sum(axis=1) if elements.ndim == 2 else elements


def kl_grad(x: np.ndarray, t: np.ndarray, *, log_target: bool) -> np.ndarray:
    """∂/∂x_c = −q_c (the target probabilities), whatever x is."""
    return 0.0 - (np.exp(t) if log_target else t)  # 0.0 − q: no −0.0 where q = 0


def kl_hess(x: np.ndarray, t: np.ndarray, *, log_target: bool) -> np.ndarray:
    """0: the divergence is linear in the log-probabilities x."""
    return np.zeros_like(x)


def _kl_weights(x: np.ndarray, t: np.ndarray, **_: Any) -> np.ndarray | None:
    """PyTorch's ``mean`` divides by every element, N·C: each row weighs C."""
    return np.full(len(x), float(x.shape[1])) if x.ndim == 2 else None


def _prepare_kl(predictions: np.ndarray, targets: np.ndarray, *, log_target: bool) -> Prepared:
    check_same_shape(predictions, targets)
    check_log_probabilities(
        predictions,
        role="predictions",
        what="kl's predictions",
        fix="take the log of probabilities (log_softmax of logits)",
    )
    if log_target:
        check_log_probabilities(
            targets,
            role="targets",
            what="with --log-target the targets",
            fix="drop --log-target if these are probabilities",
        )
        q = np.exp(targets)
    else:
        check_unit_interval(
            targets,
            role="targets",
            what="kl targets (probabilities)",
            fix="pass --log-target if these are log-probabilities",
        )
        q = targets
    if q.ndim == 2:
        warn_rows_not_summing_to_one(q, "target", "the result is not a divergence")
    describe = {
        "predictions_are": "log-probabilities",
        "targets_are": "log-probabilities" if log_target else "probabilities",
    }
    return Prepared(predictions, targets, {"log_target": bool(log_target)}, describe=describe)


def _kl_samples(options: Mapping[str, Any]) -> tuple[str, str]:
    return ("classification_logprobs.csv", "classification_probs.csv")


kl = Loss(
    name="kl",
    summary="Kullback-Leibler divergence KL(q ‖ p) of log-probabilities x = log p from targets q",
    formula="Σ_c q_c (log q_c − x_c) per row; use --reduction batchmean for the KL per sample",
    gradient_formula="−q; divided by N for batchmean, N·C for mean",
    reference="torch.nn.functional.kl_div",
    values=kl_values,
    grad_kernel=kl_grad,
    hess_kernel=kl_hess,
    hess_note="0 everywhere: KL is linear in the log-probabilities x",
    prepare=_prepare_kl,
    weights=_kl_weights,
    reductions=("mean", "batchmean", "sum", "none"),
    params=(
        Param(
            "log_target",
            bool,
            False,
            "Targets are log-probabilities log q rather than probabilities q.",
        ),
    ),
    sample_data=_kl_samples,
    examples=(
        "losscli kl logprobs.csv probs.csv --reduction batchmean",
        "losscli kl logprobs.npy logq.npy --log-target --reduction batchmean --grad",
    ),
    example=(
        [[-0.35667494393873245, -1.2039728043259361], [-1.6094379124341003, -0.2231435513142097]],
        [[0.5, 0.5], [0.1, 0.9]],
        {},
    ),
    doc="""Kullback-Leibler divergence, as ``torch.nn.functional.kl_div``.

The predictions are log-probabilities ``x = log p`` (e.g. ``log_softmax`` output), the targets
probabilities ``q`` (or ``log q`` with ``log_target=True``). Per row:
``KL_i = Σ_c q_c (log q_c − x_c)``, with ``0 · log 0 = 0``.

Reductions: ``batchmean`` divides the sum of rows by N and is the KL divergence per sample;
``mean`` (PyTorch's default) divides by N·C, the number of elements, which is *not* the KL
divergence; ``sum``; ``none`` gives the N row values.

Shapes: ``predictions`` and ``targets`` both ``(N, C)`` (or both ``(N,)``, one element a row).

Gradient w.r.t. ``predictions``: ``−q``, divided by N (``batchmean``) or N·C (``mean``).

>>> import math, losscli
>>> x = [[math.log(0.5), math.log(0.5)]]
>>> losscli.kl(x, [[0.9, 0.1]], reduction="batchmean")
0.368064207168497
""",
)
