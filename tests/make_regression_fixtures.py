"""Generate tests/fixtures/regression_losses.json: reference values, gradients and Hessian
diagonals of the regression, likelihood, pair/similarity and segmentation losses of issue 10,
each evaluated by the library whose semantics losscli follows.

How to run (from the repository root):

    pip install torch==2.13.0 scikit-learn jax optax keras   # none is a losscli dependency
    KERAS_BACKEND=jax python tests/make_regression_fixtures.py

losscli never imports these libraries; the test suite only reads the JSON this script writes
(tests/test_regression_losses.py). Every case names the call it evaluated (``call``) and the
library (``source``):

* torch 2.13 (float64, CPU): ``torch.nn.functional`` losses — value with torch's own reduction,
  gradient by autograd, Hessian diagonal by ``torch.autograd.functional.hessian``.
* scikit-learn: ``sklearn.metrics`` values (``mean``, with ``sample_weight``); their gradient and
  Hessian are torch autograd of the same formula, written out in ``SKLEARN_FORMULAS`` below and
  checked here against sklearn's value to 1e-13 before it is used.
* optax (jax with ``jax_enable_x64``): value, ``jax.grad`` and ``jax.hessian``.
* keras 3 on the jax backend with ``floatx`` float64: value, ``jax.grad``, ``jax.hessian``. Keras
  computes some constants in float32 (``ops.log(2.0)`` in log_cosh, the 100 and the epsilon in
  MAPE), so its cases carry ``rtol`` 1e-6 instead of 1e-12; Keras's Dice and Tversky add 1e-7 to
  their denominators, which losscli's ``smooth=0`` does not, so those carry ``rtol`` 1e-5.

Each case holds ``value`` (a float, or the N row values for ``none``), ``grad`` (of the reduced
loss; for ``none`` of the sum of the row values), ``hess`` (the diagonal of the Hessian of that
same scalar), shaped like ``preds``. The data come from numpy's PCG64 seeded with a CRC32 of the
case id, so two runs give byte-identical files.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
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
import sklearn.metrics as skm  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

keras.config.set_floatx("float64")
torch.set_default_dtype(torch.float64)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
warnings.filterwarnings("ignore")

OUT = Path(__file__).resolve().parent / "fixtures" / "regression_losses.json"
CASES: list[dict] = []
RTOL_FLOAT64 = 1e-12
RTOL_KERAS = 1e-6  # float32 constants inside keras.losses
RTOL_KERAS_EPSILON = 1e-5  # Keras's Dice/Tversky + 1e-7 in the denominator vs smooth = 0


def rng_for(key: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(key.encode("utf-8")))


def tolist(a) -> object:
    a = np.asarray(a, dtype=np.float64)
    return float(a) if a.ndim == 0 else a.tolist()


def diag_of(h: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    return np.diag(np.asarray(h).reshape(n, n)).reshape(shape)


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
    *,
    source,
    call,
    rtol=RTOL_FLOAT64,
    sample_weights=None,
):
    assert case_id not in {c["id"] for c in CASES}, case_id
    CASES.append(
        {
            "id": case_id,
            "loss": loss,
            "options": options,
            "reduction": reduction,
            "preds": tolist(preds),
            "targets": tolist(targets),
            "sample_weights": None if sample_weights is None else tolist(sample_weights),
            "value": tolist(value),
            "grad": tolist(grad),
            "hess": tolist(hess),
            "source": source,
            "call": call,
            "rtol": rtol,
        }
    )


# --------------------------------------------------------------------------- generic drivers


def reduce_torch(values: torch.Tensor, reduction: str, elementwise: bool, s=None):
    """losscli's reductions of unreduced torch values (elementwise or per row)."""
    rows = values.mean(-1) if (elementwise and values.ndim == 2) else values
    if s is not None:
        s = torch.as_tensor(s)
        if reduction == "mean":
            return (rows * s).sum() / s.sum()
        if reduction == "sum":
            size = values.shape[1] if (elementwise and values.ndim == 2) else 1
            return (rows * s).sum() * size
        raise ValueError("weights only with mean/sum")
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return rows


