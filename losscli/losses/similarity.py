"""Pair and similarity losses: cosine similarity, cosine embedding, margin ranking and hinge
embedding.

cosine-similarity, cosine-embedding and margin-ranking are *row* losses (one value per row:
rows are vectors or pairs); hinge-embedding is elementwise. Layouts of the pair losses, which
PyTorch gives three inputs (x1, x2, y):

* cosine-embedding: predictions ``(N, 2D)`` = ``[x1 | x2]`` (the first D columns are x1),
  targets ``(N,)`` labels ±1; the gradient is w.r.t. both x1 and x2.
* margin-ranking: predictions ``(N, 2)`` = ``[x1, x2]``, targets ``(N,)`` labels ±1.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._base import Loss, Param, Prepared, check_same_rows, check_same_shape
from ._common import check_option, check_signs, regression_samples, zero_hess

__all__ = [
    "cosine_embedding",
    "cosine_similarity",
    "hinge_embedding",
    "margin_ranking",
]

TORCH_COSINE_EPSILON = 1e-12  # added to the squared norms by torch's cosine_embedding_loss


def _need_matrix(a: np.ndarray, *, loss: str, role: str, what: str) -> None:
    if a.ndim != 2:
        raise InputError(
            f"{loss} takes an N × {what} matrix, got a vector of {len(a)} values "
            "(write one row per sample; a single sample as a one-row file)",
            role=role,
        )


def _label_vector(targets: np.ndarray, n: int, *, loss: str) -> np.ndarray:
    """Targets ``(N,)`` or ``(N, 1)`` as ``(N,)``, each −1 or 1."""
    if targets.ndim == 2 and targets.shape[1] != 1:
        raise InputError(
            f"{loss} takes one label (−1 or 1) per row, got {targets.shape[1]} columns",
            role="targets",
        )
    y = targets.reshape(-1)
    check_same_rows(np.empty(n), y, names=("predictions", "targets"))
    check_signs(y, loss=loss)
    return y


# --------------------------------------------------------------------------- cosine similarity


def _unit_parts(a: np.ndarray, b: np.ndarray, epsilon: float):
    """(n_a, n_b, clipped_a, c): norms floored at ε, whether ‖a‖ < ε, and the cosine."""
    ra, rb = np.sqrt(np.einsum("ij,ij->i", a, a)), np.sqrt(np.einsum("ij,ij->i", b, b))
    na, nb = np.maximum(ra, epsilon), np.maximum(rb, epsilon)
    c = np.einsum("ij,ij->i", a, b) / (na * nb)
    return na, nb, ra < epsilon, c, ra


def cosine_similarity_values(
    predictions: np.ndarray, targets: np.ndarray, *, epsilon: float
) -> np.ndarray:
    """−cos(ŷ_i, y_i) per row, norms floored at ε."""
    return -_unit_parts(predictions, targets, epsilon)[3]


def cosine_similarity_grad(
    predictions: np.ndarray, targets: np.ndarray, *, epsilon: float
) -> np.ndarray:
    """−(v − c·u)/‖ŷ‖ with u = ŷ/‖ŷ‖, v = y/‖y‖; −v/ε where ‖ŷ‖ is floored."""
    a = predictions
    na, nb, clipped, c, _ = _unit_parts(a, targets, epsilon)
    v = targets / nb[:, None]
    slope = np.where(clipped, 0.0, c)[:, None]
    return (slope * a / na[:, None] - v) / na[:, None]


def cosine_similarity_hess(
    predictions: np.ndarray, targets: np.ndarray, *, epsilon: float
) -> np.ndarray:
    """(2 u_j v_j − 3c u_j² + c)/‖ŷ‖²; 0 where ‖ŷ‖ is floored (the loss is linear there)."""
    a = predictions
    na, nb, clipped, c, _ = _unit_parts(a, targets, epsilon)
    u, v = a / na[:, None], targets / nb[:, None]
    cc = c[:, None]
    h = (2.0 * u * v - 3.0 * cc * u * u + cc) / np.square(na)[:, None]
    h[clipped] = 0.0
    return h


def cosine_similarity_kinks(
    predictions: np.ndarray, targets: np.ndarray, *, epsilon: float
) -> np.ndarray:
    """Rows whose norm equals the floor ε > 0 exactly."""
    ra = np.sqrt(np.einsum("ij,ij->i", predictions, predictions))
    row = (ra == epsilon) & (epsilon > 0)
    return np.broadcast_to(row[:, None], predictions.shape).copy()


def _prepare_cosine_similarity(
    predictions: np.ndarray, targets: np.ndarray, *, epsilon: float
) -> Prepared:
    epsilon = check_option("epsilon", epsilon, low=0.0)
    _need_matrix(predictions, loss="cosine-similarity", role="predictions", what="D")
    check_same_shape(predictions, targets)
    if epsilon == 0:
        for a, role in ((predictions, "predictions"), (targets, "targets")):
            zero = ~a.any(axis=1)
            if zero.any():
                raise InputError(
                    f"row {int(np.argmax(zero))} of the {role} is the zero vector, whose cosine "
                    "is undefined — pass --epsilon to floor the norms (Keras uses 1e-7)",
                    role=role,
                )
    return Prepared(predictions, targets, {"epsilon": epsilon})


cosine_similarity = Loss(
    name="cosine-similarity",
    summary="Negative cosine similarity of each row's predicted and target vectors",
    formula="mean over rows of −ŷ·y / (max(‖ŷ‖, ε) max(‖y‖, ε))",
    gradient_formula="−(v − cos·u)/‖ŷ‖ per row, u = ŷ/‖ŷ‖, v = y/‖y‖; divided by N for mean",
    reference=(
        "keras.losses.cosine_similarity (--epsilon 1e-7); −optax.losses.cosine_similarity "
        "(its epsilon floors the squared norm: ε here = √ of it)"
    ),
    values=cosine_similarity_values,
    grad_kernel=cosine_similarity_grad,
    hess_kernel=cosine_similarity_hess,
    hess_note="0 in rows whose norm is floored at --epsilon",
    kinks=cosine_similarity_kinks,
    prepare=_prepare_cosine_similarity,
    params=(
        Param(
            "epsilon",
            float,
            0.0,
            "Floor of each row's norm ‖ŷ‖ and ‖y‖ (≥ 0). Default 0 (optax); Keras uses 1e-7.",
        ),
    ),
    sample_data=regression_samples,
    examples=(
        "losscli cosine-similarity embeddings.csv targets.csv --grad",
        "losscli cosine-similarity embeddings.npy targets.npy --epsilon 1e-7 --reduction none",
    ),
    example=([[1.0, 2.0, 0.5], [0.5, -1.0, 2.0]], [[0.0, 2.5, 1.0], [1.0, 0.0, 1.5]], {}),
    doc="""Cosine similarity loss, as ``keras.losses.cosine_similarity`` (negative: −1 is a
perfect match), i.e. ``−optax.losses.cosine_similarity``.

