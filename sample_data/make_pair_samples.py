"""Regenerate the sample data of the losses added for issue 10:
`python sample_data/make_pair_samples.py` (sample_data/make_samples.py writes the others).

Positive predictions and targets (msle, pinball, the Tweedie deviances), counts with their
rates and log-rates (poisson-nll), embedding pairs, score pairs, distances and ±1 pair labels
(cosine-embedding, margin-ranking, hinge-embedding), in CSV and NPY. No element sits on a kink
of its loss (a tie ŷ = y, a margin), so every sample run passes --check.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
rng = np.random.default_rng(20261202)


def write(name: str, array: np.ndarray, header: list[str], fmt: str) -> None:
    np.savetxt(
        HERE / f"{name}.csv", array, fmt=fmt, delimiter=",", header=",".join(header), comments=""
    )
    np.save(HERE / f"{name}.npy", array)


# Positive values: 8 samples × 3 outputs, two decimals, predictions never equal to targets.
pos_targets = np.round(rng.gamma(2.0, 1.0, size=(8, 3)) + 0.1, 2)
pos_preds = np.round(pos_targets * np.exp(rng.normal(0.0, 0.3, size=(8, 3))), 2)
pos_preds[pos_preds == pos_targets] += 0.05
columns = [f"y{j}" for j in range(3)]
write("positive_targets", pos_targets, columns, "%.2f")
write("positive_preds", pos_preds, columns, "%.2f")

# Counts and the rates a model predicts for them (rates in hundredths, log-rates in
# thousandths).
rates = np.round(rng.gamma(3.0, 1.0, size=(8, 3)) + 0.2, 2)
counts = rng.poisson(rates).astype(float)
write("count_targets", counts, columns, "%d")
write("count_rates", rates, columns, "%.2f")
write("count_log_rates", np.round(np.log(rates), 3), columns, "%.3f")

# Pairs: 8 labels ±1; embeddings [x1 | x2] of 3 dimensions each, x2 near x1 for similar pairs.
labels = np.array([1, -1, 1, 1, -1, -1, 1, -1], dtype=float)
x1 = np.round(rng.normal(0.0, 1.0, size=(8, 3)), 2)
x2 = np.round(np.where(labels[:, None] == 1, x1, -0.5 * x1) + rng.normal(0, 0.5, (8, 3)), 2)
np.savetxt(HERE / "pair_labels.csv", labels, fmt="%d", header="label", comments="")
np.save(HERE / "pair_labels.npy", labels)
write(
    "pair_embeddings",
    np.hstack([x1, x2]),
    [f"x1_{j}" for j in range(3)] + [f"x2_{j}" for j in range(3)],
    "%.2f",
)
# Scores of each pair's two items, x1 mostly above x2 where the label is 1.
scores = np.round(rng.normal(0.0, 1.0, size=(8, 2)), 2)
scores[:, 0] += 0.8 * labels
write("ranking_scores", np.round(scores, 2), ["x1", "x2"], "%.2f")
# Distances between the items of each pair (hinge-embedding), small where the label is 1.
distances = np.round(np.abs(rng.normal(np.where(labels == 1, 0.4, 1.4), 0.4)), 2)
distances[distances == 1.0] += 0.05
np.savetxt(HERE / "pair_distances.csv", distances, fmt="%.2f", header="distance", comments="")
np.save(HERE / "pair_distances.npy", distances)
