"""Reference values for tests/test_layout.py, from torch.nn.functional.mse_loss.

Run once: ``python tests/make_layout_fixtures.py`` writes ``tests/fixtures/layout.json``.
The inputs are the bundled regression sample (8 rows, columns y0, y1, y2) read as a writer
meant it, and read the wrong ways the tests guard against.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def load(name: str) -> np.ndarray:
    return np.loadtxt(ROOT / "sample_data" / f"regression_{name}.csv", delimiter=",", skiprows=1)


def mse(p: np.ndarray, t: np.ndarray) -> float:
    return float(torch.nn.functional.mse_loss(torch.from_numpy(p), torch.from_numpy(t)))


p, t = load("preds"), load("targets")
index = np.arange(len(p), dtype=np.float64)[:, None]
header_row = np.array([[0.0, 1.0, 2.0]])
values = {
    # the files as their writers meant them
    "mse": mse(p, t),
    # to_csv()'s index column taken as a prediction and a target column (--keep-index)
    "mse_with_index": mse(np.hstack([index, p]), np.hstack([index, t])),
    # a header 0,1,2 read as a data row in both files (--no-header)
    "mse_header_as_data": mse(np.vstack([header_row, p]), np.vstack([header_row, t])),
    # targets' columns y2, y1, y0 paired by position with the predictions' y0, y1, y2
    "mse_permuted_by_position": mse(p, t[:, ::-1].copy()),
}
# one case per reading, in the shape every tests/fixtures/*.json shares ({"cases": [...]})
cases = [{"loss": "mse", "reading": name, "value": value} for name, value in values.items()]
out = ROOT / "tests" / "fixtures" / "layout.json"
out.write_text(json.dumps({"cases": cases}, indent=2) + "\n")
print(out, values)