def torch_case(
    case_id,
    loss,
    options,
    reduction,
    preds,
    targets,
    fn,
    *,
    elementwise,
    source,
    call,
    sample_weights=None,
    torch_reduction=True,
):
    """``fn(p, reduction)`` → torch loss; with ``torch_reduction`` the loss reduces itself
    (mean/sum as torch), else fn returns unreduced values reduced by :func:`reduce_torch`."""
    p0 = torch.tensor(np.asarray(preds, dtype=np.float64))

    def scalar_and_value(p):
        if reduction == "none":
            v = fn(p, "none")
            rows = v.mean(-1) if (elementwise and v.ndim == 2) else v
            return rows.sum(), rows
        if torch_reduction and sample_weights is None:
            v = fn(p, reduction)
        else:
            v = reduce_torch(fn(p, "none"), reduction, elementwise, sample_weights)
        return v, v

    p = p0.clone().requires_grad_(True)
    scalar, value = scalar_and_value(p)
    (grad,) = torch.autograd.grad(scalar, p)
    hess = torch.autograd.functional.hessian(lambda q: scalar_and_value(q)[0], p0.clone())
    add(
        case_id,
        loss,
        options,
        reduction,
        preds,
        targets,
        value.detach().numpy(),
        grad.numpy(),
        diag_of(hess.numpy(), p0.shape),
        source=source,
        call=call,
        sample_weights=sample_weights,
    )


def jax_case(
    case_id,
    loss,
    options,
    reduction,
    preds,
    targets,
    fn,
    *,
    elementwise,
    source,
    call,
    rtol=RTOL_FLOAT64,
):
    """``fn(p)`` → unreduced values as the library returns them (elementwise or per row)."""
    p0 = jnp.asarray(np.asarray(preds, dtype=np.float64))

    def rows_of(v):
        return v.mean(-1) if (elementwise and v.ndim == 2) else v

    def scalar(p):
        v = fn(p)
        if reduction == "mean":
            return jnp.mean(v)
        if reduction == "sum":
            return jnp.sum(v)
        return jnp.sum(rows_of(v))

    value = rows_of(fn(p0)) if reduction == "none" else scalar(p0)
    grad = jax.grad(scalar)(p0)
    hess = jax.hessian(scalar)(p0)
    add(
        case_id,
        loss,
        options,
        reduction,
        preds,
        targets,
        np.asarray(value),
        np.asarray(grad),
        diag_of(np.asarray(hess), p0.shape),
        source=source,
        call=call,
        rtol=rtol,
    )


def shape_tag(shape) -> str:
    return "n" + "x".join(str(n) for n in shape)


REG_SHAPES = [(1,), (6,), (4, 3)]
REDUCTIONS = ["mean", "sum", "none"]


