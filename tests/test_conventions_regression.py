"""--convention for the regression and pair losses of issue 10: cosine similarity (Keras, TF1,
optax), Poisson (Keras), pinball, Brier and the Tweedie deviances (scikit-learn); `--which`
finds their values; `losscli list` and `LOSS --help` name each loss's conventions.

Expected values come from the frameworks themselves, recorded by
tests/make_convention_fixtures_regression.py in tests/fixtures/conventions_regression.json;
the others are hand-derived in the comments.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from test_conventions import (  # one set of helpers for the convention tests
    _cli,
    _id,
    _write,
    cli_value,
    load_fixture,
    tolerance,
)
from test_conventions import test_matches_the_framework as check_matches_the_framework

import losscli
from losscli.conventions import conventions_for, evaluate_convention, which
from losscli.errors import UsageError
from losscli.losses import REGISTRY

FIXTURES = load_fixture("conventions_regression.json")
CASES = FIXTURES["cases"]
NEW = {
    ("cosine-similarity", "keras"),
    ("cosine-similarity", "optax"),
    ("cosine-similarity", "tf1"),
    ("poisson-nll", "keras"),
    ("poisson-deviance", "sklearn"),
    ("gamma-deviance", "sklearn"),
    ("tweedie", "sklearn"),
    ("pinball", "sklearn"),
    ("brier", "sklearn"),
}


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_matches_the_framework(case):
    check_matches_the_framework(case)


def test_every_new_rule_has_fixtures_with_and_without_weights():
    for pair in NEW:
        loss, convention = pair
        assert convention in conventions_for(losscli.get_loss(loss))
        weighted = {
            c["sample_weights"] is not None for c in CASES if (c["loss"], c["convention"]) == pair
        }
        # optax takes no sample weights; every other framework here does
        assert weighted == ({False} if convention == "optax" else {False, True}), pair


def test_the_conventions_each_loss_has():
    have = {name: conventions_for(loss) for name, loss in REGISTRY.items()}
    assert have["cosine-similarity"] == ["torch", "keras", "tf1", "optax"]
    assert have["poisson-nll"] == ["torch", "keras"]
    for name in ("pinball", "brier", "tweedie", "poisson-deviance", "gamma-deviance"):
        assert have[name] == ["torch", "sklearn"]
    # pair losses that only torch has
    for name in ("cosine-embedding", "margin-ranking", "hinge-embedding", "gaussian-nll"):
        assert have[name] == ["torch"]


# --------------------------------------------------------------------------- hand-derived


def test_keras_floors_each_norm_at_1e_7():
    # ‖ŷ‖ = 1e-8 floored at 1e-7: cos = 1e-8 / (1e-7 · 1) = 0.1, so Keras reports −0.1, while
    # losscli's own (ε = 0, as optax) has the true cosine, 1.
    p, t = [[1e-8, 0.0]], [[1.0, 0.0]]
    keras = evaluate_convention(losscli.cosine_similarity, "keras", p, t)
    assert keras == pytest.approx(-0.1, rel=1e-15)
    assert evaluate_convention(losscli.cosine_similarity, "torch", p, t) == -1.0


def test_optax_reports_the_cosine_distance():
    # cos 1 and 0 → optax's 1 − cos: 0 and 1, mean ½; Keras's −cos: −1 and 0, mean −½.
    p, t = [[1.0, 0.0], [0.0, 2.0]], [[3.0, 0.0], [1.0, 0.0]]
    assert evaluate_convention(losscli.cosine_similarity, "optax", p, t) == 0.5
    assert evaluate_convention(losscli.cosine_similarity, "keras", p, t) == -0.5
    got = evaluate_convention(losscli.cosine_similarity, "optax", p, t, reduction="none")
    np.testing.assert_array_equal(got, [0.0, 1.0])


def test_tf1_takes_the_vectors_as_unit_vectors():
    # 1 − ŷ·y, not normalised: 1 − 2 = −1 and 1 − 3 = −2; weights 1, 0 over one non-zero
    # weight (SUM_BY_NONZERO_WEIGHTS): −1.
    p, t = [[1.0, 0.0], [3.0, 4.0]], [[2.0, 0.0], [1.0, 0.0]]
    got = evaluate_convention(losscli.cosine_similarity, "tf1", p, t, sample_weights=[1.0, 0.0])
    assert got == -1.0
    with pytest.raises(UsageError, match="cosine_distance does not normalise"):
        evaluate_convention(losscli.cosine_similarity, "tf1", p, t, epsilon=1e-7)


def test_keras_poisson_adds_1e_7_inside_the_log():
    # rate 1, count 2: 1 − 2·log(1 + 1e-7); weights 1, 0 over N = 2 samples halve it.
    p, t = [[1.0], [3.0]], [[2.0], [0.0]]
    expected = (1.0 - 2.0 * math.log1p(1e-7)) / 2.0
    got = evaluate_convention(
        losscli.poisson_nll, "keras", p, t, log_input=False, sample_weights=[1.0, 0.0]
    )
    assert got == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    "loss, convention, p, t, kwargs, message",
    [
        (
            "poisson-nll",
            "keras",
            [1.0],
            [2.0],
            {},
            "keras.losses.Poisson takes rates, not log-rates; pass --no-log-input with rates "
            "(or exponentiate the log-rates)",
        ),
        (
            "poisson-nll",
            "keras",
            [1.0],
            [2.0],
            {"log_input": False, "epsilon": 1e-3},
            "keras.losses.Poisson adds 1e-7 (keras.backend.epsilon()) inside the log; drop "
            "--epsilon or give 1e-7",
        ),
        (
            "poisson-nll",
            "keras",
            [1.0],
            [2.0],
            {"log_input": False, "full": True},
            "--full follows torch's semantics; keras.losses.Poisson() has no such option "
            "(drop it, or use --convention torch)",
        ),
        (
            "cosine-similarity",
            "keras",
            [[1.0, 2.0]],
            [[2.0, 1.0]],
            {"epsilon": 0.5},
            "keras.losses.CosineSimilarity floors each norm at 1e-7 (keras.backend.epsilon()); "
            "drop --epsilon or give 1e-7",
        ),
        (
            "cosine-similarity",
            "optax",
            [[1.0, 2.0]],
            [[2.0, 1.0]],
            {"sample_weights": [1.0]},
            "optax's losses take no sample weights",
        ),
        (
            "tweedie",
            "sklearn",
            [[1.0, 2.0]],
            [[2.0, 1.0]],
            {"power": 1.5},
            "sklearn.metrics.mean_tweedie_deviance takes one output column, these predictions "
            "have 2; give one column (losscli's own mean, --convention torch, averages all "
            "elements)",
        ),
        (
            "gamma-deviance",
            "sklearn",
            [[1.0, 2.0]],
            [[2.0, 1.0]],
            {},
            "sklearn.metrics.mean_gamma_deviance takes one output column",
        ),
        (
            "brier",
            "sklearn",
            [[0.2, 0.8], [0.6, 0.4]],
            [[0.5, 0.5], [1.0, 0.0]],
            {},
            "scikit-learn's brier_score_loss takes class labels (or one-hot rows), not "
            "probability rows",
        ),
        (
            "pinball",
            "sklearn",
            [1.0],
            [2.0],
            {"reduction": "sum"},
            "sklearn.metrics.mean_pinball_loss(alpha=quantile) has no sum reduction; use "
            "--reduction mean",
        ),
        (
            "tweedie",
            "keras",
            [1.0],
            [2.0],
            {},
            "keras has no tweedie loss; tweedie has: torch (losscli's default; torch itself "
            "has no tweedie loss), sklearn",
        ),
        (
            "cosine-similarity",
            "sklearn",
            [[1.0, 2.0]],
            [[2.0, 1.0]],
            {},
            "sklearn has no cosine-similarity loss; cosine-similarity has: torch (losscli's "
            "default; torch itself has no cosine-similarity loss), keras, tf1, optax",
        ),
        (
            "margin-ranking",
            "optax",
            [[1.0, 2.0]],
            [1.0],
            {},
            "optax has no margin-ranking loss; margin-ranking has: torch",
        ),
    ],
)
def test_refused(loss, convention, p, t, kwargs, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        evaluate_convention(losscli.get_loss(loss), convention, p, t, **kwargs)


def test_one_column_is_one_output_for_sklearn_deviances():
    # (N, 1) and (N,) are the same single output: the same value
    mu, y = [0.5, 2.0, 4.0], [1.0, 0.0, 3.0]
    col = evaluate_convention(
        losscli.poisson_deviance, "sklearn", np.reshape(mu, (-1, 1)), np.reshape(y, (-1, 1))
    )
    assert col == evaluate_convention(losscli.poisson_deviance, "sklearn", mu, y)


# --------------------------------------------------------------------------- --which


def _first_mean_case(pair):
    """The pair's first weighted mean case (optax: unweighted; it takes no weights)."""
    means = [c for c in CASES if (c["loss"], c["convention"]) == pair and c["reduction"] == "mean"]
    return next((c for c in means if c["sample_weights"] is not None), means[0])


