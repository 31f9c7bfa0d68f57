"""losscli against the tools people would otherwise use, side by side in one run.

    python benchmarks/run.py            # full sizes (needs ~6 GB of free disk in $TMPDIR)
    python benchmarks/run.py --quick    # small sizes, to check that it runs

Generates its own data in a temporary folder, runs each pair alternately as subprocesses
(``--repeat`` times each; medians), measures wall time and peak resident memory (VmHWM) of
each, and prints a table with the ratio losscli / baseline and the goal for it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# Reports the child's peak resident memory from /proc (VmHWM) after running its command.
RUNNER = textwrap.dedent(
    """
    import os, runpy, sys
    def peak():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) // 1024
    mode, target, *args = sys.argv[1:]
    sys.argv = [target, *args]
    os_exit = os._exit
    def leave(code):  # losscli leaves by os._exit after pyarrow: report the peak first
        sys.stdout.flush()
        print("PEAK_MIB", peak(), file=sys.stderr, flush=True)
        os_exit(code)
    os._exit = leave
    try:
        if mode == "module":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    finally:
        sys.stdout.flush()
        print("PEAK_MIB", peak(), file=sys.stderr)
    """
)

BASELINES = {
    "mmap_mse.py": """
        import math, sys
        import numpy as np
        a = np.load(sys.argv[1], mmap_mode="r"); b = np.load(sys.argv[2], mmap_mode="r")
        parts = []
        for i in range(0, a.size, 1 << 20):
            d = a[i : i + (1 << 20)] - b[i : i + (1 << 20)]
            parts.append(float(np.dot(d, d)))
        print(math.fsum(parts) / a.size)
    """,
    "pandas_mse.py": """
        import sys
        import numpy as np, pandas as pd
        a = pd.read_csv(sys.argv[1], dtype=np.float64).to_numpy()
        b = pd.read_csv(sys.argv[2], dtype=np.float64).to_numpy()
        print(float(np.mean((a - b) ** 2)))
    """,
    "pandas_scored_mse.py": """
        import sys
        import numpy as np, pandas as pd
        d = pd.read_csv(sys.argv[1])
        print(float(np.mean((d.yhat - d.y) ** 2)))
    """,
    "pandas_parquet_mse.py": """
        import sys
        import numpy as np, pandas as pd
        d = pd.read_parquet(sys.argv[1])
        print(float(np.mean((d.yhat - d.y) ** 2)))
    """,
    "pandas_parquet_pair_mse.py": """
        import sys
        import numpy as np, pandas as pd
        p = pd.read_parquet(sys.argv[1]).to_numpy(dtype=np.float64)
        t = pd.read_parquet(sys.argv[2]).to_numpy(dtype=np.float64)
        print(float(np.mean((p - t) ** 2)))
    """,
    "dataset_mse.py": """
        import math, sys
        import numpy as np, pyarrow.dataset as ds
        parts, n = [], 0
        for batch in ds.dataset(sys.argv[1], format="parquet").to_batches(columns=["yhat", "y"]):
            d = batch.column(0).to_numpy() - batch.column(1).to_numpy()
            parts.append(float(np.dot(d, d)))
            n += len(d)
        print(math.fsum(parts) / n)
    """,
    "torch_parquet_ce.py": """
        import sys
        import numpy as np, pandas as pd, torch
        torch.set_num_threads(2)
        d = pd.read_parquet(sys.argv[1])
        z = torch.from_numpy(d.filter(like="logit_").to_numpy()).requires_grad_()
        y = torch.from_numpy(d["label"].to_numpy())
        loss = torch.nn.functional.cross_entropy(z, y)
        loss.backward()
        np.save(sys.argv[2], z.grad.numpy())
        print(float(loss))
    """,
    "torch_ce.py": """
        import sys
        import numpy as np, torch
        torch.set_num_threads(2)
        z = torch.from_numpy(np.load(sys.argv[1])).requires_grad_()
        y = torch.from_numpy(np.load(sys.argv[2]))
        loss = torch.nn.functional.cross_entropy(z, y)
        loss.backward()
        np.save(sys.argv[3], z.grad.numpy())
        print(loss.item())
    """,
    # the check a user would write: central differences, one column of every row at a time
    # (2·C evaluations of the row losses), against softmax − onehot
    "numpy_check.py": """
        import sys
        import numpy as np
        z, y = np.load(sys.argv[1]), np.load(sys.argv[2])
        n, c = z.shape
        rows = np.arange(n)
        def row_losses(x):
            m = x.max(axis=1, keepdims=True)
            return np.log(np.exp(x - m).sum(axis=1)) + m[:, 0] - x[rows, y]
        p = np.exp(z - z.max(axis=1, keepdims=True))
        analytic = p / p.sum(axis=1, keepdims=True)
        analytic[rows, y] -= 1.0
        h = 1e-6 * np.maximum(1.0, np.abs(z))
        numeric = np.empty_like(z)
        for j in range(c):
            x = z.copy()
            x[:, j] += h[:, j]
            up = row_losses(x)
            x[:, j] -= 2 * h[:, j]
            numeric[:, j] = (up - row_losses(x)) / (2 * h[:, j])
        ok = np.abs(analytic - numeric) <= 1e-5 + 1e-3 * np.abs(numeric)
        print("PASS" if ok.all() else "FAIL", np.abs(analytic - numeric).max())
    """,
}


def run_once(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if r.returncode not in (0,):
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    peak = int(r.stderr.rsplit("PEAK_MIB", 1)[1].split()[0]) if "PEAK_MIB" in r.stderr else 0
    return elapsed, peak


def pair(name, ours, theirs, env, repeat, goal, note=""):
    """Run the two commands alternately; medians of time and of peak memory."""
    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    peaks: dict[str, list[int]] = {"ours": [], "theirs": []}
    for _ in range(repeat):
        for key, cmd in (("ours", ours), ("theirs", theirs)):
            t, m = run_once(cmd, env)
            times[key].append(t)
            peaks[key].append(m)
    row = {
        "name": name,
        "ours": statistics.median(times["ours"]),
        "theirs": statistics.median(times["theirs"]),
        "ours_mib": statistics.median(peaks["ours"]),
        "theirs_mib": statistics.median(peaks["theirs"]),
        "goal": goal,
        "note": note,
    }
    row["ratio"] = row["ours"] / row["theirs"]
    print(f"  {name}: {row['ours']:.3f} s vs {row['theirs']:.3f} s", file=sys.stderr)
    return row


def _scored_table(work: Path, n_rows: int, rng) -> tuple[Path, Path]:
    """``id,yhat,y`` as CSV and as Parquet (written with pyarrow: fast for 10M rows)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    y = rng.standard_normal(n_rows)
    table = pa.table(
        {
            "id": pa.array(np.arange(n_rows)),
            "yhat": pa.array(y + 0.1 * rng.standard_normal(n_rows)),
            "y": pa.array(y),
        }
    )
    csv_path, parquet_path = work / f"scores{n_rows}.csv", work / f"scores{n_rows}.parquet"
    pacsv.write_csv(table, csv_path)
    pq.write_table(table, parquet_path)
    return csv_path, parquet_path


