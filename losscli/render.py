"""Formatting a result for people (rich tables) and for scripts (plain, JSON, CSV).

Knows nothing of the CLI: it takes a :class:`Report` and a text stream. rich is imported only
when a table is drawn, so scripted output never pays for it.
"""

from __future__ import annotations

import json
import math
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from .errors import UsageError
from .io import format_float
from .report import Histogram, Report, TopRows

if TYPE_CHECKING:  # annotations only: a run without --check does not import the checker
    from .gradcheck import CheckResult

__all__ = [
    "FORMATS",
    "PRINT_MAX_BYTES",
    "Report",
    "render",
    "render_listing",
    "render_markdown",
    "shown",
    "SHOW_ROWS",
]

FORMATS = ("table", "plain", "json", "csv")
SHOW_ROWS = 20  # rows of a gradient or check table shown to a person; the rest are counted
SHOW_COLS = 10


def render(report: Report, fmt: str, out: IO[str]) -> None:
    {"table": _table, "plain": _plain, "json": _json, "csv": _csv}[fmt](report, out)


# The most of a Hessian printed to stdout (larger ones go to --hess-out), as for the gradient.
PRINT_MAX_BYTES = 64 << 20


def shown(report: Report, fmt: str, *, grad: bool, hess: bool, reduction: str) -> list[str]:
    """Drop from ``report`` what was computed but not asked to be shown (the gradient of
    --grad-out alone, the Hessian of --hess-out alone) and return the notes for stderr about
    what is shown. A Hessian too large to print is refused (it goes to --hess-out)."""
    if not hess:
        report.hess = report.hess_blocks = None
    hessian = report.hess_blocks if report.hess_blocks is not None else report.hess
    if hessian is not None and hessian.size * 8 > PRINT_MAX_BYTES:
        raise UsageError(
            f"the Hessian has {hessian.size:,} values, more than losscli prints "
            f"({PRINT_MAX_BYTES >> 20} MiB); write it with --hess-out FILE.npy instead of --hess"
        )
    notes = []
    if not grad:
        report.grad = None
    elif reduction == "none" and fmt in ("plain", "csv"):
        notes.append("with --reduction none the gradient is that of each row's own loss")
    if report.hist is not None and report.hist.nonfinite and fmt != "table":
        notes.append(
            f"{report.hist.nonfinite} rows with a NaN or infinite loss are not in the histogram"
        )
    return notes


# --------------------------------------------------------------------------- scripts


def _values(report: Report) -> list[float]:
    return np.ravel(report.value).tolist()  # K-dim none values: in row-major order


def _check_summary_fields(check: CheckResult) -> dict[str, Any]:
    return {
        "passed": check.passed,
        "checked": check.checked,
        "failed": check.failed,
        "max_abs_err": check.max_abs_err,
        "max_rel_err": check.max_rel_err,
        "eps": check.eps,
        "rtol": check.rtol,
        "atol": check.atol,
    }


def _check_more_fields(check: Any) -> dict[str, Any]:
    """What a check (not --against) adds to its summary: the counts of kinks, clamped and
    uncertain elements, whether it was a sample (and of what), and where the largest errors
    are."""
    fields: dict[str, Any] = {
        "kinks": check.kinks,
        "clamped": check.clamped,
        "uncertain": check.uncertain,
        "sampled": check.sampled,
    }
    if check.sampled:
        fields["sample_rows"] = check.sample_rows
        fields["population"] = check.population
        fields["population_rows"] = check.population_rows
        fields["seed"] = check.seed
    return fields


def _check_records(check: Any, limit: int = SHOW_ROWS) -> list:
    """The worst elements (:class:`~losscli.gradcheck.Element`), worst first."""
    return check.records(limit)


def _element_json(element, ids: list[str] | None) -> dict[str, Any]:
    doc = {
        "index": list(element.index),
        **({"id": ids[element.index[0]]} if ids is not None else {}),
        "input": element.input,
        "analytic": element.analytic,
        "numeric": element.numeric,
        "abs_err": element.abs_err,
        "rel_err": element.rel_err,
        "ok": element.ok,
        "status": element.status,
        "step": element.step,
        "error": element.error,
        "ratio": element.ratio,
    }
    if element.left is not None:
        doc["left"], doc["right"] = element.left, element.right
    return _json_fields(doc)  # non-finite numbers: null and <key>_nonfinite


