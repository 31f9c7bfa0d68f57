"""The command line for the losses of issue 3: every loss and its options, --sample-weights,
`losscli list` and `losscli explain`, driven through the real app. Exact stdout, stderr and exit
codes are pinned; expected numbers are hand-derived in the comments.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from losscli.cli import app
from losscli.errors import UsageError
from losscli.losses import REGISTRY

runner = CliRunner()
LOG2, LOG3 = math.log(2.0), math.log(3.0)


def run(*args: str, width: int | None = None):
    env = {"COLUMNS": str(width)} if width else None  # rich wraps help and tables to the width
    return runner.invoke(app, [str(a) for a in args], env=env)


def write(path, text: str):
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- every loss


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_loss_runs_on_its_sample_data_with_grad_and_check(name):
    r = run(name, "--grad", "--check", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["loss"] == name and doc["check"]["passed"] is True
    assert np.shape(doc["grad"]) == tuple(doc["shape"])
    assert r.stderr.startswith("Using the bundled sample data: ")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_loss_takes_its_own_options_and_the_shared_ones(name):
    r = run(name, "--help")
    assert r.exit_code == 0
    for flag in (
        "--grad",
        "--check",
        "--reduction",
        "--format",
        "--grad-out",
        "--sample-weights",
        "--against",
        "--eps",
        "--rtol",
        "--atol",
    ):
        assert flag in r.stdout, (name, flag)
    for param in REGISTRY[name].params:
        for flag in param.flag.split("/"):  # "--log-input/--no-log-input": both are shown
            assert flag in r.stdout, (name, flag)


def test_regression_losses_by_hand(tmp_path):
    p = write(tmp_path / "p.csv", "0.5,3\n-2,1\n")
    t = write(tmp_path / "t.csv", "0,0\n0,1.5\n")
    # errors 0.5, 3, −2, −0.5
    assert run("mae", p, t).stdout == "1.5\n"  # (0.5 + 3 + 2 + 0.5)/4
    assert run("l1", p, t, "-r", "sum").stdout == "6.0\n"
    # huber δ = 1: 0.125 + 2.5 + 1.5 + 0.125 = 4.25
    assert run("huber", p, t, "-r", "sum").stdout == "4.25\n"
    # δ = 2: 0.125 + 2·(3 − 1) + ½·4 + 0.125 = 6.25
    assert run("huber", p, t, "-r", "sum", "--delta", "2").stdout == "6.25\n"
    # smooth-l1 β = 2 is huber δ = 2 divided by 2
    assert run("smooth-l1", p, t, "-r", "sum", "--beta", "2").stdout == "3.125\n"
    # rmse: √((0.25 + 9 + 4 + 0.25)/4) = √3.375
    assert run("rmse", p, t).stdout == f"{math.sqrt(3.375)!r}\n"


def test_rmse_gradient_undefined_is_one_line_exit_2(tmp_path):
    p = write(tmp_path / "p.csv", "1\n2\n")
    assert run("rmse", p, p).stdout == "0.0\n"
    r = run("rmse", p, p, "--grad")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == (
        f"Error: {p}: the gradient of rmse is undefined here: every error is zero, and √u has no "
        "derivative at 0 (the value, 0, is fine; use mse for a gradient at a perfect fit)\n"
    )


def test_ce_class_options_from_the_command_line(tmp_path):
    z = write(tmp_path / "z.csv", "0,0,0\n0,0,0\n0,0,0\n")
    y = write(tmp_path / "y.csv", "1\n0\n2\n")
    w = write(tmp_path / "w.csv", "1\n2\n3\n")
    # uniform logits: every row costs log 3 times its weight, and mean divides by Σ w[y]
    assert float(run("ce", z, y, "--logits", "--class-weights", "1,2,3").stdout) == (
        pytest.approx(LOG3, rel=1e-15)
    )
    r = run("ce", z, y, "--logits", "--class-weights", w, "-r", "none")
    np.testing.assert_allclose([float(v) for v in r.stdout.split()], np.array([2, 1, 3]) * LOG3)
    r = run("ce", z, y, "--logits", "--ignore-index", "0", "-r", "none")
    assert r.stdout.split()[1] == "0.0"
    r = run(
        "ce",
        z,
        y,
        "--logits",
        "--label-smoothing",
        "0.3",
        "--class-weights",
        "1,2,3",
        "--ignore-index",
        "2",
        "--check",
    )
    assert r.exit_code == 0 and "PASS" in r.stdout


def test_ce_class_option_errors(tmp_path):
    z = write(tmp_path / "z.csv", "0,0,0\n")
    y = write(tmp_path / "y.csv", "1\n")
    r = run("ce", z, y, "--logits", "--class-weights", "1,2")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "Error: class weights have 2 values but the predictions have 3 classes (columns); give "
        "one weight per class\n"
    )
    r = run("ce", z, y, "--logits", "--label-smoothing", "2")
    assert r.stderr == "Error: --label-smoothing must lie in [0, 1], got 2.0\n"


def test_bce_and_pos_weight_from_the_command_line(tmp_path):
    z = write(tmp_path / "z.csv", "10000,0\n-10000,0\n")
    y = write(tmp_path / "y.csv", "0,1\n1,1\n")
    # 1e4 + log 2 + 1e4 + log 2 over 4 elements
    assert float(run("bce", z, y, "--logits").stdout) == pytest.approx((2e4 + 2 * LOG2) / 4)
    # pos weight 3 on column 1 triples its log 2 terms
    r = run("bce", z, y, "--logits", "--pos-weight", "1,3", "-r", "sum")
    assert float(r.stdout) == pytest.approx(2e4 + 6 * LOG2, rel=1e-15)
    r = run("bce", y, write(tmp_path / "bad.csv", "0,1\n1,2\n"))
    assert r.exit_code == 2
    assert r.stderr.startswith(f"Error: {tmp_path / 'bad.csv'}: bce targets must lie in [0, 1]")


def test_kl_offers_batchmean(tmp_path):
    x = write(tmp_path / "x.csv", f"{math.log(0.5)},{math.log(0.5)}\n0,-1000\n")
    q = write(tmp_path / "q.csv", "1,0\n1,0\n")
    # rows: log 2 and 0
    assert float(run("kl", x, q, "-r", "batchmean").stdout) == pytest.approx(LOG2 / 2, 1e-15)
    assert float(run("kl", x, q).stdout) == pytest.approx(LOG2 / 4, 1e-15)  # mean: ÷ N·C
    assert "batchmean divides the sum by N only" in run("kl", "--help", width=300).stdout
    with pytest.raises(UsageError, match="unknown reduction 'batchmean' for mse"):
        REGISTRY["mse"]([1.0], [0.0], reduction="batchmean")


# --------------------------------------------------------------------------- sample weights


def test_sample_weights_option(tmp_path):
    p = write(tmp_path / "p.csv", "1\n2\n")
    t = write(tmp_path / "t.csv", "0\n0\n")
    s = write(tmp_path / "s.csv", "3\n1\n")
    # squared errors 1, 4; weights 3, 1: mean (3 + 4)/4, sum 7, none 3 and 4
    assert run("mse", p, t, "--sample-weights", s).stdout == "1.75\n"
    assert run("mse", p, t, "--sample-weights", s, "-r", "sum").stdout == "7.0\n"
    assert run("mse", p, t, "--sample-weights", s, "-r", "none", "-g").stdout == (
        "3.0\n4.0\n\n6.0\n4.0\n"
    )
    r = run("mse", p, t, "--sample-weights", s, "-g", "-c", "-f", "json")
    doc = json.loads(r.stdout)
    assert doc["grad"] == [1.5, 1.0]  # 2·s·e / Σs
    assert doc["check"]["passed"] and doc["inputs"]["sample weights"] == str(s)


def test_bad_sample_weights_name_their_file(tmp_path):
    p = write(tmp_path / "p.csv", "1\n2\n")
    s = write(tmp_path / "s.csv", "1\n-1\n")
    r = run("mse", p, p, "--sample-weights", s)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (f"Error: {s}: sample weights must be non-negative, found -1.0 at (row 1)\n")
    r = run("mse", p, p, "--sample-weights", write(tmp_path / "s3.csv", "1\n1\n1\n"))
    assert "sample weights have 3 values but the predictions have 2 rows" in r.stderr


# --------------------------------------------------------------------------- list


def test_list_plain_is_one_tab_separated_line_per_loss():
    r = run("list")
    assert r.exit_code == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == list(REGISTRY)
    assert lines[0] == (
        "mse\t\tmean over elements of (ŷ − y)²\t2(ŷ − y)/(N·D) for mean; 2(ŷ − y) for sum; "
        "2(ŷ − y)/D per row for none\ttorch.nn.functional.mse_loss\t\tdiagonal"
        "\ttorch keras tf1 optax sklearn"
    )
    assert lines[list(REGISTRY).index("kl")] == (
        "kl\t\tΣ_c q_c (log q_c − x_c) per row; use --reduction batchmean for the KL per sample"
        "\t−q; divided by N for batchmean, N·C for mean\ttorch.nn.functional.kl_div\t--log-target"
        "\tdiagonal; 0 everywhere: KL is linear in the log-probabilities x\ttorch keras optax"
    )
    ce = lines[list(REGISTRY).index("ce")].split("\t")
    assert ce[1] == "cross-entropy"
    assert ce[-1] == "torch keras tf1 optax sklearn"  # the conventions (--convention)
    assert ce[-3] == (
        "--logits --targets auto|index|prob --clip FLOAT --class-weights W --ignore-index K "
        "--class-axis AXIS --label-smoothing A"
    )


def test_list_json_has_every_loss_with_formulas_and_options():
    doc = json.loads(run("list", "--format", "json").stdout)
    assert [entry["name"] for entry in doc] == list(REGISTRY)
    huber = doc[[e["name"] for e in doc].index("huber")]
    assert huber["options"] == [
        {
            "flag": "--delta",
            "name": "delta",
            "type": "float",
            "default": 1.0,
            "choices": None,
            "help": "Where the loss turns from quadratic to linear (> 0).",
        }
    ]
    assert huber["reference"] == "torch.nn.functional.huber_loss"
    assert all(e["formula"] and e["gradient"] for e in doc)


def test_list_table_and_csv():
    r = run("list", "-f", "table", width=200)
    for name in REGISTRY:
        assert name in r.stdout
    assert "--label-smoothing A" in r.stdout
    rows = run("list", "-f", "csv").stdout.splitlines()
    assert rows[0] == "name,aliases,formula,gradient,reference,options,hessian,conventions"
    assert len(rows) == 1 + len(REGISTRY)


# --------------------------------------------------------------------------- explain


def test_explain_mse_worked_example_is_computed():
    r = run("explain", "mse")
    assert r.exit_code == 0 and r.stderr == ""
    assert r.stdout.startswith("# mse — mean squared error\n\n## Definition\n")
    # preds [[1, 2], [0.5, −1]], targets [[0, 2.5], [0.5, 0]]: errors 1, −0.5, 0, −1
    # rows (1 + 0.25)/2 = 0.625 and (0 + 1)/2 = 0.5; mean 0.5625; gradient 2e/4
    example = r.stdout[r.stdout.index("## Worked example") :]
    assert example.startswith(
        "## Worked example (computed by losscli as you read this)\n"
        "\n"
        "Predictions (2 × 2), targets:\n"
        "\n"
        "| row | predictions | targets | row loss |\n"
        "|---:|---|---|---:|\n"
        "| 0 | 1, 2 | 0, 2.5 | 0.625 |\n"
        "| 1 | 0.5, -1 | 0.5, 0 | 0.5 |\n"
        "\n"
        "Loss with reduction `mean`: **0.5625**\n"
        "\n"
        "Gradient of that loss with respect to the predictions:\n"
        "\n"
        "| row | ∂L/∂x[0] | ∂L/∂x[1] |\n"
        "|---:|---:|---:|\n"
        "| 0 | 0.5 | -0.25 |\n"
        "| 1 | 0 | -0.5 |\n"
        "\n"
        "Central finite differences (h = 1e-06) agree with it: max abs error "
    )
    assert example.endswith(
        "over 4 elements.\n\nTry it: `losscli mse PREDS TARGETS --grad --check`\n\n"
        "Matches `torch.nn.functional.mse_loss`.\n"
    )


def test_explain_ce_states_the_assumption_of_the_short_form():
    out = run("explain", "cross-entropy").stdout
    assert out.startswith("# ce — cross-entropy\n")
    assert "softmax(z)_k · Σ_c y_c − y_k. This is the **general form**." in out
    assert "**softmax(z) − y**. That shortcut assumes normalised targets" in out
    assert "Predictions (2 × 3), targets and options `--logits`:" in out
    assert "Try it: `losscli ce PREDS TARGETS --logits --grad --check`" in out


def test_explain_kl_uses_batchmean():
    out = run("explain", "kl").stdout
    assert "## Reductions: use batchmean" in out
    assert "Loss with reduction `batchmean`: **" in out
    assert "Try it: `losscli kl PREDS TARGETS --reduction batchmean --grad --check`" in out


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_explain_every_loss(name):
    r = run("explain", name)
    assert r.exit_code == 0, r.stderr
    for heading in ("## Definition", "## Derivative", "## Worked example", "numerical"):
        assert heading in r.stdout.replace("Numerical", "numerical"), (name, heading)
    assert " agree with it: max abs error " in r.stdout
    table = run("explain", name, "-f", "table")
    assert table.exit_code == 0 and "Worked example" in table.stdout and "## " not in table.stdout
    assert json.loads(run("explain", name, "-f", "json").stdout)["markdown"] == r.stdout


def test_explain_unknown_loss():
    r = run("explain", "nosuchloss")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (f"Error: unknown loss 'nosuchloss'; known: {', '.join(REGISTRY)}\n")


def test_sigmoid_focal_help_names_probabilities_and_label_smoothing():
    lines = [
        line.strip(" │") for line in run("sigmoid-focal", "--help", width=300).stdout.splitlines()
    ]
    assert (
        "Sigmoid focal loss of logits (or, with --probabilities, probabilities) against binary "
        "(or soft) labels."
    ) in lines
    assert (
        "α_t · (1 − p_t)^γ · bce(p, y) per element; p = σ(z) (logits, the default) or given "
        "(--probabilities), 1 − p_t = (1 − y)p + y(1 − p)."
    ) in lines
    options = {line.split()[0]: " ".join(line.split()) for line in lines if line.startswith("--")}
    assert options["--logits"] == (
        "--logits --probabilities Predictions are logits (the default, as optax and "
        "torchvision), or probabilities in [0, 1] with --probabilities (Keras's "
        "from_logits=False). [default: logits]"
    )
    assert options["--label-smoothing"] == (
        "--label-smoothing A Pull the labels towards ½ as Keras's BinaryFocalCrossentropy: "
        "y ← (1 − A)·y + A/2, A in [0, 1]. [default: 0.0]"
    )
    assert (
        "$ losscli sigmoid-focal probs.csv labels.csv --probabilities --label-smoothing 0.1 --grad"
        in lines
    )


def test_explain_sigmoid_focal_derives_the_probability_form():
    out = run("explain", "sigmoid-focal").stdout
    assert "## Derivatives with respect to probabilities (--probabilities)" in out
    assert "2. FL' = α_t q^γ [ ce' + γ·u·ce/q ]." in out
    assert "3. FL'' = α_t q^γ [ ce'' + 2γ·u·ce'/q + γ(γ − 1)·u²·ce/q² ]." in out
    assert "With --label-smoothing A the labels are first replaced by (1 − A)·y + A/2" in out


def test_explain_names_a_flag_pair_by_the_side_set():
    from losscli.explain import _flags  # the "Try it" line's flags

    focal = REGISTRY["sigmoid-focal"]
    assert _flags(focal, {"logits": False, "alpha": 0.25}) == ["--probabilities", "--alpha 0.25"]
    assert _flags(focal, {"logits": True}) == ["--logits"]
    assert _flags(REGISTRY["bce"], {"logits": False}) == []  # a lone flag: absent when off
