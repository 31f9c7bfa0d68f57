"""Generate tests/fixtures/classification_losses.json: values, gradients and Hessian diagonals of
the classification losses of issue 10, each from its reference library.

How to run (from the repository root):

    pip install torch==2.13.0 jax optax keras scikit-learn   # NOT project dependencies
    KERAS_BACKEND=jax python tests/make_classification_fixtures.py

The reference libraries are installed on the development machine only; losscli never imports
them, and the test suite reads the JSON this script writes. Which library evaluates a case is
recorded in the case (``reference``, the exact call):

- torch 2.13 (float64, autograd; Hessian diagonals by ``torch.autograd.functional.hessian``):
  ``soft_margin_loss``, ``multilabel_soft_margin_loss``, ``multi_margin_loss``, and
  torchvision's ``sigmoid_focal_loss`` (torchvision cannot be installed beside torch 2.13 here;
  its formula, torchvision/ops/focal_loss.py, is restated below in torch ops). torch has no
  double backward for ``multi_margin_loss``: its value and gradient are torch's own, and the
  Hessian comes from the same formula restated in torch ops (clamp, pow), checked here to give
  torch's value and gradient to 1e-14 before it is used.
- jax + optax (``jax_enable_x64``; ``jax.grad`` and ``jax.hessian``): ``sigmoid_focal_loss``,
  ``poly_loss_cross_entropy``, ``hinge_loss``, ``sparsemax_loss``,
  ``multiclass_sparsemax_loss``.
- Keras 3 on the jax backend with ``floatx = float64`` (so its clip at 1e-7 is a float64
  constant and the comparison is to 1e-12 like the others): ``categorical_focal_crossentropy``,
  ``hinge``, ``squared_hinge``, ``categorical_hinge``; derivatives by jax.
- scikit-learn: ``brier_score_loss`` gives the value under ``mean`` (with sample weights when
  given); it has no derivatives, so the gradient, the Hessian and the ``sum``/``none`` values
  come from torch autograd of sklearn's formula, which is checked here against sklearn's value.

Reductions are losscli's (see losscli/losses/_base.py): elementwise losses (sigmoid-focal,
hinge, squared-hinge, soft-margin) average over all N·D elements under ``mean``, sum all of
them under ``sum``, and give each row's mean for ``none``; the others are row losses. For
``none`` the gradient and Hessian are those of the sum of the row values.

Deterministic: data from numpy's PCG64 seeded by a CRC32 of the case id; running the script
twice gives the same file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import zlib
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from keras.src.losses import losses as keras_losses_module  # noqa: E402
from sklearn.metrics import brier_score_loss  # noqa: E402

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"
keras.config.set_floatx("float64")
torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

OUT = Path(__file__).resolve().parent / "fixtures" / "classification_losses.json"
CASES: list[dict] = []
REDUCTIONS = ("mean", "sum", "none")


def rng_for(key: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(key.encode("utf-8")))


def tag(shape) -> str:
    return "n" + "x".join(str(s) for s in shape)


# keras.ops.mean computes in float32 on the jax backend even with floatx float64 (its
# compute_dtype is result_type(x, "float32")), so hinge and squared_hinge, which end in a mean
# over the last axis, are float32-exact only: those cases carry this tolerance.
KERAS_MEAN_RTOL = 1e-6


def add(
    case_id,
    loss,
    options,
    reduction,
    preds,
    targets,
    value,
    grad,
    hess,
    reference,
    sw=None,
    rtol=1e-12,
):
    assert case_id not in {c["id"] for c in CASES}, case_id
    value = np.asarray(value, dtype=np.float64)
    CASES.append(
        {
            "id": case_id,
            "loss": loss,
            "options": options,
            "reduction": reduction,
            "preds": np.asarray(preds).tolist(),
            "targets": np.asarray(targets).tolist(),
            "sample_weights": None if sw is None else np.asarray(sw).tolist(),
            "value": value.tolist() if value.ndim else float(value),
            "grad": np.asarray(grad, dtype=np.float64).tolist(),
            "hess": np.asarray(hess, dtype=np.float64).tolist(),
            "reference": reference,
            "rtol": rtol,
        }
    )


def reduce_rows(rows, reduction, elementwise_cols=1):
    """losscli's reduction of per-row values (rows of an elementwise loss are row means)."""
    if reduction == "mean":
        return rows.mean()
    if reduction == "sum":
        return rows.sum() * elementwise_cols
    return rows


# --------------------------------------------------------------------------------------- drivers