@pytest.mark.parametrize("pair", sorted(NEW), ids="-".join)
def test_which_finds_each_frameworks_value(pair):
    case = _first_mean_case(pair)
    # the framework's own number, written as a log would (fewer digits for float32 Keras)
    seen = f"{case['expected']:.{6 if case['float32_reference'] else 10}g}"
    found = which(
        losscli.get_loss(case["loss"]),
        seen,
        np.array(case["predictions"]),
        np.array(case["targets"]),
        sample_weights=case["sample_weights"],
        **case["options"],
    )
    assert found[0].match, (seen, found[:3])
    assert f"{pair[1]} mean" in found[0].label.split("; "), found[0].label


def test_which_names_the_similarity_for_the_loss():
    # cos of the two rows: 1 and 3/5, mean 0.8 — the similarity; the loss is −0.8, optax's
    # distance 0.2.
    p, t = [[1.0, 0.0], [3.0, 4.0]], [[2.0, 0.0], [1.0, 0.0]]
    found = which(losscli.cosine_similarity, "0.8", p, t)
    assert [c.label for c in found if c.match] == [
        "mistake: the similarity +cos, not the loss −cos (torch's and optax's cosine_similarity)"
    ]
    assert [c.value for c in found if c.label.startswith("optax mean")] == [pytest.approx(0.2)]


