"""Fuzz ``--convention``: every rule of ``losscli.conventions.RULES`` against the framework's
own call, on random inputs (issue 10: a wrong number is the worst bug).

Not a pytest test (the name does not match ``test_*.py``): it needs the frameworks, which are not
dependencies of losscli — Keras 3 (``KERAS_BACKEND=jax``, floatx float64, its ``ops.mean``
replaced by a float64 mean inside ``keras.losses`` so every Keras rule is compared at 1e-12),
TensorFlow's ``tf.compat.v1.losses`` (float32-precise: its ``compute_weighted_loss`` casts to
float32, so 1e-6), optax with x64 and scikit-learn. Run::

    pip install keras jax optax tensorflow-cpu scikit-learn
    python tests/fuzz_conventions.py --cases 3000 --seed 1 [--cli 60] [--only LOSS[:CONV]]

Each case draws a shape (N ∈ {1, 2, 7, 50}, D/C ∈ {1, 2, 3, 5}, a vector or a column), targets
(labels, one-hot or probability rows where the loss takes them), sample weights (none, positive,
with zeros, all zero), a reduction the rule has, the loss's options at random valid values and
edge values (probabilities at 0 and 1, exact ties, zero targets). Outcomes per rule:

* ``agree`` — losscli and the framework give the same number(s);
* ``refused`` — losscli refused with a UsageError; counted as right only when the framework also
  cannot take the combination (it raised, or the reference says ``Unsupported``), else it is a
  disagreement: losscli refused what the framework computes;
* ``both-refuse`` — neither computes it;
* ``DISAGREE`` — different numbers, or losscli computed what the framework refuses.

A sample of cases (``--cli``) also runs ``python -m losscli LOSS p.csv t.csv --convention X -f
plain`` on files and compares its printed value. Exit 1 if anything disagrees.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import traceback
from collections import Counter, defaultdict
from pathlib import Path

import convention_frameworks  # noqa: F401  first: sets the environment jax and keras read
import jax.numpy as jnp
import keras
import numpy as np
import optax
import sklearn.metrics as skm
from convention_frameworks import KERAS_REDUCTIONS, float64_keras_mean, reduced, tf1_reductions

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from losscli.conventions import RULES, evaluate_convention  # noqa: E402
from losscli.errors import LossCliError  # noqa: E402
from losscli.losses import get_loss  # noqa: E402

_tf = None


def tf():
    global _tf
    if _tf is None:
        import tensorflow

        _tf = tensorflow
    return _tf


class Unsupported(Exception):
    """The framework has no such call (an option or input form it does not take)."""


# ------------------------------------------------------------------------------ input draws


class Case:
    def __init__(self, loss, convention, p, t, w, reduction, options, ref_kw):
        self.loss, self.convention = loss, convention
        self.p, self.t, self.w = p, t, w
        self.reduction, self.options = reduction, options
        self.ref = ref_kw  # what the reference needs beyond p, t (e.g. labels vs one-hot)

    def describe(self):
        return (
            f"{self.loss} --convention {self.convention} -r {self.reduction} "
            f"options={self.options} p.shape={self.p.shape} t.shape={self.t.shape} "
            f"w={'none' if self.w is None else np.round(self.w, 3).tolist()} ref={self.ref}"
        )


def pick(rng, xs):
    return xs[rng.integers(len(xs))]


def draw_shape(rng, widths=(1, 2, 3, 5)):
    n = int(pick(rng, (1, 2, 7, 50)))
    d = int(pick(rng, widths))
    vector = d == 1 and rng.random() < 0.5
    return n, d, vector


def shaped(a, vector):
    return a.reshape(-1) if vector else a


def draw_weights(rng, n):
    kind = pick(rng, ("none", "none", "positive", "zeros", "allzero"))
    if kind == "none":
        return None
    w = np.round(rng.uniform(0.1, 3.0, size=n), 3)
    if kind == "zeros":
        w[rng.random(n) < 0.4] = 0.0
    elif kind == "allzero":
        w[:] = 0.0
    return w


def real(rng, n, d, scale=1.0):
    a = np.round(rng.normal(scale=scale, size=(n, d)), 3)
    return a


def probs(rng, n, d, edges=True):
    q = np.round(rng.uniform(size=(n, d)), 3)
    if edges:
        m = rng.random((n, d))
        q[m < 0.1] = 0.0
        q[m > 0.9] = 1.0
    return q


def ties(rng, p, t):
    m = rng.random(p.shape) < 0.15
    p = p.copy()
    p[m] = t[m]
    return p


def class_targets(rng, n, c, soft_ok=True):
    labels = rng.integers(c, size=n)
    kind = pick(rng, ("labels", "onehot", "soft") if soft_ok else ("labels", "onehot"))
    if kind == "labels":
        return labels.astype(np.float64), labels, kind
    if kind == "onehot":
        return np.eye(c)[labels], labels, kind
    s = rng.dirichlet(np.ones(c), size=n)
    s = np.round(s, 3)
    s[:, -1] = 1.0 - s[:, :-1].sum(axis=1)
    s = np.clip(s, 0.0, 1.0)
    if rng.random() < 0.3:
        s[0] = 0.0
        s[0, 0] = 1.0
    return s, None, kind


def prob_rows(rng, n, c, normalised):
    q = rng.dirichlet(np.ones(c), size=n)
    if rng.random() < 0.3:
        q[0] = 0.0
        q[0, int(rng.integers(c))] = 1.0
    if not normalised:
        q = q * rng.uniform(0.5, 1.0, size=(n, 1))  # Keras renormalises; in [0, 1] still
    return q


def onehot_of(t, kind, c):
    if kind == "labels":
        return np.eye(c)[t.astype(int)]
    return t


# ------------------------------------------------------------------------------ references


def keras_call(name, y_true, y_pred, w, reduction, **kwargs):
    obj = getattr(keras.losses, name)(
        reduction=KERAS_REDUCTIONS[reduction], dtype="float64", **kwargs
    )
    args = (np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))
    with float64_keras_mean():
        v = obj(*args) if w is None else obj(*args, sample_weight=np.asarray(w, np.float64))
    return np.asarray(v, dtype=np.float64)


def col(a):
    return a.reshape(-1, 1) if a.ndim == 1 else a


def tf1_call(fn_name, labels, preds, w, reduction, per_row=False, **kwargs):
    T = tf()
    tf1 = T.compat.v1.losses
    red = tf1_reductions()[reduction]
    if w is None:
        weights = 1.0
    elif per_row:
        weights = np.asarray(w, np.float64)
    else:
        weights = np.asarray(w, np.float64).reshape((-1,) + (1,) * (np.ndim(preds) - 1))
    dtype = T.int64 if fn_name.startswith("sparse") else T.float64
    v = getattr(tf1, fn_name)(
        T.constant(labels, dtype=dtype),
        T.constant(preds, dtype=T.float64),
        weights=weights,
        reduction=red,
        **kwargs,
    )
    return np.asarray(v, dtype=np.float64)


def plain(v, reduction, w=None):
    if w is not None:
        raise Unsupported("no sample weights")
    return reduced(v, reduction)


def sk(fn, t, p, w, reduction, **kw):
    if reduction == "none":
        raise Unsupported("one number")
    if w is not None:
        kw["sample_weight"] = w
    if reduction == "sum":
        if fn is skm.log_loss:
            return fn(t, p, normalize=False, **kw)
        raise Unsupported("no sum")
    return fn(t, p, **kw)


# losscli options that are torch's (or losscli's) alone, at a value away from their default
FOREIGN = {
    "pos_weight": lambda p: 2.0,
    "clip": lambda p: 1e-3,
    "class_weights": lambda p: ",".join(["2"] * p.shape[-1]),
    "class_axis": lambda p: -1,
    "floor": lambda p: 1e-7,
    "percent": lambda p: True,
    "full": lambda p: True,
}


def reference(case):
    if "foreign" in case.ref:
        raise Unsupported(f"no {case.ref['foreign']} option")
    loss, conv, p, t, w, r, o, ref = (
        case.loss,
        case.convention,
        case.p,
        case.t,
        case.w,
        case.reduction,
        case.options,
        case.ref,
    )
    J = jnp.asarray
    if loss == "sparsemax":  # optax only
        if ref["kind"] == "binary":
            return plain(optax.losses.sparsemax_loss(J(p), J(t.astype(np.int64))), r, w)
        if ref["kind"] == "soft" and not ((t == 1.0).sum(axis=1) == 1).all():
            raise Unsupported("integer labels only")  # (soft rows that are all one-hot pass)
        labels = t.astype(np.int64) if ref["kind"] == "labels" else t.argmax(1)
        return plain(optax.losses.multiclass_sparsemax_loss(J(p), J(labels)), r, w)
    if loss in ("mse", "mae", "huber", "log-cosh", "msle", "mape", "hinge", "squared-hinge"):
        keras_name = {
            "mse": "MeanSquaredError",
            "mae": "MeanAbsoluteError",
            "huber": "Huber",
            "log-cosh": "LogCosh",
            "msle": "MeanSquaredLogarithmicError",
            "mape": "MeanAbsolutePercentageError",
            "hinge": "Hinge",
            "squared-hinge": "SquaredHinge",
        }[loss]
        kw = {"delta": o["delta"]} if "delta" in o else {}
        if conv == "keras":
            return keras_call(keras_name, col(t), col(p), w, r, **kw)
        if conv == "tf1":
            if loss == "hinge":
                return tf1_call("hinge_loss", t, p, w, r)
            name = {
                "mse": "mean_squared_error",
                "mae": "absolute_difference",
                "huber": "huber_loss",
            }[loss]
            return tf1_call(name, t, p, w, r, **kw)
        if conv == "optax":
            if loss == "mse":
                return plain(optax.losses.squared_error(J(p), J(t)), r, w)
            if loss == "huber":
                return plain(optax.losses.huber_loss(J(p), J(t), delta=o.get("delta", 1.0)), r, w)
            if loss == "log-cosh":
                return plain(optax.losses.log_cosh(J(p), J(t)), r, w)
            if loss == "hinge":
                return plain(optax.losses.hinge_loss(J(p), J(t)), r, w)
        if conv == "sklearn":
            if loss == "hinge":
                if p.ndim == 2 and p.shape[1] != 1:
                    raise Unsupported("binary hinge: one column")
                return sk(skm.hinge_loss, t.reshape(-1), p.reshape(-1), w, r)
            fn = {
                "mse": skm.mean_squared_error,
                "mae": skm.mean_absolute_error,
                "msle": skm.mean_squared_log_error,
                "mape": skm.mean_absolute_percentage_error,
            }[loss]
            return sk(fn, t, p, w, r)
    if loss == "rmse":
        return sk(skm.root_mean_squared_error, t, p, w, r)
    if loss == "bce":
        logits = o.get("logits", False)
        if conv == "keras":
            return keras_call("BinaryCrossentropy", col(t), col(p), w, r, from_logits=logits)
        if conv == "tf1":
            if logits:
                return tf1_call("sigmoid_cross_entropy", t, p, w, r)
            return tf1_call("log_loss", t, p, w, r)
        if conv == "optax":
            if not logits:
                raise Unsupported("logits only")
            return plain(optax.losses.sigmoid_binary_cross_entropy(J(p), J(t)), r, w)
        if conv == "sklearn":
            if logits or (p.ndim == 2 and p.shape[1] != 1):
                raise Unsupported("probabilities of one column")
            return sk(skm.log_loss, t.reshape(-1), p.reshape(-1), w, r, labels=[0, 1])
    if loss in ("ce", "softmax-focal", "poly1", "categorical-hinge"):
        c = p.shape[1]
        kind = ref["kind"]
        y = onehot_of(t, kind, c)
        ls = o.get("label_smoothing", 0.0)
        logits = o.get("logits", False)
        if loss == "ce":
            if conv == "keras":
                if kind == "labels" and not ls:
                    return keras_call(
                        "SparseCategoricalCrossentropy", t.astype(int), p, w, r, from_logits=logits
                    )
                return keras_call(
                    "CategoricalCrossentropy", y, p, w, r, from_logits=logits, label_smoothing=ls
                )
            if conv == "tf1":
                if not logits:
                    raise Unsupported("logits only")
                if kind == "labels" and not ls:
                    return tf1_call(
                        "sparse_softmax_cross_entropy", t.astype(int), p, w, r, per_row=True
                    )
                return tf1_call(
                    "softmax_cross_entropy", y, p, w, r, per_row=True, label_smoothing=ls
                )
            if conv == "optax":
                if not logits:
                    raise Unsupported("logits only")
                yy = optax.smooth_labels(J(y), ls) if ls else J(y)
                return plain(optax.losses.softmax_cross_entropy(J(p), yy), r, w)
            if conv == "sklearn":
                if logits or ls or kind == "soft":
                    raise Unsupported("labels and probabilities")
                return sk(skm.log_loss, y.argmax(1), p, w, r, labels=list(range(c)))
        if loss == "softmax-focal":
            alpha = o.get("alpha", 0.25)
            if isinstance(alpha, str):
                alpha = [float(x) for x in alpha.split(",")]
            return keras_call(
                "CategoricalFocalCrossentropy",
                y,
                p,
                w,
                r,
                alpha=alpha,
                gamma=o.get("gamma", 2.0),
                from_logits=logits,
                label_smoothing=ls,
            )
        if loss == "poly1":
            return plain(
                optax.losses.poly_loss_cross_entropy(J(p), J(y), epsilon=o.get("epsilon", 2.0)),
                r,
                w,
            )
        if loss == "categorical-hinge":
            if conv == "keras":
                return keras_call("CategoricalHinge", y, p, w, r)
            if kind == "soft":
                raise Unsupported("labels")
            labels = y.argmax(1)
            if conv == "optax":
                return plain(optax.losses.multiclass_hinge_loss(J(p), J(labels)), r, w)
            if conv == "sklearn":
                return sk(skm.hinge_loss, labels, p, w, r, labels=list(range(c)))
    if loss == "kl":
        lt = o.get("log_target", False)
        if conv == "keras":
            yt = np.exp(t) if lt else t
            return keras_call("KLDivergence", col(yt), col(np.exp(p)), w, r)
        if conv == "optax":
            if lt:
                return plain(
                    optax.losses.kl_divergence_with_log_targets(J(col(p)), J(col(t))), r, w
                )
            return plain(optax.losses.kl_divergence(J(col(p)), J(col(t))), r, w)
    if loss == "sigmoid-focal":
        alpha, gamma = o.get("alpha"), o.get("gamma", 2.0)
        if conv == "keras":
            kw = {"gamma": gamma, "from_logits": True}
            if alpha is not None:
                kw.update(apply_class_balancing=True, alpha=alpha)
            return keras_call("BinaryFocalCrossentropy", col(t), col(p), w, r, **kw)
        if conv == "optax":
            return plain(
                optax.losses.sigmoid_focal_loss(J(p), J(t), alpha=alpha, gamma=gamma), r, w
            )
    if loss in ("dice", "tversky"):
        if conv == "keras":
            if r == "none":
                raise Unsupported("one value per batch")
            if loss == "dice":
                return keras_call("Dice", t, p, w, r)
            return keras_call(
                "Tversky", t, p, w, r, alpha=o.get("alpha", 0.5), beta=o.get("beta", 0.5)
            )
        if conv == "optax":
            kw = {"smooth": o.get("smooth", 1.0)}
            if loss == "tversky":
                kw.update(alpha=o.get("alpha", 0.5), beta=o.get("beta", 0.5))
            pp, tt = col(p), col(t)
            return plain(optax.losses.dice_loss(J(pp)[..., None], J(tt)[..., None], **kw), r, w)
    if loss == "cosine-similarity":
        eps = o.get("epsilon", 0.0)
        if conv == "keras":
            return keras_call("CosineSimilarity", t, p, w, r)
        if conv == "optax":
            return plain(optax.losses.cosine_distance(J(p), J(t), epsilon=eps * eps), r, w)
        if conv == "tf1":
            v = tf1_call("cosine_distance", t, p, w, r, axis=1)
            return v.reshape(-1) if r == "none" else v
    if loss == "poisson-nll":
        return keras_call("Poisson", col(t), col(p), w, r)
    if p.ndim > 2 and conv == "sklearn":
        return sk(skm.mean_squared_error, t, p, w, r)  # check_array: raises on 3-D arrays
    if loss in ("poisson-deviance", "gamma-deviance", "tweedie"):
        if p.ndim == 2 and p.shape[1] != 1:
            raise Unsupported("one output")
        fn = {
            "poisson-deviance": skm.mean_poisson_deviance,
            "gamma-deviance": skm.mean_gamma_deviance,
            "tweedie": skm.mean_tweedie_deviance,
        }[loss]
        kw = {"power": o.get("power", 0.0)} if loss == "tweedie" else {}
        return sk(fn, t.reshape(-1), p.reshape(-1), w, r, **kw)
    if loss == "pinball":
        return sk(skm.mean_pinball_loss, t, p, w, r, alpha=o.get("quantile", 0.5))
    if loss == "brier":
        sbh = {"auto": None, "true": True, "false": False}[o.get("scale_by_half", "auto")]
        kw = {} if sbh is None else {"scale_by_half": sbh}
        if p.ndim == 2 and p.shape[1] > 1:
            c = p.shape[1]
            if ref["kind"] == "soft":
                raise Unsupported("labels")
            return sk(
                skm.brier_score_loss,
                onehot_of(t, ref["kind"], c).argmax(1),
                p,
                w,
                r,
                labels=list(range(c)),
                **kw,
            )
        return sk(skm.brier_score_loss, t.reshape(-1), p.reshape(-1), w, r, **kw)
    raise NotImplementedError(f"no reference for {loss} {conv}")


# ------------------------------------------------------------------------------ generators


def gen(rng, loss, conv):
    """(p, t, options, ref) for one random case of this rule."""
    o: dict = {}
    ref: dict = {}
    if loss in ("mse", "mae", "huber", "log-cosh", "rmse", "pinball"):
        n, d, vec = draw_shape(rng)
        t = real(rng, n, d)
        p = ties(rng, real(rng, n, d, scale=pick(rng, (0.5, 1.0, 3.0))), t)
        if loss == "huber" and rng.random() < 0.7:
            o["delta"] = float(pick(rng, (0.1, 0.5, 1.0, 2.5)))
            if rng.random() < 0.3:  # exactly on the kink
                p.flat[0] = t.flat[0] + o["delta"]
        if loss == "pinball" and rng.random() < 0.7:
            o["quantile"] = float(pick(rng, (0.1, 0.25, 0.5, 0.9, 1.0, 0.0)))
        return shaped(p, vec), shaped(t, vec), o, ref
    if loss in ("msle",):
        n, d, vec = draw_shape(rng)
        t = np.abs(real(rng, n, d, 2.0))
        t[rng.random((n, d)) < 0.2] = 0.0
        p = np.abs(real(rng, n, d, 2.0))
        p[rng.random((n, d)) < 0.1] = 0.0
        if rng.random() < 0.2:
            p.flat[0] = pick(rng, (-0.5, 1e-8))  # negative or tiny: keras floors at 1e-7
        return shaped(ties(rng, p, t), vec), shaped(t, vec), o, ref
    if loss == "mape":
        n, d, vec = draw_shape(rng)
        t = real(rng, n, d, 2.0)
        t[rng.random((n, d)) < 0.15] = 0.0
        if rng.random() < 0.2:
            t.flat[-1] = pick(rng, (1e-8, -5e-8, 1e-17))  # below Keras's 1e-7 / sklearn's ε
        p = ties(rng, real(rng, n, d, 2.0), t)
        return shaped(p, vec), shaped(t, vec), o, ref
    if loss in ("hinge", "squared-hinge"):
        n, d, vec = draw_shape(rng)
        if conv == "sklearn":
            d, vec = 1, rng.random() < 0.5
        z = real(rng, n, d, 2.0)
        y01 = rng.integers(2, size=(n, d)).astype(np.float64)
        if conv == "sklearn" and rng.random() < 0.8:
            y01.flat[0], y01.flat[-1] = 0.0, 1.0
        lab = pick(rng, ("01", "pm1", "pm1"))
        t = y01 if lab == "01" else 2.0 * y01 - 1.0
        if rng.random() < 0.2:
            z.flat[0] = 1.0 if t.flat[0] > 0 else -1.0  # exactly on the hinge
        return shaped(z, vec), shaped(t, vec), o, ref
    if loss == "bce":
        n, d, vec = draw_shape(rng)
        logits = conv == "optax" or (conv != "sklearn" and rng.random() < 0.5)
        if conv == "sklearn":
            d, vec = 1, rng.random() < 0.5
        o["logits"] = logits if logits else False
        if not logits:
            o.pop("logits")
        t = rng.integers(2, size=(n, d)).astype(np.float64)
        if conv != "sklearn" and rng.random() < 0.3:
            t = np.round(rng.uniform(size=(n, d)), 2)
        p = real(rng, n, d, pick(rng, (3.0, 30.0))) if logits else probs(rng, n, d)
        if not logits and rng.random() < 0.2:
            p.flat[0] = pick(rng, (1e-8, 1.0 - 1e-8, 1e-300))  # inside Keras's 1e-7 clip
        return shaped(p, vec), shaped(t, vec), o, ref
    if loss in ("ce", "softmax-focal", "poly1", "categorical-hinge", "brier"):
        n = int(pick(rng, (1, 2, 7, 50)))
        c = int(pick(rng, (2, 3, 5)))
        if loss == "categorical-hinge" and conv == "sklearn":
            c = int(pick(rng, (3, 5)))
        soft_ok = not (conv == "sklearn" or loss == "categorical-hinge" and conv != "keras")
        t, labels, kind = class_targets(rng, n, c, soft_ok=soft_ok)
        ref["kind"] = kind
        logits = {
            "ce": conv in ("tf1", "optax") or (conv == "keras" and rng.random() < 0.5),
            "softmax-focal": rng.random() < 0.5,
            "poly1": True,
            "categorical-hinge": True,
            "brier": False,
        }[loss]
        if loss in ("ce", "softmax-focal") and logits:
            o["logits"] = True
        if logits:
            p = real(rng, n, c, pick(rng, (1.0, 3.0, 10.0)))
            if rng.random() < 0.2:
                p[0, :] = p[0, 0]  # exact ties
        else:
            p = prob_rows(
                rng, n, c, normalised=loss in ("brier",) or conv == "sklearn" or rng.random() < 0.5
            )
        if loss in ("ce", "softmax-focal") and conv != "sklearn" and rng.random() < 0.4:
            o["label_smoothing"] = float(pick(rng, (0.1, 0.2, 0.5)))
        if loss == "softmax-focal":
            if rng.random() < 0.5:
                o["gamma"] = float(pick(rng, (0.0, 0.5, 1.0, 3.0)))
            if rng.random() < 0.4:
                o["alpha"] = float(pick(rng, (0.1, 0.5, 1.0)))
            elif rng.random() < 0.3:
                o["alpha"] = ",".join(str(round(float(a), 2)) for a in rng.uniform(0.1, 1, c))
        if loss == "poly1" and rng.random() < 0.7:
            o["epsilon"] = float(pick(rng, (-1.0, 0.5, 2.0, 5.0)))
        if loss == "brier":
            if c == 2 and rng.random() < 0.5:  # the binary form
                p = probs(rng, n, 1)[:, 0]
                t = rng.integers(2, size=n).astype(np.float64)
                ref["kind"] = "binary"
            if rng.random() < 0.5:
                o["scale_by_half"] = str(pick(rng, ("true", "false")))
        return p, t, o, ref
    if loss == "kl":
        n, c, vec = draw_shape(rng)
        c = max(c, 2)
        vec = False
        q = prob_rows(rng, n, c, True)
        p = np.log(np.where(q > 0, q, 1e-12))
        tt = prob_rows(rng, n, c, True)
        if rng.random() < 0.5:
            o["log_target"] = True
            tt = np.log(np.where(tt > 0, tt, 1e-9))
        return p, tt, o, ref
    if loss == "sigmoid-focal":
        n, d, vec = draw_shape(rng)
        z = real(rng, n, d, pick(rng, (1.0, 3.0, 20.0)))
        t = rng.integers(2, size=(n, d)).astype(np.float64)
        if rng.random() < 0.3:
            t = np.round(rng.uniform(size=(n, d)), 2)
        if rng.random() < 0.5:
            o["alpha"] = float(pick(rng, (0.0, 0.25, 0.5, 0.9)))
        if rng.random() < 0.5:
            o["gamma"] = float(pick(rng, (0.0, 0.5, 1.0, 3.0)))
        return shaped(z, vec), shaped(t, vec), o, ref
    if loss in ("dice", "tversky"):
        n, d, vec = draw_shape(rng)
        vec = vec and conv == "optax"
        t = rng.integers(2, size=(n, d)).astype(np.float64)
        if conv == "optax":
            o["logits"] = True
            p = real(rng, n, d, 2.0)
            if rng.random() < 0.6:
                o["smooth"] = float(pick(rng, (0.0, 0.5, 1.0, 2.0)))
        else:
            p = probs(rng, n, d)
        if loss == "tversky" and rng.random() < 0.7:
            o["alpha"] = float(pick(rng, (0.0, 0.3, 0.5, 0.7, 1.0)))
            o["beta"] = float(pick(rng, (0.0, 0.3, 0.5, 0.7, 1.0)))
        return shaped(p, vec), shaped(t, vec), o, ref
    if loss == "cosine-similarity":
        n, d, _ = draw_shape(rng)
        d = max(d, 2)
        p, t = real(rng, n, d), real(rng, n, d)
        if conv == "tf1" and rng.random() < 0.6:
            p /= np.linalg.norm(p, axis=1, keepdims=True)
            t /= np.linalg.norm(t, axis=1, keepdims=True)
        if conv == "keras" and rng.random() < 0.3:
            p[0] = 0.0
            p[0, 0] = 4e-8
            o["epsilon"] = 1e-7
        if conv == "optax" and rng.random() < 0.5:
            o["epsilon"] = float(pick(rng, (1e-4, 0.01, 1.0)))
            if rng.random() < 0.5:
                p[0] = 0.0
        return p, t, o, ref
    if loss == "poisson-nll":
        n, d, vec = draw_shape(rng)
        o["log_input"] = False
        p = np.round(rng.uniform(0.0, 4.0, size=(n, d)), 3)
        p[rng.random((n, d)) < 0.1] = 0.0
        t = rng.poisson(2.0, size=(n, d)).astype(np.float64)
        if rng.random() < 0.3:
            o["epsilon"] = 1e-7
        return shaped(p, vec), shaped(t, vec), o, ref
    if loss in ("poisson-deviance", "gamma-deviance", "tweedie"):
        n = int(pick(rng, (1, 2, 7, 50)))
        vec = rng.random() < 0.6
        mu = np.round(rng.uniform(0.1, 5.0, size=(n, 1)), 3)
        power = {"poisson-deviance": 1.0, "gamma-deviance": 2.0}.get(loss)
        if loss == "tweedie":
            power = float(pick(rng, (0.0, -1.0, 1.0, 1.5, 2.0, 3.0)))
            o["power"] = power
        if power <= 0:
            y = np.round(rng.normal(size=(n, 1)), 3)
        elif power < 2:
            y = rng.poisson(2.0, size=(n, 1)).astype(np.float64)
        else:
            y = np.round(rng.uniform(0.1, 5.0, size=(n, 1)), 3)
        return shaped(mu, vec), shaped(y, vec), o, ref
    if loss == "sparsemax":
        n = int(pick(rng, (1, 2, 7, 50)))
        scale = pick(rng, (0.5, 1.0, 3.0, 10.0))
        if rng.random() < 0.3:  # the binary form: a vector or one column of 0/1 labels
            z = real(rng, n, 1, scale)
            if rng.random() < 0.3:
                z.flat[0] = pick(rng, (-1.0, 1.0))  # on a kink of sparse_plus
            t = rng.integers(2, size=(n, 1)).astype(np.float64)
            ref["kind"] = "binary"
            vec = rng.random() < 0.5
            return shaped(z, vec), shaped(t, vec), o, ref
        c = int(pick(rng, (2, 3, 5)))
        t, _, kind = class_targets(rng, n, c)  # soft rows: both must refuse
        ref["kind"] = kind
        z = real(rng, n, c, scale)
        if rng.random() < 0.2:
            z[0, :] = z[0, 0]  # exact ties
        return z, t, o, ref
    raise NotImplementedError(loss)


# ------------------------------------------------------------------------------ driver


def rtol_for(conv):
    return 1e-6 if conv == "tf1" else 1e-12


def close(a, b, rtol):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False
    scale = max(np.max(np.abs(b), initial=0.0), 1e-300)
    # relative to the value; for an array, each element against the largest (float32 sums)
    atol = rtol * scale if a.ndim else 0.0
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def run_case(case):
    """(outcome, detail)"""
    loss = get_loss(case.loss)
    ref_err = None
    try:
        with np.errstate(all="ignore"):
            expected = reference(case)
    except Unsupported as e:
        expected, ref_err = None, f"unsupported: {e}"
    except NotImplementedError:
        raise
    except Exception as e:  # the framework refused
        expected, ref_err = None, f"{type(e).__name__}: {str(e).splitlines()[0][:150]}"
    try:
        with np.errstate(all="ignore"), contextlib.redirect_stderr(open(os.devnull, "w")):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = evaluate_convention(
                    loss,
                    case.convention,
                    case.p,
                    case.t,
                    reduction=case.reduction,
                    sample_weights=case.w,
                    **case.options,
                )
        got_err = None
    except LossCliError as e:
        got, got_err = None, str(e)
    if got_err is not None and ref_err is not None:
        return "both-refuse", f"losscli: {got_err} | framework: {ref_err}"
    if got_err is not None:
        return (
            "refused",
            f"losscli: {got_err} | framework gives {np.asarray(expected).round(6).tolist()}",
        )
    if ref_err is not None:
        return (
            "DISAGREE",
            f"losscli gives {np.asarray(got).round(9).tolist()} | framework: {ref_err}",
        )
    exp = np.asarray(expected, np.float64)
    g = np.asarray(got, np.float64)
    if exp.shape != g.shape and exp.size == g.size:
        exp = exp.reshape(g.shape)
    if close(g, exp, rtol_for(case.convention)):
        return "agree", ""
    if case.convention == "tf1":
        # TF1 casts predictions and labels to float32 before its formula: where that rounding
        # is amplified (a small p − t, a log near 0), compare with losscli on those inputs.
        r32 = {
            k: None if a is None else np.asarray(a, np.float32).astype(np.float64)
            for k, a in (("p", case.p), ("t", case.t), ("w", case.w))
        }
        with np.errstate(all="ignore"):
            g32 = evaluate_convention(
                loss,
                "tf1",
                r32["p"],
                r32["t"],
                reduction=case.reduction,
                sample_weights=r32["w"],
                **case.options,
            )
        if close(np.asarray(g32, np.float64), exp, 1e-6):
            return "agree", ""
        # its float32 arithmetic itself (1 − Σŷy of cosine_distance near 1): the inputs are
        # O(1), so an error of 1e-6 absolute is the reference's precision
        if np.allclose(g, exp, rtol=1e-6, atol=1e-6):
            return "agree", ""
    if exp.ndim == 0:
        rel = abs(float(g) - float(exp)) / max(abs(float(exp)), 1e-300)
        return "DISAGREE", f"losscli {float(g)!r} vs framework {float(exp)!r} (rel {rel:.2e})"
    return "DISAGREE", f"losscli {g.round(9).tolist()} vs framework {exp.round(9).tolist()}"


def cli_value(case, tmp):
    loss = get_loss(case.loss)
    d = Path(tmp)
    if case.p.ndim > 2:  # a text file holds a matrix at most
        np.save(d / "p.npy", case.p)
        np.save(d / "t.npy", case.t)
        files = [str(d / "p.npy"), str(d / "t.npy")]
    else:
        np.savetxt(d / "p.csv", np.atleast_1d(case.p), delimiter=",", fmt="%.17g")
        np.savetxt(d / "t.csv", np.atleast_1d(case.t), delimiter=",", fmt="%.17g")
        files = [str(d / "p.csv"), str(d / "t.csv")]
    argv = [sys.executable, "-m", "losscli", case.loss, *files]
    argv += ["--convention", case.convention, "-f", "plain", "-r", case.reduction, "--no-header"]
    if case.w is not None:
        np.savetxt(d / "w.csv", case.w, delimiter=",", fmt="%.17g")
        argv += ["--sample-weights", str(d / "w.csv")]
    flags = {p.name: p.flag for p in loss.params}
    for k, v in case.options.items():
        if isinstance(v, bool):
            if k == "log_input":
                argv.append("--log-input" if v else "--no-log-input")
            elif v:
                argv.append(flags[k])
        else:
            argv += [flags[k], str(v)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    return res, argv


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cli", type=int, default=0, help="cases also run through the CLI")
    ap.add_argument("--only", default=None, help="LOSS or LOSS:CONVENTION")
    ap.add_argument("--show", type=int, default=3, help="disagreements printed per rule")
    ap.add_argument("--show-both", action="store_true", help="also list cases both refuse")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rules = sorted(RULES)
    if args.only:
        loss, _, conv = args.only.partition(":")
        rules = [k for k in rules if k[0] == loss and (not conv or k[1] == conv)]
    counts: dict = defaultdict(Counter)
    shown: dict = defaultdict(list)
    cli_cases = []
    for i in range(args.cases):
        key = rules[i % len(rules)]
        rule = RULES[key]
        loss, conv = key
        p, t, o, ref = gen(rng, loss, conv)
        reductions = (
            ["mean"] + (["sum"] if rule.sum_ok else []) + (["none"] if rule.none_ok else [])
        )
        if rng.random() < 0.05:
            reductions.append(pick(rng, ("sum", "none")))  # one it may lack: must be refused
        r = str(pick(rng, reductions))
        n = len(p)
        w = draw_weights(rng, n)
        if conv == "optax" and w is not None and rng.random() < 0.8:
            w = None  # mostly without; the rest check that weights are refused
        if (
            get_loss(loss).elementwise and p.ndim == 2 and p.shape == t.shape and rng.random() < 0.1
        ):  # an (N, 2, D) input: Keras averages D and divides by the N·2 values left
            p, t = np.stack([p, p[::-1]], axis=1), np.stack([t, t[::-1]], axis=1)
        foreign = [
            q for q in get_loss(loss).params if q.name in FOREIGN and q.name not in rule.honours
        ]
        if foreign and rng.random() < 0.05:  # an option the framework lacks: must be refused
            q = pick(rng, foreign)
            o = {**o, q.name: FOREIGN[q.name](p)}
            ref = {**ref, "foreign": q.name}
        case = Case(loss, conv, p, t, w, r, o, ref)
        try:
            outcome, detail = run_case(case)
        except Exception:
            outcome, detail = "CRASH", traceback.format_exc(limit=3)
        counts[key][outcome] += 1
        listed = ("DISAGREE", "CRASH", "refused") + (("both-refuse",) if args.show_both else ())
        if outcome in listed and len(shown[key, outcome]) < args.show:
            shown[key, outcome].append(f"{case.describe()}\n      {detail}")
        if outcome == "agree" and len(cli_cases) < args.cli and rng.random() < 0.1:
            cli_cases.append(case)
    bad = 0
    print(f"{'rule':32} {'agree':>6} {'refused':>8} {'both':>5} {'DISAGREE':>9} {'CRASH':>6}")
    for key in rules:
        c = counts[key]
        print(
            f"{key[0] + ':' + key[1]:32} {c['agree']:6} {c['refused']:8} {c['both-refuse']:5} "
            f"{c['DISAGREE']:9} {c['CRASH']:6}"
        )
        bad += c["DISAGREE"] + c["CRASH"]
    for (key, outcome), items in sorted(shown.items()):
        for item in items:
            print(f"\n[{outcome}] {key[0]}:{key[1]}  {item}")
    cli_bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in cli_cases:
            res, argv = cli_value(case, tmp)
            want = np.asarray(
                evaluate_convention(
                    get_loss(case.loss),
                    case.convention,
                    case.p,
                    case.t,
                    reduction=case.reduction,
                    sample_weights=case.w,
                    **case.options,
                ),
                np.float64,
            )
            try:
                lines = [x for x in res.stdout.split("\n") if x.strip()]
                got = np.array([float(x.split()[-1]) for x in lines])
                ok = res.returncode == 0 and close(got.reshape(-1), want.reshape(-1), 1e-12)
            except ValueError:
                ok = False
            if not ok:
                cli_bad += 1
                print(
                    f"\n[CLI] {case.describe()}\n  {' '.join(argv[2:])}\n  exit {res.returncode} "
                    f"stdout {res.stdout[:300]!r} stderr {res.stderr[:300]!r} want {want.tolist()}"
                )
    print(
        f"\n{args.cases} cases over {len(rules)} rules, seed {args.seed}: {bad} disagreements; "
        f"CLI {len(cli_cases) - cli_bad}/{len(cli_cases)} agree"
    )
    return 1 if bad or cli_bad else 0


if __name__ == "__main__":
    sys.exit(main())