def jax_derivatives(rows_fn, preds, reduction, cols=1):
    """Value, gradient and Hessian diagonal of the reduced loss by jax autodiff."""
    x = jnp.asarray(preds, dtype=jnp.float64)

    def scalar(v):
        r = reduce_rows(rows_fn(v), reduction, cols)
        return r.sum() if reduction == "none" else r

    value = reduce_rows(rows_fn(x), reduction, cols)
    grad = jax.grad(scalar)(x)
    hess = jax.hessian(scalar)(x).reshape(x.size, x.size).diagonal().reshape(x.shape)
    return np.asarray(value), np.asarray(grad), np.asarray(hess)


def torch_derivatives(fn, preds, reduction):
    """``fn(x, reduction)`` is the torch call; 'none' values are reduced to rows by ``fn``."""
    x = torch.tensor(np.asarray(preds, dtype=np.float64), requires_grad=True)

    def scalar(v):
        out = fn(v, reduction)
        return out.sum() if reduction == "none" else out

    value = fn(x, reduction).detach().numpy()
    (grad,) = torch.autograd.grad(scalar(x), x)
    hess = torch.autograd.functional.hessian(scalar, x)
    hess = hess.reshape(x.numel(), x.numel()).diagonal().reshape(x.shape)
    return value, grad.numpy(), hess.numpy()


def row_mean(v):
    return v.mean(dim=-1) if v.dim() == 2 else v


def one_hot(labels, c):
    return np.eye(c)[np.asarray(labels, dtype=int)]


def elementwise_rows_jax(values):
    return values.mean(axis=-1) if values.ndim == 2 else values


# --------------------------------------------------------------------------------------- cases


def sigmoid_focal_cases():
    shapes = [(5,), (4, 3)]
    for shape in shapes:
        for alpha, gamma in [(None, 2.0), (0.25, 2.0), (0.6, 0.5), (None, 0.0), (0.3, 3.0)]:
            for soft in (False, True):
                key = f"sigmoid-focal-a{alpha}-g{gamma}-{'soft' if soft else 'hard'}-{tag(shape)}"
                rng = rng_for(key)
                z = rng.normal(0, 2.5, shape)
                y = rng.uniform(0, 1, shape) if soft else rng.integers(0, 2, shape).astype(float)
                cols = shape[1] if len(shape) == 2 else 1
                opts = {"gamma": gamma} | ({} if alpha is None else {"alpha": alpha})
                for red in REDUCTIONS:
                    yj = jnp.asarray(y)

                    def rows(v, yj=yj, alpha=alpha, gamma=gamma):
                        loss = optax.losses.sigmoid_focal_loss(v, yj, alpha=alpha, gamma=gamma)
                        return elementwise_rows_jax(loss)

                    v, g, h = jax_derivatives(rows, z, red, cols)
                    call = (
                        f"optax.losses.sigmoid_focal_loss(z, y, alpha={alpha}, gamma={gamma}), "
                        f"{red} (none: mean over the last axis)"
                    )
                    add(f"{key}-{red}", "sigmoid-focal", opts, red, z, y, v, g, h, call)
    # saturated logits: optax's log-space focal weight vs losscli's q^γ with q = σ(∓z)
    z = np.array([[-30.0, -5.0, 5.0, 30.0, 50.0], [40.0, -40.0, 0.0, 12.0, -12.0]])
    y = np.array([[0.0, 1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.5, 0.9, 0.1]])
    for gamma in (2.0, 0.5):
        for red in REDUCTIONS:

            def rows(v, gamma=gamma):
                loss = optax.losses.sigmoid_focal_loss(v, jnp.asarray(y), alpha=0.25, gamma=gamma)
                return elementwise_rows_jax(loss)

            v, g, h = jax_derivatives(rows, z, red, 5)
            call = f"optax.losses.sigmoid_focal_loss(z, y, alpha=0.25, gamma={gamma}), {red}"
            opts = {"alpha": 0.25, "gamma": gamma}
            add(
                f"sigmoid-focal-extreme-g{gamma}-{red}",
                "sigmoid-focal",
                opts,
                red,
                z,
                y,
                v,
                g,
                h,
                call,
            )
    # torchvision's formula, in torch (torchvision/ops/focal_loss.py, v0.20):
    #   p = sigmoid(inputs); ce = binary_cross_entropy_with_logits(inputs, targets, 'none')
    #   p_t = p*targets + (1-p)*(1-targets); loss = ce*((1-p_t)**gamma)
    #   if alpha >= 0: loss = (alpha*targets + (1-alpha)*(1-targets))*loss; then reduction.
    for shape in [(6,), (3, 4)]:
        key = f"sigmoid-focal-torchvision-{tag(shape)}"
        rng = rng_for(key)
        z = rng.normal(0, 2.0, shape)
        y = rng.integers(0, 2, shape).astype(float)
        t = torch.tensor(y)

        def tv(v, red, t=t):
            p = torch.sigmoid(v)
            ce = F.binary_cross_entropy_with_logits(v, t, reduction="none")
            p_t = p * t + (1 - p) * (1 - t)
            loss = ce * ((1 - p_t) ** 2.0)
            loss = (0.25 * t + 0.75 * (1 - t)) * loss
            return {"mean": loss.mean(), "sum": loss.sum(), "none": row_mean(loss)}[red]

        for red in REDUCTIONS:
            v, g, h = torch_derivatives(tv, z, red)
            call = f"torchvision.ops.sigmoid_focal_loss(z, y, alpha=0.25, gamma=2, '{red}')"
            add(f"{key}-{red}", "sigmoid-focal", {"alpha": 0.25}, red, z, y, v, g, h, call)