def _plain(report: Report, out: IO[str]) -> None:
    values = [format_float(v) for v in _values(report)]
    if report.ids is not None and report.reduction == "none":
        values = [f"{_csv_cell(i)},{v}" for i, v in zip(report.ids, values, strict=True)]
    sections = ["\n".join(values)]
    if report.grad is not None:
        sections.append(_csv_rows(report.grad, report.ids))
    if report.hess is not None:
        sections.append(_csv_rows(report.hess, report.ids))
    if report.hess_blocks is not None:
        sections.append(_blocks_plain(report.hess_blocks))
    if report.check is not None:
        sections.append(_check_plain(report.check))
    if report.hess_check is not None:
        sections.append("hessian: " + _check_plain(report.hess_check))
    if report.against is not None:
        sections.append(_against_plain(report.against))
    if report.hess_against is not None:
        sections.append(_against_plain(report.hess_against, "against-hess:"))
    if report.top is not None:
        sections.append(
            "\n".join(
                " ".join(f"{k}={_plain_value(v)}" for k, v in row.items())
                for row in _top_records(report.top, report.ids)
            )
        )
    if report.hist is not None:
        sections.append(
            "\n".join(
                f"from={format_float(lo)} to={format_float(hi)} count={n}"
                for lo, hi, n in _hist_bins(report.hist)
            )
            or "count=0"
        )
    out.write("\n\n".join(sections) + "\n")


def _check_plain(check: Any) -> str:
    """``PASS checked=… failed=… …`` (or ``FAIL …``): the summary of a check on one line."""
    fields = _check_summary_fields(check) | _check_more_fields(check)
    verdict = "PASS" if fields.pop("passed") else "FAIL"
    return " ".join([verdict] + [f"{k}={_text(v)}" for k, v in fields.items()])


def _blocks_plain(blocks: np.ndarray) -> str:
    """Each row's C × C block as C lines, the blocks one after another, row 0's first."""
    return "\n\n".join(_csv_rows(block) for block in blocks)


def _check_csv(check: Any, key: Any, row: str, names: str = "analytic,numeric") -> str:
    """The worst elements of a check, one CSV line each, under a header."""
    lines = [f"{row},col,input,{names},abs_err,rel_err,ok,status,step,error,ratio"]
    for e in _check_records(check):
        i, col = (e.index + (0,))[:2]
        numbers = (e.input, e.analytic, e.numeric, e.abs_err, e.rel_err)
        more = (e.step, e.error, e.ratio)
        cells = [key(i), str(col), *map(format_float, numbers), str(e.ok).lower(), e.status]
        lines.append(",".join(cells + [format_float(v) for v in more]))
    return "\n".join(lines)


def _csv_rows(array: np.ndarray, ids: list[str] | None = None) -> str:
    rows = array.reshape(len(array), -1)
    lines = [",".join(format_float(v) for v in row) for row in rows.tolist()]
    if ids is not None:
        lines = [f"{_csv_cell(i)},{line}" for i, line in zip(ids, lines, strict=True)]
    return "\n".join(lines)


def _csv_cell(text: str) -> str:
    """A text cell as the csv module would quote it (ids may hold commas or quotes)."""
    if any(c in text for c in ',"\r\n') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def _plain_value(v: Any) -> str:
    if isinstance(v, str):
        import shlex

        return shlex.quote(v)
    return _text(v)


def _top_records(top: TopRows, ids: list[str] | None) -> list[dict[str, Any]]:
    """One dict a row: row, id (when given), loss, then the loss's summary fields."""
    records = []
    for k, row in enumerate(top.rows.tolist()):
        record: dict[str, Any] = {"row": row}
        if ids is not None:
            record["id"] = ids[row]
        record["loss"] = float(top.loss[k])
        for name, values in top.fields.items():
            value = values[k]
            if values.ndim > 1:  # "index": the full index of a K-dim input's element
                record[name] = [int(i) for i in value]
            else:
                record[name] = int(value) if values.dtype.kind in "iu" else float(value)
        records.append(record)
    return records


def _hist_bins(hist: Histogram) -> list[tuple[float, float, int]]:
    return [
        (float(hist.edges[i]), float(hist.edges[i + 1]), int(n))
        for i, n in enumerate(hist.counts.tolist())
    ]


