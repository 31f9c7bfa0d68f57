"""Generate tests/fixtures/hessians.json: Hessian diagonals (and softmax blocks) from PyTorch.

How to run (from the repository root):

    pip install torch==2.13.0
    python tests/make_hessian_fixtures.py   # rewrites tests/fixtures/hessians.json

It runs the very cases of tests/make_fixtures.py (same losses, options, reductions, sample
weights and data, generated there deterministically) but records, for each, the Hessian of the
quantity whose gradient that script records (the reduced loss; for ``none`` the sum of the row
values), from ``torch.autograd.functional.hessian`` in float64: its diagonal, shaped like the
predictions, and for softmax cross-entropy from logits each row's C × C block (the entries
between rows are checked to be 0 here).

One documented substitution: torch's built-in double backward of
``F.binary_cross_entropy`` (probabilities) adds 1e-12 to p and 1 − p in its denominator, so it
is not the exact Hessian (relative error ~2e-12/min(p, 1 − p)). For those cases ``hess`` is the
autograd Hessian of the closed form ``−(y log p + (1 − y) log(1 − p))`` (the same function where
no log is floored) and ``hess_torch_builtin`` records the built-in's for comparison. Cases where
the Hessian is not finite (a perfect fit under rmse, p at 0 or 1) or that include the floor are
left out; tests/test_hessians.py checks those by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as base  # noqa: E402  (tests/make_fixtures.py: the cases and their data)

OUT = Path(__file__).resolve().parent / "fixtures" / "hessians.json"
BCE_EPSILON = 1e-12

CASES: list[dict] = []
SKIPPED: list[str] = []
_real_F = base.F
_builtin_bce = _real_F.binary_cross_entropy


def _exact_bce(p, y, weight=None, reduction="mean"):
    """binary_cross_entropy without torch's eps in the double backward (no floors)."""
    v = -(y * torch.log(p) + (1 - y) * torch.log1p(-p))
    if weight is not None:
        v = v * weight
    return {"none": v, "mean": v.mean(), "sum": v.sum()}[reduction]


_EXACT = {"on": False}


def _bce(*args, **kwargs):
    """What F.binary_cross_entropy means in this run: the closed form while ``_EXACT["on"]``
    (installed on torch.nn.functional itself, so functions the generators captured see it)."""
    return (_exact_bce if _EXACT["on"] else _builtin_bce)(*args, **kwargs)


_real_F.binary_cross_entropy = _bce


def _hessian(fn, preds, reduction):
    p0 = torch.tensor(preds, dtype=torch.float64)

    def scalar(p):
        v = fn(p)
        return v.sum() if reduction == "none" else v

    h = torch.autograd.functional.hessian(scalar, p0)
    n = p0.numel()
    return p0, h.reshape(n, n)


def add_case(
    case_id, loss, options, reduction, preds, targets, fn, torch_call, sample_weights=None
):
    p = np.asarray(preds, dtype=np.float64)
    if loss == "bce":
        if (p * (1 - p) < BCE_EPSILON).any():
            SKIPPED.append(case_id)
            return {}
        _EXACT["on"] = True
        try:
            p0, h = _hessian(fn, preds, reduction)
        finally:
            _EXACT["on"] = False
        builtin = _hessian(fn, preds, reduction)[1].diagonal().reshape(p0.shape)
    else:
        p0, h = _hessian(fn, preds, reduction)
        builtin = None
    diag = h.diagonal().reshape(p0.shape)
    if not torch.isfinite(h).all():
        SKIPPED.append(case_id)
        return {}
    case = {
        "id": case_id,
        "loss": loss,
        "options": options,
        "reduction": reduction,
        "preds": base.encode(preds if isinstance(preds, list) else list(preds)),
        "targets": base.encode(targets),
        "sample_weights": sample_weights,
        "hess": base.encode(diag),
        "torch_call": f"torch.autograd.functional.hessian({torch_call}).diagonal()",
    }
    if builtin is not None:
        case["hess_torch_builtin"] = base.encode(builtin)
    if loss == "ce" and options.get("logits"):
        n, c = p0.shape
        full = h.reshape(n, c, n, c)
        blocks = torch.stack([full[i, :, i, :] for i in range(n)])
        off = full.clone()
        for i in range(n):
            off[i, :, i, :] = 0
        assert (off == 0).all(), case_id  # rows do not interact
        case["hess_blocks"] = base.encode(blocks)
    CASES.append(case)
    return case


def main() -> int:
    base.add_case = add_case  # the generators below call it through the module's globals
    for gen in (
        base.gen_elementwise,
        base.gen_rmse,
        base.gen_bce,
        base.gen_bce_logits,
        base.gen_ce_logits_index,
        base.gen_ce_logits_prob,
        base.gen_ce_probs,
        base.gen_nll,
        base.gen_kl,
        base.gen_sample_weights,
    ):
        gen()
    # a hand-derived anchor: softmax of two equal logits is ½, so the block is ¼[[1, −1], [−1, 1]]
    p0, h = _hessian(
        lambda z: _real_F.cross_entropy(z, torch.tensor([0]), reduction="sum"), [[0.0, 0.0]], "sum"
    )
    assert h.tolist() == [[0.25, -0.25], [-0.25, 0.25]], h
    doc = {
        "generator": "tests/make_hessian_fixtures.py",
        "cases_from": "tests/make_fixtures.py",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "skipped": SKIPPED,
        "cases": CASES,
    }
    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(CASES)} cases, {len(SKIPPED)} skipped, {len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