def torchvision_formula_on_probabilities(p, t, alpha, gamma, bce=None):
    """torchvision.ops.sigmoid_focal_loss's lines (torchvision/ops/focal_loss.py, v0.20) with
    the probability given: p = inputs, and binary_cross_entropy(p, targets) in place of
    binary_cross_entropy_with_logits(inputs, targets)."""
    ce = F.binary_cross_entropy(p, t, reduction="none") if bce is None else bce(p, t)
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha is not None:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss


def bce_restated(p, t):
    """binary_cross_entropy's formula in torch ops (logs clamped at −100). torch's own double
    backward of binary_cross_entropy adds 1e-12 to p and to 1 − p in its denominators (a
    relative change of ~1e-12/p), so the Hessian comes from this, checked first to give
    torch's value and gradient."""
    return -(t * torch.log(p).clamp(min=-100) + (1 - t) * torch.log1p(-p).clamp(min=-100))


def focal_probability_derivatives(p, y, alpha, gamma, red):
    """Value and gradient from torch (F.binary_cross_entropy), Hessian from bce_restated."""
    t = torch.tensor(y)

    def fn(v, r, bce=None):
        loss = torchvision_formula_on_probabilities(v, t, alpha, gamma, bce)
        return {"mean": loss.mean(), "sum": loss.sum(), "none": row_mean(loss)}[r]

    v, g, _ = torch_derivatives(fn, p, red)
    v2, g2, h = torch_derivatives(lambda x, r: fn(x, r, bce_restated), p, red)
    np.testing.assert_allclose(v2, v, rtol=1e-14)
    np.testing.assert_allclose(g2, g, rtol=1e-14, atol=1e-16)
    return v, g, h


PROB_CALL = (
    "torchvision.ops.sigmoid_focal_loss's formula on probabilities p "
    "(F.binary_cross_entropy(p, y) for the logits' bce; Hessian: that bce restated in torch "
    "ops)"
)


def sigmoid_focal_probability_cases():
    for shape in [(5,), (4, 3)]:
        for alpha, gamma in [(None, 2.0), (0.25, 2.0), (0.6, 0.5), (None, 0.0), (0.3, 3.0)]:
            for soft in (False, True):
                kind = "soft" if soft else "hard"
                key = f"sigmoid-focal-probs-a{alpha}-g{gamma}-{kind}-{tag(shape)}"
                rng = rng_for(key)
                p = rng.uniform(0.02, 0.98, shape)
                y = rng.uniform(0, 1, shape) if soft else rng.integers(0, 2, shape).astype(float)
                opts = {"logits": False, "gamma": gamma}
                opts |= {} if alpha is None else {"alpha": alpha}
                for red in REDUCTIONS:
                    v, g, h = focal_probability_derivatives(p, y, alpha, gamma, red)
                    call = (
                        f"{PROB_CALL}, alpha={alpha}, gamma={gamma}, '{red}' (none: mean over "
                        "the last axis)"
                    )
                    add(f"{key}-{red}", "sigmoid-focal", opts, red, p, y, v, g, h, call)
    # near 0 and 1 (p(1 − p) ≥ 1e-12, so PyTorch's floors do not act); not a tiny p with a
    # label 0, where torchvision's 1 − p_t = 1 − (1 − p) loses digits (losscli's
    # q = (1 − y)p + y(1 − p) keeps them: at p = 1e-9 they differ by ~1e-8 relative)
    p = np.array([[1e-6, 1.0 - 1e-6, 1.0 - 1e-9, 0.5], [1.0 - 1e-9, 1e-9, 1.0 - 1e-6, 0.999]])
    y = np.array([[1.0, 0.0, 0.0, 0.3], [1.0, 1.0, 1.0, 0.0]])
    for gamma in (2.0, 1.0, 0.5):
        for red in REDUCTIONS:
            v, g, h = focal_probability_derivatives(p, y, 0.25, gamma, red)
            call = f"{PROB_CALL}, alpha=0.25, gamma={gamma}, '{red}', p near 0 and 1"
            opts = {"logits": False, "alpha": 0.25, "gamma": gamma}
            key = f"sigmoid-focal-probs-edges-g{gamma}-{red}"
            add(key, "sigmoid-focal", opts, red, p, y, v, g, h, call)


