"""Nothing lost, nothing overwritten, never an internal error (issues 9 and 12).

Outputs (never over an input, option files included; special files; all outputs checked before
any is written; size limits; short temp names), signals (SIGINT/SIGTERM/SIGHUP remove the
temporary files), pipes (exit 141 everywhere), stdout closed or full, option and header
extremes, numeric extremes. Signals, pipes, size limits and special files run as real
subprocesses; the rest through the real app (CliRunner). Expected numbers are hand-derived.
"""

from __future__ import annotations

import glob
import json
import os
import pty
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import losscli
import losscli.io as lio
import losscli.sources as sources
from losscli.cli import app
from losscli.errors import InputError, UsageError

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
posix = pytest.mark.skipif(os.name != "posix", reason="POSIX signals, pipes and devices")


def run(*args) -> object:
    return runner.invoke(app, [str(a) for a in args])


def losscli_process(*args, env=None, **kwargs) -> list[str]:
    return [sys.executable, "-m", "losscli", *map(str, args)]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **extra)
    env.pop("LOSSCLI_DEBUG", None)
    return env


def sh(*args, stdin=None, stdout=subprocess.PIPE, env=None, preexec_fn=None):
    return subprocess.run(
        losscli_process(*args),
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env or subprocess_env(),
        preexec_fn=preexec_fn,
        cwd=ROOT,
    )


