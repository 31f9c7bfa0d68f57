"""Generate tests/fixtures/xgboost_objectives.json: XGBoost's own gradients and Hessians.

How to run (from the repository root):

    pip install xgboost            # any 2.x or 3.x; the version is recorded in the file
    python tests/make_xgboost_fixtures.py

XGBoost has no public call that returns a built-in objective's gradient, so this script reads
it off the model: one boosting round on a single row whose margin is fixed by ``base_margin``
(eta 1, no L1 term, depth 1: the row's tree is a single leaf) gives the leaf weight
``w = −G/(H + λ)``; two rounds with λ = 0 and λ = 1 give both ``G`` and ``H`` exactly (up to
XGBoost's float32 gradient pairs, ~1e-7 relative). Multi-class objectives grow one tree per
class, so the same holds per class. Recorded for ``reg:squarederror``,
``reg:pseudohubererror``, ``binary:logistic``, ``multi:softprob``, ``count:poisson`` (with its
default ``max_delta_step`` 0.7, which inflates the Hessian to exp(m + 0.7), and with 0) and
``reg:tweedie``. Deterministic: fixed margins and labels from a seeded generator.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import xgboost as xgb

OUT = Path(__file__).resolve().parent / "fixtures" / "xgboost_objectives.json"


def grad_hess(objective: str, margins: np.ndarray, labels: np.ndarray, params: dict):
    """XGBoost's (G, H) per row (and class) at ``margins`` (N,) or (N, C)."""
    grads, hesses = [], []
    for m, y in zip(margins, labels, strict=True):
        m = np.atleast_1d(np.asarray(m, dtype=np.float64))
        steps = []
        for lam in (0.0, 1.0):
            base = m.reshape(1, -1) if m.size > 1 else m

            def data(base=base, y=y):
                return xgb.DMatrix(np.zeros((1, 1)), label=np.atleast_1d(y), base_margin=base)

            p = {
                "objective": objective,
                "eta": 1.0,
                "lambda": lam,
                "alpha": 0.0,
                "max_depth": 1,
                "min_child_weight": 0.0,
                "tree_method": "exact",
                "nthread": 1,
                **params,
            }
            if m.size > 1:
                p["num_class"] = m.size
            booster = xgb.train(p, data(), num_boost_round=1)
            pred = booster.predict(data(), output_margin=True)
            steps.append(np.asarray(pred, dtype=np.float64).reshape(-1) - m)
        w0, w1 = steps  # w0 = −G/H, w1 = −G/(H + 1)
        g = -1.0 / (1.0 / w1 - 1.0 / w0)
        grads.append(g if m.size > 1 else float(g[0]))
        hesses.append(-g / w0 if m.size > 1 else float((-g / w0)[0]))
    return np.array(grads), np.array(hesses)


def main() -> int:
    rng = np.random.default_rng(20261202)
    cases = []

    def add(name, objective, margins, labels, params=None):
        params = params or {}
        g, h = grad_hess(objective, margins, labels, params)
        cases.append(
            {
                "id": name,
                "objective": objective,
                "params": params,
                "margins": margins.tolist(),
                "labels": labels.tolist(),
                "grad": g.tolist(),
                "hess": h.tolist(),
            }
        )

    n = 8
    m = np.round(rng.normal(0, 1.5, n), 3)
    add("squarederror", "reg:squarederror", m, np.round(m + rng.normal(0, 1, n), 3))
    add(
        "pseudohuber",
        "reg:pseudohubererror",
        m,
        np.round(m + rng.normal(0, 2, n), 3),
        {"huber_slope": 1.5},
    )
    add("logistic", "binary:logistic", m, rng.integers(0, 2, n).astype(float))
    mc = np.round(rng.normal(0, 1.5, (n, 3)), 3)
    add("softprob", "multi:softprob", mc, rng.integers(0, 3, n).astype(float))
    mp = np.round(rng.normal(0, 0.7, n), 3)
    # labels near the mean so the default max_delta_step (0.7) does not clip the leaf
    near = np.round(np.exp(mp) * rng.uniform(0.8, 1.2, n), 3)
    add("poisson-default", "count:poisson", mp, near)
    add(
        "poisson-mds0",
        "count:poisson",
        mp,
        rng.poisson(2, n).astype(float),
        {"max_delta_step": 0.0},
    )
    add(
        "tweedie",
        "reg:tweedie",
        mp,
        np.round(np.exp(mp) * rng.uniform(0.8, 1.2, n), 3),
        {"tweedie_variance_power": 1.5},
    )
    doc = {
        "generator": "tests/make_xgboost_fixtures.py",
        "xgboost_version": xgb.__version__,
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(cases)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
