"""losscli.objective: custom objectives for XGBoost and LightGBM.

Reference values: tests/fixtures/xgboost_objectives.json, XGBoost's own gradients and Hessians
of its built-in objectives read off one-round boosters by tests/make_xgboost_fixtures.py
(float32 inside XGBoost: compared to 1e-4 relative). The end-to-end tests train with the
built-in objective and with losscli's and compare the models; they skip when xgboost or
lightgbm is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import losscli
from losscli.errors import UsageError
from losscli.losses import REGISTRY

XGB = json.loads((Path(__file__).parent / "fixtures" / "xgboost_objectives.json").read_text())
CASES = {c["id"]: c for c in XGB["cases"]}
RTOL = 1e-4  # XGBoost's gradient pairs are float32, and reading them off a model adds noise


class Data:
    """What xgboost.DMatrix and lightgbm.Dataset offer an objective."""

    def __init__(self, labels, weights=None):
        self.labels, self.weights = np.asarray(labels, dtype=np.float64), weights

    def get_label(self):
        return self.labels

    def get_weight(self):
        return self.weights


def _ours(loss, case, **options):
    return losscli.objective(loss, **options)(np.array(case["margins"]), Data(case["labels"]))


def test_binary_logistic_is_bce_from_logits():
    case = CASES["logistic"]
    grad, hess = _ours(losscli.bce, case, logits=True)
    np.testing.assert_allclose(grad, case["grad"], rtol=RTOL)
    np.testing.assert_allclose(hess, case["hess"], rtol=RTOL)


def test_squarederror_is_half_of_mse():
    # XGBoost's reg:squarederror is ½(m − y)²: gradient m − y, Hessian 1; losscli's mse is
    # (m − y)², twice both.
    case = CASES["squarederror"]
    grad, hess = _ours(losscli.mse, case)
    np.testing.assert_allclose(grad, 2 * np.array(case["grad"]), rtol=RTOL)
    np.testing.assert_allclose(hess, 2 * np.array(case["hess"]), rtol=RTOL)
    np.testing.assert_array_equal(hess, 2.0)


def test_softprob_hessian_is_twice_losscli():
    # multi:softprob: gradient p − onehot(y) as losscli's, Hessian 2p(1 − p) where the exact
    # diagonal is p(1 − p) (XGBoost's choice, still in the version recorded in the fixture).
    case = CASES["softprob"]
    grad, hess = _ours(losscli.cross_entropy, case, logits=True)
    assert grad.shape == hess.shape == np.array(case["margins"]).shape
    np.testing.assert_allclose(grad, case["grad"], rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(2 * hess, case["hess"], rtol=RTOL)


def test_poisson_default_max_delta_step_inflates_the_hessian():
    # count:poisson: gradient e^m − y, Hessian e^(m + max_delta_step), 0.7 by default
    m = np.array(CASES["poisson-default"]["margins"])
    np.testing.assert_allclose(CASES["poisson-default"]["hess"], np.exp(m + 0.7), rtol=RTOL)
    np.testing.assert_allclose(CASES["poisson-mds0"]["hess"], np.exp(m), rtol=RTOL)


# XGBoost objectives whose losscli loss another module may register: (names, options, how to
# compare). Skipped while no such loss is registered.
OPTIONAL = {
    "pseudohuber": (("pseudo-huber", "pseudo_huber", "pseudohuber"), {"delta": 1.5}),
    "poisson-mds0": (("poisson", "poisson-nll"), {}),
}


@pytest.mark.parametrize("case_id", sorted(OPTIONAL))
def test_other_objectives_when_registered(case_id):
    names, options = OPTIONAL[case_id]
    found = [REGISTRY[n] for n in names if n in REGISTRY]
    if not found or not found[0].has_hess:
        pytest.skip(f"no loss {' or '.join(names)} with a Hessian is registered")
    loss = found[0]
    options = {k: v for k, v in options.items() if k in {p.name for p in loss.params}}
    case = CASES[case_id]
    grad, hess = _ours(loss, case, **options)
    np.testing.assert_allclose(grad, case["grad"], rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(hess, case["hess"], rtol=RTOL)


# ----------------------------------------------------------------------------- the callable


def test_per_sample_weights_and_reduction_none():
    z, y, w = np.array([0.3, -1.2, 2.0]), np.array([1.0, 0.0, 1.0]), np.array([2.0, 1.0, 0.5])
    grad, hess = losscli.objective(losscli.bce, logits=True)(z, Data(y, w))
    sigma = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(grad, w * (sigma - y), rtol=1e-15)
    np.testing.assert_allclose(hess, w * sigma * (1 - sigma), rtol=1e-14)
    # the same numbers as --reduction none
    _, g, h = losscli.bce.value_grad_hess(z, y, logits=True, reduction="none", sample_weights=w)
    np.testing.assert_array_equal(grad, g)
    np.testing.assert_array_equal(hess, h)
    # XGBoost gives an empty weight array when the DMatrix has none
    g0, _ = losscli.objective("bce", logits=True)(z, Data(y, np.array([])))
    np.testing.assert_allclose(g0, sigma - y, rtol=1e-15)


def test_flattened_layouts():
    z = np.array([[0.1, 0.5, -1.0], [2.0, 0.0, 0.3]])
    y = [2, 0]
    grad, hess = losscli.objective(losscli.cross_entropy, logits=True)(z, Data(y))
    g_rows, h_rows = losscli.objective(losscli.cross_entropy, logits=True, layout="rows")(
        z.reshape(-1), Data(y)
    )
    np.testing.assert_array_equal(g_rows, grad.reshape(-1))
    np.testing.assert_array_equal(h_rows, hess.reshape(-1))
    g_cls, h_cls = losscli.objective(losscli.cross_entropy, logits=True, layout="classes")(
        z.T.reshape(-1), Data(y)
    )
    np.testing.assert_array_equal(g_cls, grad.T.reshape(-1))
    np.testing.assert_array_equal(h_cls, hess.T.reshape(-1))
    with pytest.raises(UsageError, match=r'6 = 2 rows × 3 values: pass layout="rows"'):
        losscli.objective(losscli.cross_entropy, logits=True)(z.reshape(-1), Data(y))


def test_hess_floor():
    grad, hess = losscli.objective(losscli.bce, logits=True, hess_floor=1e-16)(
        np.array([50.0, 0.0]), Data([1.0, 1.0])
    )
    assert hess.tolist()[0] == pytest.approx(np.exp(-50.0), rel=1e-12)
    grad, hess = losscli.objective(losscli.bce, logits=True, hess_floor=1e-16)(
        np.array([800.0]), Data([1.0])
    )
    assert hess.tolist() == [1e-16]


def test_refusals():
    with pytest.raises(UsageError, match="rmse is not a sum of per-sample losses"):
        losscli.objective(losscli.rmse)
    with pytest.raises(UsageError, match="bce does not take option"):
        losscli.objective(losscli.bce, logit=True)
    with pytest.raises(UsageError, match="layout must be one of auto, rows, classes"):
        losscli.objective(losscli.bce, layout="cols")
    with pytest.raises(UsageError, match="hess_floor must be a finite number ≥ 0"):
        losscli.objective(losscli.bce, hess_floor=-1.0)
    with pytest.raises(UsageError, match="unknown loss 'nope'"):
        losscli.objective("nope")


# ----------------------------------------------------------------------------- end to end


def _binary_data():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.7 * rng.normal(size=300) > 0).astype(np.float64)
    w = rng.uniform(0.5, 2.0, size=300)
    return x, y, w


def _train_binary(xgb, **kwargs):
    """(booster, margins) after 5 rounds on the weighted binary data, base margin 0."""
    x, y, w = _binary_data()
    zero = np.zeros(len(y))
    data = xgb.DMatrix(x, label=y, weight=w, base_margin=zero)
    params = {"max_depth": 3, "eta": 0.3, "tree_method": "exact", "nthread": 1, "seed": 0}
    params.update(kwargs.pop("params", {}))
    booster = xgb.train(params, data, num_boost_round=5, **kwargs)
    return booster, booster.predict(xgb.DMatrix(x, base_margin=zero), output_margin=True)


def test_xgboost_train_with_losscli_objective_equals_binary_logistic():
    xgb = pytest.importorskip("xgboost")
    builtin, expected = _train_binary(xgb, params={"objective": "binary:logistic"})
    ours, got = _train_binary(xgb, obj=losscli.objective(losscli.bce, logits=True))

    # XGBoost holds gradients in float32 and computes its own in float32 arithmetic, so the
    # two models agree to float32 resolution, not to the last float64 bit: the same splits,
    # and margins within a few float32 ulps.
    def splits(booster):
        return [
            [line.split("leaf=")[0] for line in tree.splitlines() if "leaf=" not in line]
            for tree in booster.get_dump()
        ]

    assert splits(ours) == splits(builtin)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_match_xgboost_trains_the_binary_logistic_model_bit_for_bit():
    xgb = pytest.importorskip("xgboost")
    _, expected = _train_binary(xgb, params={"objective": "binary:logistic"})
    obj = losscli.objective(losscli.bce, logits=True, match_xgboost=True)
    np.testing.assert_array_equal(_train_binary(xgb, obj=obj)[1], expected)


def test_match_xgboost_gradient_is_float32_bce_and_is_refused_elsewhere():
    class Data:
        def get_label(self):
            return np.array([1.0, 0.0, 1.0])

        def get_weight(self):
            return np.array([1.0, 2.0, 0.5])

    m = np.array([0.0, 2.0, -1.5], dtype=np.float32)
    grad, hess = losscli.objective(losscli.bce, logits=True, match_xgboost=True)(m, Data())
    # hand-derived: p = σ(m) = (0.5, 0.8808, 0.1824); (p − y)·w and p(1 − p)·w, to float32
    p = 1 / (1 + np.exp(-m.astype(np.float64)))
    np.testing.assert_allclose(grad, (p - [1, 0, 1]) * [1, 2, 0.5], rtol=1e-6)
    np.testing.assert_allclose(hess, p * (1 - p) * [1, 2, 0.5], rtol=1e-6)
    assert grad.dtype == np.float32
    with pytest.raises(losscli.UsageError, match="binary:logistic"):
        losscli.objective(losscli.mse, match_xgboost=True)
    with pytest.raises(losscli.UsageError, match="logits=True alone"):
        losscli.objective(losscli.bce, match_xgboost=True)


def test_lightgbm_binary_and_multiclass_are_bit_identical():
    lgb = pytest.importorskip("lightgbm")
    x, y, _ = _binary_data()
    base = {
        "learning_rate": 0.3,
        "num_leaves": 7,
        "min_data_in_leaf": 5,
        "verbose": -1,
        "boost_from_average": False,
        "deterministic": True,
        "num_threads": 1,
        "seed": 0,
    }

    def raw(params, labels):
        booster = lgb.train({**base, **params}, lgb.Dataset(x, labels), num_boost_round=5)
        return booster.predict(x, raw_score=True)

    np.testing.assert_array_equal(
        raw({"objective": losscli.objective(losscli.bce, logits=True)}, y),
        raw({"objective": "binary"}, y),
    )
    # LightGBM's multiclass Hessian is C/(C − 1)·p(1 − p): scale losscli's to match it
    classes = np.random.default_rng(5).integers(0, 3, size=len(y)).astype(np.float64)
    exact = losscli.objective(losscli.cross_entropy, logits=True)

    def lightgbm_style(preds, data):
        grad, hess = exact(preds, data)
        return grad, hess * 3 / 2

    np.testing.assert_array_equal(
        raw({"objective": lightgbm_style, "num_class": 3}, classes),
        raw({"objective": "multiclass", "num_class": 3}, classes),
    )


def test_tweedie_is_half_the_deviance_through_the_log_link():
    # XGBoost's reg:tweedie takes the margin m = log μ and its loss is the negative
    # log-likelihood, ½ × the Tweedie deviance (losscli's tweedie, of the mean μ) up to a
    # constant: by the chain rule, grad_m = ½·g_μ·μ and hess_m = ½·(h_μ·μ² + g_μ·μ).
    if "tweedie" not in REGISTRY:
        pytest.skip("no tweedie loss registered")
    case = CASES["tweedie"]
    mu, y = np.exp(np.array(case["margins"])), np.array(case["labels"])
    _, g, h = REGISTRY["tweedie"].value_grad_hess(mu, y, power=1.5, reduction="sum")
    np.testing.assert_allclose(0.5 * g * mu, case["grad"], rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(0.5 * (h * mu * mu + g * mu), case["hess"], rtol=RTOL)
