"""Likelihood losses: Poisson and Gaussian negative log-likelihoods (as PyTorch) and the Tweedie
deviances (as scikit-learn), with the Poisson and gamma deviances as their own losses.

All are *elementwise*: a row's loss is the mean over its D elements, ``mean`` is over all N·D
elements (see :mod:`losscli.losses._base`).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from ._base import (
    Loss,
    Param,
    Prepared,
    check_same_shape,
    parse_numbers,
    warn,
    warn_counted,
)
from ._common import check_option, positive_samples, regression_samples, reject_where
from .regression import prepare_regression

__all__ = [
    "gamma_deviance",
    "gaussian_nll",
    "poisson_deviance",
    "poisson_nll",
    "tweedie",
]

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


# --------------------------------------------------------------------------- poisson nll


def poisson_nll_values(
    predictions: np.ndarray, targets: np.ndarray, *, log_input: bool, full: bool, epsilon: float
) -> np.ndarray:
    """e^x − y·x (log-rates x), or λ − y·log(λ + ε) (rates λ); plus Stirling's
    y log y − y + ½ log(2πy) where y > 1 with ``full``."""
    x, y = predictions, targets
    out = np.exp(x) - y * x if log_input else x - y * np.log(x + epsilon)
    if full:
        big = y > 1
        yb = y[big]
        out[big] += yb * np.log(yb) - yb + 0.5 * np.log(2.0 * math.pi * yb)
    return out


def poisson_nll_grad(
    predictions: np.ndarray, targets: np.ndarray, *, log_input: bool, full: bool, epsilon: float
) -> np.ndarray:
    """e^x − y (log-rates), or 1 − y/(λ + ε) (rates); Stirling's term is constant in x."""
    if log_input:
        return np.exp(predictions) - targets
    return 1.0 - targets / (predictions + epsilon)


def poisson_nll_hess(
    predictions: np.ndarray, targets: np.ndarray, *, log_input: bool, full: bool, epsilon: float
) -> np.ndarray:
    """e^x (log-rates), or y/(λ + ε)² (rates)."""
    if log_input:
        return np.exp(predictions)
    return targets / np.square(predictions + epsilon)


def _prepare_poisson_nll(
    predictions: np.ndarray, targets: np.ndarray, *, log_input: bool, full: bool, epsilon: float
) -> Prepared:
    epsilon = check_option("epsilon", epsilon, low=0.0)
    check_same_shape(predictions, targets)  # before the domain checks compare them elementwise
    reject_where(
        targets < 0,
        targets,
        "Poisson targets are counts (≥ 0)",
        "check the targets file and column",
        role="targets",
    )
    if not log_input:
        reject_where(
            predictions < 0,
            predictions,
            "with --no-log-input the predictions are rates λ ≥ 0",
            "drop --no-log-input if these are log-rates",
            role="predictions",
        )
        if epsilon == 0:
            reject_where(
                (predictions == 0) & (targets > 0),
                predictions,
                "a rate of 0 for a positive count has loss log(0) = −∞ with --epsilon 0",
                "give --epsilon > 0 (torch's default is 1e-8)",
                role="predictions",
            )
    options = {"log_input": bool(log_input), "full": bool(full), "epsilon": epsilon}
    prepared = prepare_regression(predictions, targets, **options)
    prepared.describe["predictions_are"] = "log-rates" if log_input else "rates"
    if full:
        prepared.describe["full"] = True
    return prepared


