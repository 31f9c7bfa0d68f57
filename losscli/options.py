"""The options of the loss commands, defined once: those every command takes, the data
pipeline's (columns, per-row reports, output, engine), other frameworks' conventions, and
each loss's own (:class:`~losscli.losses.Param`) — as :class:`inspect.Parameter` lists that
:mod:`losscli.cli` turns into typer commands, and the table of those commands, built on first
use. Only typer is imported here (start-up stays fast)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from .errors import UsageError

__all__ = [
    "APP_HELP",
    "command_help",
    "command_parameters",
    "EXPLAIN_FORMAT",
    "FORMATS",
    "FRAMEWORK_PANEL",
    "HESS_MODES",
    "hess_value",
    "LazyCommands",
    "loss_commands",
    "LIST_FORMAT",
    "PIPELINE_PANEL",
    "framework_parameters",
    "loss_parameter",
    "parse_range",
    "pipeline_parameters",
    "READING_PANEL",
    "reading_options",
    "reading_parameters",
    "shared_parameters",
    "with_conventions",
    "suggest_choice",
    "with_defaults",
]

FORMATS = ("table", "plain", "json", "csv")  # mirrors render.FORMATS without importing numpy
HESS_MODES = ("diag", "full")  # mirrors hessian.HESS_MODES without importing numpy

P = inspect.Parameter


def shared_parameters(reductions: tuple[str, ...]) -> list[inspect.Parameter]:
    """The options every loss command takes, defined once."""

    def opt(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        return P(name, P.KEYWORD_ONLY, default=default, annotation=annotation)

    return [
        opt(
            "preds",
            Annotated[
                str | None,
                typer.Argument(
                    help="Predictions: a CSV, TSV, NPY or Parquet file (CSV and TSV also "
                    "compressed: .gz, .bz2, .xz, .zst), or - for stdin (CSV, NPY or Parquet). "
                    "Omit both files to use the bundled sample data.",
                    show_default=False,
                    metavar="PREDS",
                ),
            ],
            None,
        ),
        opt(
            "targets",
            Annotated[
                str | None,
                typer.Argument(
                    help="Targets, in any of the same formats.",
                    show_default=False,
                    metavar="TARGETS",
                ),
            ],
            None,
        ),
        opt(
            "grad",
            Annotated[
                bool,
                typer.Option(
                    "--grad", "-g", help="Also print the gradient w.r.t. the predictions."
                ),
            ],
            False,
        ),
        opt(
            "check",
            Annotated[
                bool,
                typer.Option(
                    "--check",
                    "-c",
                    help="Check the gradient by central finite differences; "
                    "exit 1 if any element fails.",
                ),
            ],
            False,
        ),
        opt(
            "reduction",
            Annotated[
                Literal[reductions],
                typer.Option(
                    "--reduction",
                    "-r",
                    metavar="NAME",
                    help="How row losses combine: " + _reduction_help(reductions),
                ),
            ],
            "mean",
        ),
        opt(
            "sample_weights",
            Annotated[
                str | None,
                typer.Option(
                    "--sample-weights",
                    metavar="FILE",
                    show_default=False,
                    help="One weight per row (CSV, TSV or NPY): sum = Σ s_i·L_i, "
                    "mean = Σ s_i·L_i / Σ s_i (scikit-learn's sample_weight).",
                ),
            ],
            None,
        ),
        opt(
            "against",
            Annotated[
                str | None,
                typer.Option(
                    "--against",
                    metavar="GRAD_FILE",
                    show_default=False,
                    help="Compare your own gradient (shaped like the predictions, CSV or NPY) with "
                    "losscli's and with finite differences; exit 1 if it does not match.",
                ),
            ],
            None,
        ),
        opt("fmt", format_option("plain"), None),
        opt(
            "grad_out",
            Annotated[
                Path | None,
                typer.Option(
                    "--grad-out",
                    metavar="FILE",
                    help="Write the full gradient to this .npy, .csv or .tsv file "
                    "(atomically; never over an input).",
                    dir_okay=False,
                    show_default=False,
                ),
            ],
            None,
        ),
        opt(
            "hess",
            Annotated[
                Literal[HESS_MODES] | None,
                typer.Option(
                    "--hess",
                    metavar="[diag|full]",
                    show_default=False,
                    help="Also print the diagonal of the Hessian w.r.t. the predictions (with "
                    "--check, check it too); --hess full: each row's full C × C block "
                    "(ce --logits, small inputs).",
                ),
            ],
            None,
        ),
        opt(
            "hess_out",
            Annotated[
                Path | None,
                typer.Option(
                    "--hess-out",
                    help="Write the Hessian diagonal (the blocks with --hess full, .npy) to this "
                    ".npy or .csv file (atomically; never over an input).",
                    dir_okay=False,
                    show_default=False,
                ),
            ],
            None,
        ),
        opt(
            "against_hess",
            Annotated[
                str | None,
                typer.Option(
                    "--against-hess",
                    metavar="HESS_FILE",
                    show_default=False,
                    help="Compare your own Hessian diagonal (shaped like the predictions) with "
                    "losscli's and with finite differences of the gradient; exit 1 if it does "
                    "not match.",
                ),
            ],
            None,
        ),
        opt(
            "eps",
            Annotated[float, typer.Option(help="Finite-difference step h for --check.")],
            1e-6,
        ),
        opt(
            "rtol",
            Annotated[
                float,
                typer.Option(
                    help="Relative tolerance for --check and --against: pass when |a − n| ≤ atol + "
                    "rtol·|n|."
                ),
            ],
            1e-3,
        ),
        opt(
            "atol",
            Annotated[float, typer.Option(help="Absolute tolerance for --check and --against.")],
            1e-5,
        ),
        opt(
            "quiet",
            Annotated[
                bool,
                typer.Option(
                    "--quiet",
                    "-q",
                    help="No progress bar (it shows only on a terminal, for runs "
                    "longer than a second).",
                ),
            ],
            False,
        ),
        opt(
            "debug",
            Annotated[
                bool, typer.Option("--debug", help="Show the traceback of an error.", hidden=True)
            ],
            False,
        ),
    ]


def _reduction_help(reductions: tuple[str, ...]) -> str:
    text = ", ".join(r for r in reductions if r != "none")
    text += ", or none (one value per row)."
    if "batchmean" in reductions:
        text += " batchmean divides the sum by N only: the true KL per sample (recommended)."
    return text


PIPELINE_PANEL = "Columns, per-row reports and output"
_PIPELINE_HELP = {
    "pred_col": "Prediction column(s): a header name, a pattern such as 'p_*', or a number "
    "counted from 1; repeat or separate with commas. With PREDS alone, one file holds "
    "predictions and targets.",
    "target_col": "Target column(s), as for --pred-col. With one file, a side not given takes "
    "every other column.",
    "id_col": "Column of row ids (text allowed), shown beside the row number in every per-row "
    "output.",
    "weight_col": "Column of sample weights, with one file holding the columns (as "
    "--sample-weights FILE).",
    "top": "Also list the K rows with the highest loss (K ≥ 1).",
    "hist": "Also show a histogram of the per-row losses.",
    "bins": "Bins of the histogram, 1 to 1000 (implies --hist). Default: 10.",
    "hist_range": "Fixed edges of the histogram, LO,HI (implies --hist; values outside count in "
    "the end bins). Default: from a first pass, the least and greatest row loss.",
    "engine": "Where the blocks are computed: local (this process) or dask (one Dask task per "
    "shard; needs dask: pip install '.[dask]' from a checkout). Default: local.",
    "scheduler": "With --engine dask: the address of a running Dask scheduler "
    "(tcp://HOST:8786). Default: a local cluster of 2 worker processes.",
    "output": "Write the output to FILE instead of stdout (atomically; never over an input). "
    "Default format by extension: .json json, .csv csv, else plain.",
}


def pipeline_parameters() -> list[inspect.Parameter]:
    """Options for data pipelines: picking columns, ids, per-row reports, an output file."""

    def opt(name: str, kind: Any, *decls: str, default: Any = None, **kwargs: Any):
        option = typer.Option(
            *decls,
            help=_PIPELINE_HELP[name],
            rich_help_panel=PIPELINE_PANEL,
            show_default=False,
            **kwargs,
        )
        return P(name, P.KEYWORD_ONLY, default=default, annotation=Annotated[kind, option])

    return [
        opt("pred_col", list[str] | None, "--pred-col", "--pred-cols", metavar="COL"),
        opt("target_col", list[str] | None, "--target-col", "--target-cols", metavar="COL"),
        opt("id_col", str | None, "--id-col", metavar="COL"),
        opt("weight_col", str | None, "--weight-col", metavar="COL"),
        opt("top", int | None, "--top", metavar="K", min=1),
        opt("hist", bool, "--hist", default=False),
        opt("bins", int | None, "--bins", metavar="N", min=1, max=1000),
        opt("hist_range", str | None, "--range", metavar="LO,HI"),
        opt("output", Path | None, "--output", "-o", metavar="FILE", dir_okay=False),
        opt("engine", Literal["local", "dask"], "--engine", default="local"),
        opt("scheduler", str | None, "--scheduler", metavar="ADDRESS"),
    ]


READING_PANEL = "Reading text files"
_READING_HELP = {
    "delimiter": "Field delimiter of CSV/TSV inputs: one character, tab or whitespace (runs of "
    "spaces, as np.savetxt writes). Default: detected (see docs/inputs.md).",
    "tsv": "Inputs are tab-separated (same as --delimiter tab).",
    "header": "Whether the first row of a text input names the columns. Default: detected.",
    "keep_index": 'Keep a first column named "" or "Unnamed: 0" that counts 0, 1, 2, … '
    "(a pandas index, left out by default) as data.",
    "strict_columns": "When both files have headers, refuse targets whose columns are those of "
    "the predictions in another order (default: put them in order) or have other names.",
}


def reading_parameters() -> list[inspect.Parameter]:
    """Options for reading text inputs: delimiter, header, index column, column matching."""

    def opt(name: str, kind: Any, *decls: str, default: Any = None, **kwargs: Any):
        option = typer.Option(
            *decls,
            help=_READING_HELP[name],
            rich_help_panel=READING_PANEL,
            show_default=False,
            **kwargs,
        )
        return P(name, P.KEYWORD_ONLY, default=default, annotation=Annotated[kind, option])

    return [
        opt("delimiter", str | None, "--delimiter", "-d", metavar="CHAR"),
        opt("tsv", bool, "--tsv", default=False),
        opt("header", bool | None, "--header/--no-header"),
        opt("keep_index", bool, "--keep-index", default=False),
        opt("strict_columns", bool, "--strict-columns", default=False),
    ]


def reading_options(delimiter, tsv, header, keep_index, strict_columns):
    """The reading options as :class:`losscli.layout.Options`."""
    from .layout import Options, parse_delimiter

    if tsv and delimiter is not None and parse_delimiter(delimiter) != "\t":
        raise UsageError("--tsv and --delimiter disagree; give one of them")
    sep = "\t" if tsv else None if delimiter is None else parse_delimiter(delimiter)
    return Options(sep, header, keep_index, strict_columns)


FRAMEWORK_PANEL = "Other frameworks' conventions"


def framework_parameters() -> list[inspect.Parameter]:
    """--convention and --which (see losscli.conventions and docs/conventions.md)."""
    convention = typer.Option(
        "--convention",
        metavar="NAME",
        help="Report the value as this framework's default would: torch (losscli's own), "
        "keras, tf1, optax or sklearn — their means, clips and epsilons (docs/conventions.md). "
        "Value only: gradients follow torch.",
        rich_help_panel=FRAMEWORK_PANEL,
    )
    which = typer.Option(
        "--which",
        metavar="VALUE",
        help="List the conventions and common mistakes (sum vs mean, a double softmax, …) "
        "that give VALUE, e.g. a loss seen in a training log; closest first.",
        rich_help_panel=FRAMEWORK_PANEL,
        show_default=False,
    )
    return [
        P("convention", P.KEYWORD_ONLY, default="torch", annotation=Annotated[str, convention]),
        P("which", P.KEYWORD_ONLY, default=None, annotation=Annotated[str | None, which]),
    ]


_SAYS_DEFAULT = re.compile(r"\bdefault(?::| is\b)", re.IGNORECASE)  # "default: 1e-12"


def loss_parameter(param) -> inspect.Parameter:
    """A typer option for a loss-specific :class:`~losscli.losses.Param`."""
    kwargs: dict[str, Any] = {"help": param.help}
    if param.type is float and param.default is not None and 0 < abs(param.default) < 1e-100:
        kwargs["show_default"] = f"{param.default:.3g}"
    if _SAYS_DEFAULT.search(param.help):
        kwargs["show_default"] = False  # the help says it already: no second [default: …]
    if param.metavar:
        kwargs["metavar"] = param.metavar
    kind = Literal[param.choices] if param.choices else param.type
    if param.default is None:
        kind, kwargs["show_default"] = kind | None, False
    annotation = Annotated[kind, typer.Option(param.flag, **kwargs)]
    return P(param.name, P.KEYWORD_ONLY, default=param.default, annotation=annotation)


def parse_range(text: str | None) -> tuple[float, float] | None:
    """``--range LO,HI`` as two finite numbers, LO < HI."""
    if text is None:
        return None
    import math

    parts = text.split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        lo = hi = math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise UsageError(f"--range takes LO,HI, two finite numbers with LO < HI, got {text!r}")
    return lo, hi


# --------------------------------------------------------------------------- commands

# The group's help screen (``losscli --help``).
APP_HELP = (
    "Loss values, gradients and finite-difference gradient checks from CSV, TSV, NPY and "
    "Parquet files.\n\nRun a loss without files to try it on the bundled sample data, e.g. "
    "`losscli ce --logits --grad`; `losscli LOSS --help` for a loss's options.\n\n"
    "Examples:\n\n"
    "  $ losscli mse preds.csv targets.csv\n\n"
    "  $ losscli ce logits.csv labels.csv --logits --grad --check\n\n"
    "  $ losscli mse scores.csv --pred-col yhat --target-col y --top 5 -f json\n\n"
    "  $ losscli list\n\n"
    "  $ losscli explain smooth-l1"
)


def command_parameters(loss) -> list[inspect.Parameter]:
    """Every option of a loss's command: the shared ones, then the loss's own."""
    return (
        shared_parameters(loss.reductions)
        + pipeline_parameters()
        + reading_parameters()
        + framework_parameters()
        + [loss_parameter(p) for p in loss.params]
    )


def command_help(loss) -> str:
    """A loss command's help text: summary, formulas, reference, examples."""
    examples = "\n\n".join(f"  $ {e}" for e in loss.examples)
    return (
        f"{loss.summary}.\n\n{loss.formula}.\n\nGradient: {loss.gradient_formula}.\n\n"
        f"Hessian: {loss.hess_summary()}.\n\n"
        f"Matches {loss.reference}.\n\n{CONVENTIONS_LINE}\n\nExamples:\n\n{examples}"
    )