@contextlib.contextmanager
def float64_keras_mean():
    """keras.ops.mean as a float64 mean inside Keras's losses module: binary_focal_crossentropy
    ends in ops.mean(axis=-1), which computes in float32 (see KERAS_MEAN_RTOL)."""
    original = keras_losses_module.ops.mean

    def mean(x, axis=None, keepdims=False):
        return jnp.mean(jnp.asarray(x, jnp.float64), axis=axis, keepdims=keepdims)

    keras_losses_module.ops.mean = mean
    try:
        yield
    finally:
        keras_losses_module.ops.mean = original


def sigmoid_focal_label_smoothing_cases():
    # Inputs where Keras's clip at 1e-7 does not act, so its bce is PyTorch's.
    for from_logits in (True, False):
        form = "logits" if from_logits else "probs"
        for ls, alpha, gamma in [
            (0.1, None, 2.0),
            (0.2, 0.25, 2.0),
            (0.05, 0.6, 0.5),
            (1.0, None, 2.0),
        ]:
            for shape in [(5,), (3, 4)]:
                key = f"sigmoid-focal-{form}-ls{ls}-a{alpha}-g{gamma}-{tag(shape)}"
                rng = rng_for(key)
                x = rng.normal(0, 2.0, shape) if from_logits else rng.uniform(0.02, 0.98, shape)
                y = rng.integers(0, 2, shape).astype(float)
                cols = shape[1] if len(shape) == 2 else 1
                kw = {"gamma": gamma, "from_logits": from_logits, "label_smoothing": ls}
                if alpha is not None:
                    kw |= {"apply_class_balancing": True, "alpha": alpha}
                opts = {"logits": from_logits, "gamma": gamma, "label_smoothing": ls}
                opts |= {} if alpha is None else {"alpha": alpha}
                yk = jnp.asarray(y.reshape(-1, 1) if len(shape) == 1 else y)

                def rows(v, yk=yk, kw=kw, shape=shape):
                    v2 = v.reshape(-1, 1) if len(shape) == 1 else v
                    return keras.losses.binary_focal_crossentropy(yk, v2, **kw)

                for red in REDUCTIONS:
                    with float64_keras_mean():
                        v, g, h = jax_derivatives(rows, x, red, cols)
                    args = ", ".join(f"{k}={w!r}" for k, w in kw.items())
                    call = (
                        f"keras.losses.binary_focal_crossentropy(y, x, {args}) (one value per "
                        "row: the mean over the last axis, keras.ops.mean replaced by a float64 "
                        f"mean), {red}"
                    )
                    add(f"{key}-{red}", "sigmoid-focal", opts, red, x, y, v, g, h, call)