poisson_nll = Loss(
    name="poisson-nll",
    summary="Poisson negative log-likelihood of log-rates (or rates with --no-log-input)",
    formula=(
        "mean over elements of e^x − y·x (log-rates x), or λ − y·log(λ + ε) (rates); "
        "--full adds y log y − y + ½ log(2πy) where y > 1"
    ),
    gradient_formula="e^x − y (log-rates) or 1 − y/(λ + ε) (rates); divided by N·D for mean",
    reference="torch.nn.functional.poisson_nll_loss",
    values=poisson_nll_values,
    grad_kernel=poisson_nll_grad,
    hess_kernel=poisson_nll_hess,
    prepare=_prepare_poisson_nll,
    params=(
        Param(
            "log_input",
            bool,
            True,
            "Predictions are log-rates x (loss e^x − y·x), as torch's default; "
            "--no-log-input: they are rates λ ≥ 0 (loss λ − y·log(λ + ε)).",
            cli_flag="--log-input/--no-log-input",
        ),
        Param("full", bool, False, "Add Stirling's approximation of log(y!) where y > 1."),
        Param(
            "epsilon",
            float,
            1e-8,
            "ε in log(λ + ε) with --no-log-input (torch's eps; --eps is the --check step).",
        ),
    ),
    elementwise=True,
    sample_data=lambda options: (
        "count_log_rates.csv" if options.get("log_input", True) else "count_rates.csv",
        "count_targets.csv",
    ),
    examples=(
        "losscli poisson-nll log_rates.csv counts.csv --grad",
        "losscli poisson-nll rates.csv counts.csv --no-log-input --full",
    ),
    example=([[0.0, 1.0], [-1.0, 0.5]], [[1.0, 3.0], [0.0, 2.0]], {}),
    doc="""Poisson negative log-likelihood, as ``torch.nn.functional.poisson_nll_loss``.

Elementwise, with targets y ≥ 0 (counts): for log-rates ``x`` (``log_input=True``, the default)
``e^x − y·x``; for rates ``λ ≥ 0`` (``log_input=False``) ``λ − y·log(λ + ε)`` with
``ε = 1e-8`` (``epsilon``; the CLI flag is ``--epsilon`` since ``--eps`` is the --check step).
``full=True`` adds Stirling's approximation ``y log y − y + ½ log(2πy)`` of ``log(y!)`` where
``y > 1`` (0 elsewhere), as torch. Rows are the mean over their D elements; ``mean`` is over all
N·D elements.

Shapes: ``predictions`` and ``targets`` both ``(N,)`` or both ``(N, D)``.

Gradient w.r.t. ``predictions``: ``e^x − y`` (log-rates) or ``1 − y/(λ + ε)`` (rates), divided
by N·D under ``mean``. Hessian diagonal: ``e^x``, or ``y/(λ + ε)²`` — the latter 0 where y = 0.
(XGBoost's ``count:poisson`` takes the log-rate form with its Hessian ``e^(x + max_delta_step)``.)

>>> import losscli
>>> losscli.poisson_nll([0.0, 0.0], [1.0, 3.0])
1.0
>>> losscli.poisson_nll.grad([0.0, 0.0], [1.0, 3.0], reduction="sum")
array([ 0., -2.])
""",
)


# --------------------------------------------------------------------------- gaussian nll


def gaussian_nll_values(
    predictions: np.ndarray, targets: np.ndarray, *, var: np.ndarray, full: bool
) -> np.ndarray:
    """½(log v + (μ − y)²/v), plus ½ log 2π with ``full``; v the (clamped) variance."""
    err = predictions - targets
    out = 0.5 * (np.log(var) + err * err / var)
    if full:
        out += HALF_LOG_2PI
    return out


def gaussian_nll_grad(
    predictions: np.ndarray, targets: np.ndarray, *, var: np.ndarray, full: bool
) -> np.ndarray:
    """(μ − y)/v: the gradient w.r.t. the means (the variance is data here)."""
    return (predictions - targets) / var


def gaussian_nll_hess(
    predictions: np.ndarray, targets: np.ndarray, *, var: np.ndarray, full: bool
) -> np.ndarray:
    """1/v."""
    return np.broadcast_to(1.0 / var, predictions.shape).copy()


def _parse_var(text: str) -> np.ndarray:
    return parse_numbers(text, role="variance")


