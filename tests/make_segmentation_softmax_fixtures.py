"""Write tests/fixtures/segmentation_softmax.json: dice and tversky of (N, C, d1, …, dk) inputs
as optax computes them — ``optax.losses.dice_loss`` with ``apply_softmax`` (softmax over the
class axis, sigmoid for one class), per class over the positions, averaged over the classes —
in float64 (``jax_enable_x64``): per-sample values, the gradient of their mean and sum by
``jax.grad``, and the diagonal of ``jax.hessian`` of the mean.

optax keeps the classes last, (N, d1, …, dk, C); the cases with ``class_axis`` 1 are given to
losscli as (N, C, d1, …, dk) (``np.moveaxis``) and their gradients moved back.

jax and optax are not dependencies of losscli; to regenerate::

    pip install jax optax
    python tests/make_segmentation_softmax_fixtures.py

Deterministic (fixed seed), so a rerun writes the same file.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

OUT = Path(__file__).parent / "fixtures" / "segmentation_softmax.json"
rng = np.random.default_rng(1203)


def one_hot(labels: np.ndarray, c: int) -> np.ndarray:
    return np.eye(c)[labels]


def case(loss, z_last, y_last, *, class_axis, alpha, beta, smooth, logits, options):
    """One case: optax on the class-last arrays; losscli's inputs in ``class_axis``'s layout."""

    def values(z):
        return optax.losses.dice_loss(
            z, jnp.asarray(y_last), alpha=alpha, beta=beta, smooth=smooth,
            apply_softmax=logits, reduction="mean",
        )  # fmt: skip

    z = jnp.asarray(z_last)
    per_sample = np.asarray(values(z))
    grad_mean = np.asarray(jax.grad(lambda x: values(x).mean())(z))
    grad_sum = np.asarray(jax.grad(lambda x: values(x).sum())(z))
    n = z.size
    hess = np.asarray(jax.hessian(lambda x: values(x.reshape(z.shape)).mean())(z.reshape(-1)))
    hess_mean = np.diag(hess.reshape(n, n)).reshape(z.shape)

    def given(a):
        return np.moveaxis(a, -1, 1) if class_axis == 1 else a

    shape = "x".join(map(str, z.shape))
    return {
        "loss": loss,
        "call": (
            f"optax.losses.dice_loss(z ({shape}, classes last), y, alpha={alpha}, beta={beta}, "
            f"smooth={smooth}, apply_softmax={logits}, reduction='mean')"
            + (" on np.moveaxis(z, 1, -1)" if class_axis == 1 else "")
        ),
        "options": {**options, "class_axis": class_axis, "logits": logits},
        "predictions": given(np.asarray(z_last)).tolist(),
        "targets": given(np.asarray(y_last)).tolist(),
        "none": per_sample.tolist(),
        "mean": float(per_sample.mean()),
        "sum": float(per_sample.sum()),
        "grad_mean": given(grad_mean).tolist(),
        "grad_sum": given(grad_sum).tolist(),
        "hess_mean": given(hess_mean).tolist(),
    }


def main() -> None:
    cases = []
    z = rng.normal(size=(2, 4, 4, 3)) * 1.5
    y = one_hot(rng.integers(0, 3, size=(2, 4, 4)), 3)
    for class_axis in (-1, 1):
        cases.append(
            case("dice", z, y, class_axis=class_axis, alpha=0.5, beta=0.5, smooth=1.0,
                 logits=True, options={})
        )  # fmt: skip
    cases.append(
        case("tversky", z, y, class_axis=1, alpha=0.3, beta=0.7, smooth=0.5, logits=True,
             options={"alpha": 0.3, "beta": 0.7, "smooth": 0.5})
    )  # fmt: skip
    # one class: sigmoid (optax's apply_softmax on a single channel)
    z1 = rng.normal(size=(3, 5, 2, 1))
    y1 = (rng.random(size=(3, 5, 2, 1)) > 0.5).astype(np.float64)
    cases.append(
        case("dice", z1, y1, class_axis=1, alpha=0.5, beta=0.5, smooth=0.0, logits=True,
             options={"smooth": 0.0})
    )  # fmt: skip
    # (N, d1, d2, d3, C): positions over three axes
    z5 = rng.normal(size=(2, 3, 2, 2, 4))
    y5 = one_hot(rng.integers(0, 4, size=(2, 3, 2, 2)), 4)
    cases.append(
        case("tversky", z5, y5, class_axis=-1, alpha=0.8, beta=0.1, smooth=1.0, logits=True,
             options={"alpha": 0.8, "beta": 0.1})
    )  # fmt: skip
    # probabilities (apply_softmax=False: optax takes rows summing to 1 over the classes)
    zp = rng.normal(size=(3, 6, 3))
    p = np.exp(zp) / np.exp(zp).sum(axis=-1, keepdims=True)
    yp = one_hot(rng.integers(0, 3, size=(3, 6)), 3)
    cases.append(
        case("dice", p, yp, class_axis=1, alpha=0.5, beta=0.5, smooth=1.0, logits=False,
             options={})
    )  # fmt: skip
    OUT.write_text(
        json.dumps(
            {
                "generated_by": "tests/make_segmentation_softmax_fixtures.py",
                "optax": optax.__version__,
                "jax": jax.__version__,
                "cases": cases,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