def _logit_table(work: Path, n_rows: int, rng) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    z = rng.standard_normal((n_rows, 100))
    columns = {f"logit_{j:02d}": pa.array(z[:, j]) for j in range(100)}
    columns["label"] = pa.array(rng.integers(0, 100, n_rows))
    path = work / "logits.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def _shards(work: Path, n_rows: int, count: int, rng) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = work / "shards"
    folder.mkdir()
    per = n_rows // count
    for k in range(count):
        y = rng.standard_normal(per)
        table = pa.table(
            {
                "id": pa.array(np.arange(k * per, (k + 1) * per)),
                "yhat": pa.array(y + 0.1 * rng.standard_normal(per)),
                "y": pa.array(y),
            }
        )
        pq.write_table(table, folder / f"part-{k:03d}.parquet")
    return folder


def _dask_row(local_cmd: list[str], env: dict[str, str], repeat: int) -> dict:
    """--engine dask on a 2-worker LocalCluster: its time, and whether its value equals the
    local engine's."""
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return {"name": "--engine dask", "skipped": "dask[distributed] is not installed"}
    dask_cmd = [*local_cmd, "--engine", "dask"]
    values = []
    for cmd in (local_cmd, dask_cmd):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        if r.returncode:
            return {"name": "--engine dask", "skipped": r.stderr.strip().splitlines()[-1]}
        values.append(float(r.stdout.split()[0]))
    times = [run_once(dask_cmd, env)[0] for _ in range(repeat)]
    same = abs(values[0] - values[1]) <= 1e-12 * abs(values[0])
    return {
        "name": "the same shards, --engine dask (LocalCluster, 2 workers)",
        "ours": statistics.median(times),
        "goal": f"same value: {'yes' if same else f'NO ({values[1]!r} vs {values[0]!r})'}",
    }