def softmax_focal_cases():
    for shape in [(1, 3), (4, 5), (6, 3)]:
        for logits in (False, True):
            for alpha, gamma, ls, kind in [
                (0.25, 2.0, 0.0, "index"),
                (0.5, 0.0, 0.0, "prob"),
                (1.0, 1.5, 0.1, "index"),
                (0.25, 3.0, 0.0, "prob"),
            ]:
                form = "logits" if logits else "probs"
                key = f"softmax-focal-{form}-a{alpha}-g{gamma}-ls{ls}-{kind}-{tag(shape)}"
                rng = rng_for(key)
                n, c = shape
                z = rng.normal(0, 2.0, shape)
                p = z if logits else rng.dirichlet(np.ones(c), n) * rng.uniform(0.7, 1.3, (n, 1))
                labels = rng.integers(0, c, n)
                t = labels.astype(float) if kind == "index" else rng.dirichlet(np.ones(c), n)
                y = one_hot(labels, c) if kind == "index" else t
                opts = {"logits": logits, "alpha": alpha, "gamma": gamma, "target_type": kind}
                if ls:
                    opts["label_smoothing"] = ls
                for red in REDUCTIONS:

                    def rows(v, y=y, alpha=alpha, gamma=gamma, ls=ls, logits=logits):
                        return keras.losses.categorical_focal_crossentropy(
                            y, v, alpha=alpha, gamma=gamma, from_logits=logits, label_smoothing=ls
                        )

                    v, g, h = jax_derivatives(rows, p, red)
                    call = (
                        f"keras.losses.categorical_focal_crossentropy(onehot(y), p, alpha={alpha}, "
                        f"gamma={gamma}, from_logits={logits}, label_smoothing={ls}), {red}"
                    )
                    add(f"{key}-{red}", "softmax-focal", opts, red, p, t, v, g, h, call)
    # Keras's clip at 1e-7 active: tiny probabilities, and logits far apart.
    for logits in (False, True):
        p = (
            np.array([[40.0, 0.0, -3.0], [0.0, 25.0, 1.0]])
            if logits
            else np.array([[1e-9, 0.5, 0.5 - 1e-9], [0.2, 0.8 - 1e-10, 1e-10]])
        )
        t = np.array([0.0, 2.0])
        for red in REDUCTIONS:

            def rows(v, logits=logits, y=one_hot(t, 3)):  # noqa: B008
                return keras.losses.categorical_focal_crossentropy(y, v, from_logits=logits)

            v, g, h = jax_derivatives(rows, p, red)
            call = (
                f"keras.losses.categorical_focal_crossentropy(onehot(y), p, "
                f"from_logits={logits}), {red}"
            )
            key = f"softmax-focal-{'logits' if logits else 'probs'}-clipped-{red}"
            add(key, "softmax-focal", {"logits": logits}, red, p, t, v, g, h, call)
    # alpha as a list, one weight per class (Keras: "a list of floats or a scalar").
    for logits in (False, True):
        for alpha, kind in [([0.25, 0.5, 1.0, 0.1], "index"), ([0.9, 0.0, 0.3, 0.6], "prob")]:
            form = "logits" if logits else "probs"
            key = f"softmax-focal-{form}-alpha-list-{kind}"
            rng = rng_for(key)
            n, c = 5, 4
            z = rng.normal(0, 2.0, (n, c))
            p = z if logits else rng.dirichlet(np.ones(c), n) * rng.uniform(0.7, 1.3, (n, 1))
            labels = rng.integers(0, c, n)
            t = labels.astype(float) if kind == "index" else rng.dirichlet(np.ones(c), n)
            y = one_hot(labels, c) if kind == "index" else t
            opts = {"logits": logits, "alpha": alpha, "target_type": kind}
            for red in REDUCTIONS:

                def rows(v, y=y, alpha=alpha, logits=logits):
                    return keras.losses.categorical_focal_crossentropy(
                        y, v, alpha=alpha, from_logits=logits
                    )

                v, g, h = jax_derivatives(rows, p, red)
                call = (
                    f"keras.losses.categorical_focal_crossentropy(onehot(y), p, alpha={alpha}, "
                    f"from_logits={logits}), {red}"
                )
                add(f"{key}-{red}", "softmax-focal", opts, red, p, t, v, g, h, call)


def poly1_cases():
    for shape in [(1, 3), (4, 5), (7, 3)]:
        for eps in (2.0, -1.0, 0.5):
            for kind in ("index", "prob"):
                key = f"poly1-e{eps}-{kind}-{tag(shape)}"
                rng = rng_for(key)
                n, c = shape
                z = rng.normal(0, 2.0, shape)
                labels = rng.integers(0, c, n)
                t = labels.astype(float) if kind == "index" else rng.dirichlet(np.ones(c), n)
                y = jnp.asarray(one_hot(labels, c) if kind == "index" else t)
                for red in REDUCTIONS:

                    def rows(v, y=y, eps=eps):
                        return optax.losses.poly_loss_cross_entropy(v, y, epsilon=eps)

                    v, g, h = jax_derivatives(rows, z, red)
                    call = f"optax.losses.poly_loss_cross_entropy(z, y, epsilon={eps}), {red}"
                    opts = {"epsilon": eps, "target_type": kind}
                    add(f"{key}-{red}", "poly1", opts, red, z, t, v, g, h, call)