Per row i (rows are vectors): ``L_i = −ŷ_i·y_i / (max(‖ŷ_i‖, ε) max(‖y_i‖, ε))``. ``mean``: the
mean over the N rows (Keras's ``sum_over_batch_size``); ``sum``: their sum; ``none``: the N row
values. ``epsilon`` (default 0, as optax; Keras floors the norms at 1e-7) floors each norm; with
0, an all-zero row is an error. optax's ``epsilon`` floors the *squared* norm: optax's ε² is
losscli's ε. ``optax.losses.cosine_distance`` is ``1 + L_i``.

Shapes: ``predictions`` and ``targets`` both ``(N, D)``.

Gradient w.r.t. ``predictions``: ``−(v − cos·u)/‖ŷ‖`` with ``u = ŷ/‖ŷ‖`` and ``v = y/‖y‖``,
divided by N under ``mean``; where ‖ŷ‖ is floored, ``−v/ε``. Hessian diagonal:
``(2u_j v_j − 3 cos u_j² + cos)/‖ŷ‖²`` (0 in floored rows). The loss is scale-invariant in ŷ,
so the gradient is orthogonal to ŷ.

>>> import losscli
>>> losscli.cosine_similarity([[1.0, 0.0], [1.0, 1.0]], [[2.0, 0.0], [-1.0, -1.0]],
...                           reduction="none")
array([-1.,  1.])
>>> losscli.cosine_similarity.grad([[1.0, 0.0]], [[1.0, 1.0]])
array([[ 0.        , -0.70710678]])
""",
)


# --------------------------------------------------------------------------- cosine embedding


def _embedding_parts(p: np.ndarray):
    """(x1, x2, A, B, √(AB), cos) as torch's cosine_embedding_loss computes them."""
    d = p.shape[1] // 2
    x1, x2 = p[:, :d], p[:, d:]
    a = np.einsum("ij,ij->i", x1, x1) + TORCH_COSINE_EPSILON
    b = np.einsum("ij,ij->i", x2, x2) + TORCH_COSINE_EPSILON
    root = np.sqrt(a * b)
    return x1, x2, a, b, root, np.einsum("ij,ij->i", x1, x2) / root


def _embedding_sign(y: np.ndarray, c: np.ndarray, margin: float) -> np.ndarray:
    """d L/d cos per row: −1 for similar pairs, 1 for dissimilar ones with cos ≥ margin (the
    gradient flows at cos = margin, as torch's clamp_min), else 0."""
    return np.where(y == 1, -1.0, np.where(c - margin >= 0, 1.0, 0.0))


def cosine_embedding_values(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> np.ndarray:
    """1 − cos(x1, x2) for y = 1, max(0, cos(x1, x2) − margin) for y = −1, per row."""
    c = _embedding_parts(predictions)[5]
    return np.where(targets == 1, 1.0 - c, np.maximum(c - margin, 0.0))


def cosine_embedding_grad(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> np.ndarray:
    """s·[x2/√(AB) − cos·x1/A | x1/√(AB) − cos·x2/B], s = dL/dcos."""
    x1, x2, a, b, root, c = _embedding_parts(predictions)
    s = _embedding_sign(targets, c, margin)[:, None]
    cc, r = c[:, None], root[:, None]
    g1 = x2 / r - cc * x1 / a[:, None]
    g2 = x1 / r - cc * x2 / b[:, None]
    return s * np.concatenate([g1, g2], axis=1)


def cosine_embedding_hess(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> np.ndarray:
    """s·(−2 x1 x2/(A√(AB)) + 3 cos x1²/A² − cos/A), and likewise for x2 with B."""
    x1, x2, a, b, root, c = _embedding_parts(predictions)
    s = _embedding_sign(targets, c, margin)[:, None]
    cc, r, aa, bb = c[:, None], root[:, None], a[:, None], b[:, None]
    h1 = -2.0 * x1 * x2 / (aa * r) + 3.0 * cc * x1 * x1 / (aa * aa) - cc / aa
    h2 = -2.0 * x1 * x2 / (bb * r) + 3.0 * cc * x2 * x2 / (bb * bb) - cc / bb
    return s * np.concatenate([h1, h2], axis=1)


def cosine_embedding_kinks(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> np.ndarray:
    """Dissimilar pairs with cos = margin exactly, where max(0, ·) turns."""
    c = _embedding_parts(predictions)[5]
    row = (targets == -1) & (c == margin)
    return np.broadcast_to(row[:, None], predictions.shape).copy()


def _prepare_cosine_embedding(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> Prepared:
    margin = check_option("margin", margin, low=-1.0, high=1.0)
    _need_matrix(predictions, loss="cosine-embedding", role="predictions", what="2D")
    if predictions.shape[1] % 2:
        raise InputError(
            f"cosine-embedding takes predictions [x1 | x2] with an even number of columns "
            f"(D for x1, then D for x2), got {predictions.shape[1]}",
            role="predictions",
        )
    y = _label_vector(targets, len(predictions), loss="cosine-embedding")
    return Prepared(
        predictions,
        y,
        {"margin": margin},
        describe={"pairs": f"x1 = columns 1–{predictions.shape[1] // 2}, x2 = the rest"},
    )


cosine_embedding = Loss(
    name="cosine-embedding",
    summary="Cosine embedding loss of pairs [x1 | x2] with labels ±1",
    formula="mean over rows of 1 − cos(x1, x2) if y = 1, max(0, cos(x1, x2) − margin) if y = −1",
    gradient_formula=(
        "∓[x2/√(AB) − cos·x1/A | x1/√(AB) − cos·x2/B] (A = ‖x1‖² + 1e-12, B = ‖x2‖² + 1e-12); "
        "0 for y = −1 below the margin; divided by N for mean"
    ),
    reference="torch.nn.functional.cosine_embedding_loss(x1, x2, y)",
    values=cosine_embedding_values,
    grad_kernel=cosine_embedding_grad,
    hess_kernel=cosine_embedding_hess,
    hess_note="0 for dissimilar pairs below the margin",
    kinks=cosine_embedding_kinks,
    prepare=_prepare_cosine_embedding,
    params=(
        Param(
            "margin",
            float,
            0.0,
            "Dissimilar pairs (y = −1) cost max(0, cos − margin); in [−1, 1].",
        ),
    ),
    sample_data=lambda options: ("pair_embeddings.csv", "pair_labels.csv"),
    examples=(
        "losscli cosine-embedding pairs.csv labels.csv --margin 0.2 --grad",
        "losscli cosine-embedding pairs.npy labels.npy --reduction none",
    ),
    example=([[1.0, 2.0, 0.5, 1.0], [0.5, -1.0, 2.0, 1.0]], [1.0, -1.0], {"margin": 0.1}),
    doc="""Cosine embedding loss, as ``torch.nn.functional.cosine_embedding_loss(x1, x2, y)``.

Layout: predictions ``(N, 2D)`` hold both embeddings of a pair side by side, ``[x1 | x2]``
(the first D columns are x1); targets ``(N,)`` are labels: 1 similar, −1 dissimilar. Per row:
``1 − cos(x1, x2)`` if ``y = 1``, ``max(0, cos(x1, x2) − margin)`` if ``y = −1``, with
``cos = x1·x2 / √((‖x1‖² + 1e-12)(‖x2‖² + 1e-12))`` exactly as torch. ``mean`` is over the N
rows.

Gradient w.r.t. both x1 and x2 (shaped like the predictions): ``∓∂cos``, with
``∂cos/∂x1 = x2/√(AB) − cos·x1/A`` (and symmetrically for x2), divided by N under ``mean``. At
the kink ``cos = margin`` of a dissimilar pair the gradient is that of the active side, as
torch's ``clamp_min`` passes it. Hessian diagonal w.r.t. x1:
``±(−2 x1 x2/(A√(AB)) + 3 cos x1²/A² − cos/A)`` (and likewise for x2).

>>> import losscli
>>> losscli.cosine_embedding([[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]], [1, -1],
...                          reduction="none").round(9)
array([0., 0.])
>>> round(losscli.cosine_embedding([[1.0, 0.0, 1.0, 1.0]], [-1]), 9)
0.707106781
""",
)


# --------------------------------------------------------------------------- margin ranking


def _ranking_z(p: np.ndarray, y: np.ndarray, margin: float) -> np.ndarray:
    return -y * (p[:, 0] - p[:, 1]) + margin


def margin_ranking_values(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> np.ndarray:
    """max(0, −y(x1 − x2) + margin) per row."""
    return np.maximum(_ranking_z(predictions, targets, margin), 0.0)


def margin_ranking_grad(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> np.ndarray:
    """[−y, y] where −y(x1 − x2) + margin ≥ 0 (torch passes the gradient at 0), else 0."""
    active = _ranking_z(predictions, targets, margin) >= 0
    g = np.where(active, -targets, 0.0)
    return np.stack([g, 0.0 - g], axis=1)  # 0.0 − g: no −0.0 in inactive rows


def margin_ranking_kinks(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> np.ndarray:
    """Rows with −y(x1 − x2) + margin = 0 exactly."""
    row = _ranking_z(predictions, targets, margin) == 0
    return np.stack([row, row], axis=1)


def _prepare_margin_ranking(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> Prepared:
    margin = check_option("margin", margin)
    if predictions.ndim != 2 or predictions.shape[1] != 2:
        got = f"{predictions.shape[1]} columns" if predictions.ndim == 2 else "a vector"
        raise InputError(
            f"margin-ranking takes predictions with two columns, x1 and x2 (the scores of "
            f"each pair), got {got}",
            role="predictions",
        )
    y = _label_vector(targets, len(predictions), loss="margin-ranking")
    return Prepared(predictions, y, {"margin": margin})


margin_ranking = Loss(
    name="margin-ranking",
    summary="Margin ranking loss of score pairs [x1, x2] with labels ±1 (1: x1 should rank higher)",
    formula="mean over rows of max(0, −y(x1 − x2) + margin)",
    gradient_formula="[−y, y] where −y(x1 − x2) + margin ≥ 0, else 0; divided by N for mean",
    reference="torch.nn.functional.margin_ranking_loss(x1, x2, y)",
    values=margin_ranking_values,
    grad_kernel=margin_ranking_grad,
    hess_kernel=zero_hess,
    hess_note="0 everywhere: the loss is piecewise linear",
    kinks=margin_ranking_kinks,
    prepare=_prepare_margin_ranking,
    params=(Param("margin", float, 0.0, "Required gap: x1 − x2 ≥ margin costs 0 when y = 1."),),
    sample_data=lambda options: ("ranking_scores.csv", "pair_labels.csv"),
    examples=(
        "losscli margin-ranking scores.csv labels.csv --margin 0.5 --grad",
        "losscli margin-ranking scores.csv labels.csv --reduction none",
    ),
    example=([[1.0, 0.5], [0.2, 0.6]], [1.0, -1.0], {"margin": 0.25}),
    doc="""Margin ranking loss, as ``torch.nn.functional.margin_ranking_loss(x1, x2, y)``.

Layout: predictions ``(N, 2)`` hold each pair's scores ``[x1, x2]``; targets ``(N,)`` are labels:
1 if x1 should rank higher, −1 if x2 should. Per row: ``max(0, −y(x1 − x2) + margin)``;
``mean`` is over the N rows.

Gradient w.r.t. ``[x1, x2]``: ``[−y, y]`` where ``−y(x1 − x2) + margin ≥ 0``, else 0; divided by
N under ``mean``. At the kink (exactly 0) the gradient is ``[−y, y]``, as torch's
``clamp_min`` passes it. The Hessian is 0 everywhere.

>>> import losscli
>>> losscli.margin_ranking([[1.0, 0.5], [0.2, 0.6]], [1, 1], reduction="none")
array([0. , 0.4])
>>> losscli.margin_ranking.grad([[1.0, 0.5], [0.2, 0.6]], [1, 1], reduction="sum")
array([[ 0.,  0.],
       [-1.,  1.]])
""",
)


# --------------------------------------------------------------------------- hinge embedding


def hinge_embedding_values(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> np.ndarray:
    """x for y = 1, max(0, margin − x) for y = −1."""
    return np.where(targets == 1, predictions, np.maximum(margin - predictions, 0.0))


def hinge_embedding_grad(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> np.ndarray:
    """1 for y = 1; −1 for y = −1 where x ≤ margin (torch passes it at x = margin), else 0."""
    return np.where(targets == 1, 1.0, np.where(margin - predictions >= 0, -1.0, 0.0))


def hinge_embedding_kinks(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> np.ndarray:
    """y = −1 and x = margin exactly."""
    return (targets == -1) & (predictions == margin)


def _prepare_hinge_embedding(
    predictions: np.ndarray, targets: np.ndarray, *, margin: float
) -> Prepared:
    margin = check_option("margin", margin)
    check_same_shape(predictions, targets)
    check_signs(targets, loss="hinge-embedding")
    return Prepared(predictions, targets, {"margin": margin})


hinge_embedding = Loss(
    name="hinge-embedding",
    summary="Hinge embedding loss of distances x with labels ±1",
    formula="mean over elements of x if y = 1, max(0, margin − x) if y = −1",
    gradient_formula="1 if y = 1; −1 if y = −1 and x ≤ margin, else 0; divided by N·D for mean",
    reference="torch.nn.functional.hinge_embedding_loss",
    values=hinge_embedding_values,
    grad_kernel=hinge_embedding_grad,
    hess_kernel=zero_hess,
    hess_note="0 everywhere: the loss is piecewise linear",
    kinks=hinge_embedding_kinks,
    prepare=_prepare_hinge_embedding,
    params=(Param("margin", float, 1.0, "Dissimilar pairs (y = −1) cost max(0, margin − x)."),),
    elementwise=True,
    sample_data=lambda options: ("pair_distances.csv", "pair_labels.csv"),
    examples=(
        "losscli hinge-embedding distances.csv labels.csv --grad",
        "losscli hinge-embedding distances.csv labels.csv --margin 2",
    ),
    example=([[0.5, 2.0], [0.3, 1.5]], [[1.0, -1.0], [-1.0, 1.0]], {}),
    doc="""Hinge embedding loss, as ``torch.nn.functional.hinge_embedding_loss``.

Elementwise, inputs x (typically a distance between two embeddings, e.g. an L1 distance) and
labels y = ±1: ``x`` where ``y = 1``, ``max(0, margin − x)`` where ``y = −1``; margin default 1.
Rows are the mean over their D elements; ``mean`` is over all N·D elements. Labels other than
±1 are an error (torch would add both terms).

Shapes: ``predictions`` and ``targets`` both ``(N,)`` or both ``(N, D)``.

Gradient w.r.t. ``predictions``: 1 where ``y = 1``; −1 where ``y = −1`` and ``x ≤ margin``, else
0; divided by N·D under ``mean``. At the kink ``x = margin`` it is −1, as torch's ``clamp_min``
passes the gradient there. The Hessian is 0 everywhere.

>>> import losscli
>>> losscli.hinge_embedding([0.5, 0.25], [1, -1], reduction="none")
array([0.5 , 0.75])
>>> losscli.hinge_embedding.grad([0.5, 0.25, 2.0], [1, -1, -1], reduction="sum")
array([ 1., -1.,  0.])
""",
)
