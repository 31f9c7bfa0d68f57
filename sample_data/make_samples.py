"""Regenerate the bundled sample data: `python sample_data/make_samples.py`.

Small, readable examples of every input losscli takes: regression predictions and targets,
and classification logits, probabilities, class labels and one-hot targets, in CSV and NPY.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
rng = np.random.default_rng(20261128)

# Regression: 8 samples × 3 outputs, two decimals so the files read easily.
targets = np.round(rng.normal(0.0, 1.0, size=(8, 3)), 2)
preds = np.round(targets + rng.normal(0.0, 0.3, size=(8, 3)), 2)

# Classification: 8 samples × 4 classes.
labels = np.array([0, 2, 1, 3, 2, 0, 1, 3])
logits = np.round(rng.normal(0.0, 1.0, size=(8, 4)) + 2.0 * np.eye(4)[labels], 2)
# Probabilities in tenths, each row summing to exactly 1 in decimal.
probs = np.array(
    [
        [0.7, 0.1, 0.1, 0.1],
        [0.1, 0.2, 0.6, 0.1],
        [0.2, 0.5, 0.2, 0.1],
        [0.1, 0.1, 0.2, 0.6],
        [0.3, 0.1, 0.5, 0.1],
        [0.4, 0.3, 0.2, 0.1],
        [0.1, 0.8, 0.0, 0.1],
        [0.25, 0.25, 0.25, 0.25],
    ]
)
onehot = np.eye(4)[labels]


def write(name: str, array: np.ndarray, header: list[str], fmt: str) -> None:
    np.savetxt(
        HERE / f"{name}.csv", array, fmt=fmt, delimiter=",", header=",".join(header), comments=""
    )
    np.save(HERE / f"{name}.npy", array)


columns = [f"y{j}" for j in range(3)]
classes = [f"class_{c}" for c in range(4)]
write("regression_preds", preds, columns, "%.2f")
write("regression_targets", targets, columns, "%.2f")
write("classification_logits", logits, classes, "%.2f")
write("classification_probs", probs, classes, "%g")
write("classification_onehot", onehot, classes, "%d")
np.savetxt(HERE / "classification_labels.csv", labels, fmt="%d", header="label", comments="")
np.save(HERE / "classification_labels.npy", labels)

# Log-probabilities of the classification logits (for nll and kl), four decimals.
shifted = logits - logits.max(axis=1, keepdims=True)
logprobs = np.round(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)), 4)
write("classification_logprobs", logprobs, classes, "%.4f")

# Binary (multi-label) classification for bce: 8 samples × 3 labels, hard 0/1 targets,
# logits in hundredths and the probabilities σ(logits) in thousandths.
binary_labels = rng.integers(0, 2, size=(8, 3)).astype(float)
binary_logits = np.round(rng.normal(0.0, 1.5, size=(8, 3)) + 1.5 * (2 * binary_labels - 1), 2)
binary_probs = np.round(1.0 / (1.0 + np.exp(-binary_logits)), 3)
labels3 = [f"label_{j}" for j in range(3)]
write("binary_labels", binary_labels, labels3, "%d")
write("binary_logits", binary_logits, labels3, "%.2f")
write("binary_probs", binary_probs, labels3, "%.3f")