# Filled in by with_conventions when the help is shown: every run builds its command's help
# text, and only a help screen needs losscli.conventions.
CONVENTIONS_LINE = "Conventions (--convention): {conventions}."


def with_conventions(text: str, loss_name: str) -> str:
    """``text`` (:func:`command_help`) with the conventions of the loss named."""
    if CONVENTIONS_LINE not in text:
        return text
    from .conventions import conventions_for
    from .losses import get_loss

    names = ", ".join(conventions_for(get_loss(loss_name)))
    return text.replace(CONVENTIONS_LINE, CONVENTIONS_LINE.format(conventions=names))


def hess_value(argv: list[str]) -> list[str]:
    """``--hess`` takes an optional value: alone it means ``--hess diag``. click options take a
    value or none, so the bare flag is spelled out here (never past ``--``)."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--":
            break
        if arg == "--hess" and (i + 1 == len(out) or out[i + 1] not in HESS_MODES):
            out[i] = "--hess=diag"
    return out


def format_option(otherwise: str) -> Any:
    """The one ``-f/--format`` option of the loss commands and ``list``."""
    return Annotated[
        Literal[FORMATS] | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            show_default=False,
            help=f"Output format: table, plain, json or csv. Default: table on a terminal, "
            f"{otherwise} otherwise.",
        ),
    ]


LIST_FORMAT = format_option("plain (tab-separated)")
EXPLAIN_FORMAT = Annotated[
    Literal[("table", "plain", "json")] | None,
    typer.Option(
        "--format",
        "-f",
        show_default=False,
        help="table: rendered Markdown (default on a terminal); plain: the Markdown text "
        '(default otherwise); json: {"markdown": ...}.',
    ),
]


# --------------------------------------------------------------------------- the commands


def loss_commands(run: Callable[..., None], cls: type, only: str | None = None) -> dict[str, Any]:
    """The click commands of the registered losses (or of the one called ``only``), built by
    typer from a Typer app of their own; each calls ``run(loss, **options)``."""
    from .losses import REGISTRY

    losses = typer.Typer(pretty_exceptions_enable=False)
    for loss in REGISTRY.values():
        for name in (loss.name, *loss.aliases):  # aliases (`losscli l1`) are listed by `list`
            if only is None or name == only:
                losses.command(name, cls=cls, no_args_is_help=False, hidden=name != loss.name)(
                    _command(loss, run)
                )
    if not losses.registered_commands:
        return {}
    return dict(typer.main.get_group(losses).commands)


def _command(loss, run: Callable[..., None]) -> Callable[..., None]:
    def command(**kwargs: Any) -> None:
        run(loss, **kwargs)

    params = command_parameters(loss)
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = loss.name
    command.__doc__ = command_help(loss)
    return command


class LazyCommands(MutableMapping):
    """A group's command table, filled by ``build(only)`` (:func:`loss_commands`) the first
    time anyone looks: a lookup by name builds that command alone (what a run needs), anything
    else builds all — so ``--version`` never imports the registry (and numpy with it)."""

    def __init__(
        self, own: MutableMapping[str, Any], build: Callable[[str | None], dict[str, Any]]
    ) -> None:
        self._own, self._build, self._loaded = own, build, False

    def _table(self) -> MutableMapping[str, Any]:
        if not self._loaded:
            self._loaded = True
            self._own = {**self._build(None), **self._own}
        return self._own

    def __getitem__(self, name: str) -> Any:
        if not self._loaded and name not in self._own:
            self._own.update(self._build(name))
        if name in self._own:
            return self._own[name]
        return self._table()[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._table()[name] = command

    def __delitem__(self, name: str) -> None:
        del self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


def with_defaults(command: Any, defaults: dict[str, Any]) -> Any:
    """A copy of ``command`` whose options named in ``defaults`` default to those values
    (``BCEWithLogits`` is ``bce`` with ``--logits`` on)."""
    import copy

    command = copy.copy(command)
    command.params = [copy.copy(p) for p in command.params]
    for param in command.params:
        if param.name in defaults:
            param.default = defaults[param.name]
    return command


def suggest_choice(exc: Exception, message: str) -> str:
    """`` Did you mean 'mean'?`` for a choice option given a value close to one of its
    choices (``-r mena``, ``--format JSON``), else ``""``."""
    param = getattr(exc, "param", None)
    choices = getattr(getattr(param, "type_descriptor", None), "choices", None)
    bad = re.search(r": '(.*)' is not one of ", message)
    if not choices or not bad:
        return ""
    from .losses.names import nearest

    match = nearest(bad.group(1), [str(c) for c in choices])
    return f" Did you mean {match!r}?" if match else ""
