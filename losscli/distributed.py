"""``--engine dask``: the same block function over the shards, as Dask tasks.

Each task opens one shard with :mod:`losscli.sources` and folds :func:`losscli.engine.fold`
(:func:`~losscli.engine.partial` per block) over its blocks into one state; the client merges
the states in shard order, each renumbered by the rows of the shards before
(:meth:`~losscli.engine.State.shifted`: its top-K rows and the rows its decisions name). The
float sums are :class:`~losscli.states.ExactSum` values, so the value is bit-equal to
``--engine local`` on the same shards. A
histogram is a range round and then a counts round (one round with ``--range``).

Shards are local paths (seen by the workers) or fsspec URLs (``s3://…``, ``gs://…``,
``file://…``, ``memory://…``): a task copies a remote shard to a temporary file and reads that.

Imported only when ``--engine dask`` is asked (Dask is an extra:
``pip install '.[dask]'`` from a checkout, or ``pip install 'dask[distributed]'``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import io as lio
from . import sources as src
from .engine import State, WarningTally, finish_value, fold, report_of
from .errors import InputError, LossCliError, UsageError
from .states import histogram_edges, merge_all

__all__ = ["evaluate_dask", "list_shards", "shard_state", "ShardResult", "TIMEOUT_SECONDS"]

INSTALL = "pip install 'dask[distributed]' (from a checkout of losscli: pip install '.[dask]')"
TIMEOUT_SECONDS = 10.0  # to reach a scheduler; LOSSCLI_DASK_TIMEOUT (seconds) overrides it


@dataclass(frozen=True, eq=False)
class ShardResult:
    """What one task sends back: the shard's state (and range or histogram counts), its rows
    and the layout of its columns (checked equal across shards on the client)."""

    shard: str
    state: State | None
    extra: Any
    columns: Any
    layout: src.ShardLayout
    warnings: tuple[Warning, ...] = ()  # its LossCli warnings, counted ones added up


def shard_state(
    shard: str,
    *,
    loss: Any,
    selection: dict[str, Any],
    options: dict[str, Any],
    reduction: str,
    top: int | None,
    span: bool,
    edges: np.ndarray | None,
) -> ShardResult:
    """One task: read the shard block by block and fold the block function over it."""
    tally = WarningTally()  # a worker's warnings would be lost: they go back with the state
    with _local_copy(shard) as local:
        try:
            inputs = src.TableInputs([local], shard, selection)
            try:
                state, extra = fold(
                    loss,
                    inputs.blocks(),
                    reduction=reduction,
                    top=top,
                    span=span,
                    edges=edges,
                    source=shard,
                    tally=tally,
                    **options,
                )
            finally:
                inputs.close()
        except InputError as e:
            if e.source in (None, local):
                e.source = shard
            raise
        return ShardResult(
            shard, state, extra, inputs.columns, replace(inputs.layout(), path=shard),
            tally.found(),
        )  # fmt: skip


def _is_url(path: str) -> bool:
    return "://" in path


@contextlib.contextmanager
def _local_copy(shard: str) -> Iterator[str]:
    """The shard as a local path: itself, a ``file://`` URL's path, or a temporary copy of a
    remote file (same name, so its extension says how to read it)."""
    if not _is_url(shard):
        yield shard
        return
    fsspec = _fsspec()
    fs, path = fsspec.core.url_to_fs(shard)
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if "file" in protocols:
        yield path
        return
    folder = tempfile.mkdtemp(prefix="losscli-shard-")
    local = os.path.join(folder, os.path.basename(path.rstrip("/")) or "shard")
    try:
        try:
            with fs.open(path, "rb") as f, open(local, "wb") as out:
                shutil.copyfileobj(f, out, 1 << 20)
        except FileNotFoundError:
            raise InputError("no such file", source=shard, role="predictions") from None
        except OSError as e:
            raise InputError(f"cannot read it ({e})", source=shard, role="predictions") from None
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError:
        raise UsageError(f"URLs are read through fsspec: {INSTALL}") from None
    return fsspec


def list_shards(path: str) -> list[str]:
    """The shards a path, folder, glob or fsspec URL names, sorted."""
    if not _is_url(path):
        return src.expand_shards(path) or [path]
    fs, root = _fsspec().core.url_to_fs(path)
    if fs.isdir(root):
        found = fs.ls(root, detail=False)
        names = [
            p
            for p in found
            if not os.path.basename(p).startswith((".", "_"))
            and lio.split_extension(p)[0] in src.SHARD_EXTENSIONS
        ]
        if not names:
            raise InputError("folder holds no CSV, TSV, NPY or Parquet files", source=path)
    elif any(c in root for c in "*?[") and not fs.exists(root):
        names = fs.glob(root)
        if not names:
            raise InputError("no file matches this pattern", source=path)
    else:
        return [path]
    return sorted(fs.unstrip_protocol(p) for p in names)


# --------------------------------------------------------------------------- the client


def evaluate_dask(
    loss: Any,
    predictions: Any,
    targets: Any,
    *,
    selection: dict[str, Any],
    options: dict[str, Any],
    reduction: str,
    top: int | None,
    bins: int | None,
    hist_range: tuple[float, float] | None,
    scheduler: str | None,
) -> Any:
    """:func:`losscli.evaluate` with ``engine="dask"``: value, top-K, histogram."""
    if targets is not None or not isinstance(predictions, str | os.PathLike):
        raise UsageError(
            "--engine dask reads one table or a folder or glob of shards: give PREDS alone "
            "with --pred-col/--target-col"
        )
    if not (selection["pred_cols"] or selection["target_cols"]):
        raise UsageError(
            "with one file, say which columns are which: --pred-col and/or --target-col"
        )
    display = os.fsdecode(predictions)
    if display == "-":
        raise UsageError("--engine dask reads files, not stdin (-): give a path or a URL")
    shards = list_shards(display)
    _check_layouts_here(shards, display, selection)
    edges = None
    if bins is not None and hist_range is not None:
        edges = histogram_edges(float(hist_range[0]), float(hist_range[1]), bins)
    task = {"loss": loss, "selection": selection, "options": options, "reduction": reduction}
    with _client(scheduler) as client:
        results = _round(
            client, shards, **task, top=top, span=bins is not None and edges is None, edges=edges
        )
        _same_layout(results)
        state = None
        offset = 0
        tally = WarningTally()  # the shards' warnings, added up as a streamed run's
        for r in results:
            if r.state is None:
                continue
            part = r.state.shifted(offset) if offset else r.state
            state = part if state is None else state.merge(part)
            tally.take(r.warnings, offset)
            offset += r.state.rows
        tally.rows = offset
        tally.say()
        if state is None:
            raise InputError("has no rows", source=display, role="predictions")
        hist = None
        if bins is not None:
            if edges is None:
                span = merge_all(r.extra for r in results if r.extra is not None)
                edges = histogram_edges(span.lo, span.hi, bins)
                results = _round(client, shards, **task, top=None, span=False, edges=edges)
            hist = merge_all(r.extra for r in results if r.extra is not None).result()
    value = finish_value(loss, state, reduction)
    ids = None
    if state.top is not None and state.top.ids is not None:
        ids = dict(zip(state.top.rows.tolist(), state.top.ids, strict=True))
    names = {"predictions": display, "targets": display}
    return report_of(
        loss, state, reduction, value, None, names, hist=hist, ids=ids, columns=results[0].columns
    )


def _check_layouts_here(shards: list[str], display: str, selection: dict[str, Any]) -> None:
    """Shards this process can read cheaply (Parquet footers, a text file's first rows) are
    checked here, before any task, as ``--engine local`` checks them; the tasks check the
    rest (remote URLs, compressed files)."""
    for shard in shards:
        ext, compression = lio.split_extension(shard)
        if _is_url(shard) or compression or ext == ".npy" or not os.path.isfile(shard):
            return
    src.TableInputs(shards, display, selection).close()


def _same_layout(results: list[ShardResult]) -> None:
    for r in results[1:]:
        src.same_layout(results[0].layout, r.layout)


def _round(client: Any, shards: list[str], **task: Any) -> list[ShardResult]:
    """One task per shard; their results in shard order, or one clear error."""
    from distributed import KilledWorker

    run = uuid.uuid4().hex[:8]
    keys = [f"losscli-{run}-{k}" for k in range(len(shards))]
    futures = client.map(shard_state, shards, key=keys, pure=False, **task)
    try:
        return client.gather(futures)
    except LossCliError:
        raise
    except KilledWorker as e:
        shard = _shard_of(e.args[0] if e.args else "", keys, shards)
        raise LossCliError(
            f"a Dask worker died while computing {shard}; nothing was written — check the "
            "workers' memory and logs, then run again"
        ) from None
    except Exception as e:  # a task failed in a way losscli does not word itself
        raise LossCliError(
            f"a Dask task failed ({type(e).__name__}: {e}); is losscli installed on every worker?"
        ) from None
    finally:
        client.cancel(futures)


def _shard_of(key: Any, keys: list[str], shards: list[str]) -> str:
    key = str(key)
    return next((s for k, s in zip(keys, shards, strict=True) if k in key), "a shard")


@contextlib.contextmanager
def _client(scheduler: str | None) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler``, or of a local cluster (2 worker processes,
    one thread each) started for this run and closed after it."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(f"--engine dask needs Dask's distributed scheduler: {INSTALL}") from None
    timeout = _timeout()
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise LossCliError(
                f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s "
                f"({reason}); check --scheduler, or leave it out to start a local cluster"
            ) from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _timeout() -> float:
    text = os.environ.get("LOSSCLI_DASK_TIMEOUT")
    if text is None:
        return TIMEOUT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UsageError(f"LOSSCLI_DASK_TIMEOUT takes a number of seconds, got {text!r}")
    return value