def hinge_cases():
    for shape in [(5,), (4, 3), (1, 1)]:
        for labels in ("pm1", "01"):
            key = f"hinge-{labels}-{tag(shape)}"
            rng = rng_for(key)
            x = rng.normal(0, 1.5, shape)
            y01 = rng.integers(0, 2, shape).astype(float)
            y = 2 * y01 - 1
            t = y if labels == "pm1" else y01
            cols = shape[1] if len(shape) == 2 else 1
            for red in REDUCTIONS:
                yj = jnp.asarray(y)

                def rows(v, yj=yj):
                    return elementwise_rows_jax(optax.losses.hinge_loss(v, yj))

                v, g, h = jax_derivatives(rows, x, red, cols)
                call = f"optax.losses.hinge_loss(x, 2y−1 if 0/1), {red}"
                add(f"{key}-{red}", "hinge", {}, red, x, t, v, g, h, call)
                # Keras: hinge over the last axis (its own 0/1 mapping), on a column per element
                tk = t.reshape(len(t), -1)

                def krows(v, tk=tk, shape=shape):
                    per = keras.losses.hinge(tk.reshape(-1, 1), v.reshape(-1, 1))
                    return elementwise_rows_jax(per.reshape(shape))

                v, g, h = jax_derivatives(krows, x, red, cols)
                call = f"keras.losses.hinge(y, x) per element (y as given), {red}"
                add(
                    f"hinge-keras-{labels}-{tag(shape)}-{red}",
                    "hinge",
                    {},
                    red,
                    x,
                    t,
                    v,
                    g,
                    h,
                    call,
                    rtol=KERAS_MEAN_RTOL,
                )
            for red in REDUCTIONS:

                def srows(v, t=t, shape=shape):
                    per = keras.losses.squared_hinge(t.reshape(-1, 1), v.reshape(-1, 1))
                    return elementwise_rows_jax(per.reshape(shape))

                v, g, h = jax_derivatives(srows, x, red, cols)
                call = f"keras.losses.squared_hinge(y, x) per element, {red}"
                add(
                    f"squared-hinge-{labels}-{tag(shape)}-{red}",
                    "squared-hinge",
                    {},
                    red,
                    x,
                    t,
                    v,
                    g,
                    h,
                    call,
                    rtol=KERAS_MEAN_RTOL,
                )
    # at the margin y·x = 1, in float64 end to end (optax): −y/2 there
    x = np.array([[1.0, -1.0, 0.5], [2.0, -1.0, 1.0]])
    t = np.array([[1.0, -1.0, 1.0], [1.0, 1.0, 1.0]])
    for red in REDUCTIONS:

        def orows(v):
            return elementwise_rows_jax(optax.losses.hinge_loss(v, jnp.asarray(t)))

        v, g, h = jax_derivatives(orows, x, red, 3)
        call = f"optax.losses.hinge_loss(x, y), at the margin, {red}"
        add(f"hinge-optax-margin-{red}", "hinge", {}, red, x, t, v, g, h, call)
    # at the margin y·x = 1: jax's maximum splits the subgradient (½)
    x = np.array([[1.0, -1.0, 0.5], [2.0, -1.0, 1.0]])
    t = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    for loss, kfn in (("hinge", keras.losses.hinge), ("squared-hinge", keras.losses.squared_hinge)):
        for red in REDUCTIONS:

            def mrows(v, kfn=kfn):
                return elementwise_rows_jax(kfn(t.reshape(-1, 1), v.reshape(-1, 1)).reshape(2, 3))

            v, g, h = jax_derivatives(mrows, x, red, 3)
            call = f"keras.losses.{loss.replace('-', '_')}(y, x) per element, at the margin, {red}"
            add(f"{loss}-margin-{red}", loss, {}, red, x, t, v, g, h, call, rtol=KERAS_MEAN_RTOL)


def categorical_hinge_cases():
    for shape in [(1, 3), (4, 5), (6, 3)]:
        for kind in ("index", "prob"):
            key = f"categorical-hinge-{kind}-{tag(shape)}"
            rng = rng_for(key)
            n, c = shape
            x = rng.normal(0, 1.0, shape)
            labels = rng.integers(0, c, n)
            t = labels.astype(float) if kind == "index" else one_hot(labels, c)
            for red in REDUCTIONS:

                def rows(v, y=one_hot(labels, c)):  # noqa: B008
                    return keras.losses.categorical_hinge(y, v)

                v, g, h = jax_derivatives(rows, x, red)
                call = f"keras.losses.categorical_hinge(onehot(y), x), {red}"
                add(
                    f"{key}-{red}",
                    "categorical-hinge",
                    {"target_type": kind},
                    red,
                    x,
                    t,
                    v,
                    g,
                    h,
                    call,
                )
    # ties in the max and the margin itself (jax splits both subgradients)
    x = np.array([[0.5, 0.3, 0.3], [1.5, 0.5, 0.2], [-0.5, -1.0, -2.0], [0.0, 0.0, 3.0]])
    t = np.array([0.0, 0.0, 0.0, 2.0])
    for red in REDUCTIONS:
        v, g, h = jax_derivatives(
            lambda v: keras.losses.categorical_hinge(one_hot(t, 3), v), x, red
        )
        call = f"keras.losses.categorical_hinge(onehot(y), x), ties and margin, {red}"
        add(f"categorical-hinge-kinks-{red}", "categorical-hinge", {}, red, x, t, v, g, h, call)


def _multi_margin_restated(v, y, p, margin, w):
    """torch's multi_margin_loss formula in plain torch ops (for its Hessian)."""
    n, c = v.shape
    target = v[torch.arange(n), y][:, None]
    z = (margin - target + v).clamp(min=0) ** p
    mask = torch.ones(n, c)
    mask[torch.arange(n), y] = 0.0
    rows = (z * mask).sum(dim=1) / c
    return rows if w is None else rows * w[y]