def _variance_array(var: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The variance broadcast to the predictions' shape: one number, one per row (N) or one
    per element (N·D, row by row), as torch's heteroscedastic and homoscedastic layouts."""
    if var is None:
        warn("no --var given: every variance is 1 (the loss is then ½(μ − y)² + const)")
        var = 1.0
    v = np.asarray(var, dtype=np.float64).reshape(-1)
    n = shape[0]
    size = int(np.prod(shape))
    if v.size == 1:
        return np.full(shape, float(v[0]))
    if v.size == size:
        return v.reshape(shape).copy()
    if len(shape) == 2 and v.size == n:
        return np.repeat(v[:, None], shape[1], axis=1)
    per_row = f" or one per row ({n})" if len(shape) == 2 else ""
    raise InputError(
        f"--var takes one number, one per element ({size}){per_row}, got {v.size} values",
        role="variance",
    )


def _clamped_variances_text(epsilon: float, count, total, first, detail) -> str:
    return (
        f"{count} variance{' is' if count == 1 else 's are'} below --epsilon ({epsilon:g}) and "
        "clamped to it, as torch does"
    )


def _prepare_gaussian_nll(
    predictions: np.ndarray,
    targets: np.ndarray,
    *,
    var: Any,
    full: bool,
    epsilon: float,
    var_col: str | None = None,
) -> Prepared:
    if var_col is not None:  # the engine reads the column and passes it as var
        raise UsageError(
            "var_col names a column of a table: give it to losscli.evaluate (or --var-col on "
            "the command line); here pass the variances as var"
        )
    epsilon = check_option("epsilon", epsilon, low=0.0)
    check_same_shape(predictions, targets)
    given = np.asarray(1.0 if var is None else var, dtype=np.float64)
    if given.ndim == 1 and given.size == len(predictions) != predictions.size:
        # one per row (a --var file, --var-col): the row is named, not an element of it
        reject_where(
            ~np.isfinite(given) | (given <= 0),
            given,
            "variances must be finite and > 0",
            "give σ², not σ or log σ² (torch clamps a variance of 0 to --epsilon; give that "
            "value if you mean it)",
            role="variance",
        )
    v = _variance_array(var, predictions.shape)
    reject_where(
        ~np.isfinite(v) | (v <= 0),
        v,
        "variances must be finite and > 0",
        "give σ², not σ or log σ² (torch clamps a variance of 0 to --epsilon; give that value "
        "if you mean it)",
        role="variance",
    )
    clamped = int((v < epsilon).sum())
    if clamped:
        warn_counted(functools.partial(_clamped_variances_text, epsilon), clamped)
    v = np.maximum(v, epsilon)
    prepared = prepare_regression(predictions, targets, var=v, full=bool(full))
    describe = {"variance": "one value" if np.ptp(v) == 0 else "per element"}
    if clamped:
        describe["clamped_variances"] = clamped
    if full:
        describe["full"] = True
    return Prepared(
        prepared.predictions,
        prepared.targets,
        prepared.options,
        describe=describe,
        per_row=("var",),
    )


gaussian_nll = Loss(
    name="gaussian-nll",
    summary="Gaussian negative log-likelihood of means ŷ with given variances",
    formula="mean over elements of ½(log v + (ŷ − y)²/v), v = max(var, ε); --full adds ½ log 2π",
    gradient_formula="(ŷ − y)/v w.r.t. the means; divided by N·D for mean",
    reference="torch.nn.functional.gaussian_nll_loss",
    values=gaussian_nll_values,
    grad_kernel=gaussian_nll_grad,
    hess_kernel=gaussian_nll_hess,
    prepare=_prepare_gaussian_nll,
    params=(
        Param(
            "var",
            str,
            None,
            "Variances σ² > 0: one number, or a comma list or file (CSV, TSV, NPY) with one per "
            "row or one per element. Default 1 (with a warning).",
            parse=_parse_var,
            metavar="V",
        ),
        Param(
            "var_col",
            str,
            None,
            "Column of variances, one per row, with one file holding the columns (PREDS alone "
            "with --pred-col/--target-col), instead of --var.",
            metavar="COL",
            column_of="var",
        ),
        Param("full", bool, False, "Add the constant ½ log 2π to each element."),
        Param(
            "epsilon",
            float,
            1e-6,
            "Variances below this are clamped to it, as torch (its eps; --eps is the --check "
            "step).",
        ),
    ),
    elementwise=True,
    sample_data=regression_samples,
    examples=(
        "losscli gaussian-nll means.csv targets.csv --var 0.25 --grad",
        "losscli gaussian-nll means.csv targets.csv --var variances.csv --full",
        "losscli gaussian-nll scores.csv --pred-col mu --target-col y --var-col var",
    ),
    example=([[0.5, 3.0], [-2.0, 1.0]], [[0.0, 2.0], [0.0, 1.5]], {"var": 2.0}),
    doc="""Gaussian negative log-likelihood, as ``torch.nn.functional.gaussian_nll_loss``.

Elementwise, predictions μ (the means), targets y and variances ``v = max(var, ε)``:
``½(log v + (μ − y)²/v)``, plus ``½ log 2π`` with ``full=True``. ``var`` is one number, or an
array (a comma list or a file on the command line) with one variance per row (torch's
``var`` of shape ``(N,)`` or ``(N, 1)`` for ``(N, D)`` inputs) or one per element (or, with
one file holding the columns, ``--var-col``: a column of it, one per row, streamed); variances
must be > 0 (torch clamps 0 to ε; losscli asks for the value instead), those below
``ε = 1e-6`` (``epsilon``, CLI ``--epsilon``) are clamped to it with a warning. Rows are the
mean over their D elements; ``mean`` is over all N·D elements.

Shapes: ``predictions`` and ``targets`` both ``(N,)`` or both ``(N, D)``.

Gradient w.r.t. the means: ``(μ − y)/v``, divided by N·D under ``mean``; the variance is data
here (no gradient w.r.t. it is reported). Hessian diagonal: ``1/v``.

>>> import losscli
>>> round(losscli.gaussian_nll([1.0], [0.0], var=1.0), 12)
0.5
>>> losscli.gaussian_nll.grad([1.0, 1.0], [0.0, 0.0], var=[1.0, 4.0], reduction="sum")
array([1.  , 0.25])
""",
)


# --------------------------------------------------------------------------- tweedie


def _log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(a/b) for a, b > 0: one rounding where a/b is a normal number (exact near a = b,
    where log a − log b would cancel), log a − log b where it under- or overflows."""
    with np.errstate(over="ignore", under="ignore"):
        ratio = a / b
    out = np.log(np.where(ratio > np.finfo(np.float64).tiny, ratio, 1.0))
    bad = ~((ratio > np.finfo(np.float64).tiny) & np.isfinite(ratio))
    out[bad] = np.log(a[bad]) - np.log(b[bad])
    return out


def tweedie_values(predictions: np.ndarray, targets: np.ndarray, *, power: float) -> np.ndarray:
    """The unit deviance of sklearn's ``_mean_tweedie_deviance`` for ``power``."""
    p, mu, y = power, predictions, targets
    if p == 0:
        return np.square(y - mu)
    if p == 1:
        pos = y > 0
        ylogy = np.zeros_like(y)
        ylogy[pos] = y[pos] * _log_ratio(y[pos], mu[pos])
        return 2.0 * (ylogy - y + mu)
    if p == 2:
        return 2.0 * (_log_ratio(mu, y) + y / mu - 1.0)
    first = np.power(np.maximum(y, 0.0) if p < 0 else y, 2.0 - p) / ((1.0 - p) * (2.0 - p))
    return 2.0 * (first - y * np.power(mu, 1.0 - p) / (1.0 - p) + np.power(mu, 2.0 - p) / (2.0 - p))


def tweedie_grad(predictions: np.ndarray, targets: np.ndarray, *, power: float) -> np.ndarray:
    """2 μ^(−p) (μ − y) for every power."""
    if power == 0:
        return 2.0 * (predictions - targets)
    return 2.0 * np.power(predictions, -power) * (predictions - targets)


def tweedie_hess(predictions: np.ndarray, targets: np.ndarray, *, power: float) -> np.ndarray:
    """2 μ^(−p−1) ((1 − p) μ + p y)."""
    if power == 0:
        return np.full(predictions.shape, 2.0)
    mu = predictions
    return 2.0 * np.power(mu, -power - 1.0) * ((1.0 - power) * mu + power * targets)


def _check_tweedie_domain(predictions: np.ndarray, targets: np.ndarray, power: float) -> None:
    """sklearn's domain of each power, with its words."""
    what = f"the Tweedie deviance with power {power:g} needs"
    if power != 0:
        reject_where(
            predictions <= 0,
            predictions,
            f"{what} predictions (means) > 0",
            "predict the mean on its natural scale (exponentiate log-link outputs)",
            role="predictions",
        )
    if 1 <= power < 2:
        reject_where(
            targets < 0, targets, f"{what} targets ≥ 0", "check the targets", role="targets"
        )
    elif power >= 2:
        reject_where(
            targets <= 0, targets, f"{what} targets > 0", "check the targets", role="targets"
        )


def _prepare_tweedie(predictions: np.ndarray, targets: np.ndarray, *, power: float) -> Prepared:
    power = check_option("power", power)
    if 0 < power < 1:
        raise UsageError(
            f"--power must be ≤ 0 or ≥ 1 (no Tweedie distribution has a power in (0, 1)), "
            f"got {power!r}"
        )
    check_same_shape(predictions, targets)
    _check_tweedie_domain(predictions, targets, power)
    prepared = prepare_regression(predictions, targets, power=power)
    prepared.describe["power"] = power
    return prepared


_TWEEDIE_DOC_TAIL = """
Shapes: ``predictions`` (the means μ, on their natural scale, not a log-link output) and
``targets`` both ``(N,)`` or both ``(N, D)``; scikit-learn takes vectors only, and losscli's
``mean`` of an ``(N, D)`` input is the mean over all N·D elements.

Gradient w.r.t. ``predictions``, for every power: ``2 μ^(−p) (μ − y)``, divided by N·D under
``mean``. Hessian diagonal: ``2 μ^(−p−1) ((1 − p) μ + p y)``."""

tweedie = Loss(
    name="tweedie",
    summary="Tweedie deviance with --power (0 squared error, 1 Poisson, 2 gamma)",
    formula=(
        "mean over elements of 2(max(y,0)^(2−p)/((1−p)(2−p)) − y μ^(1−p)/(1−p) + "
        "μ^(2−p)/(2−p)); p = 0, 1, 2 by their limits"
    ),
    gradient_formula="2 μ^(−p) (μ − y); divided by N·D for mean",
    reference="sklearn.metrics.mean_tweedie_deviance",
    values=tweedie_values,
    grad_kernel=tweedie_grad,
    hess_kernel=tweedie_hess,
    prepare=_prepare_tweedie,
    params=(
        Param(
            "power",
            float,
            0.0,
            "Tweedie power p ≤ 0 or ≥ 1: 0 normal (squared error), 1 Poisson, (1, 2) compound "
            "Poisson-gamma, 2 gamma, 3 inverse Gaussian.",
            metavar="P",
        ),
    ),
    elementwise=True,
    sample_data=positive_samples,
    examples=(
        "losscli tweedie preds.csv targets.csv --power 1.5 --grad",
        "losscli tweedie preds.csv targets.csv --power 3",
    ),
    example=([[1.0, 2.0], [0.5, 4.0]], [[0.5, 2.5], [1.0, 3.0]], {"power": 1.5}),
    doc="""Tweedie deviance, as ``sklearn.metrics.mean_tweedie_deviance(y, μ, power=p)``.

Elementwise unit deviance, for power ``p ≤ 0`` or ``p ≥ 1``:
``2(max(y, 0)^(2−p)/((1−p)(2−p)) − y μ^(1−p)/(1−p) + μ^(2−p)/(2−p))``, and by its limits
``(y − μ)²`` at ``p = 0``, ``2(y log(y/μ) − y + μ)`` at ``p = 1`` (the Poisson deviance) and
``2(log(μ/y) + y/μ − 1)`` at ``p = 2`` (the gamma deviance). Domains, as scikit-learn's:
``μ > 0`` unless ``p = 0``; ``y ≥ 0`` for ``1 ≤ p < 2``; ``y > 0`` for ``p ≥ 2``.
"""
    + _TWEEDIE_DOC_TAIL
    + """

>>> import losscli
>>> losscli.tweedie([1.0, 3.0], [2.0, 2.0], power=0)
1.0
>>> round(losscli.tweedie([2.0], [2.0], power=1.5), 12)
0.0
""",
)


def _fixed_power(power: float):
    def prepare(predictions: np.ndarray, targets: np.ndarray) -> Prepared:
        check_same_shape(predictions, targets)
        _check_tweedie_domain(predictions, targets, power)
        return prepare_regression(predictions, targets, power=power)

    return prepare


poisson_deviance = Loss(
    name="poisson-deviance",
    summary="Poisson deviance of means μ > 0 (the Tweedie deviance with power 1)",
    formula="mean over elements of 2(y log(y/μ) − y + μ)",
    gradient_formula="2(1 − y/μ); divided by N·D for mean",
    reference="sklearn.metrics.mean_poisson_deviance",
    values=tweedie_values,
    grad_kernel=tweedie_grad,
    hess_kernel=tweedie_hess,
    prepare=_fixed_power(1.0),
    elementwise=True,
    sample_data=positive_samples,
    examples=("losscli poisson-deviance means.csv counts.csv --grad",),
    example=([[1.0, 2.0], [0.5, 4.0]], [[0.0, 2.5], [1.0, 3.0]], {}),
    doc="""Poisson deviance, as ``sklearn.metrics.mean_poisson_deviance`` (``tweedie`` with
``power=1``).

Elementwise, means ``μ > 0`` and targets ``y ≥ 0``: ``2(y log(y/μ) − y + μ)`` (``y log y = 0``
at ``y = 0``). It is twice the Poisson NLL of rates μ minus its value at ``μ = y``: the same
gradient direction as ``poisson-nll --no-log-input``, scaled by 2. Rows are the mean over their
D elements; ``mean`` is over all N·D elements.
"""
    + _TWEEDIE_DOC_TAIL.replace("2 μ^(−p) (μ − y)", "2(1 − y/μ)").replace(
        "2 μ^(−p−1) ((1 − p) μ + p y)", "2y/μ²"
    )
    + """

>>> import losscli
>>> round(losscli.poisson_deviance([1.0], [1.0]), 12)
0.0
>>> losscli.poisson_deviance.grad([2.0], [1.0])
array([1.])
""",
)

gamma_deviance = Loss(
    name="gamma-deviance",
    summary="Gamma deviance of means μ > 0 (the Tweedie deviance with power 2)",
    formula="mean over elements of 2(log(μ/y) + y/μ − 1)",
    gradient_formula="2(1/μ − y/μ²); divided by N·D for mean",
    reference="sklearn.metrics.mean_gamma_deviance",
    values=tweedie_values,
    grad_kernel=tweedie_grad,
    hess_kernel=tweedie_hess,
    prepare=_fixed_power(2.0),
    elementwise=True,
    sample_data=positive_samples,
    examples=("losscli gamma-deviance means.csv targets.csv --grad",),
    example=([[1.0, 2.0], [0.5, 4.0]], [[0.5, 2.5], [1.0, 3.0]], {}),
    doc="""Gamma deviance, as ``sklearn.metrics.mean_gamma_deviance`` (``tweedie`` with
``power=2``).

Elementwise, means ``μ > 0`` and targets ``y > 0``: ``2(log(μ/y) + y/μ − 1)``; it depends on
``μ/y`` only, so it measures relative error. Rows are the mean over their D elements; ``mean``
is over all N·D elements.
"""
    + _TWEEDIE_DOC_TAIL.replace("2 μ^(−p) (μ − y)", "2(μ − y)/μ²").replace(
        "2 μ^(−p−1) ((1 − p) μ + p y)", "2(2y − μ)/μ³"
    )
    + """

>>> import losscli
>>> round(losscli.gamma_deviance([2.0], [2.0]), 12)
0.0
>>> losscli.gamma_deviance.grad([2.0], [1.0])
array([0.5])
""",
)
