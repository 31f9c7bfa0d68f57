"""``losscli explain LOSS``: a loss's derivation (Markdown, one file per loss under
``losscli/derivations/``) followed by a small worked example that losscli computes as it runs.

Pure: returns Markdown text; :func:`losscli.render.render_markdown` shows it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .gradcheck import gradcheck
from .losses import Loss

__all__ = ["derivation", "explain", "worked_example"]

DERIVATIONS = Path(__file__).resolve().parent / "derivations"


def derivation(loss: Loss) -> str:
    """The loss's own derivation text, or its one-line formulas when it has none yet."""
    path = DERIVATIONS / f"{loss.name}.md"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return (
        f"# {loss.name} — {loss.summary}\n\n{loss.formula}.\n\n"
        f"Gradient: {loss.gradient_formula}.\n\nMatches {loss.reference}.\n"
    )


def explain(loss: Loss) -> str:
    """The derivation, then the worked example."""
    parts = [derivation(loss).rstrip()]
    if loss.example is not None:
        parts.append(worked_example(loss))
    parts.append(f"Matches `{loss.reference}`.")
    return "\n\n".join(parts) + "\n"


def _num(x: float) -> str:
    return f"{float(x):.6g}"


def _row(values: Any) -> str:
    return ", ".join(_num(v) for v in np.atleast_1d(values))


def _flags(loss: Loss, options: dict[str, Any]) -> list[str]:
    flags = []
    for param in loss.params:
        if param.name not in options:
            continue
        value = options[param.name]
        if param.type is bool:
            on, _, off = param.flag.partition("/")  # "--logits/--probabilities": a flag pair
            if value or off:
                flags.append(on if value else off)
        else:
            text = ",".join(_num(v) for v in value) if isinstance(value, list) else _num(value)
            flags.append(f"{param.flag} {text}")
    return flags


def worked_example(loss: Loss) -> str:
    """A tiny example, computed now: inputs, row losses, the mean loss, its gradient, and
    the finite-difference check of that gradient."""
    preds, targets, options = loss.example
    options = dict(options)
    reduction = "batchmean" if "batchmean" in loss.reductions else "mean"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = loss.prepare_inputs(preds, targets, **options)
        value, grad = loss.reduce_both(prepared, reduction=reduction)
        rows = loss.reduce_values(prepared, reduction="none")
        check = gradcheck(loss, None, None, prepared=prepared, analytic=grad, reduction=reduction)
    p = prepared.predictions.reshape(len(prepared.predictions), -1)
    t = np.asarray(targets, dtype=np.float64).reshape(len(p), -1)
    flags = _flags(loss, options) + ([] if reduction == "mean" else ["--reduction", reduction])
    shape = " × ".join(str(n) for n in prepared.predictions.shape)
    given = f" and options `{' '.join(flags)}`" if flags else ""
    lines = [
        "## Worked example (computed by losscli as you read this)",
        "",
        f"Predictions ({shape}), targets{given}:",
        "",
        "| row | predictions | targets | row loss |",
        "|---:|---|---|---:|",
    ]
    for i in range(len(p)):
        lines.append(f"| {i} | {_row(p[i])} | {_row(t[i])} | {_num(rows[i])} |")
    lines += [
        "",
        f"Loss with reduction `{reduction}`: **{_num(value)}**",
        "",
        "Gradient of that loss with respect to the predictions:",
        "",
    ]
    g = grad.reshape(len(grad), -1)
    lines.append("| row | " + " | ".join(f"∂L/∂x[{j}]" for j in range(g.shape[1])) + " |")
    lines.append("|---:|" + "---:|" * g.shape[1])
    for i in range(len(g)):
        lines.append(f"| {i} | " + " | ".join(_num(v) for v in g[i]) + " |")
    verdict = "agree" if check.passed else "DISAGREE"
    lines += [
        "",
        f"Central finite differences (h = {check.eps:g}) {verdict} with it: max abs error "
        f"{check.max_abs_err:.1e} over {check.checked} elements.",
        "",
        f"Try it: `losscli {loss.name} PREDS TARGETS {' '.join(flags + ['--grad', '--check'])}`",
    ]
    return "\n".join(lines)