def multi_margin_cases():
    for shape in [(1, 3), (4, 5), (7, 3)]:
        for p, margin, weighted in [
            (1, 1.0, False),
            (2, 1.0, False),
            (1, 0.5, True),
            (2, 2.0, True),
        ]:
            key = f"multi-margin-p{p}-m{margin}-{'w' if weighted else 'nw'}-{tag(shape)}"
            rng = rng_for(key)
            n, c = shape
            x = rng.normal(0, 1.0, shape)
            y = rng.integers(0, c, n)
            w = rng.uniform(0.2, 3.0, c) if weighted else None
            wt = None if w is None else torch.tensor(w)
            yt = torch.tensor(y)
            opts = {"p": p, "margin": margin} | ({"class_weights": w.tolist()} if weighted else {})
            for red in REDUCTIONS:

                def fn(v, r, yt=yt, p=p, margin=margin, wt=wt):
                    return F.multi_margin_loss(v, yt, p=p, margin=margin, weight=wt, reduction=r)

                xt = torch.tensor(x, requires_grad=True)
                value = fn(xt, red)
                (grad,) = torch.autograd.grad(value.sum(), xt)

                def restated(v, red=red, yt=yt, p=p, margin=margin, wt=wt):
                    return reduce_rows(_multi_margin_restated(v, yt, p, margin, wt), red).sum()

                check_v = reduce_rows(_multi_margin_restated(xt, yt, p, margin, wt), red)
                (check_g,) = torch.autograd.grad(check_v.sum(), xt)
                np.testing.assert_allclose(check_v.detach(), value.detach(), rtol=1e-14)
                np.testing.assert_allclose(check_g, grad, rtol=1e-14, atol=1e-16)
                hess = torch.autograd.functional.hessian(restated, torch.tensor(x))
                hess = hess.reshape(x.size, x.size).diagonal().reshape(shape)
                call = (
                    f"torch.nn.functional.multi_margin_loss(x, y, p={p}, margin={margin}, "
                    f"weight={'w' if weighted else None}, reduction='{red}') (Hessian: the formula "
                    "restated in torch ops)"
                )
                add(
                    f"{key}-{red}",
                    "multi-margin",
                    opts,
                    red,
                    x,
                    y.astype(float),
                    value.detach().numpy(),
                    grad.numpy(),
                    hess.numpy(),
                    call,
                )
    # z = 0 exactly: torch's backward counts a term only where z > 0
    x = np.array([[1.0, 0.0, 0.5], [0.25, 0.25, -1.0]])
    y = np.array([0, 1])
    for red in REDUCTIONS:
        xt = torch.tensor(x, requires_grad=True)
        value = F.multi_margin_loss(xt, torch.tensor(y), reduction=red)
        (grad,) = torch.autograd.grad(value.sum(), xt)
        call = f"torch.nn.functional.multi_margin_loss(x, y, reduction='{red}'), at z = 0"
        add(
            f"multi-margin-kink-{red}",
            "multi-margin",
            {},
            red,
            x,
            y.astype(float),
            value.detach().numpy(),
            grad.numpy(),
            np.zeros_like(x),
            call,
        )


def soft_margin_cases():
    for shape in [(5,), (4, 3), (1, 1)]:
        for labels in ("pm1", "01"):
            key = f"soft-margin-{labels}-{tag(shape)}"
            rng = rng_for(key)
            x = rng.normal(0, 2.0, shape)
            y01 = rng.integers(0, 2, shape).astype(float)
            y = 2 * y01 - 1
            t = y if labels == "pm1" else y01
            yt = torch.tensor(y)
            for red in REDUCTIONS:

                def fn(v, r, yt=yt):
                    out = F.soft_margin_loss(v, yt, reduction=r)
                    return row_mean(out) if r == "none" else out

                v, g, h = torch_derivatives(fn, x, red)
                call = f"torch.nn.functional.soft_margin_loss(x, 2y−1 if 0/1, reduction='{red}')"
                add(f"{key}-{red}", "soft-margin", {}, red, x, t, v, g, h, call)


def multilabel_soft_margin_cases():
    for shape in [(1, 3), (4, 5), (6, 2)]:
        for weighted in (False, True):
            for soft in (False, True):
                wtag, stag = ("w" if weighted else "nw"), ("soft" if soft else "hard")
                key = f"multilabel-soft-margin-{wtag}-{stag}-{tag(shape)}"
                rng = rng_for(key)
                x = rng.normal(0, 2.0, shape)
                y = rng.uniform(0, 1, shape) if soft else rng.integers(0, 2, shape).astype(float)
                w = rng.uniform(0.2, 3.0, shape[1]) if weighted else None
                wt = None if w is None else torch.tensor(w)
                yt = torch.tensor(y)
                opts = {"class_weights": w.tolist()} if weighted else {}
                for red in REDUCTIONS:

                    def fn(v, r, yt=yt, wt=wt):
                        return F.multilabel_soft_margin_loss(v, yt, weight=wt, reduction=r)

                    v, g, h = torch_derivatives(fn, x, red)
                    call = (
                        f"torch.nn.functional.multilabel_soft_margin_loss(x, y, "
                        f"weight={'w' if weighted else None}, reduction='{red}')"
                    )
                    add(f"{key}-{red}", "multilabel-soft-margin", opts, red, x, y, v, g, h, call)