# the rows --only can pick, in the order they run
ROWS = (
    "startup", "npy", "convention", "csv", "ce", "scored", "top", "stdin", "parquet-ce",
    "shards", "dask", "check", "parquet-pair",
)  # fmt: skip


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    versions = [f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    for module in ("pandas", "torch"):
        with contextlib.suppress(ImportError):
            versions.append(f"{module} {__import__(module).__version__}")
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; {platform.system()}; " + ", ".join(
        versions
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--repeat", type=int, default=None, help="runs of each command")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument(
        "--only",
        default=",".join(ROWS),
        help=f"comma-separated rows to run (default all): {', '.join(ROWS)}",
    )
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    if chosen - set(ROWS):
        parser.error(f"--only: unknown rows {', '.join(sorted(chosen - set(ROWS)))}")

    def want(*keys: str) -> bool:
        return bool(chosen.intersection(keys))

    quick = args.quick
    repeat = args.repeat or (3 if quick else 5)

    work = Path(tempfile.mkdtemp(prefix="losscli-bench-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: byte-code cached after a first run
    py = sys.executable
    runner = work / "runner.py"
    runner.write_text(RUNNER)
    for name, code in BASELINES.items():
        (work / name).write_text(textwrap.dedent(code))

    def losscli(*a):
        return [py, str(runner), "module", "losscli", *map(str, a)]

    def script(name, *a):
        return [py, str(runner), "path", str(work / name), *map(str, a)]

    def piped(path, cmd):  # `cat PATH | CMD`: stdin a real pipe
        return ["sh", "-c", 'cat "$0" | "$@"', str(path), *cmd]

    rng = np.random.default_rng(0)
    rows = []
    try:
        print("generating data …", file=sys.stderr)
        for name in ("p10.csv", "t10.csv"):
            np.savetxt(work / name, rng.random((10, 1)), delimiter=",")
        n = 10**6 if quick else 10**8
        for name in ("a.npy", "b.npy") if want("npy", "convention") else ():
            out = np.lib.format.open_memmap(work / name, "w+", np.float64, (n,))
            for i in range(0, n, 1 << 22):
                out[i : i + (1 << 22)] = rng.standard_normal(min(1 << 22, n - i))
            out.flush()
            del out
        csv_rows = 25_000 if quick else 1_250_000  # ~100 MB per file, ~200 MB together
        for name in ("p.csv", "t.csv") if want("csv") else ():
            np.savetxt(
                work / name,
                rng.standard_normal((csv_rows, 4)),
                delimiter=",",
                fmt="%.17g",
                header="a,b,c,d",
                comments="",
            )
        ce_rows = 10_000 if quick else 1_000_000
        if want("ce"):
            np.save(work / "z.npy", rng.standard_normal((ce_rows, 100)))
            np.save(work / "y.npy", rng.integers(0, 100, ce_rows))
        np.save(work / "zc.npy", rng.standard_normal((10_000, 100)))
        np.save(work / "yc.npy", rng.integers(0, 100, 10_000))

        scored = {}  # one scored table: id, yhat, y (the everyday pipeline input)
        sizes = (100_000, 1_000_000) if quick else (1_000_000, 10_000_000)
        for n_rows in sizes if want("scored", "top", "stdin") else ():
            scored[n_rows] = _scored_table(work, n_rows, rng)
        if want("parquet-ce"):
            ce_table = _logit_table(work, ce_rows, rng)
        if want("shards", "dask"):
            shards = _shards(work, sizes[1], 20, rng)

        one_file = ("--pred-col", "yhat", "--target-col", "y")
        # warm-up: byte-code caches and the page cache
        for cmd in (losscli("--version"), losscli("mse", work / "p10.csv", work / "t10.csv")):
            run_once(cmd, env)

        print("running …", file=sys.stderr)
        numpy_import = [py, "-c", "import numpy"]
        if want("startup"):
            rows.append(
                pair(
                    "start-up: losscli --version vs python -c 'import numpy'",
                    losscli("--version"),
                    numpy_import,
                    env,
                    max(repeat, 11),
                    "≤ 2.0",
                )
            )
            rows.append(
                pair(
                    "start-up: losscli mse on 10-row CSVs vs python -c 'import numpy'",
                    losscli("mse", work / "p10.csv", work / "t10.csv"),
                    numpy_import,
                    env,
                    max(repeat, 11),
                    "≤ 2.0",
                )
            )
        if want("npy"):
            rows.append(
                pair(
                    f"MSE, two {n:.0e}-element NPY files vs numpy mmap + chunks",
                    losscli("mse", work / "a.npy", work / "b.npy"),
                    script("mmap_mse.py", work / "a.npy", work / "b.npy"),
                    env,
                    repeat,
                    "≤ 1.2, ≤ 256 MiB",
                )
            )
        if want("convention"):  # streamed as the torch run is: its memory, not the rows'
            rows.append(
                pair(
                    f"MSE --convention sklearn, two {n:.0e}-element NPY files vs the torch run",
                    losscli("mse", work / "a.npy", work / "b.npy", "--convention", "sklearn"),
                    losscli("mse", work / "a.npy", work / "b.npy"),
                    env,
                    repeat,
                    "≤ 256 MiB",
                )
            )
        if want("csv"):
            size = (work / "p.csv").stat().st_size + (work / "t.csv").stat().st_size
            rows.append(
                pair(
                    f"MSE, two CSVs ({size / 1e6:.0f} MB) vs pandas.read_csv + numpy",
                    losscli("mse", work / "p.csv", work / "t.csv"),
                    script("pandas_mse.py", work / "p.csv", work / "t.csv"),
                    env,
                    repeat,
                    "≤ 1.15, bounded",
                )
            )
        if want("ce"):
            try:
                import torch  # noqa: F401

                rows.append(
                    pair(
                        f"CE + gradient, ({ce_rows} × 100) logits vs torch (CPU, 2 threads)",
                        losscli(
                            "ce",
                            work / "z.npy",
                            work / "y.npy",
                            "--logits",
                            "--grad-out",
                            work / "g1.npy",
                        ),
                        script("torch_ce.py", work / "z.npy", work / "y.npy", work / "g2.npy"),
                        env,
                        repeat,
                        "≤ 0.75, < ½ memory",
                    )
                )
            except ImportError:
                rows.append(
                    {"name": "CE + gradient vs torch", "skipped": "torch is not importable"}
                )
        one_file = ("--pred-col", "yhat", "--target-col", "y")
        if want("parquet-pair"):  # two Parquet files, streamed in lockstep past 64 MiB
            import pyarrow as pa
            import pyarrow.parquet as pq

            pair_rows = 2_000_000 if quick else 20_000_000
            for name, column in (("pp.parquet", "yhat"), ("tp.parquet", "y")):
                pq.write_table(pa.table({column: rng.standard_normal(pair_rows)}), work / name)
            rows.append(
                pair(
                    f"MSE, two {pair_rows:,}-row Parquet files vs pandas.read_parquet + numpy",
                    losscli("mse", work / "pp.parquet", work / "tp.parquet"),
                    script("pandas_parquet_pair_mse.py", work / "pp.parquet", work / "tp.parquet"),
                    env,
                    repeat,
                    "≤ 1.2, ≤ 256 MiB, flat",
                )
            )
        if want("scored"):
            for n_rows, (csv_path, parquet_path) in scored.items():
                rows.append(
                    pair(
                        f"one-file mse, {n_rows:,}-row id,yhat,y CSV vs pandas.read_csv + numpy",
                        losscli("mse", csv_path, *one_file),
                        script("pandas_scored_mse.py", csv_path),
                        env,
                        repeat,
                        "≤ 1.2, ≤ 256 MiB, flat",
                    )
                )
                rows.append(
                    pair(
                        f"one-file mse, {n_rows:,}-row Parquet vs pandas.read_parquet + numpy",
                        losscli("mse", parquet_path, *one_file),
                        script("pandas_parquet_mse.py", parquet_path),
                        env,
                        repeat,
                        "≤ 1.2, ≤ 256 MiB, flat",
                    )
                )
        if want("top"):
            big_csv = scored[sizes[1]][0]
            runs = [
                run_once(losscli("mse", big_csv, *one_file, "--top", "10", "--hist"), env)
                for _ in range(repeat)
            ]
            times, peaks = [t for t, _ in runs], [m for _, m in runs]
            rows.append(
                {
                    "name": f"one-file mse --top 10 --hist, {sizes[1]:,}-row CSV",
                    "ours": statistics.median(times),
                    "ours_mib": statistics.median(peaks),
                    "goal": "≤ 256 MiB",
                }
            )
        if want("stdin"):
            rows.append(
                pair(
                    f"one-file mse, {sizes[1]:,}-row CSV piped to stdin vs the same file",
                    piped(scored[sizes[1]][0], losscli("mse", "-", *one_file)),
                    losscli("mse", scored[sizes[1]][0], *one_file),
                    env,
                    repeat,
                    "≤ 1.3 (stdin is copied to $TMPDIR first), memory as the file's",
                )
            )
        if want("parquet-ce"):
            try:
                import torch  # noqa: F401

                rows.append(
                    pair(
                        f"one-file ce --logits + gradient, Parquet ({ce_rows:,} × 100 logits "
                        "+ label) vs pandas.read_parquet + torch",
                        losscli(
                            "ce",
                            ce_table,
                            "--pred-col",
                            "logit_*",
                            "--target-col",
                            "label",
                            "--logits",
                            "--grad-out",
                            work / "g3.npy",
                        ),
                        script("torch_parquet_ce.py", ce_table, work / "g4.npy"),
                        env,
                        repeat,
                        "< 1.0, < ½ memory",
                    )
                )
            except ImportError:
                rows.append({"name": "one-file ce vs torch", "skipped": "torch is not importable"})
        if want("shards"):
            rows.append(
                pair(
                    f"20 Parquet shards ({sizes[1]:,} rows), --engine local vs "
                    "pyarrow.dataset + numpy",
                    losscli("mse", shards, *one_file),
                    script("dataset_mse.py", shards),
                    env,
                    repeat,
                    "≤ 1.15",
                )
            )
        if want("dask"):
            rows.append(_dask_row(losscli("mse", shards, *one_file), env, repeat))
        if want("check"):
            rows.append(
                pair(
                    "--check on (10000 × 100) logits vs numpy central differences (2·C passes)",
                    losscli("ce", work / "zc.npy", work / "yc.npy", "--logits", "--check"),
                    script("numpy_check.py", work / "zc.npy", work / "yc.npy"),
                    env,
                    repeat,
                    "< 1 s (on AVX-512; numpy's float64 exp is scalar without it), ≤ 1.5",
                )
            )
    finally:
        if args.keep:
            print(f"data kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\n{time.strftime('%Y-%m-%d')} — {machine()}\n")
    print("| benchmark | losscli | baseline | ratio | peak MiB (losscli / baseline) | goal |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['name']} | — | — | — | — | skipped: {r['skipped']} |")
        elif "theirs" not in r:
            mib = f"{r['ours_mib']} / —" if "ours_mib" in r else "—"
            print(f"| {r['name']} | {r['ours']:.3f} s | — | — | {mib} | {r['goal']} |")
        else:
            print(
                f"| {r['name']} | {r['ours']:.3f} s | {r['theirs']:.3f} s | "
                f"{r['ratio']:.2f} | {r['ours_mib']} / {r['theirs_mib']} | {r['goal']} |"
            )


if __name__ == "__main__":
    main()
