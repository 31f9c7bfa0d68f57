"""--against on inputs of more than two dimensions ((N, C, d1, …, dk) for ce/nll, any shape
for mse/bce): the user's gradient is given in the inputs' own layout and every element is
named by its full index.

Expected gradients: PyTorch 2.13 autograd in float64, recorded by tests/make_kdim_fixtures.py
in tests/fixtures/kdim.json (the same fixtures as tests/test_kdim.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from losscli.cli import app

CASES = [
    c
    for c in json.loads((Path(__file__).parent / "fixtures" / "kdim.json").read_text())["cases"]
    if c["reduction"] != "none"
]
runner = CliRunner()


def _flags(options: dict) -> list[str]:
    out = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        out += [flag] if value is True else [flag, str(value)]
    return out


def _run(tmp_path, case, yours: np.ndarray, *extra: str):
    p, t = np.array(case["predictions"]), np.array(case["targets"], dtype=np.float64)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    np.save(tmp_path / "g.npy", yours)
    args = [case["loss"], str(tmp_path / "p.npy"), str(tmp_path / "t.npy")]
    args += [
        *_flags(case["options"]),
        "-r",
        case["reduction"],
        "--against",
        str(tmp_path / "g.npy"),
    ]
    return runner.invoke(app, [*args, *extra])


@pytest.mark.parametrize("case", CASES, ids=[c["call"] for c in CASES])
def test_torch_gradient_in_the_given_layout_passes(tmp_path, case):
    r = _run(tmp_path, case, np.array(case["grad"]), "-f", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)["against"]
    assert doc["passed"] and doc["failed"] == 0
    p = np.array(case["predictions"])
    assert doc["checked"] == p.size
    for element in doc["worst"]:  # the full index of the input as given
        assert len(element["index"]) == p.ndim
        assert element["input"] == p[tuple(element["index"])]
        assert element["yours"] == np.array(case["grad"])[tuple(element["index"])]


def test_a_wrong_element_is_named_by_its_full_index(tmp_path):
    case = next(c for c in CASES if c["call"].startswith("F.cross_entropy(z (2,3,2,4)"))
    g = np.array(case["grad"])
    g[1, 2, 0, 3] += 1.0
    r = _run(tmp_path, case, g, "-f", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)["against"]
    assert doc["failed"] == 1 and doc["worst"][0]["index"] == [1, 2, 0, 3]
    assert doc["findings"][0].startswith(
        "1 of 48 elements differ with no common factor (e.g. at index (1, 2, 0, 3) yours is "
    )


def test_a_forgotten_mean_over_positions_is_a_factor_n(tmp_path):
    # ce mean over (2, 3, 2, 4) logits averages the 2·2·4 = 16 positions (torch): a gradient
    # of the sum is 16 × torch's mean gradient (hand-derived).
    case = next(
        c for c in CASES if c["call"] == "F.cross_entropy(z (2,3,2,4), y (2,2,4)), reduction='mean'"
    )
    r = _run(tmp_path, case, 16 * np.array(case["grad"]))
    assert r.exit_code == 1
    assert "hint: every element is off by a factor of N = 16 (yours = 16 × losscli's)" in r.stdout


def test_a_gradient_of_another_shape_is_refused(tmp_path):
    case = CASES[0]
    g = np.array(case["grad"])
    r = _run(tmp_path, case, g.reshape(g.shape[0], -1))
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {tmp_path / 'g.npy'}: the gradient has shape (3, 20) but the predictions have "
        "shape (3, 4, 5); give one value per prediction\n"
    )
