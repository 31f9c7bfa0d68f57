"""What a run asks for, checked before anything is read: the argument checks that
:func:`losscli.evaluate` makes at its start, shared by the command line and the Python API so
both refuse the same requests with the same messages.

Stdlib only (imported by the CLI before any command runs).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import InputError, UsageError

__all__ = [
    "ARGUMENT_NAMES",
    "check_request",
    "name_the_file",
    "option_files",
    "resolve_inputs",
]

# How the command line names each input, for messages about them.
ARGUMENT_NAMES = {
    "predictions": "PREDS",
    "targets": "TARGETS",
    "sample weights": "--sample-weights",
    "gradient": "--against",
    "hessian": "--against-hess",
}


def check_request(
    loss: Any,
    *,
    inputs: Mapping[str, Any],
    one_file: bool,
    weight_col: str | None = None,
    hess: str | None = None,
    hess_out: Any = None,
    against_hess: Any = None,
) -> str | None:
    """Refuse what cannot work before reading anything; return the Hessian mode the run
    computes (``hess_out`` alone writes the diagonal, as ``grad_out`` the gradient).

    ``inputs``: role (as in :data:`ARGUMENT_NAMES`) → path or array, the inputs read once each
    (one file holding predictions and targets is the one ``predictions`` entry)."""
    if weight_col is not None and not one_file:
        raise UsageError(
            "--weight-col takes a column of the one file holding predictions and targets "
            "(PREDS alone with --pred-col/--target-col); with two files give --sample-weights"
        )
    from_stdin = [
        ARGUMENT_NAMES[role]
        for role, path in inputs.items()
        if isinstance(path, str) and path == "-"
    ]
    if len(from_stdin) > 1:
        raise UsageError(f"only one of {' and '.join(from_stdin)} can be - (stdin)")
    if hess_out is not None and hess is None:
        hess = "diag"
    if hess is not None or against_hess is not None:
        check_hess_options(loss, hess, hess_out)
    return hess


def check_hess_options(loss: Any, hess: str | None, hess_out: Any) -> None:
    """A loss without a Hessian, --hess full where there are no blocks, a --hess-out that
    cannot hold it."""
    from .hessian import check_hess_request

    check_hess_request(loss, hess)
    if hess_out is None:
        return
    suffix = Path(hess_out).suffix.lower()
    if suffix not in (".npy", ".csv", ".tsv"):
        raise UsageError(f"--hess-out must end in .npy, .csv or .tsv, got {str(hess_out)!r}")
    if hess == "full" and suffix != ".npy":
        raise UsageError("--hess full writes N × C × C blocks: give --hess-out a .npy path")


def sample_dir() -> Path:
    """Bundled sample data: inside the installed package, or the checkout's sample_data/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sample_data", here.parent / "sample_data"):
        if candidate.is_dir():
            return candidate
    raise UsageError(
        "the bundled sample data is missing from this installation; give PREDS and TARGETS"
    )


def resolve_inputs(
    loss: Any, preds: str | None, targets: str | None, options: dict, one_file: bool = False
) -> tuple[str, str]:
    """The command line's PREDS and TARGETS: both, one file holding both, or neither (the
    bundled sample data, said on stderr)."""
    if one_file and preds is not None and targets is None:
        return preds, preds  # one file holds both; --pred-col/--target-col say which is which
    if preds is None and targets is None:
        if loss.sample_data is None:
            raise UsageError(f"{loss.name} has no sample data; give PREDS and TARGETS")
        folder = sample_dir()
        preds, targets = (str(folder / name) for name in loss.sample_data(options))
        print(f"Using the bundled sample data: {preds} and {targets}", file=sys.stderr)
    elif targets is None:
        raise UsageError(
            "give both PREDS and TARGETS, or neither to use the bundled sample data "
            "(or PREDS alone with --pred-col/--target-col)"
        )
    return preds, targets


def name_the_file(exc: InputError, inputs: Mapping[str, str]) -> InputError:
    """Prefix the message with the file it is about, unless the reader already did; an error
    about no input in particular names them all, one about an option (class weights) none;
    stdin (``-``) is ``<stdin>``, as the readers name it."""
    names = {role: "<stdin>" if path == "-" else path for role, path in inputs.items()}
    if exc.source is None:
        exc.source = names.get(exc.role or "") or (
            ", ".join(dict.fromkeys(names.values())) if exc.role is None else None
        )
    return exc


def option_files(options: Mapping[str, Any]) -> list[str]:
    """Files named by a loss's options (``--class-weights w.csv``): inputs too, so never
    overwritten by an output."""
    return [v for v in options.values() if isinstance(v, str) and os.path.isfile(v)]