def _csv(report: Report, out: IO[str]) -> None:
    ids = report.ids
    row = "row,id" if ids is not None else "row"

    def key(i: int) -> str:  # the row number, and its id next to it when there are ids
        return f"{i},{_csv_cell(ids[i])}" if ids is not None else str(i)

    if report.reduction == "none":
        lines = [f"{row},value"] + [
            f"{key(i)},{format_float(v)}" for i, v in enumerate(_values(report))
        ]
    else:
        lines = ["loss,reduction,value", f"{report.loss},{report.reduction},{_text(report.value)}"]
    sections = ["\n".join(lines)]
    if report.grad is not None:
        grad = report.grad.reshape(len(report.grad), -1)
        header = f"{row}," + ",".join(f"grad_{j}" for j in range(grad.shape[1]))
        body = (f"{key(i)},{line}" for i, line in enumerate(_csv_rows(grad).split("\n")))
        sections.append("\n".join([header, *body]))
    if report.hess is not None:
        hess = report.hess.reshape(len(report.hess), -1)
        header = f"{row}," + ",".join(f"hess_{j}" for j in range(hess.shape[1]))
        body = (f"{key(i)},{line}" for i, line in enumerate(_csv_rows(hess).split("\n")))
        sections.append("\n".join([header, *body]))
    if report.hess_blocks is not None:
        c = report.hess_blocks.shape[-1]
        lines = [f"{row},k," + ",".join(f"hess_k{j}" for j in range(c))]
        for i, block in enumerate(report.hess_blocks):
            lines += [f"{key(i)},{k},{line}" for k, line in enumerate(_csv_rows(block).split("\n"))]
        sections.append("\n".join(lines))
    if report.check is not None:
        sections.append(_check_csv(report.check, key, row))
    if report.hess_check is not None:
        sections.append(_check_csv(report.hess_check, key, row, "analytic_hess,numeric_hess"))
    if report.against is not None:
        sections.append(_against_csv(report.against, ids))
    if report.hess_against is not None:
        sections.append(_against_csv(report.hess_against, ids, suffix="_hess"))
    if report.top is not None:
        records = _top_records(report.top, ids)
        names = ["row", *(["id"] if ids is not None else []), "loss", *report.top.fields]
        lines = [",".join(names)]
        lines += [
            ",".join(_csv_cell(_text(r[n])) if n in ("id", "index") else _text(r[n]) for n in names)
            for r in records
        ]
        sections.append("\n".join(lines))
    if report.hist is not None:
        lines = ["bin,from,to,count"]
        lines += [
            f"{i},{format_float(lo)},{format_float(hi)},{n}"
            for i, (lo, hi, n) in enumerate(_hist_bins(report.hist))
        ]
        sections.append("\n".join(lines))
    out.write("\n\n".join(sections) + "\n")


JSON_SCHEMA = 1  # the "schema" field of --format json; raised when a field changes meaning


def _nonfinite(x: float) -> str:
    return "nan" if math.isnan(x) else "inf" if x > 0 else "-inf"


