"""The second-derivative part of a run: ``--hess`` (the diagonal, or ``full`` blocks), its
finite-difference check under ``--check``, and ``--against-hess``.

One function, :func:`hessian_fields`, turns a prepared input into the Hessian fields of a
:class:`~losscli.report.Report`; the caller reads files and writes ``--hess-out``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import UsageError
from .losses import Loss, Prepared

__all__ = [
    "HESS_FULL_MAX_ENTRIES",
    "HESS_MODES",
    "check_hess_full_size",
    "check_hess_request",
    "hessian_fields",
]

HESS_MODES = ("diag", "full")
# --hess full gives N·C² numbers: for small inputs only.
HESS_FULL_MAX_ENTRIES = 1 << 20


def check_hess_full_size(shape: tuple[int, ...], *, so_far: bool = False) -> None:
    """``--hess full``'s N × C × C numbers against its limit, from the shape alone.
    ``so_far``: ``shape`` is of the rows read so far of an input whose rows are not known up
    front (text), refused as soon as they exceed the limit: the message says "at least"."""
    entries = math.prod(shape) * (shape[-1] if shape else 1)
    if entries > HESS_FULL_MAX_ENTRIES:
        at_least, read = ("at least ", ", the rows read so far") if so_far else ("", "")
        raise UsageError(
            f"--hess full would give {at_least}{entries:,} numbers (N × C × C for shape "
            f"{tuple(int(n) for n in shape)}{read}); it is for small inputs (at most "
            f"{HESS_FULL_MAX_ENTRIES:,}): use --hess for the diagonal, or "
            "losscli.cross_entropy.hess_blocks in Python"
        )


def check_hess_request(loss: Loss, hess: str | None) -> None:
    """Refuse, before reading anything, a Hessian the loss does not have."""
    if not loss.has_hess:
        raise UsageError(f"{loss.name} has no Hessian; losscli list shows which losses have one")
    if hess == "full" and loss.hess_blocks_kernel is None:
        raise UsageError(
            f"{loss.name} has no full Hessian blocks (its Hessian is diagonal: use --hess); "
            "--hess full is for softmax cross-entropy from logits (ce --logits)"
        )
    if hess is not None and hess not in HESS_MODES:
        raise UsageError(f"--hess takes {' or '.join(HESS_MODES)}, got {hess!r}")


def hessian_fields(
    loss: Loss,
    prepared: Prepared,
    sample_weights: np.ndarray | None,
    *,
    hess: str | None,
    yours: Any = None,
    check: bool = False,
    reduction: str = "mean",
    eps: float = 1e-6,
    rtol: float = 1e-3,
    atol: float = 1e-5,
    hessian: np.ndarray | None = None,
    sums: tuple[float, float, int] | None = None,
) -> dict[str, Any]:
    """``hess``, ``hess_blocks``, ``hess_check`` and ``hess_against`` of a report, as asked:
    ``hess`` "diag" or "full" (or None), ``yours`` a Hessian diagonal to compare (an array),
    ``check`` the finite-difference check of the analytic one. ``hessian``: the diagonal when
    the caller has it already. ``sums``: a transform's (rmse's) merged ``(total,
    denominator, exponent)`` (a run's :class:`~losscli.states.LossState`), so the diagonal
    and its differences are those of a streamed run, bit for bit."""
    if hess is None and yours is None:
        return {}
    check_hess_request(loss, hess)
    s = sample_weights
    if hessian is None and sums is not None:
        hessian = loss.block_hess(prepared, reduction=reduction, sample_weights=s, sums=sums)
    elif hessian is None:
        hessian = loss.reduce_hess(prepared, reduction=reduction, sample_weights=s)
    fields: dict[str, Any] = {"hess": hessian if hess is not None else None}
    if hess == "full":
        check_hess_full_size(prepared.predictions.shape)
        fields["hess_blocks"] = loss.reduce_hess_blocks(
            prepared, reduction=reduction, sample_weights=s
        )
    if check and hess is not None:
        from .hesscheck import hesscheck

        fields["hess_check"] = hesscheck(
            loss,
            None,
            None,
            reduction=reduction,
            sample_weights=s,
            eps=eps,
            rtol=rtol,
            atol=atol,
            analytic=hessian,
            prepared=prepared,
            sums=sums,
        )
    if yours is not None:
        from .against import compare_hessian

        fields["hess_against"] = compare_hessian(
            loss,
            prepared,
            yours,
            reduction=reduction,
            sample_weights=s,
            eps=eps,
            rtol=rtol,
            atol=atol,
            analytic=hessian,
            sums=sums,
        )
    return fields
