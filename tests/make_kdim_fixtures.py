"""Write tests/fixtures/kdim.json: losses of inputs with more than two dimensions, as PyTorch
computes them (value and gradient by autograd, float64).

PyTorch is not a dependency of losscli; to regenerate::

    pip install torch==2.13.0
    python tests/make_kdim_fixtures.py

Deterministic (fixed seed), so a rerun writes the same file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

OUT = Path(__file__).parent / "fixtures" / "kdim.json"
rng = np.random.default_rng(1202)
cases: list[dict] = []


def add(loss, call, fn, p, t, *, options=None, reductions=("mean", "sum", "none")):
    for reduction in reductions:
        x = torch.tensor(p, dtype=torch.float64, requires_grad=True)
        value = fn(x, reduction)
        # reduction none: the gradient of each element's own loss, as losscli's none gives
        (value.sum() if reduction == "none" else value).backward()
        cases.append(
            {
                "loss": loss,
                "call": f"{call}, reduction={reduction!r}",
                "reduction": reduction,
                "predictions": np.asarray(p).tolist(),
                "targets": np.asarray(t).tolist(),
                "options": options or {},
                "value": value.detach().numpy().tolist(),
                "grad": x.grad.numpy().tolist(),
            }
        )


def main() -> None:
    z3 = np.round(rng.normal(scale=2.0, size=(3, 4, 5)), 4)  # (N, C, d1)
    y3 = rng.integers(0, 4, size=(3, 5))
    z4 = np.round(rng.normal(scale=2.0, size=(2, 3, 2, 4)), 4)  # (N, C, d1, d2)
    y4 = rng.integers(0, 3, size=(2, 2, 4))
    y4_ignored = y4.copy()
    y4_ignored[0, 1, 2] = y4_ignored[1, 0, 0] = -100
    soft4 = rng.dirichlet(np.ones(3), size=(2, 2, 4)).transpose(0, 3, 1, 2)  # (N, C, d1, d2)
    weights = [0.5, 2.0, 1.0]

    def ce(target, **kw):
        return lambda x, r: F.cross_entropy(x, torch.tensor(target), reduction=r, **kw)

    add("ce", "F.cross_entropy(z (3,4,5), y (3,5))", ce(y3), z3, y3, options={"logits": True})
    add("ce", "F.cross_entropy(z (2,3,2,4), y (2,2,4))", ce(y4), z4, y4, options={"logits": True})
    add(
        "ce",
        "F.cross_entropy(z, y with ignore_index -100, weight=w)",
        ce(y4_ignored, weight=torch.tensor(weights, dtype=torch.float64)),
        z4,
        y4_ignored,
        options={"logits": True, "class_weights": ",".join(map(str, weights))},
    )
    add(
        "ce",
        "F.cross_entropy(z, y, label_smoothing=0.1)",
        ce(y4, label_smoothing=0.1),
        z4,
        y4,
        options={"logits": True, "label_smoothing": 0.1},
    )
    add(
        "ce",
        "F.cross_entropy(z, soft probabilities (2,3,2,4))",
        ce(soft4),
        z4,
        soft4,
        options={"logits": True},
    )
    # class axis last (optax / Keras layout): the same numbers, axes moved
    z3_last = np.moveaxis(z3, 1, -1)
    add(
        "ce",
        "F.cross_entropy(z.movedim(-1, 1), y), z given as (3,5,4)",
        lambda x, r: F.cross_entropy(x.movedim(-1, 1), torch.tensor(y3), reduction=r),
        z3_last,
        y3,
        options={"logits": True, "class_axis": -1},
    )
    logp4 = torch.log_softmax(torch.tensor(z4), dim=1).numpy()
    add(
        "nll",
        "F.nll_loss(log_softmax(z) (2,3,2,4), y with ignore_index -100)",
        lambda x, r: F.nll_loss(x, torch.tensor(y4_ignored), reduction=r),
        logp4,
        y4_ignored,
    )
    a = np.round(rng.normal(size=(3, 2, 4)), 4)
    b = np.round(rng.normal(size=(3, 2, 4)), 4)
    # Elementwise losses: losscli's none is one value per sample (the mean of its elements),
    # not torch's elementwise none, so only mean and sum are compared here.
    add(
        "mse",
        "F.mse_loss(a (3,2,4), b)",
        lambda x, r: F.mse_loss(x, torch.tensor(b), reduction=r),
        a,
        b,
        reductions=("mean", "sum"),
    )
    probs = 1.0 / (1.0 + np.exp(-a))
    labels = (b > 0).astype(np.float64)
    add(
        "bce",
        "F.binary_cross_entropy(p (3,2,4), y)",
        lambda x, r: F.binary_cross_entropy(x, torch.tensor(labels), reduction=r),
        probs,
        labels,
        reductions=("mean", "sum"),
    )
    OUT.write_text(
        json.dumps(
            {
                "generated_by": "tests/make_kdim_fixtures.py",
                "torch": torch.__version__,
                "cases": cases,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
