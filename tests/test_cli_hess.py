"""The command line for second derivatives: --hess [diag|full], --hess-out, --against-hess and
the Hessian rows of --check, through the real app. Exact stdout, stderr and exit codes; the
expected numbers are hand-derived in the comments.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from losscli import hessian
from losscli.cli import app
from losscli.losses import REGISTRY

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def write(path, text: str):
    path.write_text(text)
    return path


@pytest.fixture
def mse_files(tmp_path):
    return write(tmp_path / "p.csv", "1\n2\n"), write(tmp_path / "t.csv", "0\n0\n")


@pytest.fixture
def ce_files(tmp_path):
    # logits [0, 0] in both rows: softmax ½, ½; p(1 − p) = ¼ everywhere
    return write(tmp_path / "z.csv", "0,0\n0,0\n"), write(tmp_path / "y.csv", "0\n1\n")


def test_hess_prints_the_diagonal_after_the_value(mse_files):
    # mse on (1, 2) vs (0, 0): value (1 + 4)/2 = 2.5; Hessian 2/N = 1 per element
    r = run("mse", *mse_files, "--hess")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "2.5\n\n1.0\n1.0\n", "")
    r = run("mse", *mse_files, "--hess", "diag", "--reduction", "sum", "--grad")
    # gradient 2(ŷ − y) = 2, 4; then the Hessian, 2
    assert (r.exit_code, r.stdout) == (0, "5.0\n\n2.0\n4.0\n\n2.0\n2.0\n")


def test_hess_before_the_files_is_the_flag(mse_files):
    r = run("mse", "--hess", *mse_files)
    assert (r.exit_code, r.stdout) == (0, "2.5\n\n1.0\n1.0\n")


def test_hess_full_plain_csv_json(ce_files):
    # sum over rows: each row's block ¼·[[1, −1], [−1, 1]]
    r = run("ce", *ce_files, "--logits", "--hess", "full", "--reduction", "sum")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (
        "1.3862943611198906\n\n0.25,0.25\n0.25,0.25\n\n"
        "0.25,-0.25\n-0.25,0.25\n\n0.25,-0.25\n-0.25,0.25\n"
    )
    r = run("ce", *ce_files, "--logits", "--hess", "full", "--reduction", "sum", "-f", "csv")
    assert r.stdout == (
        "loss,reduction,value\nce,sum,1.3862943611198906\n\n"
        "row,hess_0,hess_1\n0,0.25,0.25\n1,0.25,0.25\n\n"
        "row,k,hess_k0,hess_k1\n0,0,0.25,-0.25\n0,1,-0.25,0.25\n1,0,0.25,-0.25\n1,1,-0.25,0.25\n"
    )
    doc = json.loads(run("ce", *ce_files, "--logits", "--hess", "full", "-f", "json").stdout)
    # mean over N = 2 rows: everything halved
    assert doc["hess"] == [[0.125, 0.125], [0.125, 0.125]]
    assert doc["hess_blocks"] == [[[0.125, -0.125], [-0.125, 0.125]]] * 2


def test_hess_table_titles(ce_files):
    r = run("ce", *ce_files, "--logits", "--hess", "full", "-f", "table")
    assert r.exit_code == 0
    assert "Hessian diagonal of the mean loss w.r.t. the predictions" in r.stdout
    assert "Hessian block of row 0" in r.stdout and "Hessian block of row 1" in r.stdout


def test_check_with_hess_adds_hessian_rows(ce_files):
    r = run("ce", *ce_files, "--logits", "--hess", "--check")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[-3].startswith("PASS checked=4 failed=0 ")
    assert lines[-1].startswith("hessian: PASS checked=4 failed=0 ")
    doc = json.loads(run("ce", *ce_files, "--logits", "--hess", "--check", "-f", "json").stdout)
    assert doc["hess_check"]["passed"] is True and doc["hess_check"]["checked"] == 4
    assert [w["analytic"] for w in doc["hess_check"]["worst"]] == [0.125] * 4


def test_hess_check_failure_exits_1(ce_files):
    from losscli.losses import classification

    real = classification.cross_entropy.hess_kernel

    def wrong(p, a, **options):
        return 2 * real(p, a, **options)

    # a frozen dataclass: swap the kernel for this test only
    object.__setattr__(classification.cross_entropy, "hess_kernel", wrong)
    try:
        r = run("ce", *ce_files, "--logits", "--hess", "--check")
    finally:
        object.__setattr__(classification.cross_entropy, "hess_kernel", real)
    assert r.exit_code == 1
    assert r.stdout.splitlines()[-1].startswith("hessian: FAIL checked=4 failed=4 ")


def test_hess_out_writes_atomically_and_says_so(mse_files, tmp_path):
    out = tmp_path / "h.npy"
    r = run("mse", *mse_files, "--hess-out", out)
    assert (r.exit_code, r.stdout) == (0, "2.5\n")
    assert r.stderr == f"Wrote the Hessian (2,) to {out}\n"
    np.testing.assert_array_equal(np.load(out, allow_pickle=False), [1.0, 1.0])
    csv = tmp_path / "h.csv"
    r = run("mse", *mse_files, "--hess", "--hess-out", csv, "--reduction", "sum")
    assert (r.exit_code, csv.read_text()) == (0, "2.0\n2.0\n")


def test_hess_full_out_is_npy_of_blocks(ce_files, tmp_path):
    out = tmp_path / "blocks.npy"
    r = run("ce", *ce_files, "--logits", "--hess", "full", "--hess-out", out, "-r", "sum")
    assert r.exit_code == 0 and r.stderr == f"Wrote the Hessian (2, 2, 2) to {out}\n"
    np.testing.assert_array_equal(np.load(out), [[[0.25, -0.25], [-0.25, 0.25]]] * 2)


def test_against_hess_names_the_mistake(ce_files, tmp_path):
    # p instead of p(1 − p): ½ per element, over N = 2: ¼ where 1/8 is right
    mine = write(tmp_path / "mine.csv", "0.25,0.25\n0.25,0.25\n")
    r = run("ce", *ce_files, "--logits", "--against-hess", mine)
    assert r.exit_code == 1
    assert r.stdout.splitlines()[-1] == (
        "hint: every element matches a common mistake: p instead of p(1 − p) "
        "(the softmax, not its derivative)"
    )
    assert r.stdout.splitlines()[-2].startswith("against-hess: FAIL checked=4 failed=4 ")
    good = write(tmp_path / "good.csv", "0.125,0.125\n0.125,0.125\n")
    r = run("ce", *ce_files, "--logits", "--against-hess", good, "-f", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["against_hess"]["passed"] is True
    assert doc["against_hess"]["findings"] == []
    quarter = write(tmp_path / "quarter.csv", "0.25\n0.25\n")
    r = run(
        "mse",
        write(tmp_path / "p2.csv", "1\n2\n"),
        write(tmp_path / "t2.csv", "0\n0\n"),
        "--against-hess",
        quarter,
    )
    # mse's Hessian under mean is 2/N = 1: 0.25 is a quarter of it, a factor with no name
    assert r.exit_code == 1
    assert r.stdout.splitlines()[-1] == (
        "hint: every element is off by a constant factor of 0.25 (yours = losscli's / 4)"
    )


# --------------------------------------------------------------------------- bad input


def test_hess_full_on_a_loss_without_blocks(mse_files):
    r = run("mse", *mse_files, "--hess", "full")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "Error: mse has no full Hessian blocks (its Hessian is diagonal: use --hess); "
        "--hess full is for softmax cross-entropy from logits (ce --logits)\n"
    )


def test_hess_full_needs_logits(ce_files):
    r = run(
        "ce",
        write(ce_files[0].parent / "q.csv", "0.5,0.5\n0.5,0.5\n"),
        ce_files[1],
        "--hess",
        "full",
    )
    assert r.exit_code == 2
    assert r.stderr == (
        "Error: ce has no full Hessian blocks from probabilities: its Hessian is diagonal there "
        "(a/p², use --hess); --hess full needs --logits\n"
    )


def test_hess_full_refuses_big_inputs(ce_files, monkeypatch):
    monkeypatch.setattr(hessian, "HESS_FULL_MAX_ENTRIES", 7)
    r = run("ce", *ce_files, "--logits", "--hess", "full")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "Error: --hess full would give 8 numbers (N × C × C for shape (2, 2)); it is for small "
        "inputs (at most 7): use --hess for the diagonal, or losscli.cross_entropy.hess_blocks "
        "in Python\n"
    )


def test_against_hess_wrong_shape(ce_files, tmp_path):
    bad = write(tmp_path / "h.csv", "1\n2\n3\n")
    r = run("ce", *ce_files, "--logits", "--against-hess", bad)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {bad}: the Hessian diagonal has shape (3,) but the predictions have shape "
        "(2, 2); give one value per prediction\n"
    )


def test_hess_out_never_over_an_input(mse_files):
    r = run("mse", *mse_files, "--hess-out", mse_files[0])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: refusing to overwrite input file {mse_files[0]}; choose another --hess-out path\n"
    )


def test_hess_out_extension_and_clashes(mse_files, ce_files, tmp_path):
    r = run("mse", *mse_files, "--hess-out", tmp_path / "h.txt")
    assert r.exit_code == 2
    assert (
        r.stderr
        == f"Error: --hess-out must end in .npy, .csv or .tsv, got '{tmp_path / 'h.txt'}'\n"
    )
    same = tmp_path / "g.npy"
    r = run("mse", *mse_files, "--grad-out", same, "--hess-out", same)
    assert r.stderr == "Error: --grad-out and --hess-out name the same file; choose two\n"
    r = run("ce", *ce_files, "--logits", "--hess", "full", "--hess-out", tmp_path / "b.csv")
    assert r.stderr == "Error: --hess full writes N × C × C blocks: give --hess-out a .npy path\n"


def test_help_and_list_say_which_losses_have_a_hessian():
    r = run("mae", "--help")
    assert r.exit_code == 0
    assert "Hessian: diagonal; 0 almost everywhere" in " ".join(r.stdout.split())
    r = run("list", "--format", "json")
    doc = {e["name"]: e["hessian"] for e in json.loads(r.stdout)}
    assert doc["nll"].startswith("diagonal; 0 everywhere")
    assert doc["ce"].startswith("diagonal, full blocks (--hess full)")


# --------------------------------------------------------------------------- through the engine


def test_inputs_big_enough_to_stream_are_read_whole_for_the_hessian(mse_files, monkeypatch):
    from losscli import sources

    monkeypatch.setattr(sources, "STREAM_BYTES", 0)  # every two-file input would stream
    r = run("mse", *mse_files, "--hess", "--grad")
    assert (r.exit_code, r.stdout) == (0, "2.5\n\n1.0\n2.0\n\n1.0\n1.0\n")


def test_a_huge_hessian_goes_to_hess_out_not_stdout(mse_files, monkeypatch):
    from losscli import render

    monkeypatch.setattr(render, "PRINT_MAX_BYTES", 8)
    r = run("mse", *mse_files, "--hess")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "Error: the Hessian has 2 values, more than losscli prints (0 MiB); write it with "
        "--hess-out FILE.npy instead of --hess\n"
    )


def test_evaluate_takes_hess_in_python():
    import losscli

    report = losscli.evaluate("ce", [[0.0, 0.0]], [0], logits=True, hess="full", check=True)
    assert report.hess.tolist() == [[0.25, 0.25]]
    assert report.hess_blocks.tolist() == [[[0.25, -0.25], [-0.25, 0.25]]]
    assert report.hess_check.passed
    report = losscli.evaluate("mse", [1.0, 2.0], [0.0, 0.0], against_hess=[1.0, 2.0])
    assert report.hess is None and not report.hess_against.passed


def test_hessian_check_does_not_fail_on_a_kink_of_the_gradient(tmp_path):
    # mae at ŷ = y: sign(e) jumps from −1 to 1, so (g(x + h) − g(x − h))/2h = 1/h, while the
    # Hessian (0 on either side) does not exist there: shown, not counted, and said so
    p, t = write(tmp_path / "p.csv", "1\n2\n"), write(tmp_path / "t.csv", "1\n0\n")
    r = run("mae", p, t, "--hess", "--check", "--reduction", "sum")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[-1].startswith("hessian: PASS checked=2 failed=0 ")
    assert r.stderr == (
        "Warning: 1 element(s) lie on a kink of mae's gradient, where the Hessian does not "
        "exist (a central difference there is about 1/eps, or the average of the two sides); "
        "they are shown but not counted as failures\n"
    )
    doc = json.loads(run("mae", p, t, "--hess", "--check", "-r", "sum", "-f", "json").stdout)
    worst = doc["hess_check"]["worst"][0]
    assert worst["index"] == [0] and worst["analytic"] == 0.0 and worst["ok"] is True
    assert worst["numeric"] == pytest.approx(1e6, rel=1e-9)


@pytest.mark.parametrize(
    "args",
    [[name] for name in sorted(REGISTRY) if REGISTRY[name].has_hess]
    + [["ce", "--logits"], ["bce", "--logits"], ["ce", "--logits", "--hess", "full"]],
    ids=lambda a: " ".join(a),
)
def test_every_loss_with_a_hessian_checks_it_on_its_sample_data(args):
    r = run(*args, *([] if "--hess" in args else ["--hess"]), "--check", "-f", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["hess_check"]["passed"] is True
    assert np.shape(doc["hess"]) == tuple(doc["shape"])


def test_hess_full_refuses_a_big_npy_from_its_header_before_reading_it(tmp_path):
    # The header alone shows (400000, 100) logits: 4e9 numbers. The file is sparse (its 320 MB
    # of zeros take no disk); the run used to read it whole (~1 GB resident), then refuse.
    big = tmp_path / "z.npy"
    with open(big, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (400_000, 100)}
        )
        f.truncate(f.tell() + 400_000 * 100 * 8)
    labels = write(tmp_path / "y.csv", "0\n" * 3)
    r = run("ce", big, labels, "--logits", "--hess", "full")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "Error: --hess full would give 4,000,000,000 numbers (N × C × C for shape (400000, 100)); "
        "it is for small inputs (at most 1,048,576): use --hess for the diagonal, or "
        "losscli.cross_entropy.hess_blocks in Python\n"
    )
    from peak_rss import peak_rss_mib

    peak, _ = peak_rss_mib(["ce", str(big), str(labels), "--logits", "--hess", "full"])
    assert peak < 150  # read whole (before): > 320 MiB for the logits alone
    r = run("mse", big, big, "--hess", "full")  # a loss with no full Hessian says so first
    assert r.exit_code == 2 and r.stderr.startswith("Error: mse has no full Hessian blocks")
