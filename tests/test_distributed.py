"""``--engine dask``: the same block function as Dask tasks on a real LocalCluster.

One cluster (2 worker processes, one thread each) serves the whole module. The Dask engine's
value is bit-equal to the local engine's on the same shards (the sums are ExactSum states, so
the merge order does not matter), and both equal a hand-written fsum to 1e-12; top-K rows,
ids and histograms are identical.
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import losscli
import losscli.distributed as dist
from losscli.cli import app

distributed = pytest.importorskip("distributed")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

runner = CliRunner()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLS = ["--pred-col", "logit_*", "--target-col", "label", "--id-col", "id", "--logits"]


@pytest.fixture(scope="module")
def cluster():
    import dask

    # the workers import losscli from this checkout
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = ROOT + ("" if old is None else os.pathsep + old)
    # a worker that dies fails its task at once (no retries on the other worker)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        c = distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
        )
    client = distributed.Client(c)
    yield c.scheduler_address, client
    client.close()
    c.close()
    if old is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = old


@pytest.fixture
def shards(tmp_path):
    """(N × 3) logits, labels, ids, weights as 4 Parquet shards (uneven) and 3 CSV shards."""
    rng = np.random.default_rng(21)
    n = 311
    z, y, w = rng.standard_normal((n, 3)) * 2, rng.integers(0, 3, n), rng.random(n) + 0.5
    ids = [f"r{i}" for i in range(n)]
    (tmp_path / "pq").mkdir()
    (tmp_path / "csv").mkdir()
    for k, part in enumerate(np.split(np.arange(n), [40, 41, 200])):
        columns = {"id": [ids[i] for i in part]}
        columns.update({f"logit_{j}": z[part, j] for j in range(3)})
        columns.update({"label": y[part], "w": w[part]})
        pq.write_table(pa.table(columns), tmp_path / "pq" / f"part-{k}.parquet", row_group_size=17)
    for k, part in enumerate(np.array_split(np.arange(n), 3)):
        with open(tmp_path / "csv" / f"part-{k}.csv", "w") as f:
            f.write("id,logit_0,logit_1,logit_2,label,w\n")
            for i in part:
                cells = [ids[i], *(repr(float(v)) for v in z[i]), str(y[i]), repr(float(w[i]))]
                f.write(",".join(cells) + "\n")
    return tmp_path, z, y, w


def _ce_rows(z, y):
    """Hand-written per-row cross-entropy with logits (log-sum-exp, max shift)."""
    m = z.max(axis=1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    return lse - z[np.arange(len(y)), y]


@pytest.mark.parametrize("folder", ["pq", "csv/*.csv"])
@pytest.mark.parametrize("weighted", [False, True])
def test_dask_equals_local_bit_for_bit(cluster, shards, folder, weighted):
    root, z, y, w = shards
    address, _ = cluster
    extra = {"weight_col": "w"} if weighted else {}
    common = dict(
        pred_cols=["logit_*"], target_cols=["label"], id_col="id", top=5, bins=7, logits=True
    )
    local = losscli.evaluate("ce", str(root / folder), **common, **extra)
    far = losscli.evaluate(
        "ce", str(root / folder), **common, **extra, engine="dask", scheduler=address
    )
    assert far.value == local.value  # bit-equal: the same ExactSum merge
    rows = _ce_rows(z, y)
    s = w if weighted else np.ones_like(rows)
    expected = math.fsum(rows * s) / math.fsum(s)
    assert far.value == pytest.approx(expected, rel=1e-12)
    assert far.top.rows.tolist() == local.top.rows.tolist()
    assert far.top.loss.tolist() == local.top.loss.tolist()
    assert far.top.rows.tolist() == np.argsort(-(rows * s), kind="stable")[:5].tolist()
    assert far.ids == local.ids == {int(i): f"r{i}" for i in far.top.rows}
    assert far.hist.counts.tolist() == local.hist.counts.tolist()
    assert far.hist.edges.tolist() == local.hist.edges.tolist()
    assert sum(far.hist.counts) == len(y)
    assert far.shape == local.shape == (len(y), 3)
    assert far.columns == local.columns


def test_cli_dask_prints_what_local_prints(cluster, shards):
    root, *_ = shards
    address, _ = cluster
    args = ["ce", str(root / "pq"), *COLS, "--top", "3", "--range", "0,6", "--bins", "4"]
    local = runner.invoke(app, [*args, "-f", "json"])
    far = runner.invoke(app, [*args, "-f", "json", "--engine", "dask", "--scheduler", address])
    assert (far.exit_code, far.stderr) == (0, "")
    assert far.stdout == local.stdout
    assert json.loads(far.stdout)["hist"]["edges"] == [0.0, 1.5, 3.0, 4.5, 6.0]


def test_fsspec_file_and_memory_urls(cluster, shards):
    fsspec = pytest.importorskip("fsspec")
    root, *_ = shards
    address, client = cluster
    expected = losscli.evaluate(
        "ce", str(root / "pq"), pred_cols=["logit_*"], target_cols=["label"], logits=True
    )
    url = (root / "pq").as_uri()  # file:///…/pq
    got = losscli.evaluate(
        "ce", url, pred_cols=["logit_*"], target_cols=["label"], logits=True,
        engine="dask", scheduler=address,
    )  # fmt: skip
    assert got.value == expected.value
    # memory:// lives in each process: put the shards in the client's and every worker's
    files = {p.name: p.read_bytes() for p in sorted((root / "pq").iterdir())}

    def put(files=files):
        import fsspec

        fs = fsspec.filesystem("memory")
        for name, data in files.items():
            with fs.open(f"/losscli-test/{name}", "wb") as f:
                f.write(data)

    put()
    client.run(put)
    got = losscli.evaluate(
        "ce", "memory://losscli-test/part-*.parquet", pred_cols=["logit_*"],
        target_cols=["label"], logits=True, engine="dask", scheduler=address,
    )  # fmt: skip
    assert got.value == expected.value
    assert dist.list_shards("memory://losscli-test") == [
        f"memory:///losscli-test/part-{k}.parquet" for k in range(4)
    ]
    fsspec.filesystem("memory").rm("/losscli-test", recursive=True)


def test_a_bad_shard_names_it_and_its_row(cluster, shards):
    root, *_ = shards
    address, _ = cluster
    path = root / "csv" / "part-1.csv"
    lines = path.read_text().splitlines()
    cells = lines[4].split(",")
    cells[4] = "7"  # data row 3 of the shard: a class that does not exist
    lines[4] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    r = runner.invoke(
        app, ["ce", str(root / "csv"), *COLS, "--engine", "dask", "--scheduler", address]
    )
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {path}: class index 7 at (row 3) is out of range for 3 classes (valid: 0 to 2)\n"
    )


def test_shards_with_different_columns_name_both(cluster, shards):
    root, *_ = shards
    address, _ = cluster
    first, second = root / "pq" / "part-0.parquet", root / "pq" / "part-2.parquet"
    t = pq.read_table(second)
    pq.write_table(t.rename_columns(["id", "logit_0", "logit_1", "logit_2", "label", "wt"]), second)
    args = ["ce", str(root / "pq"), *COLS, "--engine", "dask", "--scheduler", address]
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {second}: its columns differ from those of {first}: [id, logit_0, logit_1, "
        "logit_2, label, wt] vs [id, logit_0, logit_1, logit_2, label, w]; every shard must hold "
        "the same columns\n"
    )
    # the same check done by the tasks (shards this process cannot read cheaply, e.g. URLs)
    with pytest.raises(losscli.InputError, match="its columns differ"):
        losscli.evaluate(
            "ce", (root / "pq").as_uri(), pred_cols=["logit_*"], target_cols=["label"],
            logits=True, engine="dask", scheduler=address,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "option"),
    [
        (["-g"], "--grad"),
        (["--grad-out", "g.npy"], "--grad-out"),
        (["-c"], "--check"),
        (["--against", "g.npy"], "--against"),
        (["-r", "none"], "--reduction none"),
        (["--convention", "keras"], "--convention"),
        (["--hess"], "--hess"),
        (["--hess-out", "h.npy"], "--hess-out"),
    ],
)
def test_what_dask_does_not_do_is_a_usage_error(tmp_path, flags, option):
    r = runner.invoke(app, ["mse", str(tmp_path), "--pred-col", "a", "--engine", "dask", *flags])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"Error: {option} is not available with --engine dask (it gives the value, --top and "
        "--hist); run it with --engine local\n"
    )


def test_two_files_under_dask_is_a_usage_error(tmp_path):
    r = runner.invoke(app, ["mse", "a.npy", "b.npy", "--engine", "dask"])
    assert (r.exit_code, r.stderr) == (
        2,
        "Error: --engine dask reads one table or a folder or glob of shards: give PREDS alone "
        "with --pred-col/--target-col\n",
    )


def test_scheduler_without_dask_engine_is_a_usage_error():
    r = runner.invoke(app, ["mse", "x.csv", "--pred-col", "a", "--scheduler", "tcp://h:8786"])
    assert (r.exit_code, r.stderr) == (
        2,
        "Error: --scheduler takes the address of a Dask scheduler: add --engine dask\n",
    )


def test_without_dask_one_error_names_the_install(shards, monkeypatch):
    root, *_ = shards
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed: ImportError
    r = runner.invoke(app, ["ce", str(root / "pq"), *COLS, "--engine", "dask"])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "Error: --engine dask needs Dask's distributed scheduler: pip install "
        "'dask[distributed]' (from a checkout of losscli: pip install '.[dask]')\n"
    )


def test_a_scheduler_that_cannot_be_reached(shards, monkeypatch):
    root, *_ = shards
    monkeypatch.setenv("LOSSCLI_DASK_TIMEOUT", "1")
    out = root / "out.json"
    r = runner.invoke(
        app,
        ["ce", str(root / "pq"), *COLS, "--engine", "dask", "--scheduler", "tcp://127.0.0.1:1",
         "-o", str(out)],
    )  # fmt: skip
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(
        "Error: cannot reach the Dask scheduler at tcp://127.0.0.1:1 within 1 s ("
    )
    assert r.stderr.endswith("); check --scheduler, or leave it out to start a local cluster\n")
    assert r.stderr.count("\n") == 1 and not out.exists()


def _die(shard, **task):
    os._exit(3)


def test_a_worker_that_dies_is_one_error_and_no_output(cluster, shards, monkeypatch):
    import cloudpickle

    root, *_ = shards
    address, client = cluster
    monkeypatch.setattr(dist, "shard_state", _die)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    out = root / "out.json"
    try:
        r = runner.invoke(
            app,
            ["ce", str(root / "pq"), *COLS, "--engine", "dask", "--scheduler", address,
             "-o", str(out)],
        )  # fmt: skip
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        client.wait_for_workers(2, timeout=60)  # the nannies restart them
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(f"Error: a Dask worker died while computing {root / 'pq'}")
    assert r.stderr.endswith(
        "; nothing was written — check the workers' memory and logs, then run again\n"
    )
    assert r.stderr.count("\n") == 1 and not out.exists()


def test_no_scheduler_starts_a_local_cluster_and_closes_it(cluster, shards, monkeypatch):
    """The cluster losscli starts is the module's (starting a second one costs CI ~20 s):
    what is pinned is how it is asked for, and that it is closed after the run."""
    root, z, y, _ = shards
    address, _ = cluster
    asked = []

    class Local:
        def __init__(self, **kwargs):
            asked.append(kwargs)
            self.scheduler_address = address

        def close(self):
            asked.append("closed")

    real = distributed.Client

    def client(c, **kwargs):
        return real(c.scheduler_address, **kwargs)

    monkeypatch.setattr(distributed, "LocalCluster", Local)
    monkeypatch.setattr(distributed, "Client", client)
    got = losscli.evaluate(
        "ce", str(root / "pq"), pred_cols=["logit_*"], target_cols=["label"], logits=True,
        engine="dask",
    )  # fmt: skip
    assert got.value == pytest.approx(_ce_rows(z, y).mean(), rel=1e-12)
    assert asked[0]["n_workers"] == 2 and asked[0]["processes"] is True
    assert asked[0]["threads_per_worker"] == 1 and asked[1:] == ["closed"]


def test_labels_read_two_ways_in_two_shards_are_refused_with_rows_over_the_shards(
    cluster, tmp_path
):
    # hinge reads 0/1 labels (0 → −1) or ±1 labels: shard a holds 0s, shard b a −1 (its row 1,
    # row 3 of the whole); each task alone is fine, the client's merge of their states is not
    address, _ = cluster
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "a.csv").write_text("p,y\n0.5,0\n0.2,1\n")
    (folder / "b.csv").write_text("p,y\n0.5,1\n0.2,-1\n")
    args = ["hinge", str(folder), "--pred-col", "p", "--target-col", "y"]
    far = runner.invoke(app, [*args, "--engine", "dask", "--scheduler", address])
    assert (far.exit_code, far.stdout) == (2, "")
    assert far.stderr == (
        f"Error: {folder}: hinge labels mix 0 and −1 (first 0 at (row 0), first −1 at (row 3)); "
        "give ±1 labels, or 0/1 labels (mapped to −1/1 as Keras does)\n"
    )
    assert far.stderr == runner.invoke(app, args).stderr


def test_workers_warnings_reach_the_client_added_up_as_local(cluster, tmp_path):
    # target rows not summing to 1 (rows 1 and 4 of the whole: shard a's row 1, shard b's row
    # 1): a worker's warning was lost; now one warning, as --engine local words it
    address, _ = cluster
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "a.csv").write_text("z0,z1,y0,y1\n0,0,0.5,0.5\n0,0,1,1\n0,0,0,1\n")
    (folder / "b.csv").write_text("z0,z1,y0,y1\n0,0,1,0\n0,0,0.25,0.25\n")
    args = ["ce", str(folder), "--pred-col", "z*", "--target-col", "y*", "--logits"]
    local = runner.invoke(app, args)
    far = runner.invoke(app, [*args, "--engine", "dask", "--scheduler", address])
    expected = (
        "Warning: 2 of 5 target rows do not sum to 1 (first: row 1 sums to 2.0); the gradient "
        "takes the general form softmax(z)·Σy − y\n"
    )
    assert (far.exit_code, far.stderr, local.stderr) == (0, expected, expected)
    assert far.stdout == local.stdout
