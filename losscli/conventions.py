"""What each framework would report for the same loss (``--convention``), and which convention
or common mistake reproduces a number seen in a training log (``--which``).

Frameworks agree on the formula of a loss far more often than on the number they print for it:
they differ in the mean's denominator, in clips and epsilons, in a mean over the last axis, and
in how sample weights enter. Each :class:`Rule` here reproduces one framework's default for one
loss, exactly, from the same arrays losscli reads:

``torch``
    ``torch.nn.functional`` (losscli's own semantics, the default).
``keras``
    Keras 3 ``keras.losses.*``: a value per sample (the mean over the last axis for elementwise
    losses; a vector input is read as N samples of one output, as a Keras model emits it), then
    ``sum_over_batch_size``: Σ s·L / N — sample weights are *not* in the denominator.
    Probabilities are clipped to [1e-7, 1 − 1e-7] (``keras.backend.epsilon()``), and
    ``categorical_crossentropy`` first divides each row by its sum.
``tf1``
    ``tf.compat.v1.losses.*``: elementwise values, weights broadcast to them, and the default
    ``SUM_BY_NONZERO_WEIGHTS``: Σ w·L / (number of non-zero broadcast weights; 0 when none).
    ``log_loss`` adds ε = 1e-7 inside both logs; the softmax losses take logits.
``optax``
    ``optax.losses.*``: unreduced — elementwise for regression, one value per example for
    cross-entropy and KL; ``mean`` is the plain mean of those values. No sample weights.
``sklearn``
    ``sklearn.metrics.*``: one number, a weighted ``np.average`` over samples (Σ s·L / Σ s);
    ``log_loss`` clips probabilities to [ε, 1 − ε] with ε the float64 machine epsilon.

Every reduction is a ratio of two sums over rows, so :meth:`Rule.partial` gives a block's
``(numerator, denominator)`` that add up over blocks; a vector of them for scikit-learn's RMSE,
which averages the RMSE of each output column, and the batch's sums for Keras's Dice and
Tversky, which pool the whole batch into one value (:class:`PooledRule`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import LossCliError, UsageError
from .losses import Loss, log_softmax, softmax
from .losses._common import stable_sigmoid
from .losses.classification import resolve_class_targets
from .losses.likelihood import tweedie_values
from .losses.relative import mape_values, msle_values
from .losses.robust import log_cosh_values, pinball_values
from .losses.scoring import brier, sparsemax_loss
from .losses.similarity import cosine_similarity_values
from .states import ExactSum

__all__ = [
    "CONVENTIONS",
    "Candidate",
    "ConventionFold",
    "ConventionState",
    "Rule",
    "conventions_for",
    "evaluate_convention",
    "get_rule",
    "torch_has",
    "which",
]

CONVENTIONS = ("torch", "keras", "tf1", "optax", "sklearn")
KERAS_EPSILON = 1e-7  # keras.backend.epsilon()
TF1_LOG_LOSS_EPSILON = 1e-7  # tf.compat.v1.losses.log_loss's default epsilon
SKLEARN_EPSILON = float(np.finfo(np.float64).eps)  # sklearn.metrics.log_loss, float64 input

# scikit-learn's metrics raise on weights that are all zero (its mean and log_loss's sum alike)
_SKLEARN_ZERO_WEIGHTS = (
    "scikit-learn's metrics raise on sample weights that are all zero; give at least one "
    "non-zero weight"
)

# How a rule's mean divides its weighted sum.
PER_SAMPLE = "samples"  # Keras sum_over_batch_size: the number of samples
NONZERO = "nonzero weights"  # TF1 SUM_BY_NONZERO_WEIGHTS
ELEMENTS = "values"  # optax: the number of unreduced values
WEIGHT_SUM = "weight sum"  # scikit-learn np.average: Σ s


@dataclass(frozen=True)
class ConventionState:
    """A block's part of a convention's reduction: ``numerator / denominator`` once merged
    (``sum`` is the numerator alone). Arrays for per-column metrics (scikit-learn's RMSE)."""

    numerator: Any
    denominator: Any

    def merge(self, other: ConventionState) -> ConventionState:
        return ConventionState(
            _added(self.numerator, other.numerator), _added(self.denominator, other.denominator)
        )


def _total(x: Any) -> float:
    return float(x) if isinstance(x, ExactSum) else float(np.sum(x))


def _added(a: Any, b: Any) -> Any:
    # a scalar part is an ExactSum: any split of the rows into blocks gives the in-memory bits
    return a.merge(b) if isinstance(a, ExactSum) else a + b


@dataclass(frozen=True)
class Rule:
    """One loss as one framework computes it by default."""

    loss: str  # losscli's name
    convention: str
    call: str  # the reference call, e.g. "keras.losses.MeanSquaredError()"
    values: Callable[..., np.ndarray]  # (p, t, **options) -> the framework's unreduced values
    denominator: str  # PER_SAMPLE, NONZERO, ELEMENTS or WEIGHT_SUM
    note: str = ""
    sum_ok: bool = True  # the framework has a sum reduction for this loss
    none_ok: bool = True  # ... and an unreduced form
    finish: Callable[[Any], float] | None = None  # e.g. sklearn RMSE: mean of √ per column
    columnwise: bool = False  # numerator/denominator per output column
    # losscli options this framework has too (beyond --logits and --targets, which say how to
    # read the inputs); any other option set away from its default is refused.
    honours: tuple[str, ...] = ()
    # the values depend on the labels of all the targets (Keras's hinge maps 0/1 labels to ±1
    # only when every label is 0 or 1; scikit-learn's binary hinge_loss takes its two classes
    # from all of y_true): :class:`ConventionFold` passes them as ``labels`` (the sorted
    # distinct targets of the whole input; a streamed run finds them in a first pass)
    labels: bool = False

    def partial(
        self, predictions: np.ndarray, targets: np.ndarray, sample_weights=None, **options
    ) -> ConventionState:
        """This block's numerator and denominator (see :class:`ConventionState`)."""
        v = self.values(predictions, targets, **options)
        w = _broadcast_weights(sample_weights, v, self.convention)
        if self.columnwise:
            w2 = np.ones_like(v) if w is None else w
            return ConventionState((v * w2).sum(axis=0), w2.sum(axis=0))
        # numpy's pairwise sum per block, the blocks' sums merged exactly, as the torch run
        # sums (math.fsum of every value was 15× the torch run's time on 1e8 values)
        numerator = float(np.sum(v if w is None else v * w))
        count = float(self._count(v, w, sample_weights))
        return ConventionState(ExactSum.of(numerator), ExactSum.of(count))

    def _count(self, v: np.ndarray, w: np.ndarray | None, s: Any) -> float:
        if self.denominator == PER_SAMPLE:
            # sum_over_batch_size divides by the size of the per-sample values: N, or N·d1·…
            # for an (N, d1, …, D) input (its last axis averaged)
            return v.size
        if self.denominator == ELEMENTS:
            return v.size
        if self.denominator == NONZERO:
            return v.size if w is None else int(np.count_nonzero(w))
        return len(v) if s is None else float(np.asarray(s, dtype=np.float64).sum())

    def reduce(self, state: ConventionState, reduction: str) -> float:
        if reduction == "sum":
            return _total(state.numerator)
        if self.finish is not None:
            return float(self.finish(state))
        numerator, denominator = float(state.numerator), float(state.denominator)
        if not denominator:
            # TF1's and Keras's divide_no_nan give 0; np.average raises; torch gives NaN.
            if self.convention == "sklearn":
                raise UsageError(_SKLEARN_ZERO_WEIGHTS)
            return 0.0 if self.convention in ("tf1", "keras") else float("nan")
        return numerator / denominator

    def unreduced(self, predictions, targets, sample_weights=None, **options) -> np.ndarray:
        """The framework's ``reduction='none'`` output (weighted where it takes weights)."""
        v = self.values(predictions, targets, **options)
        w = _broadcast_weights(sample_weights, v, self.convention)
        return v if w is None else v * w


def _broadcast_weights(s: Any, v: np.ndarray, convention: str) -> np.ndarray | None:
    if s is None:
        return None
    s = np.asarray(s, dtype=np.float64).reshape(-1)
    if len(s) != len(v):
        raise UsageError(f"sample weights have {len(s)} values but there are {len(v)} samples")
    return np.broadcast_to(s.reshape((-1,) + (1,) * (v.ndim - 1)), v.shape)


# --------------------------------------------------------------------------- per-loss values


def _as_samples(a: np.ndarray) -> np.ndarray:
    """Keras reads a vector as N samples of one output."""
    return a.reshape(-1, 1) if a.ndim == 1 else a


def _keras_mean_last(elementwise: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def values(p, t, **options):
        return elementwise(_as_samples(p), _as_samples(t), **options).mean(axis=-1)

    return values


def _row_mean(elementwise: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def values(p, t, **options):
        e = elementwise(p, t, **options)
        return e.mean(axis=1) if e.ndim == 2 else e

    return values


def _squared(p, t, **_):
    return np.square(p - t)


def _absolute(p, t, **_):
    return np.abs(p - t)


def _huber(p, t, *, delta=1.0, **_):
    e = np.abs(p - t)
    return np.where(e <= delta, 0.5 * e * e, delta * (e - 0.5 * delta))


def _sklearn_rmse_finish(state: ConventionState) -> float:
    # sklearn.metrics.root_mean_squared_error, multioutput="uniform_average": the RMSE of each
    # output column, averaged.
    return float(np.mean(np.sqrt(state.numerator / state.denominator)))


def _stable_sigmoid_bce(z, y):
    # −y·log σ(z) − (1 − y)·log σ(−z) = max(z, 0) − z·y + log(1 + e^−|z|)
    return np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))


def _keras_bce(p, t, *, logits=False, **_):
    if logits:
        return _stable_sigmoid_bce(p, t)
    q = np.clip(p, KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    return -(t * np.log(q) + (1.0 - t) * np.log(1.0 - q))


def _tf1_bce(p, t, *, logits=False, **_):
    if logits:  # tf.compat.v1.losses.sigmoid_cross_entropy
        return _stable_sigmoid_bce(p, t)
    eps = TF1_LOG_LOSS_EPSILON  # tf.compat.v1.losses.log_loss
    return -t * np.log(p + eps) - (1.0 - t) * np.log(1.0 - p + eps)


def _optax_bce(p, t, *, logits=False, **_):
    if not logits:
        raise UsageError(
            "optax's sigmoid_binary_cross_entropy takes logits; pass --logits with raw scores"
        )
    return _stable_sigmoid_bce(p, t)


def _sklearn_bce(p, t, *, logits=False, **_):
    if logits:
        raise UsageError("scikit-learn's log_loss takes probabilities, not logits (drop --logits)")
    if p.ndim == 2 and p.shape[1] != 1:
        raise UsageError(
            "scikit-learn's log_loss takes one column of positive-class probabilities for "
            "binary targets; give one column (or use ce for several classes)"
        )
    p, t = p.reshape(-1), t.reshape(-1)
    if not np.isin(t, (0.0, 1.0)).all():
        raise UsageError("scikit-learn's log_loss takes 0/1 labels, not soft targets")
    q = np.clip(p, SKLEARN_EPSILON, 1.0 - SKLEARN_EPSILON)
    return -np.where(t == 1.0, np.log(q), np.log(1.0 - q))


def _class_rows(
    p, t, *, target_type="auto", label_smoothing=0.0, ignore_index=None, **_
) -> np.ndarray:
    """Targets as (N, C) probability rows: one-hot for class indices, then label smoothing
    (1 − α)·y + α/C as Keras, TF1 and optax.smooth_labels apply it."""
    targets, kind = resolve_class_targets(p, t, target_type, ignore_index=ignore_index)
    if kind == "index" and ignore_index is not None and (targets == ignore_index).any():
        raise UsageError(
            f"targets of {ignore_index} are rows torch ignores (--ignore-index); this "
            "framework has no ignored rows"
        )
    n_classes = p.shape[1]
    if kind == "index":
        rows = np.zeros_like(p)
        rows[np.arange(len(p)), targets] = 1.0
    else:
        rows = targets
    if label_smoothing:
        rows = rows * (1.0 - label_smoothing) + label_smoothing / n_classes
    return rows


def _keras_ce(p, t, *, logits=False, **options):
    y = _class_rows(p, t, **options)
    if logits:
        return -(y * log_softmax(p)).sum(axis=1)
    q = p / p.sum(axis=1, keepdims=True)  # keras divides each row by its sum first
    q = np.clip(q, KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    return -(y * np.log(q)).sum(axis=1)


def _logits_only(framework: str) -> Callable[..., np.ndarray]:
    def values(p, t, *, logits=False, **options):
        if not logits:
            raise UsageError(
                f"{framework}'s softmax cross-entropy takes logits; pass --logits with raw scores"
            )
        y = _class_rows(p, t, **options)
        return -(y * log_softmax(p)).sum(axis=1)

    return values


def _sklearn_ce(p, t, *, logits=False, label_smoothing=0.0, **options):
    if logits:
        raise UsageError("scikit-learn's log_loss takes probabilities, not logits (drop --logits)")
    if label_smoothing:
        raise UsageError("scikit-learn's log_loss has no label smoothing")
    y = _class_rows(p, t, **options)
    if not np.isin(y, (0.0, 1.0)).all():
        raise UsageError("scikit-learn's log_loss takes class labels (or one-hot rows), not soft")
    q = np.clip(p, SKLEARN_EPSILON, 1.0 - SKLEARN_EPSILON)
    return -np.where(y == 1.0, np.log(q), 0.0).sum(axis=1)


def _target_probabilities(t, log_target):
    return np.exp(t) if log_target else t


def _keras_kl(p, t, *, log_target=False, **_):
    # keras.losses.kl_divergence takes probabilities: losscli's kl predictions are
    # log-probabilities (as torch), so exp() first; both sides are clipped to [1e-7, 1].
    yp = np.clip(np.exp(_as_samples(p)), KERAS_EPSILON, 1.0)
    yt = np.clip(_target_probabilities(_as_samples(t), log_target), KERAS_EPSILON, 1.0)
    return (yt * np.log(yt / yp)).sum(axis=-1)


def _optax_kl(p, t, *, log_target=False, **_):
    p, t = _as_samples(p), _as_samples(t)
    if log_target:  # optax.losses.kl_divergence_with_log_targets
        return (np.exp(t) * (t - p)).sum(axis=-1)
    # optax.losses.kl_divergence: xlogy(t, t) − t·log_p, 0·log 0 = 0
    tlogt = np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0)
    return (tlogt - t * p).sum(axis=-1)


def _log_cosh(p, t, **_):
    return log_cosh_values(p, t)


def _msle(floor: float | None) -> Callable[..., np.ndarray]:
    # Keras floors ŷ and y at 1e-7 before log(1 + ·); scikit-learn does not.
    return lambda p, t, **_: msle_values(p, t, floor=floor)


def _percentage(epsilon: float, percent: bool) -> Callable[..., np.ndarray]:
    return lambda p, t, **_: mape_values(p, t, epsilon=epsilon, percent=percent)


def _keras_hinge(power: int) -> Callable[..., np.ndarray]:
    def values(p, t, labels=None, **_):
        # keras.losses.hinge maps labels to ±1 only when every label is 0 or 1
        labels = np.unique(t) if labels is None else np.asarray(labels)
        y = 2.0 * t - 1.0 if np.isin(labels, (0.0, 1.0)).all() else t
        return np.maximum(1.0 - y * p, 0.0) ** power

    return values


def _optax_hinge(p, t, **_):
    # optax.losses.hinge_loss takes ±1 targets as they are: a 0 label gives 1 whatever the score
    return np.maximum(1.0 - t * p, 0.0)


# ------------------------------------------------ regression and pair losses (issue 10)
# cosine similarity, Poisson, pinball, Brier and the Tweedie deviances; their rules are
# listed by _regression_rules() below, which _rules() appends to its own.

TORCH_POISSON_EPSILON = 1e-8  # torch.nn.functional.poisson_nll_loss's eps, losscli's default


def _keras_cosine(p, t, *, epsilon=0.0, **_):
    # keras normalises with x·min(rsqrt(Σx²), 1/ε), ε = 1e-7: each norm floored at 1e-7
    if epsilon not in (0.0, KERAS_EPSILON):
        raise UsageError(
            "keras.losses.CosineSimilarity floors each norm at 1e-7 (keras.backend.epsilon()); "
            "drop --epsilon or give 1e-7"
        )
    return cosine_similarity_values(p, t, epsilon=KERAS_EPSILON)


def _optax_cosine_distance(p, t, *, epsilon=0.0, **_):
    # optax.losses.cosine_distance = 1 − cos; its epsilon floors the squared norm (ε² here)
    return 1.0 + cosine_similarity_values(p, t, epsilon=epsilon)


def _tf1_cosine_distance(p, t, *, epsilon=0.0, **_):
    if epsilon:
        raise UsageError(
            "tf.compat.v1.losses.cosine_distance does not normalise (it takes unit vectors), so "
            "it has no epsilon; drop --epsilon"
        )
    return 1.0 - np.einsum("ij,ij->i", p, t)


def _keras_poisson(p, t, *, log_input=True, epsilon=TORCH_POISSON_EPSILON, **_):
    if log_input:
        raise UsageError(
            "keras.losses.Poisson takes rates, not log-rates; pass --no-log-input with rates "
            "(or exponentiate the log-rates)"
        )
    if epsilon not in (TORCH_POISSON_EPSILON, KERAS_EPSILON):
        raise UsageError(
            "keras.losses.Poisson adds 1e-7 (keras.backend.epsilon()) inside the log; drop "
            "--epsilon or give 1e-7"
        )
    return p - t * np.log(p + KERAS_EPSILON)


def _sklearn_deviance(call: str, fixed_power: float | None = None) -> Callable[..., np.ndarray]:
    def values(p, t, *, power=0.0, **_):
        if p.ndim == 2 and p.shape[1] != 1:
            raise UsageError(
                f"{call} takes one output column, these predictions have {p.shape[1]}; give "
                "one column (losscli's own mean, --convention torch, averages all elements)"
            )
        power = power if fixed_power is None else fixed_power
        return tweedie_values(p.reshape(-1), t.reshape(-1), power=power)

    return values


def _sklearn_brier(p, t, *, target_type="auto", scale_by_half="auto", **_):
    if p.ndim == 2 and p.shape[1] > 1:
        y = _class_rows(p, t, target_type=target_type)
        if not np.isin(y, (0.0, 1.0)).all():
            raise UsageError(
                "scikit-learn's brier_score_loss takes class labels (or one-hot rows), not "
                "probability rows"
            )
    else:  # the binary form: P(positive) against 0/1 labels (pos_label: the greater, 1)
        y = t.reshape(p.shape)
    return brier.values(p, y, scale_by_half=scale_by_half)


def _regression_rules() -> list[Rule]:
    R = Rule
    return [
        R(
            "cosine-similarity",
            "keras",
            "keras.losses.CosineSimilarity()",
            _keras_cosine,
            PER_SAMPLE,
            note="−cos per sample; each norm floored at 1e-7",
            honours=("epsilon",),
        ),
        R(
            "cosine-similarity",
            "optax",
            "optax.losses.cosine_distance(epsilon=ε²)",
            _optax_cosine_distance,
            ELEMENTS,
            note="1 − cos: losscli's value + 1; optax's epsilon floors the squared norm",
            honours=("epsilon",),
        ),
        R(
            "cosine-similarity",
            "tf1",
            "tf.compat.v1.losses.cosine_distance(axis=1)",
            _tf1_cosine_distance,
            NONZERO,
            note="1 − ŷ·y: the vectors are taken as unit vectors, not normalised",
            honours=("epsilon",),
        ),
        R(
            "poisson-nll",
            "keras",
            "keras.losses.Poisson()",
            _keras_mean_last(_keras_poisson),
            PER_SAMPLE,
            note="rates (--no-log-input): ŷ − y·log(ŷ + 1e-7)",
            honours=("log_input", "epsilon"),
        ),
        R(
            "poisson-deviance",
            "sklearn",
            "sklearn.metrics.mean_poisson_deviance",
            _sklearn_deviance("sklearn.metrics.mean_poisson_deviance", 1.0),
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
            note="one output column",
        ),
        R(
            "gamma-deviance",
            "sklearn",
            "sklearn.metrics.mean_gamma_deviance",
            _sklearn_deviance("sklearn.metrics.mean_gamma_deviance", 2.0),
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
            note="one output column",
        ),
        R(
            "tweedie",
            "sklearn",
            "sklearn.metrics.mean_tweedie_deviance(power=power)",
            _sklearn_deviance("sklearn.metrics.mean_tweedie_deviance"),
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
            note="one output column",
            honours=("power",),
        ),
        R(
            "pinball",
            "sklearn",
            "sklearn.metrics.mean_pinball_loss(alpha=quantile)",
            _row_mean(pinball_values),
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
            note="uniform_average of the column means",
            honours=("quantile",),
        ),
        R(
            "brier",
            "sklearn",
            "sklearn.metrics.brier_score_loss",
            _sklearn_brier,
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
            note="class labels, not probability rows",
            honours=("scale_by_half",),
        ),
    ]


def _rules() -> dict[tuple[str, str], Rule]:
    R = Rule
    rules = [
        R(
            "mse",
            "keras",
            "keras.losses.MeanSquaredError()",
            _keras_mean_last(_squared),
            PER_SAMPLE,
        ),
        R("mse", "tf1", "tf.compat.v1.losses.mean_squared_error", _squared, NONZERO),
        R(
            "mse",
            "optax",
            "optax.losses.squared_error",
            _squared,
            ELEMENTS,
            note="optax.losses.l2_loss is half of this",
        ),
        R(
            "mse",
            "sklearn",
            "sklearn.metrics.mean_squared_error",
            _row_mean(_squared),
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
        ),
        R(
            "mae",
            "keras",
            "keras.losses.MeanAbsoluteError()",
            _keras_mean_last(_absolute),
            PER_SAMPLE,
        ),
        R("mae", "tf1", "tf.compat.v1.losses.absolute_difference", _absolute, NONZERO),
        R(
            "mae",
            "sklearn",
            "sklearn.metrics.mean_absolute_error",
            _row_mean(_absolute),
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
        ),
        R(
            "huber",
            "keras",
            "keras.losses.Huber(delta)",
            _keras_mean_last(_huber),
            PER_SAMPLE,
            honours=("delta",),
        ),
        R(
            "huber",
            "tf1",
            "tf.compat.v1.losses.huber_loss(delta=delta)",
            _huber,
            NONZERO,
            honours=("delta",),
        ),
        R(
            "huber",
            "optax",
            "optax.losses.huber_loss(delta=delta)",
            _huber,
            ELEMENTS,
            honours=("delta",),
        ),
        R(
            "rmse",
            "sklearn",
            "sklearn.metrics.root_mean_squared_error",
            lambda p, t, **o: _squared(_as_samples(p), _as_samples(t)),
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
            finish=_sklearn_rmse_finish,
            columnwise=True,
            note="the RMSE of each output column, averaged (not √ of the overall mean)",
        ),
        R(
            "bce",
            "keras",
            "keras.losses.BinaryCrossentropy(from_logits=logits)",
            _keras_mean_last(_keras_bce),
            PER_SAMPLE,
            note="probabilities clipped to [1e-7, 1 − 1e-7]",
        ),
        R(
            "bce",
            "tf1",
            "tf.compat.v1.losses.log_loss / sigmoid_cross_entropy",
            _tf1_bce,
            NONZERO,
            note="log_loss adds 1e-7 inside both logs",
        ),
        R("bce", "optax", "optax.losses.sigmoid_binary_cross_entropy", _optax_bce, ELEMENTS),
        R(
            "bce",
            "sklearn",
            "sklearn.metrics.log_loss",
            _sklearn_bce,
            WEIGHT_SUM,
            none_ok=False,
            note="probabilities clipped to [2.2e-16, 1 − 2.2e-16]",
        ),
        R(
            "ce",
            "keras",
            "keras.losses.CategoricalCrossentropy(from_logits=logits)",
            _keras_ce,
            PER_SAMPLE,
            note="rows divided by their sum, then clipped to [1e-7, 1 − 1e-7]",
            honours=("label_smoothing",),
        ),
        R(
            "ce",
            "tf1",
            "tf.compat.v1.losses.softmax_cross_entropy",
            _logits_only("TF1"),
            NONZERO,
            honours=("label_smoothing",),
        ),
        R(
            "ce",
            "optax",
            "optax.losses.softmax_cross_entropy",
            _logits_only("optax"),
            ELEMENTS,
            note="label smoothing as optax.smooth_labels",
            honours=("label_smoothing",),
        ),
        R(
            "ce",
            "sklearn",
            "sklearn.metrics.log_loss",
            _sklearn_ce,
            WEIGHT_SUM,
            none_ok=False,
            note="probabilities clipped to [2.2e-16, 1 − 2.2e-16], not renormalised",
        ),
        R(
            "kl",
            "keras",
            "keras.losses.KLDivergence()",
            _keras_kl,
            PER_SAMPLE,
            note="exp of the log-probabilities; both sides clipped to [1e-7, 1]",
            honours=("log_target",),
        ),
        R(
            "kl",
            "optax",
            "optax.losses.kl_divergence",
            _optax_kl,
            ELEMENTS,
            note="one value per example: its mean is torch's batchmean",
            honours=("log_target",),
        ),
        R(
            "log-cosh",
            "keras",
            "keras.losses.LogCosh()",
            _keras_mean_last(_log_cosh),
            PER_SAMPLE,
        ),
        R(
            "hinge",
            "keras",
            "keras.losses.Hinge()",
            _keras_mean_last(_keras_hinge(1)),
            PER_SAMPLE,
            labels=True,
            note="0/1 labels mapped to ±1 only when all are 0 or 1",
        ),
        R(
            "hinge",
            "optax",
            "optax.losses.hinge_loss",
            _optax_hinge,
            ELEMENTS,
            note="labels taken as given (±1); no 0/1 mapping",
        ),
        R(
            "squared-hinge",
            "keras",
            "keras.losses.SquaredHinge()",
            _keras_mean_last(_keras_hinge(2)),
            PER_SAMPLE,
            labels=True,
            note="0/1 labels mapped to ±1 only when all are 0 or 1",
        ),
        R("log-cosh", "optax", "optax.losses.log_cosh", _log_cosh, ELEMENTS),
        R(
            "msle",
            "keras",
            "keras.losses.MeanSquaredLogarithmicError()",
            _keras_mean_last(_msle(KERAS_EPSILON)),
            PER_SAMPLE,
            note="ŷ and y floored at 1e-7 first",
        ),
        R(
            "msle",
            "sklearn",
            "sklearn.metrics.mean_squared_log_error",
            _row_mean(_msle(None)),
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
        ),
        R(
            "mape",
            "keras",
            "keras.losses.MeanAbsolutePercentageError()",
            _keras_mean_last(_percentage(KERAS_EPSILON, True)),
            PER_SAMPLE,
            note="×100, |y| floored at 1e-7",
        ),
        R(
            "mape",
            "sklearn",
            "sklearn.metrics.mean_absolute_percentage_error",
            _row_mean(_percentage(SKLEARN_EPSILON, False)),
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
            note="a fraction, |y| floored at 2.2e-16",
        ),
    ]
    rules += _classification_rules()
    rules += _regression_rules()  # cosine, Poisson, pinball, Brier, deviances
    rules += _sparsemax_rules()
    table = {(r.loss, r.convention): r for r in rules}
    # two blocks defining the same rule would otherwise let the later one win silently
    assert len(table) == len(rules), "a (loss, convention) rule is defined twice"
    return table


# --------------------------------------------------------------------------- classification
# Focal, Dice/Tversky, hinge-family and TF1 cosine rules (issue 10). Each value function is the
# framework's own formula, op for op where its clips or its order of operations change the
# number; tests/make_convention_fixtures_classification.py records the frameworks' values.


def _keras_binary_focal(p, t, *, logits=True, alpha=None, gamma=2.0, label_smoothing=0.0, **_):
    # keras.losses.binary_focal_crossentropy: label smoothing y(1 − A) + A/2, σ(z) if
    # from_logits, then the clipped bce of ops.binary_crossentropy (clip to [1e-7, 1 − 1e-7]);
    # the focal factor uses the probability unclipped. losscli's alpha None is Keras's
    # apply_class_balancing=False.
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    q = stable_sigmoid(p) if logits else p
    c = np.clip(q, KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    bce = -(t * np.log(c) + (1.0 - t) * np.log(1.0 - c))
    p_t = t * q + (1.0 - t) * (1.0 - q)
    loss = np.power(1.0 - p_t, gamma) * bce
    if alpha is not None:
        loss = (t * alpha + (1.0 - alpha) * (1.0 - t)) * loss
    return loss


def _optax_sigmoid_focal(z, t, *, logits=True, alpha=None, gamma=2.0, **_):
    # optax.losses.sigmoid_focal_loss: the stable bce times exp(γ·log(1 − p_t)), 1 − p_t from
    # log σ(z) and log σ(−z) (logsumexp), so no 1 − σ(z) cancellation.
    if not logits:
        raise UsageError(
            "optax's sigmoid_focal_loss takes logits; drop --probabilities and give raw scores"
        )
    bce = _stable_sigmoid_bce(z, t)
    one_minus_pt = (1.0 - t) * stable_sigmoid(z) + t * stable_sigmoid(-z)
    with np.errstate(divide="ignore"):
        weight = np.exp(gamma * np.log(one_minus_pt))
    loss = bce * weight
    if alpha is not None:
        loss = (alpha * t + (1.0 - alpha) * (1.0 - t)) * loss
    return loss


def _keras_categorical_focal(p, t, *, logits=False, alpha=0.25, gamma=2.0, **options):
    # keras.losses.categorical_focal_crossentropy: label smoothing y(1 − A) + A/C, softmax if
    # from_logits, each row divided by its sum, clipped to [1e-7, 1 − 1e-7], then
    # Σ_c α·(1 − o_c)^γ·(−y_c log o_c).
    y = _class_rows(p, t, **options)
    q = softmax(p) if logits else p
    o = np.clip(q / q.sum(axis=1, keepdims=True), KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    a = np.asarray(alpha, dtype=np.float64)
    return (np.power(1.0 - o, gamma) * a * (-y * np.log(o))).sum(axis=1)


def _rows2(a: np.ndarray) -> np.ndarray:
    return a.reshape(len(a), -1)


def _optax_tversky(p, t, *, alpha=0.5, beta=0.5, smooth=1.0, logits=False, **_):
    # optax.losses.dice_loss(z[..., None], y[..., None], alpha, beta, smooth): one channel, σ(z)
    # (apply_softmax), sums over the D elements of each row.
    if not logits:
        raise UsageError(
            "optax's dice_loss takes logits here: with apply_softmax=False it requires each "
            "element's class probabilities to sum to 1, which one channel does only for p = 1; "
            "pass --logits with raw scores"
        )
    q, y = _rows2(stable_sigmoid(p)), _rows2(t)
    inter = (q * y).sum(axis=1)
    den = inter + alpha * (q.sum(axis=1) - inter) + beta * (y.sum(axis=1) - inter) + smooth
    return 1.0 - (inter + smooth) / den


def _keras_overlap(dice: bool) -> Callable[..., np.ndarray]:
    """Per row (I, D): I = Σ p·y and D the weighted mismatch — FN + FP for Keras's Dice
    (Σy + Σp = 2I + FN + FP), α·Σ(1 − p)y + β·Σ p(1 − y) for its Tversky. Keras's code names
    Σ(1 − y_pred)·y_true "fp": its alpha weighs what optax and losscli call false negatives;
    under --convention keras, --alpha and --beta are Keras's own."""

    def values(p, t, *, logits=False, alpha=0.5, beta=0.5, **_):
        if logits:
            raise UsageError(
                "Keras's Dice and Tversky take probabilities (no from_logits); drop --logits"
            )
        q, y = _rows2(p), _rows2(t)
        fn, fp = ((1.0 - q) * y).sum(axis=1), (q * (1.0 - y)).sum(axis=1)
        mismatch = fn + fp if dice else alpha * fn + beta * fp
        return np.stack([(q * y).sum(axis=1), mismatch], axis=1)

    return values


def _keras_dice_pooled(inter: float, mismatch: float) -> float:
    # keras.losses.dice(axis=None): 1 − 2I/(Σy + Σp + 1e-7)
    return 1.0 - 2.0 * inter / (2.0 * inter + mismatch + KERAS_EPSILON)


def _keras_tversky_pooled(inter: float, mismatch: float) -> float:
    # keras.losses.tversky(axis=None): 1 − I/(I + α·Σ(1 − p)y + β·Σ p(1 − y) + 1e-7)
    return 1.0 - inter / (inter + mismatch + KERAS_EPSILON)


@dataclass(frozen=True)
class PooledRule(Rule):
    """A loss Keras computes once over the whole batch (``axis=None``, its default): the
    pooled sums of every row give one value g; sample weights then scale it as a per-sample
    loss would, ``sum_over_batch_size`` = g·Σs/N, ``sum`` = g·Σs (g without weights).

    ``values`` gives each row's sums (N, k); ``pooled(*sums)`` gives g. The state is
    (the k sums, Σs, the number of weighted rows) over N, which adds up over blocks."""

    pooled: Callable[..., float] | None = None

    def partial(self, predictions, targets, sample_weights=None, **options) -> ConventionState:
        rows = self.values(predictions, targets, **options)
        if sample_weights is None:
            s_sum, weighted = float(len(rows)), 0.0
        else:
            s = np.asarray(sample_weights, dtype=np.float64).reshape(-1)
            if len(s) != len(rows):
                raise UsageError(
                    f"sample weights have {len(s)} values but there are {len(rows)} samples"
                )
            s_sum, weighted = math.fsum(s), float(len(s))
        sums = [math.fsum(col) for col in rows.T]
        return ConventionState(np.array([*sums, s_sum, weighted]), float(len(rows)))

    def reduce(self, state: ConventionState, reduction: str) -> float:
        k = len(state.numerator) - 2
        g = self.pooled(*state.numerator[:k])
        s_sum, weighted = state.numerator[k], state.numerator[k + 1]
        if reduction == "sum":
            return float(g * s_sum if weighted else g)
        return float(g * s_sum / state.denominator) if state.denominator else 0.0


def _categorical_hinge_rows(x, t, **options):
    # keras.losses.categorical_hinge: max(max_c((1 − y_c)·x_c) − Σ_c y_c x_c + 1, 0)
    y = _class_rows(x, t, **options)
    neg = ((1.0 - y) * x).max(axis=1)
    return np.maximum(neg - (y * x).sum(axis=1) + 1.0, 0.0)


def _one_hot_labels(x, t, framework: str, **options) -> np.ndarray:
    y = _class_rows(x, t, **options)
    if not (np.isin(y, (0.0, 1.0)).all() and (y.sum(axis=1) == 1.0).all()):
        raise UsageError(f"{framework} takes class labels (or one-hot rows), not soft rows")
    return y.argmax(axis=1)


def _crammer_singer(framework: str) -> Callable[..., np.ndarray]:
    def values(x, t, **options):
        # sklearn.metrics.hinge_loss(y, scores, labels=range(C)) with C ≥ 3 columns:
        # max(0, 1 − (x_y − max_{c≠y} x_c)) (Crammer–Singer), in its order of operations
        if framework.startswith("scikit-learn") and x.shape[1] < 3:
            # two labels take sklearn's binary path: one column of decision values
            raise UsageError(
                "scikit-learn's hinge_loss reads two classes as binary: give one column of "
                "decision values to hinge (categorical-hinge needs 3 or more columns)"
            )
        labels = _one_hot_labels(x, t, framework, **options)
        rows = np.arange(len(x))
        others = x.copy()
        others[rows, labels] = -np.inf
        return np.maximum(1.0 - (x[rows, labels] - others.max(axis=1)), 0.0)

    return values


def _optax_multiclass_hinge(x, t, **options):
    # optax.losses.multiclass_hinge_loss op for op: max_c(x_c + 1 − y_c) − x·y. The same
    # Crammer–Singer value as sklearn's 1 − (x_y − max_{c≠y} x_c), but rounded differently
    # near 0: its target term is (x_y + 1) − 1, not x_y, so a margin above 1 gives the
    # rounding of x_y + 1 (1e-16 for |x_y| < 1), not 0.
    labels = _one_hot_labels(x, t, "optax's multiclass_hinge_loss", **options)
    y = np.zeros_like(x)
    y[np.arange(len(x)), labels] = 1.0
    return ((x + 1.0) - y).max(axis=1) - (x * y).sum(axis=1)


def _tf1_hinge(x, t, **_):
    # tf.compat.v1.losses.hinge_loss: labels mapped 2t − 1 whatever they are (±1 labels become
    # +1 and −3), then relu(1 − y·x)
    return np.maximum(1.0 - (2.0 * t - 1.0) * x, 0.0)


def _sklearn_binary_hinge(x, t, labels=None, **_):
    # sklearn.metrics.hinge_loss(y, decision) for two classes: LabelBinarizer(neg_label=−1)
    # maps the smaller label to −1, the larger to +1 (one class: all −1); then max(0, 1 − y·x)
    if x.ndim == 2 and x.shape[1] != 1:
        raise UsageError(
            "scikit-learn's binary hinge_loss takes one column of decision values; use "
            "categorical-hinge for several classes"
        )
    x, t = x.reshape(-1), t.reshape(-1)
    # at most two: hinge's own check takes ±1 or 0/1 labels; all of y_true's (``labels``)
    classes = np.unique(t) if labels is None else np.asarray(labels)
    # one class only: LabelBinarizer(neg_label=-1) maps every label to −1, whatever it is
    y = np.where(t == classes[1], 1.0, -1.0) if len(classes) == 2 else -np.ones_like(t)
    return np.maximum(1.0 - y * x, 0.0)


def _optax_poly1(z, t, *, epsilon=2.0, **options):
    # optax.losses.poly_loss_cross_entropy: softmax_cross_entropy + ε·Σ_c y_c (1 − softmax_c)
    y = _class_rows(z, t, **options)
    return -(y * log_softmax(z)).sum(axis=1) + epsilon * (y * (1.0 - softmax(z))).sum(axis=1)


def _keras_per_sample_overlap(p, t, s, *, dice: bool, alpha=0.5, beta=0.5) -> float:
    """Keras's Dice(axis=1) / Tversky(axis=1) under sum_over_batch_size: one value per sample,
    + 1e-7 and no smooth, Σ s·L / N."""
    q, y = _rows2(np.asarray(p, dtype=np.float64)), _rows2(np.asarray(t, dtype=np.float64))
    inter = (q * y).sum(axis=1)
    fn, fp = ((1.0 - q) * y).sum(axis=1), (q * (1.0 - y)).sum(axis=1)
    if dice:
        v = 1.0 - 2.0 * inter / (2.0 * inter + fn + fp + KERAS_EPSILON)
    else:
        v = 1.0 - inter / (inter + alpha * fn + beta * fp + KERAS_EPSILON)
    w = _broadcast_weights(s, v, "keras")
    return math.fsum(v if w is None else v * w) / len(v)


def _classification_readings(loss: Loss, p: Any, t: Any, s: Any, options: dict[str, Any]):
    """--which readings beyond each framework's default: Keras's Dice and Tversky with
    axis=1 (one value per sample rather than pooled over the batch)."""
    if loss.name in ("dice", "tversky") and not options.get("logits", False):
        dice = loss.name == "dice"
        ab = {} if dice else {k: options[k] for k in ("alpha", "beta") if k in options}
        yield (
            f"keras {'Dice' if dice else 'Tversky'}(axis=1) mean: per sample, + 1e-7, no smooth",
            "(≈ --smooth 0)" if dice else "(≈ --smooth 0 --alpha β --beta α)",
            lambda: _keras_per_sample_overlap(p, t, s, dice=dice, **ab),
        )


def _classification_rules() -> list[Rule]:
    R = Rule
    return [
        R(
            "sigmoid-focal",
            "keras",
            "keras.losses.BinaryFocalCrossentropy(apply_class_balancing=alpha is not None, "
            "alpha, gamma, from_logits=logits, label_smoothing)",
            _keras_mean_last(_keras_binary_focal),
            PER_SAMPLE,
            note=(
                "the probability (σ(z) from logits) clipped to [1e-7, 1 − 1e-7] in the bce; "
                "--alpha is apply_class_balancing"
            ),
            honours=("alpha", "gamma", "label_smoothing"),
        ),
        R(
            "sigmoid-focal",
            "optax",
            "optax.losses.sigmoid_focal_loss(alpha, gamma)",
            _optax_sigmoid_focal,
            ELEMENTS,
            honours=("alpha", "gamma"),
        ),
        R(
            "softmax-focal",
            "keras",
            "keras.losses.CategoricalFocalCrossentropy(alpha, gamma, from_logits=logits, "
            "label_smoothing)",
            _keras_categorical_focal,
            PER_SAMPLE,
            note="rows divided by their sum, then clipped to [1e-7, 1 − 1e-7]",
            honours=("alpha", "gamma", "label_smoothing"),
        ),
        R(
            "dice",
            "optax",
            "optax.losses.dice_loss(z[..., None], y[..., None], smooth)",
            _optax_tversky,
            ELEMENTS,
            note="logits only (σ on one channel)",
            honours=("smooth",),
        ),
        PooledRule(
            "dice",
            "keras",
            "keras.losses.Dice()",
            _keras_overlap(dice=True),
            PER_SAMPLE,
            note="axis=None: one Dice over the whole batch, 1 − 2I/(Σp + Σy + 1e-7); no smooth",
            none_ok=False,
            pooled=_keras_dice_pooled,
        ),
        R(
            "tversky",
            "optax",
            "optax.losses.dice_loss(z[..., None], y[..., None], alpha, beta, smooth)",
            _optax_tversky,
            ELEMENTS,
            note="logits only (σ on one channel)",
            honours=("alpha", "beta", "smooth"),
        ),
        PooledRule(
            "tversky",
            "keras",
            "keras.losses.Tversky(alpha, beta)",
            _keras_overlap(dice=False),
            PER_SAMPLE,
            note="axis=None: one value over the whole batch, + 1e-7, no smooth; its alpha "
            "weighs Σ(1 − p)y",
            none_ok=False,
            honours=("alpha", "beta"),
            pooled=_keras_tversky_pooled,
        ),
        R(
            "categorical-hinge",
            "keras",
            "keras.losses.CategoricalHinge()",
            _categorical_hinge_rows,
            PER_SAMPLE,
        ),
        R(
            "categorical-hinge",
            "optax",
            "optax.losses.multiclass_hinge_loss",
            _optax_multiclass_hinge,
            ELEMENTS,
            note="Crammer–Singer: 1 − (x_y − max_{c≠y} x_c), not Keras's max over (1 − y)·x",
        ),
        R(
            "categorical-hinge",
            "sklearn",
            "sklearn.metrics.hinge_loss(y, scores, labels=range(C))",
            _crammer_singer("scikit-learn's hinge_loss"),
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
            note="Crammer–Singer, as optax",
        ),
        R(
            "hinge",
            "tf1",
            "tf.compat.v1.losses.hinge_loss",
            _tf1_hinge,
            NONZERO,
            note="labels always mapped 2y − 1: give 0/1 labels",
        ),
        R(
            "hinge",
            "sklearn",
            "sklearn.metrics.hinge_loss(y, decision)",
            _sklearn_binary_hinge,
            WEIGHT_SUM,
            sum_ok=False,
            none_ok=False,
            labels=True,
            note="one column; the smaller of two labels is −1",
        ),
        R(
            "poly1",
            "optax",
            "optax.losses.poly_loss_cross_entropy(epsilon)",
            _optax_poly1,
            ELEMENTS,
            honours=("epsilon",),
        ),
    ]


# --------------------------------------------------------------------------- sparsemax
# losscli's sparsemax is optax's: multiclass_sparsemax_loss for (N, C) scores, sparsemax_loss
# for one column. optax takes integer labels (binary: 0/1), so probability rows other than
# one-hot are refused; tests/make_convention_fixtures_classification.py records its values.


def _optax_sparsemax(z, t, *, target_type="auto", **_):
    if z.ndim == 1 or z.shape[1] == 1:  # optax.losses.sparsemax_loss(logits, labels)
        return sparsemax_loss.values(z, t.reshape(z.shape))
    labels = _one_hot_labels(z, t, "optax's multiclass_sparsemax_loss", target_type=target_type)
    y = np.zeros_like(z)
    y[np.arange(len(z)), labels] = 1.0
    return sparsemax_loss.values(z, y)


def _sparsemax_rules() -> list[Rule]:
    return [
        Rule(
            "sparsemax",
            "optax",
            "optax.losses.multiclass_sparsemax_loss (one column: optax.losses.sparsemax_loss)",
            _optax_sparsemax,
            ELEMENTS,
            note="one value per example; class labels (or one-hot rows), not soft rows",
        ),
    ]


RULES = _rules()


def conventions_for(loss: Loss) -> list[str]:
    """The conventions that have ``loss`` (torch always)."""
    return ["torch"] + [c for c in CONVENTIONS[1:] if (loss.name, c) in RULES]


def get_rule(loss: Loss, convention: str) -> Rule | None:
    """The rule for ``loss`` under ``convention``; None for torch (losscli's own)."""
    if convention not in CONVENTIONS:
        from difflib import get_close_matches

        near = get_close_matches(convention.lower(), CONVENTIONS, n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise UsageError(
            f"unknown convention {convention!r}{hint}; choose one of {', '.join(CONVENTIONS)}"
        )
    if convention == "torch":
        return None
    rule = RULES.get((loss.name, convention))
    if rule is None:
        have = ", ".join(conventions_for(loss))
        if not torch_has(loss):
            # "torch" is losscli's own default here, not a torch function
            have = have.replace(
                "torch", f"torch (losscli's default; torch itself has no {loss.name} loss)", 1
            )
        raise UsageError(f"{convention} has no {loss.name} loss; {loss.name} has: {have}")
    return rule


def torch_has(loss: Loss) -> bool:
    """Whether torch itself has ``loss``: its reference names a torch call first (tweedie,
    Brier or sparsemax follow another framework, and ``--convention torch`` is losscli's own
    default for them)."""
    return loss.reference.startswith("torch.")


READING_OPTIONS = ("logits", "target_type")  # how to read the inputs, not semantics


def _check_options(
    loss: Loss, rule: Rule, merged: dict[str, Any], reduction: str, weighted: bool
) -> None:
    for param in loss.params:
        if param.name in READING_OPTIONS or param.name in rule.honours:
            continue
        value, default = merged[param.name], param.default
        if value is not default and not (np.ndim(value) == 0 and value == default):
            raise UsageError(
                f"{param.flag} follows torch's semantics; {rule.call} has no such option "
                "(drop it, or use --convention torch)"
            )
    if reduction == "batchmean":
        raise UsageError(
            f"batchmean is torch's reduction; under --convention {rule.convention} use mean "
            f"({rule.call}'s default)"
        )
    if reduction == "sum" and not rule.sum_ok:
        raise UsageError(f"{rule.call} has no sum reduction; use --reduction mean")
    if reduction == "none" and not rule.none_ok:
        raise UsageError(f"{rule.call} returns one number; use --reduction mean")
    if rule.convention == "optax" and weighted:
        raise UsageError("optax's losses take no sample weights")


def _check_dimensions(rule: Rule, shape: tuple[int, ...], weighted: bool) -> None:
    """Inputs of 3 or more dimensions: scikit-learn's metrics take 2-D arrays at most. Keras
    multiplies its (N, d1, …) per-sample values by (N,) weights aligned on their *last* axis
    (squeeze_or_expand_to_same_rank only fixes a trailing 1): an error, or when d1 = N a weight
    per position rather than per sample; TF1 and optax are elementwise."""
    if rule.convention == "sklearn":
        raise UsageError(
            f"scikit-learn's metrics take arrays of at most 2 dimensions; these predictions have "
            f"shape {shape} (give N rows × D columns)"
        )
    # Keras gets it right for one sample, or an (N, 1, D) input (its trailing 1 squeezed)
    keras_ok = shape[0] == 1 or (len(shape) == 3 and shape[1] == 1)
    if rule.convention == "keras" and weighted and not keras_ok:
        raise UsageError(
            f"Keras aligns sample weights with the last axis of its per-sample values, "
            f"{shape[:-1]} for predictions shaped {shape}, not one weight per sample; give N "
            "rows × D columns, or drop --sample-weights"
        )


class ConventionFold:
    """A convention's value folded over blocks of rows in order: :meth:`add` each block (its
    inputs validated by the caller, as ``loss.prepare_inputs`` does), :meth:`result` once at
    the end. The in-memory value is its one-block case (:func:`evaluate_convention`); a
    streamed run adds many (``losscli.engine``), so the two cannot differ.

    The first block checks the options, the reduction and the weights' presence
    (:func:`_check_options`) and, for inputs of 3 or more dimensions, the shape
    (:func:`_check_dimensions`, with ``rows`` the whole input's when known up front). The
    reductions merge :class:`ConventionState` by addition; ``none`` holds the unreduced
    values, ``hold(n)`` called with the number held so far (a streamed run's limit).
    scikit-learn's refusal of weights that are all zero is decided at the end, from every
    block's weights.
    """

    def __init__(
        self,
        loss: Loss,
        rule: Rule,
        reduction: str,
        options: dict[str, Any],
        *,
        rows: int | None = None,
        hold: Callable[[int], None] | None = None,
        labels: tuple[float, ...] | None = None,
    ) -> None:
        self.loss, self.rule, self.reduction = loss, rule, reduction
        self.merged = loss.resolve_options(**options)
        self.labels = labels  # the whole input's distinct targets (Rule.labels); None: a block's
        self.whole_rows, self.hold = rows, hold
        self.state: ConventionState | None = None
        self.values: list[np.ndarray] = []
        self.held = 0
        self.weighted: bool | None = None  # None until the first block
        self.nonzero = False  # some weight is not 0

    def add(self, predictions: Any, targets: Any, sample_weights: Any = None) -> None:
        rule = self.rule
        p = np.asarray(predictions, dtype=np.float64)
        t = np.asarray(targets, dtype=np.float64)
        if self.weighted is None:
            self.weighted = sample_weights is not None
            _check_options(self.loss, rule, self.merged, self.reduction, self.weighted)
            if p.ndim > 2:
                rows = len(p) if self.whole_rows is None else self.whole_rows
                _check_dimensions(rule, (rows, *p.shape[1:]), self.weighted)
        if sample_weights is not None and not self.nonzero:
            self.nonzero = bool(np.any(np.asarray(sample_weights) != 0))
        options = self.merged
        if rule.labels:  # the whole input's, or these (the whole input, in memory)
            options = {**options, "labels": self.labels or tuple(np.unique(t).tolist())}
        if self.reduction == "none":
            v = rule.unreduced(p, t, sample_weights, **options)
            self.held += v.size
            if self.hold is not None:
                self.hold(self.held)
            self.values.append(v)
            return
        b = rule.partial(p, t, sample_weights, **options)
        self.state = b if self.state is None else self.state.merge(b)

    def result(self) -> float | np.ndarray:
        """The framework's value of every row added (at least one block)."""
        if self.rule.convention == "sklearn" and self.weighted and not self.nonzero:
            raise UsageError(_SKLEARN_ZERO_WEIGHTS)  # np.average raises on Σ s = 0
        if self.reduction == "none":
            return self.values[0] if len(self.values) == 1 else np.concatenate(self.values)
        return self.rule.reduce(self.state, self.reduction)


def evaluate_convention(
    loss: Loss,
    convention: str,
    predictions: Any,
    targets: Any,
    *,
    reduction: str = "mean",
    sample_weights: Any = None,
    **options: Any,
) -> float | np.ndarray:
    """The value ``convention``'s framework would report for ``loss`` on these arrays.

    ``mean`` is the framework's default reduction, ``sum`` its sum, ``none`` its unreduced
    values. Domain checks are losscli's (as for ``--convention torch``). The one-block case of
    :class:`ConventionFold`, which a streamed ``--convention`` run folds over its blocks.
    """
    prepared = loss.prepare_inputs(predictions, targets, **options)  # validates the inputs
    rule = get_rule(loss, convention)
    if rule is None:
        return loss.reduce_values(prepared, reduction=reduction, sample_weights=sample_weights)
    fold = ConventionFold(loss, rule, reduction, options)
    fold.add(predictions, targets, sample_weights)
    return fold.result()


# --------------------------------------------------------------------------- --which


@dataclass(frozen=True)
class Candidate:
    """One way of computing the loss, and how far its value is from the one seen."""

    label: str  # e.g. "keras (sum_over_batch_size)" or "mistake: sum instead of mean"
    value: float
    flags: str  # the losscli options that reproduce it
    difference: float  # |value − seen|
    match: bool  # within the precision the seen value was written with


def precision_of(text: str) -> float:
    """Half a unit in the last digit written: ``2.3025`` → 5e-5, ``1.5e-3`` → 5e-5, so a
    value printed with that many digits rounds to the same text."""
    m = re.fullmatch(r"\s*[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*", text)
    if not m or not (m.group(1) or m.group(2)):
        raise UsageError(f"--which takes a number, e.g. 2.3025; got {text!r}")
    decimals = len(m.group(2) or "")
    exponent = int(m.group(3) or 0)
    return 0.5 * 10.0 ** (exponent - decimals)


def which(
    loss: Loss,
    seen: str,
    predictions: Any,
    targets: Any,
    *,
    sample_weights: Any = None,
    **options: Any,
) -> list[Candidate]:
    """Every convention and common mistake that gives a value for these inputs, closest to
    ``seen`` first (``seen`` as text: its number of digits sets the match tolerance).
    Readings that give the same value (to 1e-12) are one candidate, their labels joined."""
    import warnings

    tolerance = precision_of(seen)
    target = float(seen)
    found: list[tuple[str, float, str]] = []

    def attempt(label: str, flags: str, compute: Callable[[], Any]) -> None:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # the main run prints the inputs' warnings once
            try:
                value = float(compute())
            except (LossCliError, ValueError, ArithmeticError):
                return  # this reading can't take these inputs (e.g. tf1 ce on probabilities)
        if math.isfinite(value):
            found.append((label, value, flags))

    for convention in conventions_for(loss):
        reductions = ("mean", "sum", "batchmean") if loss.name == "kl" else ("mean", "sum")
        for reduction in reductions:
            if convention != "torch" and reduction == "batchmean":
                continue
            attempt(
                f"{convention} {reduction}",
                f"--convention {convention} --reduction {reduction}",
                lambda c=convention, r=reduction: evaluate_convention(
                    loss,
                    c,
                    predictions,
                    targets,
                    reduction=r,
                    sample_weights=sample_weights,
                    **options,
                ),
            )
    for label, flags, compute in _mistakes(loss, predictions, targets, sample_weights, options):
        attempt(label, flags, compute)
    found.sort(key=lambda item: item[1])
    groups: list[list[tuple[str, float, str]]] = []
    for item in found:
        if groups and abs(item[1] - groups[-1][0][1]) <= 1e-12 * max(abs(item[1]), 1e-300):
            groups[-1].append(item)
        else:
            groups.append([item])
    candidates = [
        Candidate(
            "; ".join(label for label, _, _ in group),
            group[0][1],
            group[0][2],
            abs(group[0][1] - target),
            abs(group[0][1] - target) <= tolerance,
        )
        for group in groups
    ]
    candidates.sort(key=lambda c: c.difference)
    return candidates


def _mistakes(loss: Loss, p: Any, t: Any, s: Any, options: dict[str, Any]):
    """(label, flags, compute) for the usual ways a logged loss differs from the intended one."""

    def torch(reduction="mean", **changes):
        return lambda: loss(p, t, reduction=reduction, sample_weights=s, **{**options, **changes})

    mean = torch()
    if loss.elementwise:
        width = np.shape(p)[1] if np.ndim(p) == 2 else 1
        if width > 1:
            yield (
                "mistake: each row summed, then averaged over rows (missing 1/D)",
                "(= mean × D)",
                lambda: mean() * width,
            )
    if loss.name in ("mse",):
        yield ("mistake: ½ factor (optax.losses.l2_loss)", "(= ½ × mean)", lambda: 0.5 * mean())
        yield ("mistake: root of the mean (rmse)", "losscli rmse", lambda: math.sqrt(mean()))
    if loss.name == "rmse":
        yield ("mistake: the mean squared error (no root)", "losscli mse", lambda: mean() ** 2)
    if not loss.elementwise and np.ndim(p) == 2 and loss.name != "kl":
        c = np.shape(p)[1]
        yield (
            "mistake: averaged over all N·C elements, not over rows",
            f"(= mean / C, C = {c})",
            lambda: mean() / c,
        )
    if loss.name in ("ce", "bce", "sigmoid-focal"):
        # sigmoid-focal reads logits unless told otherwise (--probabilities)
        logits = bool(options.get("logits", loss.name == "sigmoid-focal"))
        if logits:
            yield (
                "mistake: a double softmax (probabilities given as logits)"
                if loss.name == "ce"
                else "mistake: a double sigmoid (probabilities given as logits)",
                "(ce of softmax(z) as logits)"
                if loss.name == "ce"
                else f"({loss.name} of σ(z) as logits)",
                lambda: loss(_squash(loss, p), t, sample_weights=s, **options),
            )
            yield (
                "mistake: logits taken for probabilities (Keras from_logits=False)",
                "--convention keras --probabilities"
                if loss.name == "sigmoid-focal"
                else "--convention keras without --logits",
                lambda: evaluate_convention(
                    loss, "keras", p, t, sample_weights=s, **{**options, "logits": False}
                ),
            )
        else:
            yield (
                "mistake: probabilities taken for logits (a double softmax)"
                if loss.name == "ce"
                else "mistake: probabilities taken for logits (a double sigmoid)",
                "--logits",
                torch(logits=True),
            )
    if loss.name == "poisson-nll":
        if options.get("log_input", True):
            yield (
                "keras mean of the rates e^x (keras.losses.Poisson takes rates)",
                "--convention keras --no-log-input on e^x",
                lambda: evaluate_convention(
                    loss, "keras", np.exp(p), t, sample_weights=s, **{**options, "log_input": False}
                ),
            )
        else:
            yield (
                "mistake: rates read as log-rates (torch's default log_input=True)",
                "--log-input",
                torch(log_input=True),
            )
    if loss.name == "cosine-similarity":
        yield (
            "mistake: the similarity +cos, not the loss −cos (torch's and optax's "
            "cosine_similarity)",
            "(= −mean)",
            lambda: -mean(),
        )
    if loss.name in ("ce", "bce", "nll", "kl"):
        yield (
            "mistake: log base 2 (bits, not nats)",
            "(= mean / ln 2)",
            lambda: mean() / math.log(2.0),
        )
    yield from _classification_readings(loss, p, t, s, options)


def _squash(loss: Loss, p: Any) -> np.ndarray:
    from .losses import softmax

    z = np.asarray(p, dtype=np.float64)
    if loss.name == "ce":
        return softmax(z)
    return 1.0 / (1.0 + np.exp(-z))