def default_signals() -> None:
    """In the child: SIGINT, SIGTERM and SIGHUP as a shell would start it (a parent that
    ignores one would pass that on, and Python then installs no handler of its own)."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def files(tmp_path):
    """preds [[1, 2], [3, 4]], zero targets: mse 7.5; logits and labels for ce."""
    (tmp_path / "p.csv").write_text("1,2\n3,4\n")
    (tmp_path / "t.csv").write_text("0,0\n0,0\n")
    (tmp_path / "z.csv").write_text("0,0\n0,0\n")  # uniform logits: ce = log 2 per row
    (tmp_path / "y.csv").write_text("0\n1\n")
    (tmp_path / "w.csv").write_text("1\n3\n")
    (tmp_path / "cw.csv").write_text("1,3\n")
    return tmp_path


# --------------------------------------------------------------------------- option files


@pytest.mark.parametrize("spelling", ["path", "symlink", "hardlink"])
@pytest.mark.parametrize("flag", ["--grad-out", "-o"])
def test_class_weights_file_is_never_an_output(files, spelling, flag):
    cw = files / "cw.csv"
    target = {"path": cw, "symlink": files / "link.csv", "hardlink": files / "hard.csv"}[spelling]
    if spelling == "symlink":
        target.symlink_to(cw)
    elif spelling == "hardlink":
        os.link(cw, target)
    r = run("ce", files / "z.csv", files / "y.csv", "--logits", "--class-weights", cw, flag, target)
    option = "--output" if flag == "-o" else "--grad-out"
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: refusing to overwrite input file {cw}; choose another {option} path\n"
    )
    assert cw.read_text() == "1,3\n"


def test_pos_weight_file_is_never_an_output(files):
    (files / "pw.csv").write_text("2\n")
    (files / "b.csv").write_text("0.5\n-1\n")
    r = run("bce", files / "b.csv", files / "y.csv", "--logits", "--pos-weight", files / "pw.csv",
            "--grad-out", files / "pw.csv")  # fmt: skip
    assert r.exit_code == 2
    assert r.stderr.startswith(f"Error: refusing to overwrite input file {files / 'pw.csv'}")
    assert (files / "pw.csv").read_text() == "2\n"


def test_sample_weights_file_is_never_an_output(files):
    r = run("mse", files / "p.csv", files / "t.csv", "--sample-weights", files / "w.csv",
            "-o", files / "w.csv")  # fmt: skip
    assert r.exit_code == 2
    assert (files / "w.csv").read_text() == "1\n3\n"


# --------------------------------------------------------------------------- all or nothing


def test_grad_out_not_written_when_output_cannot_be(files):
    r = run("mse", files / "p.csv", files / "t.csv", "--grad-out", files / "g.npy",
            "-o", files / "no" / "such" / "o.txt")  # fmt: skip
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {files / 'no' / 'such' / 'o.txt'}: directory {files / 'no' / 'such'} "
        "does not exist; create it first\n"
    )
    assert not (files / "g.npy").exists()


def test_grad_out_not_written_when_output_name_too_long(files):
    long = files / ("o" * 300 + ".txt")
    r = run("mse", files / "p.csv", files / "t.csv", "--grad-out", files / "g.npy", "-o", long)
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {long}: file name is 304 bytes, longer than the 255 its file system allows; "
        "choose a shorter --output name\n"
    )
    assert sorted(p.name for p in files.iterdir()) == sorted(
        ["p.csv", "t.csv", "z.csv", "y.csv", "w.csv", "cw.csv"]
    )


@pytest.mark.parametrize("length", [246, 255])
def test_long_valid_output_name_is_written(files, length):
    name = files / ("o" * (length - 4) + ".txt")
    r = run("mse", files / "p.csv", files / "t.csv", "-o", name)
    assert r.exit_code == 0, r.stderr
    assert name.read_text() == "7.5\n"
    assert leftovers(files) == []


def test_temporary_names_are_short(tmp_path):
    tmp, fd, _ = lio._temporary_beside(tmp_path / ("x" * 250))
    os.close(fd)
    try:
        assert len(os.path.basename(tmp)) <= 24
        assert tmp in lio._TEMPORARIES
    finally:
        lio.discard_output(tmp)
    assert tmp not in lio._TEMPORARIES and not os.path.exists(tmp)


def test_remove_temporaries_removes_what_is_registered(tmp_path):
    tmp, fd, _ = lio._temporary_beside(tmp_path / "g.npy")
    os.close(fd)
    extra = tmp_path / ".spool"
    extra.write_bytes(b"x")
    lio.register_temporary(extra)
    lio.remove_temporaries()
    assert list(tmp_path.iterdir()) == []


def test_check_outputs_refuses_one_file_twice(tmp_path):
    with pytest.raises(UsageError, match="^--output and --grad-out name the same file; choose"):
        lio.check_outputs({"--output": tmp_path / "g.csv", "--grad-out": tmp_path / "./g.csv"})
    lio.check_outputs({"--output": "-", "--grad-out": None})  # stdout and nothing: fine


def test_output_dash_is_stdout(files):
    r = run("mse", files / "p.csv", files / "t.csv", "-o", "-")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "7.5\n", "")
    assert not (files / "-").exists()


def test_write_text_dash_is_stdout(capfdbinary):
    lio.write_text("-", "x\n")
    assert capfdbinary.readouterr().out == b"x\n"


# --------------------------------------------------------------------------- special files


@posix
def test_output_into_a_fifo_keeps_it_a_fifo(files):
    fifo = files / "out.txt"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = sh("mse", files / "p.csv", files / "t.csv", "-o", fifo)
    reader.join(10)
    assert r.returncode == 0, r.stderr
    assert got == [b"7.5\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert leftovers(files) == []


@posix
def test_output_to_dev_full_is_an_error_and_keeps_the_device(files):
    r = sh("mse", files / "p.csv", files / "t.csv", "-o", "/dev/full")
    assert r.returncode == 2
    assert r.stderr == b"Error: /dev/full: cannot write file (No space left on device)\n"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert not glob.glob("/dev/.losscli-*")


@posix
def test_output_to_dev_stdout_writes_into_stdout(files):
    with open(files / "captured.txt", "wb") as out:
        out.write(b"kept\n")
        out.flush()
        r = subprocess.run(
            losscli_process("mse", files / "p.csv", files / "t.csv", "-o", "/dev/stdout"),
            stdout=out,
            stderr=subprocess.PIPE,
            env=subprocess_env(),
        )
    assert r.returncode == 0, r.stderr
    assert (files / "captured.txt").read_bytes() == b"kept\n7.5\n"
    assert os.path.islink("/dev/stdout") or stat.S_ISCHR(os.stat("/dev/stdout").st_mode)


@posix
def test_grad_out_onto_a_fifo_is_refused(files):
    fifo = files / "g.npy"
    os.mkfifo(fifo)
    r = sh("mse", files / "p.csv", files / "t.csv", "--grad-out", fifo)
    assert r.returncode == 2
    assert r.stderr.decode() == (
        f"Error: {fifo}: is a FIFO; --grad-out writes a regular file (beside it, then renamed "
        "over it), so choose a file name\n"
    )
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


# --------------------------------------------------------------------------- size limits


def _limit(nbytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


@pytest.fixture
def big(tmp_path):
    """200,000 × 3 predictions and targets: 14 MB of CSV under --reduction none."""
    rng = np.random.default_rng(7)
    np.save(tmp_path / "p.npy", rng.normal(size=(200_000, 3)))
    np.save(tmp_path / "t.npy", rng.normal(size=(200_000, 3)))
    return tmp_path


@posix
def test_stdout_over_a_size_limit_is_an_error(big):
    with open(big / "out.txt", "wb") as out:
        r = sh("mse", big / "p.npy", big / "t.npy", "-r", "none", stdout=out,
               preexec_fn=_limit(100_000))  # fmt: skip
    assert r.returncode == 2
    assert r.stderr == b"Error: cannot write to stdout (File too large)\n"


@posix
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("ext", [".npy", ".csv"])
def test_grad_out_over_a_size_limit_leaves_nothing(big, ext, streamed):
    env = subprocess_env(LOSSCLI_STREAM_BYTES="1000") if streamed else None
    (big / f"g{ext}").write_bytes(b"previous")
    r = sh("mse", big / "p.npy", big / "t.npy", "--grad-out", big / f"g{ext}", env=env,
           preexec_fn=_limit(1_000_000))  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.decode().startswith("Error: ")
    assert r.stderr.count(b"\n") == 1
    assert (big / f"g{ext}").read_bytes() == b"previous"
    assert leftovers(big) == []


@posix
def test_stdout_closed_is_a_clear_error(files):
    r = subprocess.run(
        losscli_process("mse", files / "p.csv", files / "t.csv"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
        preexec_fn=lambda: os.close(1),
    )
    assert r.returncode == 2
    assert r.stderr == (
        b"Error: stdout is closed; redirect it (> out.txt, or > /dev/null to discard the "
        b"output) or write to a file with -o FILE\n"
    )


@posix
def test_stdout_closed_is_fine_with_an_output_file(files):
    r = subprocess.run(
        losscli_process("mse", files / "p.csv", files / "t.csv", "-o", files / "o.txt"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
        preexec_fn=lambda: os.close(1),
    )
    assert r.returncode == 0, r.stderr
    assert (files / "o.txt").read_text() == "7.5\n"


@posix
@pytest.mark.parametrize("args", [["mse", "P", "T"], ["list"], ["--help"]])
def test_stdout_dev_full_is_an_error(files, args):
    args = [str(files / "p.csv") if a == "P" else str(files / "t.csv") if a == "T" else a
            for a in args]  # fmt: skip
    with open("/dev/full", "wb") as full:
        r = sh(*args, stdout=full)
    assert r.returncode == 2
    assert r.stderr == b"Error: cannot write to stdout (No space left on device)\n"


# --------------------------------------------------------------------------- pipes


PIPE_CASES = {
    "plain": ["mse", "P", "T"],
    "none": ["mse", "P", "T", "-r", "none"],
    "table": ["mse", "P", "T", "-f", "table"],
    "json": ["mse", "P", "T", "-f", "json"],
    "csv": ["mse", "P", "T", "-f", "csv", "-g"],
    "help": ["--help"],
    "command help": ["mse", "--help"],
    "list": ["list"],
    "list table": ["list", "-f", "table"],
    "explain": ["explain", "ce"],
    "explain table": ["explain", "ce", "-f", "table"],
    "version": ["--version"],
}


@posix
@pytest.mark.parametrize("case", sorted(PIPE_CASES))
def test_closed_pipe_exits_141(files, case):
    args = [str(files / "p.csv") if a == "P" else str(files / "t.csv") if a == "T" else a
            for a in PIPE_CASES[case]]  # fmt: skip
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first write
    try:
        r = sh(*args, stdout=write_end)
    finally:
        os.close(write_end)
    assert (r.returncode, r.stderr) == (141, b"")


@posix
def test_head_closing_the_pipe_exits_141(big):
    script = '"$@" -r none | head -1 > /dev/null; exit "${PIPESTATUS[0]}"'
    r = subprocess.run(
        ["bash", "-c", script, "bash", *losscli_process("mse", big / "p.npy", big / "t.npy")],
        stderr=subprocess.PIPE,
        env=subprocess_env(),
    )
    assert (r.returncode, r.stderr) == (141, b"")


# --------------------------------------------------------------------------- signals


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """Inputs big enough to stream for a few seconds in small chunks."""
    folder = tmp_path_factory.mktemp("streamed")
    rng = np.random.default_rng(3)
    np.save(folder / "p.npy", rng.normal(size=(400_000, 5)))
    np.save(folder / "t.npy", rng.normal(size=(400_000, 5)))
    return folder


@posix
@pytest.mark.parametrize(
    "name, code", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)]
)  # fmt: skip
@pytest.mark.parametrize("ext", [".npy", ".csv"])
def test_signal_while_streaming_grad_out_removes_the_temporary(streamed, tmp_path, ext, name,
                                                               code):  # fmt: skip
    out = tmp_path / f"g{ext}"
    out.write_bytes(b"previous\n")
    env = subprocess_env(LOSSCLI_STREAM_BYTES="1000", LOSSCLI_CHUNK_ELEMENTS="2000")
    args = losscli_process("mse", streamed / "p.npy", streamed / "t.npy", "--grad-out", out)
    process = subprocess.Popen(args, stderr=subprocess.PIPE, env=env, preexec_fn=default_signals)
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert process.poll() is None, "the run ended before its temporary file was seen"
    process.send_signal(getattr(signal, name))
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (code, b"")
    assert out.read_bytes() == b"previous\n"
    assert leftovers(tmp_path) == []


@posix
def test_timeout_sends_term_and_nothing_is_left(streamed, tmp_path):
    out = tmp_path / "g.npy"
    # About 3 s in chunks of 20 elements (measured: 3.3 s; chunks of 100 took 1.5 s, too close
    # to the TERM after 1 s on a fast machine); TERM after 1 s.
    env = subprocess_env(LOSSCLI_STREAM_BYTES="1000", LOSSCLI_CHUNK_ELEMENTS="20")
    r = subprocess.run(
        ["timeout", "-s", "TERM", "1",
         *losscli_process("mse", streamed / "p.npy", streamed / "t.npy", "--grad-out", out)],
        stderr=subprocess.PIPE, env=env, preexec_fn=default_signals,
    )  # fmt: skip
    assert (r.returncode, r.stderr) == (124, b"")  # timeout's code: the run was stopped
    assert list(tmp_path.iterdir()) == []


# A real SIGINT sent while the CLI's modules are still being imported (when typer is imported).
_INTERRUPT_DURING_IMPORT = """
import os, signal, sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
sys.argv = ["losscli", "--version"]
{start}
"""


@posix
@pytest.mark.parametrize(
    "start",
    [
        "import runpy; runpy.run_module('losscli', run_name='__main__')",  # python -m losscli
        "from losscli.__main__ import main; main()",  # the console script
    ],
)
def test_ctrl_c_during_imports_exits_130_quietly(start):
    code = _INTERRUPT_DURING_IMPORT.format(start=start)
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        env=subprocess_env(),
        preexec_fn=default_signals,
    )
    assert (r.returncode, r.stdout, r.stderr) == (130, b"", b"")


def test_console_script_is_the_guarded_entry_point():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'losscli = "losscli.__main__:main"' in text


# --------------------------------------------------------------------------- options, headers


@pytest.mark.parametrize("loss, extra", [("ce", ["--logits"]), ("nll", [])])
@pytest.mark.parametrize("value", ["9223372036854775808", "-9223372036854775809"])
def test_ignore_index_outside_int64_is_one_error(files, loss, extra, value):
    r = run(loss, files / "t.csv", files / "y.csv", *extra, f"--ignore-index={value}")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == f"Error: --ignore-index must fit in int64, got {value}\n"


@pytest.mark.parametrize("value", ["9223372036854775807", "-9223372036854775808"])
def test_ignore_index_at_int64_limits_is_accepted(files, value):
    # z = 0 everywhere: each row log 2; no target equals the ignore index.
    r = run("ce", files / "z.csv", files / "y.csv", "--logits", f"--ignore-index={value}")
    assert (r.exit_code, r.stdout, r.stderr) == (0, f"{repr(float(np.log(2)))}\n", "")


def _npy_with_shape(shape_text: str) -> bytes:
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_text}, }}".encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 64


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("shape", ["(-1,)", "(3, -1)", "(True,)", "(2, False)"])
def test_npy_shape_must_hold_whole_numbers(tmp_path, shape, streamed):
    (tmp_path / "h.npy").write_bytes(_npy_with_shape(shape))
    env = subprocess_env(LOSSCLI_STREAM_BYTES="1" if streamed else str(1 << 40))
    r = sh("mse", tmp_path / "h.npy", tmp_path / "h.npy", env=env)
    assert r.returncode == 2
    assert r.stderr.decode() == (
        f"Error: {tmp_path / 'h.npy'}: not a valid NPY file (shape {shape} in the header: "
        "each dimension must be a whole number ≥ 0)\n"
    )


def test_npy_header_rejects_bool_dimension_in_memory(tmp_path):
    (tmp_path / "h.npy").write_bytes(_npy_with_shape("(True,)"))
    with pytest.raises(InputError, match=r"shape \(True,\) in the header"):
        losscli.read_array(tmp_path / "h.npy")


@posix
def test_columns_zero_on_a_terminal_still_prints_the_value(files):
    primary, secondary = pty.openpty()
    env = subprocess_env(COLUMNS="0", TERM="xterm")
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        losscli_process("mse", files / "p.csv", files / "t.csv"),
        stdout=secondary, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(primary)
    assert process.wait(30) == 0
    assert b"7.5" in out  # rich colours it; the value itself is whole
    assert b"Value" in out


# --------------------------------------------------------------------------- numeric extremes


def test_ce_logits_at_float_limits_one_hot_matches_the_index_form():
    # Row 0: z = (1e308, −1e308, 0), class 0: log-softmax of class 0 is 0 (exp(−1e308 − 1e308)
    # and exp(−1e308) vanish), loss 0. Row 1: class 1 holds the max 1e308: loss 0. Row 2:
    # z = (1, 2, 3), class 2: log(e + e² + e³) − 3 = log(1 + e⁻¹ + e⁻²).
    z = np.array([[1e308, -1e308, 0.0], [-1e308, 1e308, 5.0], [1.0, 2.0, 3.0]])
    row2 = float(np.log1p(np.exp(-1.0) + np.exp(-2.0)))
    one_hot = np.eye(3)
    index = np.array([0, 1, 2])
    ce = losscli.get_loss("ce")
    for targets in (one_hot, index):
        rows = ce(z, targets, logits=True, reduction="none")
        np.testing.assert_allclose(rows, [0.0, 0.0, row2], rtol=1e-15, atol=0)
        grad = ce.grad(z, targets, logits=True, reduction="sum")
        assert np.isfinite(grad).all()
        np.testing.assert_array_equal(grad[:2], np.zeros((2, 3)))


def test_ce_logits_at_float_limits_soft_rows_with_zeros():
    # Row 0: targets (0.7, 0, 0.3), log p = (0, −inf, −1e308): 0.3·1e308 = 3e307; the zero
    # target on −inf adds nothing. Row 1: (0, 0.5, 0.5), log p = (−inf, 0, 5 − 1e308 ≈ −1e308):
    # 0.5·1e308 = 5e307.
    z = np.array([[1e308, -1e308, 0.0], [-1e308, 1e308, 5.0]])
    soft = np.array([[0.7, 0.0, 0.3], [0.0, 0.5, 0.5]])
    rows = losscli.get_loss("ce")(z, soft, logits=True, reduction="none")
    np.testing.assert_allclose(rows, [3e307, 5e307], rtol=1e-15)


def test_ce_cli_logits_at_float_limits(tmp_path):
    (tmp_path / "z.csv").write_text("1e308,-1e308\n-1e308,1e308\n")
    (tmp_path / "onehot.csv").write_text("1,0\n0,1\n")
    (tmp_path / "y.csv").write_text("0\n1\n")
    for targets in ("onehot.csv", "y.csv"):
        r = run("ce", tmp_path / "z.csv", tmp_path / targets, "--logits")
        assert (r.exit_code, r.stdout, r.stderr) == (0, "0.0\n", "")


@pytest.mark.parametrize(
    "errors, expected",
    [
        # √((9 + 16)/2)·1e305 = √12.5·1e305
        ([3e305, 4e305], float(np.sqrt(12.5)) * 1e305),
        # four errors of 1e154: each square 1e308 is finite, their sum is not; the rmse is 1e154
        ([1e154] * 4, 1e154),
    ],
)
def test_rmse_of_huge_errors_is_finite(errors, expected):
    rmse = losscli.get_loss("rmse")
    zeros = np.zeros(len(errors))
    np.testing.assert_allclose(rmse(np.array(errors), zeros), expected, rtol=1e-14)
    # ∂rmse/∂ŷ_i = e_i/(N·rmse)
    want = np.array(errors) / (len(errors) * expected)
    np.testing.assert_allclose(rmse.grad(np.array(errors), zeros), want, rtol=1e-14)


# rmse scales its errors by 2^-k before squaring (k from the largest |e|; BLAS nrm2), so the
# value, gradient and Hessian are finite wherever √(mean of squares) is. Expected values are
# hand-derived: rmse = √(Σ w·e²/Σ w); ∂/∂ŷ_i = w_i·e_i/(Σw·rmse);
# ∂²/∂ŷ_i² = w_i/(Σw·rmse) − w_i²·e_i²/(Σw²·rmse³).
HUGE_RMSE_CASES = [
    # √((9 + 16)/2)·1e305
    ([3e305, 4e305], None, np.sqrt(12.5) * 1e305),
    # weights 1, 2: √((9 + 2·16)/3)·1e305
    ([3e305, 4e305], [1.0, 2.0], np.sqrt(41 / 3) * 1e305),
    # squares of 1e-170 underflow to 0 unscaled: √((9 + 16)/2)·1e-170
    ([3e-170, 4e-170], None, np.sqrt(12.5) * 1e-170),
    # mixed scales: 1 and 1e-170 are lost next to 1e305 (1e610 + 1): 1e305/√3
    ([1e305, 1.0, 1e-170], None, 1e305 / np.sqrt(3)),
]


def _rmse_derivatives(errors, weights, value):
    e = np.array(errors)
    w = np.ones_like(e) if weights is None else np.array(weights)
    grad = w * e / (w.sum() * value)
    # w/(Σw·r) − (w·e)²/(Σw²·r³), the second term written to stay finite
    hess = w / (w.sum() * value) - (w * e / (w.sum() * value)) ** 2 / value
    return grad, hess


@pytest.mark.parametrize("errors, weights, expected", HUGE_RMSE_CASES)
def test_rmse_value_grad_hess_at_extreme_scales(errors, weights, expected):
    e, zeros = np.array(errors), np.zeros(len(errors))
    want_grad, want_hess = _rmse_derivatives(errors, weights, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow/underflow warning of any kind
        value = losscli.rmse(e, zeros, sample_weights=weights)
        v2, grad, hess = losscli.rmse.value_grad_hess(e, zeros, sample_weights=weights)
        v3, grad3 = losscli.rmse.value_and_grad(e, zeros, sample_weights=weights)
    np.testing.assert_allclose([value, v2, v3], expected, rtol=1e-15)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-14)
    np.testing.assert_allclose(grad3, want_grad, rtol=1e-14)
    # (atol: the mixed case cancels to 0 at its first element)
    np.testing.assert_allclose(hess, want_hess, rtol=1e-12, atol=1e-15 * abs(want_hess).max())


@pytest.mark.parametrize("errors, weights, expected", HUGE_RMSE_CASES)
@pytest.mark.parametrize("elements", [None, 1, 7, 64])
def test_rmse_at_extreme_scales_in_memory_and_streamed(
    tmp_path, monkeypatch, errors, weights, expected, elements
):
    np.savetxt(tmp_path / "p.csv", errors, fmt="%.17g")
    np.savetxt(tmp_path / "t.csv", np.zeros(len(errors)), fmt="%.17g")
    args = ["rmse", tmp_path / "p.csv", tmp_path / "t.csv", "-f", "json", "-g"]
    if weights is not None:
        np.savetxt(tmp_path / "w.csv", weights, fmt="%.17g")
        args += ["--sample-weights", tmp_path / "w.csv"]
    monkeypatch.setattr(sources, "STREAM_BYTES", 1 << 62 if elements is None else 0)
    monkeypatch.setattr(sources, "CHUNK_ELEMENTS", elements or (1 << 20))
    out = tmp_path / "g.npy"
    r = run(*args, "--grad-out", out)
    assert r.exit_code == 0
    assert "overflow" not in r.stderr and "Warning" not in r.stderr, r.stderr
    got = json.loads(r.stdout)
    want_grad, _ = _rmse_derivatives(errors, weights, expected)
    np.testing.assert_allclose(got["value"], expected, rtol=1e-15)
    np.testing.assert_allclose(got["grad"], want_grad, rtol=1e-14)
    np.testing.assert_allclose(np.load(out), want_grad, rtol=1e-14)


def test_rmse_at_extreme_scales_with_a_weight_column_and_dask(tmp_path):
    pytest.importorskip("dask")
    # √((9 + 2·16)/3)·1e305, hand-derived
    (tmp_path / "s.csv").write_text("p,y,w\n3e305,0,1\n4e305,0,2\n")
    cols = ["--pred-col", "p", "--target-col", "y", "--weight-col", "w", "-f", "json"]
    for engine in ("local", "dask"):
        r = run("rmse", tmp_path / "s.csv", *cols, "--engine", engine)
        assert (r.exit_code, r.stderr) == (0, ""), r.stderr
        np.testing.assert_allclose(json.loads(r.stdout)["value"], np.sqrt(41 / 3) * 1e305)


def test_rmse_blocks_of_any_scale_merge_in_any_grouping():
    # blocks of 1e305, 1 and 1e-170 hold different power-of-two scales; merging is exact, so
    # every grouping gives the one-block value, bit for bit
    from losscli.engine import Block, partial

    e = np.array([1e305, 1.0, 1e-170, 3e305, 2.0])
    t = np.zeros(len(e))
    whole = losscli.rmse(e, t)
    parts = [partial(losscli.rmse, Block(e[i : i + 1], t[i : i + 1], start=i)) for i in range(5)]
    left = parts[0]
    for b in parts[1:]:
        left = left.merge(b)
    right = parts[-1]
    for b in parts[-2::-1]:
        right = b.merge(right)
    assert left.value(losscli.rmse, "mean") == right.value(losscli.rmse, "mean") == whole
    # hand-derived: √((1 + 9)·1e610/5) = √2·1e305 (1 + 4 + 1e-340 are lost)
    np.testing.assert_allclose(whole, np.sqrt(2) * 1e305, rtol=1e-15)


@pytest.mark.parametrize("scale", [1e305, 1e-170])
def test_rmse_gradient_matches_relative_finite_differences_at_extreme_scale(scale):
    rng = np.random.default_rng(12)
    p, t = rng.standard_normal(6) * scale, rng.standard_normal(6) * scale
    grad = losscli.rmse.grad(p, t)
    for i in range(len(p)):
        h = 1e-6 * abs(p[i])  # a step relative to the element: an absolute one is lost
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        fd = (losscli.rmse(up, t) - losscli.rmse(down, t)) / (up[i] - down[i])
        np.testing.assert_allclose(grad[i], fd, rtol=1e-7)


def test_rmse_of_ordinary_data_is_unscaled_and_unchanged():
    # errors 1, 2, 3, 4: √(30/4) = √7.5, correctly rounded; gradient e/(4·√7.5)
    from losscli.engine import Block, partial

    e, t = np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4)
    assert losscli.rmse(e, t) == np.sqrt(7.5)
    np.testing.assert_array_equal(losscli.rmse.grad(e, t), e / (4 * np.sqrt(7.5)))
    assert partial(losscli.rmse, Block(e, t)).loss.exponent == 0  # the unscaled path


def test_mse_of_errors_too_large_for_float64_is_inf_with_a_warning(tmp_path):
    # mse of 1e200 is 1e400: not representable, so inf and the warning are right
    np.savetxt(tmp_path / "p.csv", [1e200, 1e200], fmt="%.17g")
    np.savetxt(tmp_path / "t.csv", [0.0, 0.0], fmt="%.17g")
    r = run("mse", tmp_path / "p.csv", tmp_path / "t.csv")
    assert (r.exit_code, r.stdout) == (0, "inf\n")
    assert "overflowed float64 to inf" in r.stderr


@pytest.mark.parametrize("block", [None, "16"])
def test_rmse_none_of_huge_and_tiny_rows_is_finite(tmp_path, block):
    # hand-derived: each row's √(mean of squares) = |(3, 4)|/√2 · scale = √12.5 · scale, its
    # gradient e/(D·rmse_i) = (3, 4)/(2·√12.5) whatever the scale; the row (1, 2): √2.5
    p, t = tmp_path / "p.csv", tmp_path / "t.csv"
    p.write_text("3e305,4e305\n1,2\n3e-170,4e-170\n")
    t.write_text("0,0\n0,0\n0,0\n")
    env = {**os.environ, **({"LOSSCLI_STREAM_BYTES": block} if block else {})}
    r = subprocess.run(
        [sys.executable, "-m", "losscli", "rmse", str(p), str(t), "-r", "none", "--grad",
         "-f", "json"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "overflow" not in r.stderr and "Warning" not in r.stderr
    out = json.loads(r.stdout)
    expected = [12.5**0.5 * 1e305, 2.5**0.5, 12.5**0.5 * 1e-170]
    np.testing.assert_allclose(out["value"], expected, rtol=1e-15)
    unit = np.array([3.0, 4.0]) / (2 * 12.5**0.5)
    np.testing.assert_allclose(
        out["grad"], [unit, np.array([1.0, 2.0]) / (2 * 2.5**0.5), unit], rtol=1e-15
    )


def test_rmse_none_gradient_at_huge_scale_matches_relative_central_differences():
    # the row loss is homogeneous of degree 1: central differences with a step relative to
    # the errors (1e-6·|e|) give the gradient to ~1e-10
    p = np.array([[3e305, -4e305, 1e305]])
    t = np.zeros_like(p)
    g = losscli.rmse.grad(p, t, reduction="none")
    numeric = np.empty_like(p)
    for j in range(3):
        h = 1e-6 * abs(p[0, j])
        up, down = p.copy(), p.copy()
        up[0, j] += h
        down[0, j] -= h
        diff = losscli.rmse(up, t, reduction="none") - losscli.rmse(down, t, reduction="none")
        numeric[0, j] = diff[0] / (2 * h)
    np.testing.assert_allclose(g, numeric, rtol=1e-8)
