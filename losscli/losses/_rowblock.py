"""Softmax cross-entropy from logits, a block of rows at a time.

Each block of rows is shifted by its row maxima, exponentiated, summed and normalised in
place, in the gradient's own memory (or one scratch block when no gradient is wanted), so the
only N × C array is the gradient itself and each element's exp is computed once. Blocks of
about ``BLOCK_ELEMENTS`` stay in the CPU cache between the passes over them. Large inputs are
split into contiguous runs of blocks computed in threads (:mod:`losscli.parallel`); every row
is computed by the same operations whatever the split, so results do not depend on it.
"""

from __future__ import annotations

import numpy as np

from ..parallel import map_row_blocks

__all__ = ["softmax_cross_entropy"]

BLOCK_ELEMENTS = 1 << 16


def softmax_cross_entropy(
    z: np.ndarray,
    t: np.ndarray,
    *,
    index: bool,
    row_weights: np.ndarray | None = None,
    want_grad: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Row losses ``logsumexp(z)·Σy − Σ_c y_c z_c`` (as torch.nn.functional.cross_entropy),
    and their gradient ``softmax(z)·Σy − y``.

    ``z``: (N, C) logits; ``t``: (N,) int class indices when ``index`` (each row's target
    weighing ``row_weights``, 1 when None), else (N, C) target rows.
    """
    n, c = z.shape
    if index and row_weights is not None and (row_weights == 1.0).all():
        row_weights = None  # multiplying by 1 changes nothing: skip that pass
    values = np.empty(n)
    grad = np.empty_like(z) if want_grad else None
    step = max(1, BLOCK_ELEMENTS // c)

    def rows(part: slice) -> None:
        scratch = None if want_grad else np.empty((min(part.stop - part.start, step), c))
        for start in range(part.start, part.stop, step):
            stop = min(part.stop, start + step)
            _block(z, t, index, row_weights, values, grad, scratch, start, stop)

    map_row_blocks(rows, n, c, align=step)
    return values, grad


def _block(z, t, index, row_weights, values, grad, scratch, start, stop) -> None:
    """Rows ``start:stop``: their values, and their gradient unless ``grad`` is None."""
    block = z[start:stop]
    g = grad[start:stop] if grad is not None else scratch[: stop - start]
    with np.errstate(over="ignore"):  # −1e308 − 1e308 = −inf: its exp, 0, is right
        np.subtract(block, block.max(axis=1, keepdims=True), out=g)  # shifted logits
    rows = np.arange(stop - start)
    target = t[start:stop]
    if index:
        picked = g[rows, target]
        mass = None if row_weights is None else row_weights[start:stop]
    else:
        mass = target.sum(axis=1)
        picked = np.einsum("ij,ij->i", target, g)
        _skip_zero_targets(picked, target, g)
    np.exp(g, out=g)
    total = np.einsum("ij->i", g)  # the row sums: ~10% faster than g.sum(axis=1)
    lse = np.log(total)
    if index:
        values[start:stop] = lse - picked if mass is None else mass * (lse - picked)
    else:
        values[start:stop] = lse * mass - picked
    if grad is not None:
        g /= total[:, None]  # softmax, then softmax·Σy − y
        if index and mass is None:
            g[rows, target] -= 1.0
        elif index:
            g *= mass[:, None]
            g[rows, target] -= mass
        else:
            g *= mass[:, None]
            g -= target


def _skip_zero_targets(picked: np.ndarray, target: np.ndarray, shifted: np.ndarray) -> None:
    """Redo in place the rows of ``Σ_c y_c·(z_c − max z)`` that came out NaN: a logit so far
    below its row's maximum (−1e308 against 1e308) that the shift overflows to −inf, times a
    target of 0. That class contributes nothing (as in the class-index form), so leave it out.
    """
    bad = np.flatnonzero(np.isnan(picked))
    if bad.size:
        t, z = target[bad], shifted[bad]
        with np.errstate(invalid="ignore"):
            picked[bad] = np.where(t != 0, t * z, 0.0).sum(axis=1)
