"""The peak resident memory of one losscli run in a fresh process, for the bounded-memory tests.

Not a pytest module (the name does not match ``test_*.py``); imported by the tests that bound a
streamed run's memory (tests/test_stream.py, test_stdin.py, test_engine.py, test_stream_against.py
and the modules that borrow from them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mib(
    args: list[str],
    env: dict[str, str] | None = None,
    *,
    setup: str = "",
    stdin: Path | None = None,
    cwd: Path = ROOT,
) -> tuple[float, str]:
    """(peak resident MiB, stdout) of ``losscli ARGS`` run in a fresh interpreter on this
    worktree's losscli (``PYTHONPATH``), with ``env`` added to the environment, the Python
    ``setup`` lines run before the CLI is imported (e.g. a smaller ``RELEASE_BYTES``) and, if
    given, the file ``stdin`` piped in through ``cat`` (a real pipe, not a seekable file)."""
    code = (
        "import sys\n"
        f"{setup}"
        "from losscli.cli import main\n"
        f"sys.argv = ['losscli', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        # VmHWM, not ru_maxrss: the latter can carry the forking parent's peak across exec.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(int(hwm.split()[1]) / 1024, file=sys.stderr)\n"
    )
    cat = None if stdin is None else subprocess.Popen(["cat", str(stdin)], stdout=subprocess.PIPE)
    try:
        r = subprocess.run(
            [sys.executable, "-c", code],
            stdin=None if cat is None else cat.stdout,
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )
    finally:
        if cat is not None:
            cat.stdout.close()
            cat.wait()
    return float(r.stderr.strip().splitlines()[-1]), r.stdout


def write_random_npy(path: Path, n: int, seed: int) -> None:
    """``n`` uniform float64 values (numpy's default_rng(seed), 1 Mi at a time) written to the
    NPY ``path`` through a memory map, so the test process itself stays small."""
    import numpy as np

    a = np.lib.format.open_memmap(path, "w+", np.float64, (n,))
    rng = np.random.default_rng(seed)
    for start in range(0, n, 1 << 20):
        a[start : start + (1 << 20)] = rng.random(min(1 << 20, n - start))
    a.flush()
    del a