def tt(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


# --------------------------------------------------------------------------- log-cosh


def log_cosh_cases():
    for shape in REG_SHAPES:
        key = f"log-cosh-{shape_tag(shape)}"
        r = rng_for(key)
        t = r.normal(0, 2, shape)
        p = t + r.normal(0, 2, shape)
        for red in REDUCTIONS:
            jax_case(
                f"{key}-{red}-optax",
                "log-cosh",
                {},
                red,
                p,
                t,
                lambda q, t=t: optax.losses.log_cosh(q, jnp.asarray(t)),
                elementwise=True,
                source=f"optax {optax.__version__}",
                call=f"jnp.{red if red != 'none' else 'mean(axis=-1) of '}"
                "(optax.losses.log_cosh(p, t))",
            )
        if len(shape) == 2:
            for red in ("mean", "none"):
                jax_case(
                    f"{key}-{red}-keras",
                    "log-cosh",
                    {},
                    red,
                    p,
                    t,
                    lambda q, t=t: keras.losses.log_cosh(t, q),
                    elementwise=False,
                    source=f"keras {keras.__version__}",
                    call="keras.losses.log_cosh(t, p) (mean over the last axis)"
                    + (", then its mean (sum_over_batch_size)" if red == "mean" else ""),
                    rtol=RTOL_KERAS,
                )
    # large errors: no overflow, tanh → ±1
    p, t = np.array([800.0, -30.0, 0.25]), np.array([0.0, 5.0, 0.0])
    jax_case(
        "log-cosh-large-sum-optax",
        "log-cosh",
        {},
        "sum",
        p,
        t,
        lambda q: optax.losses.log_cosh(q, jnp.asarray(t)),
        elementwise=True,
        source=f"optax {optax.__version__}",
        call="jnp.sum(optax.losses.log_cosh(p, t))",
    )


# --------------------------------------------------------------------------- sklearn formulas

SKLEARN_FORMULAS = {
    # sklearn.metrics._regression, written in torch for autograd (diff = y − ŷ)
    "pinball": lambda p, t, q: torch.where(t - p >= 0, q * (t - p), (q - 1) * (t - p)),
    "mape": lambda p, t, eps: (p - t).abs() / torch.clamp(t.abs(), min=eps),
    "msle": lambda p, t: (torch.log1p(t) - torch.log1p(p)) ** 2,
}


def tweedie_torch(p, t, power):
    """sklearn's _mean_tweedie_deviance, in torch."""
    if power < 0:
        return 2 * (
            torch.where(t > 0, t, 0.0) ** (2 - power) / ((1 - power) * (2 - power))
            - t * p ** (1 - power) / (1 - power)
            + p ** (2 - power) / (2 - power)
        )
    if power == 0:
        return (t - p) ** 2
    if power == 1:  # xlogy(t, t/p) as t log t − t log p: autograd gives −t/p, not NaN, at t = 0
        return 2 * (torch.xlogy(t, t) - torch.xlogy(t, p) - t + p)
    if power == 2:
        return 2 * (torch.log(p / t) + t / p - 1)
    return 2 * (
        t ** (2 - power) / ((1 - power) * (2 - power))
        - t * p ** (1 - power) / (1 - power)
        + p ** (2 - power) / (2 - power)
    )


def sklearn_case(
    case_id, loss, options, reduction, p, t, formula, sk_value, *, call, sample_weights=None
):
    """Value from sklearn for ``mean`` (checked against the torch formula), gradient and
    Hessian from torch autograd of the formula; sum/none from the formula."""
    tt_ = tt(t)
    fn = lambda q, red: formula(q, tt_)  # noqa: E731
    start = len(CASES)
    torch_case(
        case_id,
        loss,
        options,
        reduction,
        p,
        t,
        fn,
        elementwise=True,
        source=f"scikit-learn {sklearn.__version__} (value); torch {torch.__version__} "
        "autograd of the same formula (grad, hess)",
        call=call,
        sample_weights=sample_weights,
        torch_reduction=False,
    )
    case = CASES[start]
    if reduction == "mean":
        assert math.isclose(case["value"], sk_value, rel_tol=1e-13), (case_id, sk_value)
        case["value"] = float(sk_value)


def pinball_cases():
    for shape in REG_SHAPES:
        for q in (0.1, 0.5, 0.9):
            key = f"pinball-q{q}-{shape_tag(shape)}"
            r = rng_for(key)
            t = r.normal(0, 1, shape)
            p = t + r.normal(0, 1, shape)
            for red in REDUCTIONS:
                sk = float(skm.mean_pinball_loss(t, p, alpha=q)) if red == "mean" else None
                sklearn_case(
                    f"{key}-{red}",
                    "pinball",
                    {"quantile": q},
                    red,
                    p,
                    t,
                    lambda a, b, q=q: SKLEARN_FORMULAS["pinball"](a, b, q),
                    sk,
                    call=f"sklearn.metrics.mean_pinball_loss(t, p, alpha={q})",
                )
    # a tie ŷ = y: sklearn's branch y − ŷ ≥ 0 gives the subgradient −q
    p, t = np.array([1.0, 2.0, 0.5]), np.array([1.0, 0.0, 2.0])
    sklearn_case(
        "pinball-tie-q0.25-mean",
        "pinball",
        {"quantile": 0.25},
        "mean",
        p,
        t,
        lambda a, b: SKLEARN_FORMULAS["pinball"](a, b, 0.25),
        float(skm.mean_pinball_loss(t, p, alpha=0.25)),
        call="sklearn.metrics.mean_pinball_loss(t, p, alpha=0.25) at a tie",
    )
    # sample weights
    r = rng_for("pinball-weighted")
    t, p, s = r.normal(0, 1, 5), r.normal(0, 1, 5), r.uniform(0.5, 2.0, 5)
    sklearn_case(
        "pinball-q0.7-mean-weighted",
        "pinball",
        {"quantile": 0.7},
        "mean",
        p,
        t,
        lambda a, b: SKLEARN_FORMULAS["pinball"](a, b, 0.7),
        float(skm.mean_pinball_loss(t, p, alpha=0.7, sample_weight=s)),
        call="sklearn.metrics.mean_pinball_loss(t, p, alpha=0.7, sample_weight=s)",
        sample_weights=s,
    )


def mape_cases():
    eps = float(np.finfo(np.float64).eps)
    for shape in REG_SHAPES:
        key = f"mape-{shape_tag(shape)}"
        r = rng_for(key)
        t = r.normal(0, 2, shape)
        p = t + r.normal(0, 1, shape)
        for red in REDUCTIONS:
            sk = float(skm.mean_absolute_percentage_error(t, p)) if red == "mean" else None
            sklearn_case(
                f"{key}-{red}",
                "mape",
                {},
                red,
                p,
                t,
                lambda a, b: SKLEARN_FORMULAS["mape"](a, b, eps),
                sk,
                call="sklearn.metrics.mean_absolute_percentage_error(t, p)",
            )
        if len(shape) == 2:
            for red in ("mean", "none"):
                jax_case(
                    f"{key}-{red}-keras",
                    "mape",
                    {"percent": True, "epsilon": 1e-7},
                    red,
                    p,
                    t,
                    lambda q, t=t: keras.losses.mean_absolute_percentage_error(t, q),
                    elementwise=False,
                    source=f"keras {keras.__version__}",
                    call="keras.losses.mean_absolute_percentage_error(t, p)"
                    + (", then its mean" if red == "mean" else ""),
                    rtol=RTOL_KERAS,
                )
    # a zero target: divided by eps (sklearn) or 1e-7 (Keras)
    p, t = np.array([0.5, 1.0, -2.0]), np.array([0.0, 2.0, -1.0])
    sklearn_case(
        "mape-zero-target-mean",
        "mape",
        {},
        "mean",
        p,
        t,
        lambda a, b: SKLEARN_FORMULAS["mape"](a, b, eps),
        float(skm.mean_absolute_percentage_error(t, p)),
        call="sklearn.metrics.mean_absolute_percentage_error(t, p) with y = 0",
    )
    r = rng_for("mape-weighted")
    t, p, s = r.uniform(1, 3, 5), r.uniform(1, 3, 5), r.uniform(0.5, 2.0, 5)
    sklearn_case(
        "mape-mean-weighted",
        "mape",
        {},
        "mean",
        p,
        t,
        lambda a, b: SKLEARN_FORMULAS["mape"](a, b, eps),
        float(skm.mean_absolute_percentage_error(t, p, sample_weight=s)),
        call="sklearn.metrics.mean_absolute_percentage_error(t, p, sample_weight=s)",
        sample_weights=s,
    )


def msle_cases():
    for shape in REG_SHAPES:
        key = f"msle-{shape_tag(shape)}"
        r = rng_for(key)
        t = r.uniform(-0.5, 4, shape)
        p = r.uniform(-0.5, 4, shape)
        for red in REDUCTIONS:
            sk = float(skm.mean_squared_log_error(t, p)) if red == "mean" else None
            sklearn_case(
                f"{key}-{red}",
                "msle",
                {},
                red,
                p,
                t,
                SKLEARN_FORMULAS["msle"],
                sk,
                call="sklearn.metrics.mean_squared_log_error(t, p)",
            )
        if len(shape) == 2:
            pk = p.copy()
            pk[0, 0] = -0.3  # floored by Keras: gradient 0
            for red in ("mean", "none"):
                jax_case(
                    f"{key}-{red}-keras",
                    "msle",
                    {"floor": 1e-7},
                    red,
                    pk,
                    t,
                    lambda q, t=t: keras.losses.mean_squared_logarithmic_error(t, q),
                    elementwise=False,
                    source=f"keras {keras.__version__}",
                    call="keras.losses.mean_squared_logarithmic_error(t, p)"
                    + (", then its mean" if red == "mean" else ""),
                    rtol=RTOL_KERAS,
                )
    r = rng_for("msle-weighted")
    t, p, s = r.uniform(0, 3, 5), r.uniform(0, 3, 5), r.uniform(0.5, 2.0, 5)
    sklearn_case(
        "msle-mean-weighted",
        "msle",
        {},
        "mean",
        p,
        t,
        SKLEARN_FORMULAS["msle"],
        float(skm.mean_squared_log_error(t, p, sample_weight=s)),
        call="sklearn.metrics.mean_squared_log_error(t, p, sample_weight=s)",
        sample_weights=s,
    )


def away_from(p, t):
    """p moved off t where they are close: a deviance near 0 is a difference of nearly equal
    terms, whose rounding (any library's) would swamp a 1e-12 comparison."""
    return np.where(np.abs(p - t) < 0.25, p + 0.5, p)


def tweedie_cases():
    for power in (-0.5, 0.0, 1.0, 1.5, 2.0, 3.0):
        for shape in REG_SHAPES:
            key = f"tweedie-p{power}-{shape_tag(shape)}"
            r = rng_for(key)
            t = r.uniform(0.2, 4, shape)
            if 1 <= power < 2:
                t[..., 0] = 0.0  # y = 0 is in the Poisson/compound domain
            if power < 0:
                t[..., 0] = -0.5
            p = away_from(r.uniform(0.2, 4, shape), t)
            for red in REDUCTIONS:
                sk = None
                if red == "mean" and len(shape) == 1:  # sklearn takes vectors only
                    sk = float(skm.mean_tweedie_deviance(t, p, power=power))
                fn = lambda a, b, power=power: tweedie_torch(a, b, power)  # noqa: E731
                if sk is not None:
                    sklearn_case(
                        f"{key}-{red}",
                        "tweedie",
                        {"power": power},
                        red,
                        p,
                        t,
                        fn,
                        sk,
                        call=f"sklearn.metrics.mean_tweedie_deviance(t, p, power={power})",
                    )
                else:
                    tt_ = tt(t)
                    torch_case(
                        f"{key}-{red}",
                        "tweedie",
                        {"power": power},
                        red,
                        p,
                        t,
                        lambda q, _r, fn=fn, tt_=tt_: fn(q, tt_),
                        elementwise=True,
                        source=f"torch {torch.__version__} autograd of sklearn's "
                        "_mean_tweedie_deviance formula",
                        call=f"sklearn _mean_tweedie_deviance(power={power}) elementwise, in torch",
                        torch_reduction=False,
                    )
    for name, sk_fn, power in (
        ("poisson-deviance", skm.mean_poisson_deviance, 1.0),
        ("gamma-deviance", skm.mean_gamma_deviance, 2.0),
    ):
        key = f"{name}-n6"
        r = rng_for(key)
        t = r.uniform(0.2, 4, 6)
        p = away_from(r.uniform(0.2, 4, 6), t)
        if power == 1:
            t[0] = 0.0
        for red in REDUCTIONS:
            sk = float(sk_fn(t, p)) if red == "mean" else None
            sklearn_case(
                f"{key}-{red}",
                name,
                {},
                red,
                p,
                t,
                lambda a, b, power=power: tweedie_torch(a, b, power),
                sk,
                call=f"sklearn.metrics.{sk_fn.__name__}(t, p)",
            )
        s = r.uniform(0.5, 2.0, 6)
        sklearn_case(
            f"{key}-mean-weighted",
            name,
            {},
            "mean",
            p,
            t,
            lambda a, b, power=power: tweedie_torch(a, b, power),
            float(sk_fn(t, p, sample_weight=s)),
            call=f"sklearn.metrics.{sk_fn.__name__}(t, p, sample_weight=s)",
            sample_weights=s,
        )


# --------------------------------------------------------------------------- torch likelihoods


def poisson_nll_cases():
    for shape in REG_SHAPES:
        for log_input in (True, False):
            for full in (False, True):
                key = f"poisson-nll-{'log' if log_input else 'rate'}-{'full' if full else 'x'}"
                key += f"-{shape_tag(shape)}"
                r = rng_for(key)
                rates = r.uniform(0.2, 5, shape)
                t = r.poisson(rates * 1.3).astype(float)
                p = np.log(rates) if log_input else rates
                for red in REDUCTIONS:
                    tt_ = tt(t)
                    torch_case(
                        f"{key}-{red}",
                        "poisson-nll",
                        {"log_input": log_input, "full": full},
                        red,
                        p,
                        t,
                        lambda q, rr, tt_=tt_, li=log_input, fu=full: F.poisson_nll_loss(
                            q, tt_, log_input=li, full=fu, reduction=rr
                        ),
                        elementwise=True,
                        source=f"torch {torch.__version__}",
                        call=f"F.poisson_nll_loss(p, t, log_input={log_input}, full={full}, "
                        f"reduction='{red}')",
                    )
    # eps matters for a rate of 0 with a count of 0, and for tiny rates
    p, t = np.array([0.0, 1e-9, 2.0]), np.array([0.0, 1.0, 3.0])
    torch_case(
        "poisson-nll-rate-eps-sum",
        "poisson-nll",
        {"log_input": False, "epsilon": 1e-6},
        "sum",
        p,
        t,
        lambda q, rr: F.poisson_nll_loss(q, tt(t), log_input=False, eps=1e-6, reduction=rr),
        elementwise=True,
        source=f"torch {torch.__version__}",
        call="F.poisson_nll_loss(p, t, log_input=False, eps=1e-6, reduction='sum')",
    )


def gaussian_nll_cases():
    for shape in REG_SHAPES:
        layouts = ["scalar", "element"] + (["row"] if len(shape) == 2 else [])
        for layout in layouts:
            for full in (False, True):
                key = f"gaussian-nll-{layout}-{'full' if full else 'x'}-{shape_tag(shape)}"
                r = rng_for(key)
                t = r.normal(0, 1, shape)
                p = t + r.normal(0, 1, shape)
                if layout == "scalar":
                    var = float(r.uniform(0.3, 3))
                    tv, option = torch.full(shape, var), var
                elif layout == "element":
                    v = r.uniform(0.3, 3, shape)
                    tv, option = tt(v), v.reshape(-1).tolist()
                else:
                    v = r.uniform(0.3, 3, shape[0])
                    tv, option = tt(v), v.tolist()  # torch: var of shape (N,) for (N, D)
                for red in REDUCTIONS:
                    tt_ = tt(t)
                    torch_case(
                        f"{key}-{red}",
                        "gaussian-nll",
                        {"var": option, "full": full},
                        red,
                        p,
                        t,
                        lambda q, rr, tt_=tt_, tv=tv, fu=full: F.gaussian_nll_loss(
                            q, tt_, tv, full=fu, reduction=rr
                        ),
                        elementwise=True,
                        source=f"torch {torch.__version__}",
                        call=f"F.gaussian_nll_loss(p, t, var ({layout}), full={full}, "
                        f"reduction='{red}')",
                    )
    # variances below eps are clamped to it
    p, t, v = np.array([0.5, 1.0, -1.0]), np.array([0.0, 0.0, 0.0]), np.array([1e-8, 0.5, 2.0])
    torch_case(
        "gaussian-nll-clamped-eps1e-3-mean",
        "gaussian-nll",
        {"var": v.tolist(), "epsilon": 1e-3},
        "mean",
        p,
        t,
        lambda q, rr: F.gaussian_nll_loss(q, tt(t), tt(v), eps=1e-3, reduction=rr),
        elementwise=True,
        source=f"torch {torch.__version__}",
        call="F.gaussian_nll_loss(p, t, var, eps=1e-3)",
    )


# --------------------------------------------------------------------------- pairs


def similarity_cases():
    for shape in [(1, 3), (5, 4)]:
        key = f"cosine-similarity-{shape_tag(shape)}"
        r = rng_for(key)
        t, p = r.normal(0, 1, shape), r.normal(0, 1, shape)
        for red in REDUCTIONS:
            jax_case(
                f"{key}-{red}-optax",
                "cosine-similarity",
                {},
                red,
                p,
                t,
                lambda q, t=t: -optax.losses.cosine_similarity(q, jnp.asarray(t)),
                elementwise=False,
                source=f"optax {optax.__version__}",
                call="−optax.losses.cosine_similarity(p, t)",
            )
        jax_case(
            f"{key}-mean-keras",
            "cosine-similarity",
            {"epsilon": 1e-7},
            "mean",
            p,
            t,
            lambda q, t=t: keras.losses.cosine_similarity(t, q),
            elementwise=False,
            source=f"keras {keras.__version__}",
            call="keras.losses.cosine_similarity(t, p), then its mean",
            rtol=RTOL_FLOAT64,
        )
    # a floored row: optax epsilon floors the squared norm (0.25 = 0.5²)
    p = np.array([[0.1, 0.2, -0.1], [1.0, 2.0, 0.5]])
    t = np.array([[1.0, 0.0, 1.0], [0.5, -1.0, 1.0]])
    jax_case(
        "cosine-similarity-floored-sum-optax",
        "cosine-similarity",
        {"epsilon": 0.5},
        "sum",
        p,
        t,
        lambda q: -optax.losses.cosine_similarity(q, jnp.asarray(t), epsilon=0.25),
        elementwise=False,
        source=f"optax {optax.__version__}",
        call="−optax.losses.cosine_similarity(p, t, epsilon=0.25)",
    )

    for d in (2, 3):  # d = 1: cos = ±1 and the gradient is rounding noise
        for margin in (0.0, 0.3, -0.5):
            key = f"cosine-embedding-m{margin}-d{d}"
            r = rng_for(key)
            n = 6
            x1 = r.normal(0, 1, (n, d))
            x2 = r.normal(0, 1, (n, d))
            y = np.array([1, -1, 1, -1, -1, 1], dtype=float)
            for red in REDUCTIONS:
                torch_case(
                    f"{key}-{red}",
                    "cosine-embedding",
                    {"margin": margin},
                    red,
                    np.hstack([x1, x2]),
                    y,
                    lambda q, rr, d=d, margin=margin, y=y: F.cosine_embedding_loss(
                        q[:, :d], q[:, d:], tt(y), margin=margin, reduction=rr
                    ),
                    elementwise=False,
                    source=f"torch {torch.__version__}",
                    call=f"F.cosine_embedding_loss(p[:, :{d}], p[:, {d}:], y, margin={margin}, "
                    f"reduction='{red}')",
                )

    for margin in (0.0, 0.5):
        key = f"margin-ranking-m{margin}"
        r = rng_for(key)
        p = r.normal(0, 1, (7, 2))
        y = r.choice([-1.0, 1.0], 7)
        for red in REDUCTIONS:
            torch_case(
                f"{key}-{red}",
                "margin-ranking",
                {"margin": margin},
                red,
                p,
                y,
                lambda q, rr, y=y, margin=margin: F.margin_ranking_loss(
                    q[:, 0], q[:, 1], tt(y), margin=margin, reduction=rr
                ),
                elementwise=False,
                source=f"torch {torch.__version__}",
                call=f"F.margin_ranking_loss(p[:, 0], p[:, 1], y, margin={margin}, "
                f"reduction='{red}')",
            )
    p, y = np.array([[1.0, 1.0], [0.5, 1.0]]), np.array([1.0, -1.0])  # z = 0 and z = 0.5 − 0.5
    torch_case(
        "margin-ranking-kink-sum",
        "margin-ranking",
        {"margin": 0.0},
        "sum",
        p,
        y,
        lambda q, rr: F.margin_ranking_loss(q[:, 0], q[:, 1], tt(y), reduction=rr),
        elementwise=False,
        source=f"torch {torch.__version__}",
        call="F.margin_ranking_loss at z = 0 (clamp_min passes the gradient)",
    )

    for shape in [(1,), (6,), (4, 3)]:
        for margin in (1.0, 2.0):
            key = f"hinge-embedding-m{margin}-{shape_tag(shape)}"
            r = rng_for(key)
            x = np.abs(r.normal(1.0, 1.0, shape))
            y = r.choice([-1.0, 1.0], shape)
            for red in REDUCTIONS:
                torch_case(
                    f"{key}-{red}",
                    "hinge-embedding",
                    {"margin": margin},
                    red,
                    x,
                    y,
                    lambda q, rr, y=y, margin=margin: F.hinge_embedding_loss(
                        q, tt(y), margin=margin, reduction=rr
                    ),
                    elementwise=True,
                    source=f"torch {torch.__version__}",
                    call=f"F.hinge_embedding_loss(x, y, margin={margin}, reduction='{red}')",
                )
    x, y = np.array([1.0, 0.5, 1.0]), np.array([-1.0, -1.0, 1.0])
    torch_case(
        "hinge-embedding-kink-sum",
        "hinge-embedding",
        {"margin": 1.0},
        "sum",
        x,
        y,
        lambda q, rr: F.hinge_embedding_loss(q, tt(y), reduction=rr),
        elementwise=True,
        source=f"torch {torch.__version__}",
        call="F.hinge_embedding_loss at x = margin (clamp_min passes the gradient)",
    )


# --------------------------------------------------------------------------- segmentation


def optax_dice(q, t, *, logits, alpha, beta, smooth):
    """optax.losses.dice_loss per sample: one channel (logits, sigmoid) or the two channels
    [q, 1 − q] of probabilities (apply_softmax=False needs rows summing to 1), class 0 kept."""
    t = jnp.asarray(t).reshape(q.shape[0], -1)
    q = q.reshape(q.shape[0], -1)
    if logits:
        return optax.losses.dice_loss(
            q[..., None],
            t[..., None],
            alpha=alpha,
            beta=beta,
            smooth=smooth,
            apply_softmax=True,
            reduction="mean",
        )
    both = jnp.stack([q, 1.0 - q], axis=-1)
    tb = jnp.stack([t, 1.0 - t], axis=-1)
    per_class = optax.losses.dice_loss(
        both, tb, alpha=alpha, beta=beta, smooth=smooth, apply_softmax=False, reduction="none"
    )
    return per_class[:, 0]


def segmentation_cases():
    settings = [
        ("dice", {}, 0.5, 0.5, 1.0),
        ("dice", {"smooth": 0.0}, 0.5, 0.5, 0.0),
        ("tversky", {"alpha": 0.3, "beta": 0.7}, 0.3, 0.7, 1.0),
        ("tversky", {"alpha": 0.8, "beta": 0.1, "smooth": 0.5}, 0.8, 0.1, 0.5),
    ]
    for name, options, alpha, beta, smooth in settings:
        for logits in (False, True):
            for shape in [(5,), (4, 6)]:
                tag = "-".join(f"{k}{v}" for k, v in options.items()) or "default"
                key = f"{name}-{tag}-{'logits' if logits else 'probs'}-{shape_tag(shape)}"
                r = rng_for(key)
                t = (r.uniform(0, 1, shape) < 0.5).astype(float)
                if len(shape) == 2:
                    t[:, 0] = 1.0  # no empty row (0/0 with smooth 0)
                else:
                    t[:] = 1.0 if smooth == 0 else t
                p = r.normal(0, 2, shape) if logits else r.uniform(0.05, 0.95, shape)
                opts = {**options, **({"logits": True} if logits else {})}
                for red in REDUCTIONS:
                    jax_case(
                        f"{key}-{red}",
                        name,
                        opts,
                        red,
                        p,
                        t,
                        lambda q, t=t, lg=logits, a=alpha, b=beta, s=smooth: optax_dice(
                            q, t, logits=lg, alpha=a, beta=b, smooth=s
                        ),
                        elementwise=False,
                        source=f"optax {optax.__version__}",
                        call=f"optax.losses.dice_loss(p[..., None], t[..., None], "
                        f"alpha={alpha}, beta={beta}, smooth={smooth}, apply_softmax="
                        f"{logits}) per sample"
                        + ("" if logits else " (as the two channels [p, 1 − p])"),
                    )
    # Keras: Dice and Tversky (alpha on FN, beta on FP) per sample with axis=1
    r = rng_for("keras-segmentation")
    t = (r.uniform(0, 1, (4, 6)) < 0.5).astype(float)
    t[:, 0] = 1.0
    p = r.uniform(0.05, 0.95, (4, 6))
    jax_case(
        "dice-keras-mean",
        "dice",
        {"smooth": 0.0},
        "mean",
        p,
        t,
        lambda q: keras.losses.dice(t, q, axis=1),
        elementwise=False,
        source=f"keras {keras.__version__}",
        call="keras.losses.dice(t, p, axis=1), then its mean",
        rtol=RTOL_KERAS_EPSILON,
    )
    jax_case(
        "tversky-keras-mean",
        "tversky",
        {"alpha": 0.7, "beta": 0.3, "smooth": 0.0},
        "mean",
        p,
        t,
        lambda q: keras.losses.tversky(t, q, alpha=0.3, beta=0.7, axis=1),
        elementwise=False,
        source=f"keras {keras.__version__}",
        call="keras.losses.tversky(t, p, alpha=0.3, beta=0.7, axis=1), then its mean "
        "(Keras's alpha weighs false negatives: losscli's beta)",
        rtol=RTOL_KERAS_EPSILON,
    )


def main() -> None:
    log_cosh_cases()
    pinball_cases()
    mape_cases()
    msle_cases()
    tweedie_cases()
    poisson_nll_cases()
    gaussian_nll_cases()
    similarity_cases()
    segmentation_cases()
    doc = {
        "generator": "tests/make_regression_fixtures.py",
        "versions": {
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "jax": jax.__version__,
            "optax": optax.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
        },
        "cases": CASES,
    }
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(CASES)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