def _json_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` made JSON-safe: a non-finite float becomes ``null`` and gains a sibling
    ``<key>_nonfinite`` saying which it was (``"nan"``, ``"inf"`` or ``"-inf"``)."""
    doc: dict[str, Any] = {}
    for k, v in fields.items():
        if isinstance(v, float) and not math.isfinite(v):
            doc[k], doc[f"{k}_nonfinite"] = None, _nonfinite(v)
        elif isinstance(v, np.ndarray):
            doc.update(_json_array(k, v))
        else:
            doc[k] = v
    return doc


def _json_index(index: tuple[int, ...] | None) -> list[int] | None:
    return None if index is None else list(index)


def _json_array(key: str, a: np.ndarray) -> dict[str, Any]:
    """``{key: nested lists}``; non-finite elements are ``null``, listed in ``<key>_nonfinite``
    as ``{"index": [i, ...], "value": "nan"|"inf"|"-inf"}``."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return {key: a.tolist()}
    listed = [
        {"index": [int(i) for i in idx], "value": _nonfinite(float(a[tuple(idx)]))}
        for idx in np.argwhere(bad)
    ]
    return {key: np.where(bad, None, a).tolist(), f"{key}_nonfinite": listed}


def _json(report: Report, out: IO[str]) -> None:
    value = report.value
    doc: dict[str, Any] = {
        "schema": JSON_SCHEMA,
        "loss": report.loss,
        "reduction": report.reduction,
        "shape": list(report.shape),
        **_json_fields({"value": value if isinstance(value, np.ndarray) else float(value)}),
    }
    per_row = report.reduction == "none" or report.grad is not None or report.hess is not None
    # ids run parallel to a per-row array; a single value has none (a streamed run keeps only
    # the ids that its top rows and check name, a dict)
    if per_row and isinstance(report.ids, list):
        doc["ids"] = report.ids
    if report.grad is not None:
        doc.update(_json_array("grad", report.grad))
        doc["grad_of"] = report.grad_of
    if report.hess is not None:
        doc.update(_json_array("hess", report.hess))
    if report.hess_blocks is not None:
        doc.update(_json_array("hess_blocks", report.hess_blocks))
    if report.check is not None:
        doc["check"] = _check_json(report.check, report.ids)
    if report.hess_check is not None:
        doc["hess_check"] = _check_json(report.hess_check, report.ids)
    if report.against is not None:
        doc["against"] = _against_json(report.against, report.ids)
    if report.hess_against is not None:
        doc["against_hess"] = _against_json(report.hess_against, report.ids)
    if report.top is not None:
        doc["top"] = [_json_fields(record) for record in _top_records(report.top, report.ids)]
    if report.hist is not None:
        doc["hist"] = {
            **_json_array("edges", report.hist.edges),
            "counts": report.hist.counts.tolist(),
            "nonfinite": report.hist.nonfinite,
        }
    doc["inputs"] = report.inputs
    if report.columns is not None:
        doc["columns"] = report.columns
    doc["details"] = _json_fields(dict(report.details))
    doc["warnings"] = list(report.warnings)
    json.dump(doc, out, allow_nan=False)
    out.write("\n")


def _check_json(check: Any, ids: list[str] | None) -> dict[str, Any]:
    """A check's summary, where its largest errors are, and its worst elements."""
    doc = _json_fields(_check_summary_fields(check) | _check_more_fields(check))
    doc["max_abs_err_at"] = _json_index(check.max_abs_err_at)
    doc["max_rel_err_at"] = _json_index(check.max_rel_err_at)
    doc["order"] = "ratio"  # |analytic − numeric| / (atol + rtol·|numeric| + error)
    doc["worst"] = [_element_json(e, ids) for e in _check_records(check)]
    return doc


def _text(v: Any) -> str:
    if isinstance(v, list):  # a full index: 0,2,1
        return ",".join(map(str, v))
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return format_float(v)
    return str(v)


# --------------------------------------------------------------------------- people


def _short(x: float) -> str:
    return f"{x:.6g}"


# Below this many columns (COLUMNS=0, a width rich cannot use) tables are drawn this wide.
MIN_WIDTH = 40


def _console(out: IO[str], highlight: bool = False):
    """A rich console on ``out``, at least MIN_WIDTH columns wide whatever COLUMNS says."""
    from rich.console import Console

    console = Console(file=out, highlight=highlight)
    if console.width < MIN_WIDTH:
        console = Console(file=out, highlight=highlight, width=MIN_WIDTH)
    return console


def _table(report: Report, out: IO[str]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console(out)
    console.print(f"[bold]{report.title}[/bold]")
    summary = Table(show_header=False)
    summary.add_column(style="bold")
    summary.add_column(overflow="fold")  # the value in full, over lines if it must
    summary.add_row("Loss", report.loss)
    summary.add_row("Reduction", report.reduction)
    summary.add_row("Shape", " × ".join(map(str, report.shape)))
    for key, text in report.details.items():
        summary.add_row(key.replace("_", " ").capitalize(), str(text))
    for role, path in report.inputs.items():
        summary.add_row(role.capitalize(), path)
    for role, names in (report.columns or {}).items():
        if names:
            label = "Id column" if role == "id" else f"{role[:-1].capitalize()} columns"
            summary.add_row(label, names if isinstance(names, str) else ", ".join(names))
    if report.reduction != "none":
        summary.add_row("Value", Text(format_float(float(report.value)), style="bold green"))
    console.print(summary)

    if report.reduction == "none":
        values = np.asarray(report.value).reshape(-1, 1)
        _array_table(console, values, "Loss of each row", ["loss"], report.ids)
    if report.grad is not None:
        title = (
            "Gradient of each row's own loss (reduction none)"
            if report.reduction == "none"
            else f"Gradient of the {report.reduction} loss w.r.t. the predictions"
        )
        _array_table(console, report.grad, title, ids=report.ids)
    if report.hess is not None:
        title = (
            "Hessian diagonal of each row's own loss (reduction none)"
            if report.reduction == "none"
            else f"Hessian diagonal of the {report.reduction} loss w.r.t. the predictions"
        )
        _array_table(console, report.hess, title, ids=report.ids, out_flag="--hess-out")
    if report.hess_blocks is not None:
        _blocks_table(console, report.hess_blocks, report.ids)
    if report.check is not None:
        _check_table(console, report.check, report.check_title, report.ids)
    if report.hess_check is not None:
        _check_table(console, report.hess_check, "Hessian check", report.ids)
    if report.against is not None:
        _against_table(console, report.against, report.ids)
    if report.hess_against is not None:
        _against_table(
            console, report.hess_against, report.ids, "Your Hessian diagonal against losscli's"
        )
    if report.top is not None:
        _top_table(console, report.top, report.ids)
    if report.hist is not None:
        _hist_table(console, report.hist)


def _table_width(widths: list[int]) -> int:
    """Characters a rich table (default box, padding 1) of columns this wide takes."""
    return 1 + sum(w + 3 for w in widths)


def _array_table(
    console,
    array: np.ndarray,
    title: str,
    names: list[str] | None = None,
    ids: list[str] | None = None,
    out_flag: str = "--grad-out",
) -> None:
    """The first rows and as many columns as fit the console (at most ``SHOW_COLS``), with
    the count of the columns and rows left out."""
    from rich.table import Table

    grid = array.reshape(len(array), -1)
    n_rows, n_cols = grid.shape
    shown_rows = min(n_rows, SHOW_ROWS)
    cells = [
        [_short(v) for v in grid[:shown_rows, j].tolist()] for j in range(min(n_cols, SHOW_COLS))
    ]
    heads = [names[j] if names else str(j) for j in range(len(cells))]
    widths = [max(len(h), *map(len, c)) for h, c in zip(heads, cells, strict=True)]
    keys = [str(i) for i in range(shown_rows)]
    fixed = [max(3, *map(len, keys))]
    if ids is not None:
        fixed.append(max(2, *(len(ids[i]) for i in range(shown_rows))))
    shown_cols = len(cells)
    while shown_cols > 1:
        more = [len(f"… {n_cols - shown_cols} more")] if n_cols > shown_cols else []
        if _table_width(fixed + widths[:shown_cols] + more) <= console.width:
            break
        shown_cols -= 1
    console.print(f"[bold]{title}[/bold]")
    table = Table()
    table.add_column("row", justify="right", style="dim")
    if ids is not None:
        table.add_column("id", style="dim")
    for j in range(shown_cols):
        table.add_column(heads[j], justify="right")
    if n_cols > shown_cols:
        table.add_column(f"… {n_cols - shown_cols} more", justify="left", style="dim")
    for i in range(shown_rows):
        key = [keys[i]] if ids is None else [keys[i], ids[i]]
        row = [cells[j][i] for j in range(shown_cols)]
        table.add_row(*key, *row, *(["…"] if n_cols > shown_cols else []))
    console.print(table)
    if n_rows > SHOW_ROWS:
        console.print(
            f"[dim]… {n_rows - SHOW_ROWS} more rows ({out_flag} FILE or --format csv for all)[/dim]"
        )


def _blocks_table(console, blocks: np.ndarray, ids: list[str] | None) -> None:
    """One small table per row: its C × C Hessian block (the first rows only)."""
    for i in range(min(len(blocks), SHOW_ROWS)):
        label = f"row {i}" + (f" ({ids[i]})" if ids is not None else "")
        _array_table(console, blocks[i], f"Hessian block of {label}", out_flag="--hess-out")
    if len(blocks) > SHOW_ROWS:
        console.print(f"[dim]… {len(blocks) - SHOW_ROWS} more blocks (--hess-out FILE.npy)[/dim]")


# The check table's columns and their priority: when the console is too narrow, the columns
# of the highest number are left out first (and named under the table); 0 always shows.
_CHECK_COLUMNS = {
    "index": 0,
    "id": 1,
    "input": 5,
    "analytic": 2,
    "numeric": 2,
    "± err": 3,
    "step": 7,
    "abs err": 6,
    "rel err": 8,
    "ratio": 4,
    "status": 0,
}
_STATUS_STYLE = {"ok": "green", "FAIL": "bold red", "kink": "yellow", "clamped": "cyan"}


def _check_cells(e, ids: list[str] | None) -> dict[str, str]:
    numeric = _short(e.numeric) if e.left is None else f"[{e.left:.3g}, {e.right:.3g}]"
    return {
        "index": str(e.index if len(e.index) > 1 else e.index[0]),
        "id": ids[e.index[0]] if ids is not None else "",
        "input": _short(e.input),
        "analytic": _short(e.analytic),
        "numeric": numeric,
        "± err": f"{e.error:.1e}",
        "step": f"{e.step:.2g}",
        "abs err": f"{e.abs_err:.2e}",
        "rel err": f"{e.rel_err:.2e}",
        "ratio": f"{e.ratio:.2g}",
        "status": e.status,
    }


def _index_text(at: tuple[int, ...]) -> str:
    return str(at if len(at) > 1 else at[0])


def _check_table(console, check, title: str, ids: list[str] | None = None) -> None:
    """Worst first (by ratio), then the elements with the largest errors when they are not
    among those; the columns that fit the console, the others named."""
    from rich.table import Table
    from rich.text import Text

    elements = _check_records(check)
    shown = {e.index for e in elements}
    extra = []
    for at in (check.max_abs_err_at, check.max_rel_err_at):
        if at is not None and at not in shown:
            shown.add(at)
            extra.append(check.record_at(at))
    everything = elements + extra
    rows = [_check_cells(e, ids) for e in everything]
    names = [name for name in _CHECK_COLUMNS if name != "id" or ids is not None]
    widths = {n: max([len(n)] + [len(r[n]) for r in rows]) for n in names}
    dropped: list[str] = []
    optional = sorted((n for n in names if _CHECK_COLUMNS[n]), key=lambda n: -_CHECK_COLUMNS[n])
    while optional and _table_width([widths[n] for n in names]) > console.width:
        victim = optional.pop(0)
        names.remove(victim)
        dropped.append(victim)
    console.print(f"[bold]{title}[/bold] (worst first, by ratio: see below)")
    table = Table()
    for name in names:
        table.add_column(name, justify="left" if name in ("id", "status") else "right")
    for k, (e, cells) in enumerate(zip(everything, rows, strict=True)):
        status = f"[{_STATUS_STYLE[e.status]}]{e.status}[/]"
        table.add_row(
            *(status if n == "status" else cells[n] for n in names),
            end_section=bool(extra) and k == len(elements) - 1,
        )
    console.print(table)
    notes = ["ratio = |analytic − numeric| ÷ (atol + rtol·|numeric| + ± err), > 1 fails"]
    if check.kinks or check.clamped:
        notes.append("kink: analytic within [left, right]; clamped: never a failure")
    if extra:
        notes.append("below the line: the element(s) of the largest abs and rel error")
    if check.checked > len(elements):
        notes.append(f"{check.checked - len(elements)} more elements not shown")
    if dropped:
        notes.append(f"columns not shown: {', '.join(dropped)} (--format csv has them)")
    if check.sampled:
        notes.append(
            f"a seeded sample: {check.sample_rows} of {check.population_rows} rows "
            f"({check.checked} of {check.population} elements), seed {check.seed}"
        )
    for note in notes:
        console.print(Text(note, style="dim"))
    verdict = "[bold green]PASS[/bold green]" if check.passed else "[bold red]FAIL[/bold red]"
    counts = f"{check.checked} elements checked, {check.failed} failed"
    if check.kinks:
        counts += f", {check.kinks} kink{'s' if check.kinks > 1 else ''}"
    if check.clamped:
        counts += f", {check.clamped} clamped"
    abs_at, rel_at = check.max_abs_err_at, check.max_rel_err_at
    console.print(f"{verdict}: {counts}")
    console.print(
        f"max abs err {check.max_abs_err:.3g}"
        f"{'' if abs_at is None else ' at ' + _index_text(abs_at)}, max rel err "
        f"{check.max_rel_err:.3g}{'' if rel_at is None else ' at ' + _index_text(rel_at)}"
    )
    console.print(
        f"[dim]step eps·max(1, |x|), eps {check.eps:g}; rtol {check.rtol:g}, "
        f"atol {check.atol:g}[/dim]"
    )


def _element_table(compared: tuple[str, ...], ids: list[str] | None):
    """The header of a check table: index (and id), the compared numbers, errors, verdict."""
    from rich.table import Table

    table = Table()
    for name in ("index", *(["id"] if ids is not None else []), *compared, "abs err", "rel err"):
        table.add_column(name, justify="left" if name == "id" else "right")
    table.add_column("", justify="right")
    return table


def _cells(
    idx: tuple[int, ...], values, ae: float, re: float, ok: bool, ids: list[str] | None = None
) -> list[str]:
    """One row of a check table: index (and id), the compared numbers, the errors, the
    verdict."""
    return [
        str(idx if len(idx) > 1 else idx[0]),
        *([ids[idx[0]]] if ids is not None else []),
        *(_short(v) for v in values),
        f"{ae:.2e}",
        f"{re:.2e}",
        "[green]✓[/green]" if ok else "[red]✗[/red]",
    ]


def _print_with_verdict(console, table, check: CheckResult, counts: str, step: str) -> None:
    console.print(table)
    if check.checked > SHOW_ROWS:
        console.print(f"[dim]… {check.checked - SHOW_ROWS} more elements not shown[/dim]")
    verdict = "[bold green]PASS[/bold green]" if check.passed else "[bold red]FAIL[/bold red]"
    console.print(
        f"{verdict}: {counts}; "
        f"max abs err {check.max_abs_err:.3g}, max rel err {check.max_rel_err:.3g} "
        f"({step}rtol {check.rtol:g}, atol {check.atol:g})"
    )


# --------------------------------------------------------------------------- --against


def _against_rows(result, limit: int | None = SHOW_ROWS):
    """(index, input, yours, analytic, numeric, abs_err, rel_err, ok), worst first."""
    yield from result.elements(result.check.checked if limit is None else limit)


def _against_plain(result, label: str = "against:") -> str:
    fields = _check_summary_fields(result.check)
    verdict = "PASS" if fields.pop("passed") else "FAIL"
    lines = [" ".join([label, verdict] + [f"{k}={_text(v)}" for k, v in fields.items()])]
    return "\n".join(lines + [f"hint: {finding}" for finding in result.findings])


def _against_csv(result, ids: list[str] | None = None, suffix: str = "") -> str:
    compared = ",".join(f"{name}{suffix}" for name in ("yours", "analytic", "numeric"))
    lines = [("row,id" if ids is not None else "row") + f",col,input,{compared},abs_err,rel_err,ok"]
    for idx, *numbers, ok in _against_rows(result):
        row, col = (idx + (0,))[:2]
        key = [str(row)] if ids is None else [str(row), _csv_cell(ids[row])]
        lines.append(",".join([*key, str(col), *map(format_float, numbers), str(ok).lower()]))
    if result.findings:
        lines += ["", "finding"] + [json.dumps(f, ensure_ascii=False) for f in result.findings]
    return "\n".join(lines)


def _against_json(result, ids: list[str] | None = None) -> dict[str, Any]:
    doc = _json_fields(_check_summary_fields(result.check))
    doc["worst"] = [
        _json_fields(
            {
                "index": list(idx),
                **({"id": ids[idx[0]]} if ids is not None else {}),
                "input": inp,
                "yours": y,
                "analytic": a,
                "numeric": n,
                "abs_err": ae,
                "rel_err": re,
                "ok": ok,
            }
        )
        for idx, inp, y, a, n, ae, re, ok in _against_rows(result)
    ]
    doc["findings"] = list(result.findings)
    doc["analytic_matches_numeric"] = result.reference_check.passed
    return doc


def _against_table(
    console, result, ids: list[str] | None = None, title: str = "Your gradient against losscli's"
) -> None:
    check = result.check
    console.print(f"[bold]{title}[/bold] (worst elements first)")
    table = _element_table(("input", "yours", "analytic", "numeric"), ids)
    for idx, inp, y, a, n, ae, re, ok in _against_rows(result):
        table.add_row(*_cells(idx, (inp, y, a, n), ae, re, ok, ids))
    counts = f"{check.checked} elements compared, {check.failed} differ"
    _print_with_verdict(console, table, check, counts, "")
    for finding in result.findings:
        console.print(f"  • {finding}", highlight=False, markup=False)


# --------------------------------------------------------------------------- list, explain


def render_listing(infos: list[dict[str, Any]], fmt: str, out: IO[str]) -> None:
    """``losscli list``: one entry per loss (:meth:`Loss.info`)."""
    if fmt == "json":
        json.dump(infos, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    if fmt in ("plain", "csv"):
        import csv

        writer = csv.writer(out, delimiter="\t" if fmt == "plain" else ",", lineterminator="\n")
        if fmt == "csv":
            writer.writerow(
                [
                    "name",
                    "aliases",
                    "formula",
                    "gradient",
                    "reference",
                    "options",
                    "hessian",
                    "conventions",
                ]
            )
        for info in infos:
            writer.writerow(
                [
                    info["name"],
                    " ".join(info["aliases"]),
                    info["formula"],
                    info["gradient"],
                    info["reference"],
                    " ".join(_option_text(o) for o in info["options"]),
                    info.get("hessian", "none"),
                    " ".join(info.get("conventions", ())),
                ]
            )
        return
    from rich.table import Table

    console = _console(out)
    console.print("[bold]Losses[/bold] (losscli explain LOSS for the derivation)")
    table = Table(show_lines=True)
    for name in ("loss", "formula", "gradient", "options", "hessian"):
        table.add_column(name)
    table.add_column("conventions", no_wrap=True)
    for info in infos:
        name = info["name"] + "".join(f"\n[dim]{a}[/dim]" for a in info["aliases"])
        options = "\n".join(_option_text(o) for o in info["options"]) or "[dim]—[/dim]"
        table.add_row(
            name,
            info["formula"],
            info["gradient"],
            options,
            info.get("hessian", "none"),
            "\n".join(info.get("conventions", ())),  # one a line: a narrow column
        )
    console.print(table)
    console.print(
        "[dim]Every loss also takes --grad, --check, --against, --reduction, --sample-weights, "
        "--format, --grad-out, --hess, --hess-out, --against-hess, --eps, --rtol, --atol.[/dim]"
    )


def _option_text(option: dict[str, Any]) -> str:
    if option["type"] == "bool":
        return option["flag"]
    value = option["type"].upper()
    if option["choices"]:
        value = "|".join(option["choices"])
    return f"{option['flag']} {value}"


def render_markdown(text: str, fmt: str, out: IO[str]) -> None:
    """Markdown for a person (rich, on a terminal) or as it is (plain), or in JSON."""
    if fmt == "json":
        json.dump({"markdown": text}, out, ensure_ascii=False)
        out.write("\n")
    elif fmt == "table":
        from rich.markdown import Markdown

        _console(out, highlight=True).print(Markdown(text))
    else:
        out.write(text if text.endswith("\n") else text + "\n")


def _top_table(console, top: TopRows, ids: list[str] | None) -> None:
    from rich.table import Table

    n = len(top.rows)
    what = "The row" if n == 1 else f"The {n} rows"
    console.print(f"[bold]{what} with the highest loss[/bold]")
    records = _top_records(top, ids)
    table = Table()
    for name in records[0] if records else ("row", "loss"):
        table.add_column(
            name,
            justify="left" if name == "id" else "right",
            style="dim" if name == "row" else None,
        )
    for record in records:
        table.add_row(
            *(
                v
                if isinstance(v, str)
                else str(v)
                if isinstance(v, int)
                else _index_text(tuple(v))
                if isinstance(v, list)
                else _short(v)
                for v in record.values()
            )
        )
    console.print(table)


BAR_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"


def _bar(count: int, most: int, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``count / most`` of ``width`` cells, in eighths of a cell."""
    eighths = round(8 * width * count / most) if most else 0
    if count and not eighths:
        eighths = 1  # a bin that holds anything shows at least a sliver
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def _hist_table(console, hist: Histogram) -> None:
    from rich.table import Table

    console.print("[bold]Histogram of the per-row losses[/bold]")
    table = Table()
    table.add_column("from", justify="right")
    table.add_column("to", justify="right")
    table.add_column("count", justify="right")
    table.add_column("", style="cyan", no_wrap=True)
    most = int(hist.counts.max()) if hist.counts.size else 0
    for lo, hi, n in _hist_bins(hist):
        table.add_row(_short(lo), _short(hi), str(n), _bar(n, most))
    console.print(table)
    if hist.nonfinite:
        console.print(f"[dim]{hist.nonfinite} rows with a NaN or infinite loss not counted[/dim]")


def render_which(
    loss: str, seen: str, tolerance: float, candidates: list[Any], fmt: str, out: IO[str]
) -> None:
    """``--which VALUE``: the conventions and mistakes that give a value, closest first
    (:func:`losscli.conventions.which`)."""
    if fmt == "json":
        json.dump(
            {
                "loss": loss,
                "seen": float(seen),
                "tolerance": tolerance,
                "candidates": [
                    {
                        "reading": c.label,
                        "value": c.value,
                        "difference": c.difference,
                        "match": c.match,
                        "reproduce": c.flags,
                    }
                    for c in candidates
                ],
            },
            out,
            ensure_ascii=False,
            indent=1,
        )
        out.write("\n")
        return
    if fmt in ("plain", "csv"):
        import csv

        writer = csv.writer(out, delimiter="\t" if fmt == "plain" else ",", lineterminator="\n")
        if fmt == "csv":
            writer.writerow(["value", "difference", "match", "reading", "reproduce"])
        for c in candidates:
            writer.writerow(
                [
                    format_float(c.value),
                    format_float(c.difference),
                    "match" if c.match else "",
                    c.label,
                    c.flags,
                ]
            )
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, highlight=False)
    matches = sum(c.match for c in candidates)
    console.print(
        f"[bold]Which reading of {loss} gives {seen}?[/bold] closest first; a match is within "
        f"±{tolerance:g}, the precision {seen} is written with "
        f"({matches} match{'es' if matches != 1 else ''})"
    )
    table = Table()
    for name in ("", "value", "difference", "reading", "reproduce with"):
        table.add_column(name, justify="right" if name in ("value", "difference") else "left")
    for c in candidates:
        table.add_row(
            "[green]✓[/green]" if c.match else "",
            f"{c.value:.10g}",
            f"{c.difference:.3g}",
            c.label,
            f"[dim]{c.flags}[/dim]",
        )
    console.print(table)