def test_which_reads_log_rates_as_keras_would_see_their_rates():
    # log-rate 0 (rate 1) for a count of 2: Keras on the rate: 1 − 2·log(1 + 1e-7); torch on
    # the log-rate: e^0 − 2·0 = 1.
    seen = f"{1.0 - 2.0 * math.log1p(1e-7):.12f}"
    found = which(losscli.poisson_nll, seen, [0.0], [2.0])
    assert found[0].label == "keras mean of the rates e^x (keras.losses.Poisson takes rates)"
    assert found[0].match


def test_which_names_rates_read_as_log_rates():
    # rate 1 for a count of 2 read as a log-rate by torch's default: e^1 − 2·1 = e − 2.
    found = which(losscli.poisson_nll, f"{math.e - 2.0:.10f}", [1.0], [2.0], log_input=False)
    assert found[0].label == "mistake: rates read as log-rates (torch's default log_input=True)"
    assert found[0].match


# --------------------------------------------------------------------------- the command line


CLI_CASES = [
    c
    for c in CASES
    if c["reduction"] == "mean" and c["convention"] != "torch" and np.ndim(c["predictions"]) == 2
]


@pytest.mark.parametrize("case", CLI_CASES, ids=_id)
def test_cli_prints_the_frameworks_value(tmp_path, case):
    assert cli_value(tmp_path, case) == pytest.approx(case["expected"], rel=tolerance(case)[0])