def brier_cases():
    for shape in [(6,), (5, 1), (4, 2), (5, 3), (1, 4)]:
        for scale in ("auto", "true", "false"):
            for weighted in (False, True):
                key = f"brier-{scale}-{'sw' if weighted else 'nosw'}-{tag(shape)}"
                rng = rng_for(key)
                n = shape[0]
                binary = len(shape) == 1 or shape[1] == 1
                c = 2 if binary else shape[1]
                if binary:
                    p = rng.uniform(0, 1, shape)
                    labels = rng.integers(0, 2, n)
                    t = labels.astype(float).reshape(shape)
                    y_cols = labels.astype(float).reshape(shape)
                else:
                    p = rng.dirichlet(np.ones(c), n)
                    labels = rng.integers(0, c, n)
                    t = labels.astype(float)
                    y_cols = one_hot(labels, c)
                sw = rng.uniform(0.1, 3.0, n) if weighted else None
                half = {"auto": c < 3, "true": True, "false": False}[scale]
                k = (0.5 if half else 1.0) * (2.0 if binary else 1.0)
                yt = torch.tensor(y_cols)
                swt = None if sw is None else torch.tensor(sw)

                def rows(v, yt=yt, k=k):
                    sq = (v - yt) ** 2
                    return k * (sq if sq.dim() == 1 else sq.sum(dim=1))

                for red in REDUCTIONS:

                    def fn(v, r, swt=swt):
                        rr = rows(v) if swt is None else rows(v) * swt
                        if r == "mean":
                            return rr.sum() / (len(rr) if swt is None else swt.sum())
                        return rr.sum() if r == "sum" else rr

                    v, g, h = torch_derivatives(fn, p, red)
                    opts = {"scale_by_half": scale}
                    kwargs = {
                        "scale_by_half": {"auto": "auto", "true": True, "false": False}[scale]
                    }
                    if not binary:
                        kwargs["labels"] = list(range(c))
                    sk = brier_score_loss(labels, p, sample_weight=sw, **kwargs)
                    np.testing.assert_allclose(fn(torch.tensor(p), "mean").item(), sk, rtol=1e-14)
                    if red == "mean":
                        v = np.float64(sk)
                        call = (
                            "sklearn.metrics.brier_score_loss(y, p, sample_weight=sw, "
                            f"scale_by_half={scale!r})"
                        )
                    else:
                        call = f"sklearn's brier_score_loss formula in torch ops, reduction {red}"
                    add(f"{key}-{red}", "brier", opts, red, p, t, v, g, h, call, sw=sw)


def sparsemax_cases():
    for shape in [(1, 3), (4, 5), (7, 3)]:
        for scale in (0.5, 2.0):
            key = f"sparsemax-s{scale}-{tag(shape)}"
            rng = rng_for(key)
            n, c = shape
            z = rng.normal(0, scale, shape)
            y = rng.integers(0, c, n)
            for red in REDUCTIONS:
                v, g, h = jax_derivatives(
                    lambda v, y=y: optax.losses.multiclass_sparsemax_loss(v, jnp.asarray(y)), z, red
                )
                call = f"optax.losses.multiclass_sparsemax_loss(z, y), {red}"
                add(f"{key}-{red}", "sparsemax", {}, red, z, y.astype(float), v, g, h, call)
    for shape in [(8,), (6, 1)]:
        key = f"sparsemax-binary-{tag(shape)}"
        rng = rng_for(key)
        z = rng.normal(0, 1.5, shape)
        y = rng.integers(0, 2, shape)
        for red in REDUCTIONS:

            def rows(v, y=y):
                return optax.losses.sparsemax_loss(v, jnp.asarray(y)).reshape(len(y))

            v, g, h = jax_derivatives(rows, z, red)
            call = f"optax.losses.sparsemax_loss(z, y), {red}"
            add(f"{key}-{red}", "sparsemax", {}, red, z, y.astype(float), v, g, h, call)


def main() -> None:
    sigmoid_focal_cases()
    softmax_focal_cases()
    poly1_cases()
    hinge_cases()
    categorical_hinge_cases()
    multi_margin_cases()
    soft_margin_cases()
    multilabel_soft_margin_cases()
    brier_cases()
    sparsemax_cases()
    sigmoid_focal_probability_cases()  # added later: last, so earlier cases keep their place
    sigmoid_focal_label_smoothing_cases()
    doc = {
        "generator": "tests/make_classification_fixtures.py",
        "versions": {
            "torch": torch.__version__,
            "jax": jax.__version__,
            "optax": optax.__version__,
            "keras": keras.__version__,
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "cases": CASES,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(CASES)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