@pytest.mark.parametrize(
    "loss, convention, extra, message",
    [
        (
            "tweedie",
            "keras",
            [],
            "keras has no tweedie loss; tweedie has: torch (losscli's default; torch itself "
            "has no tweedie loss), sklearn",
        ),
        (
            "margin-ranking",
            "sklearn",
            [],
            "sklearn has no margin-ranking loss; margin-ranking has: torch",
        ),
        (
            "poisson-nll",
            "keras",
            [],
            "keras.losses.Poisson takes rates, not log-rates; pass --no-log-input with rates "
            "(or exponentiate the log-rates)",
        ),
    ],
)
def test_cli_a_convention_without_the_loss_is_one_error_line(
    tmp_path, loss, convention, extra, message
):
    p = _write(tmp_path / "p.csv", [[1.0, 2.0], [0.5, 3.0]])
    t = _write(
        tmp_path / "t.csv", [1.0, -1.0] if loss == "margin-ranking" else [[1.0, 2.0], [1.0, 3.0]]
    )
    r = _cli(loss, p, t, "--convention", convention, *extra)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == f"Error: {message}\n"


def test_cli_which_finds_optax_cosine_distance(tmp_path):
    # cos 1 and 3/5: losscli's −cos −0.8, optax's 1 − cos 0.2 (with ε = 0 its norms are not
    # floored), TF1's 1 − ŷ·y: 1 − 2 and 1 − 3, mean −1.5; the similarity 0.8.
    p = _write(tmp_path / "p.csv", [[1.0, 0.0], [3.0, 4.0]])
    t = _write(tmp_path / "t.csv", [[2.0, 0.0], [1.0, 0.0]])
    r = _cli("cosine-similarity", p, t, "--which", "0.2", "-f", "plain")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split("\t")[2:] == [
        "match",
        "optax mean",
        "--convention optax --reduction mean",
    ]
    assert float(lines[0].split("\t")[0]) == pytest.approx(0.2, rel=1e-15)
    assert sum("\tmatch\t" in line for line in lines) == 1
    tf1 = [line for line in lines if "\ttf1 mean\t" in line]
    assert len(tf1) == 1 and float(tf1[0].split("\t")[0]) == -1.5


def test_help_names_the_conventions(tmp_path):
    for loss, text in (
        ("cosine-similarity", "Conventions (--convention): torch, keras, tf1, optax."),
        ("brier", "Conventions (--convention): torch, sklearn."),
        ("margin-ranking", "Conventions (--convention): torch."),
    ):
        r = _cli(loss, "--help")
        assert r.exit_code == 0
        assert text in [line.strip() for line in r.stdout.splitlines()], loss  # a line of its own


def test_list_names_the_conventions():
    lines = _cli("list").stdout.splitlines()
    fields = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert fields["cosine-similarity"][-1] == "torch keras tf1 optax"
    assert fields["poisson-nll"][-1] == "torch keras"
    assert fields["margin-ranking"][-1] == "torch"
    assert fields["mse"][-1] == "torch keras tf1 optax sklearn"
    doc = json.loads(_cli("list", "-f", "json").stdout)
    assert {e["name"]: e["conventions"] for e in doc}["brier"] == ["torch", "sklearn"]
    assert _cli("list", "-f", "csv").stdout.splitlines()[0].endswith(",hessian,conventions")


def test_a_run_does_not_import_the_conventions_only_its_help_does(tmp_path):
    # the Conventions line of LOSS --help is filled in when the help is shown
    import os
    import subprocess
    import sys

    p = _write(tmp_path / "p.csv", [1.0, 2.0])
    code = (
        "import sys\nfrom losscli.cli import main\nsys.argv = ['losscli', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('losscli.conventions' in sys.modules, file=sys.stderr)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "80"}

    def imports_conventions(*args):
        r = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env
        )
        return r.stderr.strip().splitlines()[-1] == "True"

    assert not imports_conventions("mse", str(p), str(p))
    assert imports_conventions("mse", "--help")
