"""The command line: one command per registered loss, all sharing one set of options.

Thin by design: it parses, calls the readers, the numeric core, the checker and the renderer,
and maps failures to exit codes. numpy, pandas and rich are imported only once a command runs.

Exit codes: 0 ok; 1 a gradient check failed; 2 bad usage or bad input; 3 internal error (a bug);
130 interrupted; 141 stdout closed early (``| head``).
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import io
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from typer.core import TyperCommand, TyperGroup

from ._version import __version__
from .errors import InputError, LossCliError, LossCliWarning, UsageError
from .fastparams import FastParams

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141
FORMATS = ("table", "plain", "json", "csv")  # mirrors render.FORMATS without importing numpy


# Typer ≥ 0.2x vendors click as typer._click; find its exception classes through a public name
# rather than importing a private module.
_click_exceptions = sys.modules[typer.BadParameter.__module__]
ClickUsageError = _click_exceptions.UsageError
NoArgsIsHelpError = getattr(_click_exceptions, "NoArgsIsHelpError", ())


def _error(message: str) -> None:
    print(f"Error: {_one_line(message)}", file=sys.stderr)


def _one_line(message: str) -> str:
    """``message`` with control characters (newlines, tabs, record separators, … — anything
    that could split or garble the line, e.g. from a column name) shown as escapes."""
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in message
    )


class LossCommand(FastParams, TyperCommand):
    """A loss command: typer's, converting plain option values without pydantic."""


class LossCliGroup(FastParams, TyperGroup):
    """Turns every failure into one ``Error:`` line and a documented exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The loss commands are built on first use, so --version never imports the registry
        # (and numpy with it).
        self.commands = _LazyCommands(self.commands)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv or bool(os.environ.get("LOSSCLI_DEBUG"))
        original_stdout = sys.stdout
        if sys.stdout is None:  # started with stdout closed (`>&-`): say so when it is used
            sys.stdout = _ClosedStdout()
        elif sys.stdout is sys.__stdout__:
            sys.stdout = _checked(sys.stdout)
        stdout_was = _stdout_identity()
        received: list[int] = []
        previous = _catch_signals(received)
        try:
            rc = super().main(
                argv, prog_name or "losscli", complete_var, standalone_mode=False, **extra
            )
            rc = rc if isinstance(rc, int) else EXIT_OK
            sys.stdout.flush()
        except SystemExit:
            # click (EPIPE) and rich (BrokenPipeError) exit 1 when the reader of stdout has
            # gone; that is the documented 141. Any other exit stands.
            if not _pipe_closed(stdout_was):
                raise
            _silence_stdout()
            rc = EXIT_BROKEN_PIPE
        except NoArgsIsHelpError as exc:
            # Typer's rich help prints itself while the error is built; plain click returns it.
            if exc.format_message().strip():
                print(exc.format_message(), file=sys.stderr)
            rc = EXIT_BAD_INPUT
        except ClickUsageError as exc:
            # Typer validates through pydantic, whose messages start "Value error, ".
            _error(exc.format_message().replace("Value error, ", "").replace("\n", " "))
            rc = EXIT_BAD_INPUT
        except LossCliError as exc:
            if debug:
                import traceback

                traceback.print_exc()
            _error(str(exc))
            rc = exc.exit_code
        except (KeyboardInterrupt, typer.Abort):
            rc = EXIT_INTERRUPTED
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, and keep Python's exit-time flush
            # from raising again.
            _silence_stdout()
            rc = EXIT_BROKEN_PIPE
        except OSError as exc:
            if exc.errno in _WRITE_ERRNOS:
                # stdout on a full disk (/dev/full), over a size limit (ulimit -f), or closed.
                what = "to stdout" if exc.filename == STDOUT_NAME else "the output"
                _error(f"cannot write {what} ({exc.strerror or exc})")
                _silence_stdout()
                rc = EXIT_BAD_INPUT
            else:
                rc = _internal_error(exc, debug)
        except Exception as exc:  # a bug: still one line, the traceback only with --debug
            rc = _internal_error(exc, debug)
        finally:
            _finish_signals(previous)
            if sys.stdout is not original_stdout:
                with contextlib.suppress(Exception):  # anything unwritten was reported above
                    sys.stdout.flush()
                sys.stdout = original_stdout
        if received:  # SIGINT, SIGTERM or SIGHUP: the shell's 128 + signal number
            rc = 128 + received[0]
        if standalone_mode:
            if sys.stdout is sys.__stdout__:  # the process's own run, not a test runner's:
                # the run is over (its output written, or removed), and a Ctrl-C from now on
                # would only interrupt the interpreter's shutdown, with a traceback from
                # threading or atexit.
                with contextlib.suppress(ValueError):  # not the main thread
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
            sys.exit(rc)
        return rc


def _internal_error(exc: BaseException, debug: bool) -> int:
    """A bug: one ``Error:`` line, the traceback only with --debug; exit 3."""
    if debug:
        import traceback

        traceback.print_exception(exc)
    _error(
        f"internal error: {type(exc).__name__}: {exc} "
        "(rerun with --debug for the traceback, and please report it)"
    )
    return EXIT_INTERNAL


STDOUT_NAME = "<stdout>"
# errno values of a failed write: full disk, size limit, quota, I/O error, closed descriptor.
_WRITE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EFBIG", "EDQUOT", "EIO", "EBADF", "EPIPE")
    if hasattr(errno, name)
)


class _FullWriter(io.RawIOBase):
    """A file descriptor written in full or not at all: a short write (a size limit, a reader
    that went away) is retried until it raises. Python's own buffered stdout can drop the rest
    of a short write silently and exit 0."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                done += os.write(self._fd, view[done:])
        except BrokenPipeError:
            raise
        except OSError as e:  # name stdout, so the message can say which output failed
            raise OSError(e.errno, e.strerror, STDOUT_NAME) from None
        return done

    def close(self) -> None:  # the descriptor is the process's stdout: leave it open
        super().close()


def _checked(stdout: Any) -> Any:
    """``stdout`` (the process's own) rewrapped so every write is complete or an error."""
    try:
        fd = stdout.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return stdout
    stdout.flush()
    return io.TextIOWrapper(
        io.BufferedWriter(_FullWriter(fd), buffer_size=1 << 16),
        encoding=stdout.encoding,
        errors=stdout.errors,
        line_buffering=stdout.line_buffering,
    )


class _ClosedStdout(io.TextIOBase):
    """Stands in for ``sys.stdout`` when the process started without one: not a terminal, and
    writing to it is a clear error rather than output silently lost."""

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not text:
            return 0
        raise UsageError(
            "stdout is closed; redirect it (> out.txt, or > /dev/null to discard the output) "
            "or write to a file with -o FILE"
        )

    @property
    def buffer(self):  # what write_text("-") writes to
        return self


def _stdout_identity() -> tuple[int, int] | None:
    try:
        info = os.fstat(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return info.st_dev, info.st_ino


def _pipe_closed(stdout_was: tuple[int, int] | None) -> bool:
    """Whether the reader of stdout has gone: rich then points stdout at /dev/null, click wraps
    it, and a pipe with no reader polls as an error."""
    if stdout_was is not None and _stdout_identity() != stdout_was:
        return True
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":  # click's, after EPIPE
        return True
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so Python's exit-time flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass


_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _catch_signals(received: list[int]) -> dict[int, Any]:
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt (so every ``finally`` runs and the
    temporary files go); ``received`` records which. Returns the handlers to restore."""

    def interrupt(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    if hasattr(signal, "SIGXFSZ"):  # over `ulimit -f` a write fails (EFBIG) instead of killing
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    for signum in _SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread: leave them be
            previous[signum] = signal.signal(signum, interrupt)
    return previous


def _finish_signals(previous: dict[int, Any]) -> None:
    """Ignore further signals while the temporary files of the run are removed, then put the
    previous handlers back."""
    for signum in previous:
        signal.signal(signum, signal.SIG_IGN)
    lio = sys.modules.get("losscli.io")  # not imported: no temporary file can exist
    if lio is not None:
        lio.remove_temporaries()
    for signum, handler in previous.items():
        signal.signal(signum, handler)


app = typer.Typer(
    name="losscli",
    cls=LossCliGroup,
    help=(
        "Loss values, gradients and finite-difference gradient checks from CSV, TSV and NPY "
        "files.\n\nRun a loss without files to try it on the bundled sample data, e.g. "
        "`losscli ce --logits --grad`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        print(f"losscli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Loss values, gradients and gradient checks from files."""


# --------------------------------------------------------------------------- shared options

P = inspect.Parameter


def _shared_parameters(reductions: tuple[str, ...]) -> list[inspect.Parameter]:
    """The options every loss command takes, defined once."""

    def opt(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        return P(name, P.KEYWORD_ONLY, default=default, annotation=annotation)

    return [
        opt(
            "preds",
            Annotated[
                str | None,
                typer.Argument(
                    help="Predictions: CSV, TSV or NPY file, or - for CSV on stdin. "
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
        opt(
            "fmt",
            Annotated[
                Literal[FORMATS] | None,
                typer.Option(
                    "--format",
                    "-f",
                    show_default=False,
                    help="Output format. Default: table on a terminal, plain otherwise.",
                ),
            ],
            None,
        ),
        opt(
            "grad_out",
            Annotated[
                Path | None,
                typer.Option(
                    "--grad-out",
                    help="Write the full gradient to this .npy or .csv file "
                    "(atomically; never over an input).",
                    dir_okay=False,
                    show_default=False,
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
    "top": "Also list the K rows with the highest loss.",
    "hist": "Also show a histogram of the per-row losses.",
    "bins": "Bins of the histogram (implies --hist). Default: 10.",
    "hist_range": "Fixed edges of the histogram, LO,HI (implies --hist; values outside count in "
    "the end bins). Default: from a first pass, the least and greatest row loss.",
    "output": "Write the output to FILE instead of stdout (atomically; never over an input). "
    "Default format by extension: .json json, .csv csv, else plain.",
}


def _pipeline_parameters() -> list[inspect.Parameter]:
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
    ]


FRAMEWORK_PANEL = "Other frameworks' conventions"


def _framework_parameters() -> list[inspect.Parameter]:
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


def _loss_parameter(param) -> inspect.Parameter:
    """A typer option for a loss-specific :class:`~losscli.losses.Param`."""
    kwargs: dict[str, Any] = {"help": param.help}
    if param.type is float and param.default is not None and 0 < abs(param.default) < 1e-100:
        kwargs["show_default"] = f"{param.default:.3g}"
    if param.metavar:
        kwargs["metavar"] = param.metavar
    kind = Literal[param.choices] if param.choices else param.type
    if param.default is None:
        kind, kwargs["show_default"] = kind | None, False
    annotation = Annotated[kind, typer.Option(param.flag, **kwargs)]
    return P(param.name, P.KEYWORD_ONLY, default=param.default, annotation=annotation)


def _make_command(loss) -> Callable[..., None]:
    def command(**kwargs: Any) -> None:
        _run(loss, **kwargs)

    params = (
        _shared_parameters(loss.reductions)
        + _pipeline_parameters()
        + _framework_parameters()
        + [_loss_parameter(p) for p in loss.params]
    )
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = loss.name
    examples = "\n\n".join(f"  $ {e}" for e in loss.examples)
    command.__doc__ = (
        f"{loss.summary}.\n\n{loss.formula}.\n\nGradient: {loss.gradient_formula}.\n\n"
        f"Matches {loss.reference}.\n\nExamples:\n\n{examples}"
    )
    return command


def _register_commands(only: str | None = None) -> dict[str, Any]:
    """The click commands of the registered losses (or of the one called ``only``), built by
    typer from a Typer app of their own.

    Called on first access to the group's commands (see :class:`_LazyCommands`).
    """
    from .losses import REGISTRY

    losses = typer.Typer(pretty_exceptions_enable=False)
    for loss in REGISTRY.values():
        for name in (loss.name, *loss.aliases):  # aliases (`losscli l1`) are listed by `list`
            if only is None or name == only:
                losses.command(
                    name, cls=LossCommand, no_args_is_help=False, hidden=name != loss.name
                )(_make_command(loss))
    if not losses.registered_commands:
        return {}
    return dict(typer.main.get_group(losses).commands)


class _LazyCommands(MutableMapping):
    """The group's command table, filled from the registry the first time anyone looks: a
    lookup by name builds that command alone (what a run needs), anything else builds all."""

    def __init__(self, own: MutableMapping[str, Any]) -> None:
        self._own, self._loaded = own, False

    def _table(self) -> MutableMapping[str, Any]:
        if not self._loaded:
            self._loaded = True
            self._own = {**_register_commands(), **self._own}
        return self._own

    def __getitem__(self, name: str) -> Any:
        if not self._loaded and name not in self._own:
            self._own.update(_register_commands(only=name))
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


# --------------------------------------------------------------------------- running a loss


def _sample_dir() -> Path:
    """Bundled sample data: inside the installed package, or the checkout's sample_data/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sample_data", here.parent / "sample_data"):
        if candidate.is_dir():
            return candidate
    raise UsageError(
        "the bundled sample data is missing from this installation; give PREDS and TARGETS"
    )


def _resolve_inputs(
    loss, preds: str | None, targets: str | None, options: dict, one_file: bool = False
) -> tuple[str, str]:
    if one_file and preds is not None and targets is None:
        return preds, preds  # one file holds both; --pred-col/--target-col say which is which
    if preds is None and targets is None:
        if loss.sample_data is None:
            raise UsageError(f"{loss.name} has no sample data; give PREDS and TARGETS")
        folder = _sample_dir()
        preds, targets = (str(folder / name) for name in loss.sample_data(options))
        print(f"Using the bundled sample data: {preds} and {targets}", file=sys.stderr)
    elif targets is None:
        raise UsageError(
            "give both PREDS and TARGETS, or neither to use the bundled sample data "
            "(or PREDS alone with --pred-col/--target-col)"
        )
    return preds, targets


# How the command line names each input, for messages about them.
_ARGUMENT_NAMES = {
    "predictions": "PREDS",
    "targets": "TARGETS",
    "sample weights": "--sample-weights",
    "gradient": "--against",
}


def _name_the_file(exc: InputError, inputs: dict[str, str]) -> InputError:
    """Prefix the message with the file it is about, unless the reader already did; an error
    about no input in particular names them all, one about an option (class weights) none."""
    if exc.source is None:
        exc.source = inputs.get(exc.role or "") or (
            ", ".join(dict.fromkeys(inputs.values())) if exc.role is None else None
        )
    return exc


def _run(
    loss,
    *,
    preds: str | None,
    targets: str | None,
    grad: bool,
    check: bool,
    reduction: str,
    fmt: str | None,
    grad_out: Path | None,
    eps: float,
    rtol: float,
    atol: float,
    debug: bool,
    sample_weights: str | None = None,
    against: str | None = None,
    quiet: bool = False,
    pred_col: list[str] | None = None,
    target_col: list[str] | None = None,
    id_col: str | None = None,
    weight_col: str | None = None,
    top: int | None = None,
    hist: bool = False,
    bins: int | None = None,
    hist_range: str | None = None,
    output: Path | None = None,
    convention: str = "torch",
    which: str | None = None,
    **options: Any,
) -> None:
    if output is not None and os.fspath(output) == "-":
        output = None  # -o - is stdout, as everywhere else
    fmt = fmt or _default_format(output)
    bounds = _parse_range(hist_range)
    one_file = preds is not None and targets is None and bool(pred_col or target_col)
    if weight_col is not None and not one_file:
        raise UsageError(
            "--weight-col takes a column of the one file holding predictions and targets "
            "(PREDS alone with --pred-col/--target-col); with two files give --sample-weights"
        )
    preds, targets = _resolve_inputs(loss, preds, targets, options, one_file)
    inputs = {"predictions": preds, "targets": targets}
    if sample_weights is not None:
        inputs["sample weights"] = sample_weights
    if against is not None:
        inputs["gradient"] = against
    read = dict(list(inputs.items())[1:]) if one_file else inputs  # one file, read once
    from_stdin = [_ARGUMENT_NAMES[role] for role, path in read.items() if path == "-"]
    if len(from_stdin) > 1:
        raise UsageError(f"only one of {' and '.join(from_stdin)} can be - (stdin)")
    selection = {
        "one_file": one_file,
        "pred_cols": pred_col or (),
        "target_cols": target_col or (),
        "id_col": id_col,
        "top": top,
        "bins": (bins or 10) if hist or bins or hist_range else None,
    }
    protect = [p for p in inputs.values() if p != "-"] + _option_files(options)
    if output is not None or grad_out is not None:
        from .io import check_outputs

        # Every output checked before any is written: a run that cannot write one writes none.
        check_outputs({"--output": output, "--grad-out": grad_out}, protect=protect)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LossCliWarning)
        try:
            from .engine import evaluate

            if which is not None:
                return _which(
                    loss,
                    which,
                    preds,
                    None if one_file else targets,
                    fmt,
                    selection,
                    id_col,
                    weight_col,
                    sample_weights,
                    options,
                )
            report = evaluate(
                loss,
                preds,
                None if one_file else targets,
                pred_cols=selection["pred_cols"],
                target_cols=selection["target_cols"],
                id_col=id_col,
                weight_col=weight_col,
                sample_weights=sample_weights,
                against=against,
                reduction=reduction,
                grad=grad,
                grad_out=grad_out,
                check=check,
                eps=eps,
                rtol=rtol,
                atol=atol,
                top=top,
                bins=selection["bins"],
                hist_range=bounds,
                quiet=quiet,
                protect=protect,
                convention=convention,
                **options,
            )
        except InputError as exc:
            raise _name_the_file(exc, inputs) from None
        finally:
            for w in caught:
                if issubclass(w.category, LossCliWarning):
                    print(f"Warning: {_one_line(str(w.message))}", file=sys.stderr)
    if report.check is not None:
        from .gradcheck import sample_note

        if note := sample_note(report.check):
            print(f"Note: {note}", file=sys.stderr)
    if grad_out is not None:
        print(f"Wrote the gradient {report.grad_written} to {grad_out}", file=sys.stderr)
    if not grad:
        report.grad = None
    elif reduction == "none" and fmt in ("plain", "csv"):
        print(
            "Note: with --reduction none the gradient is that of each row's own loss",
            file=sys.stderr,
        )
    if report.hist is not None and report.hist.nonfinite and fmt != "table":
        print(
            f"Note: {report.hist.nonfinite} rows with a NaN or infinite loss are not in the "
            "histogram",
            file=sys.stderr,
        )
    from .render import render

    if output is None:
        render(report, fmt, sys.stdout)
    else:
        from .io import write_text

        buffer = io.StringIO()
        render(report, fmt, buffer)
        write_text(output, buffer.getvalue(), protect=protect)
        print(f"Wrote the {fmt} output to {output}", file=sys.stderr)
    if report.check is not None and not report.check.passed:
        raise typer.Exit(EXIT_CHECK_FAILED)
    if report.against is not None and not report.against.passed:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _parse_range(text: str | None) -> tuple[float, float] | None:
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


def _which(loss, seen, preds, targets, fmt, selection, id_col, weight_col, weights, options):
    """--which VALUE: the readings of the inputs that give VALUE, closest first."""
    from .conventions import precision_of, which
    from .engine import read_whole
    from .render import render_which

    tolerance = precision_of(seen)
    block, options = read_whole(
        loss,
        preds,
        targets,
        pred_cols=selection["pred_cols"],
        target_cols=selection["target_cols"],
        id_col=id_col,
        weight_col=weight_col,
        sample_weights=weights,
        **options,
    )
    found = which(
        loss, seen, block.predictions, block.targets, sample_weights=block.weights, **options
    )
    render_which(loss.name, seen, tolerance, found, fmt, sys.stdout)


def _default_format(output: Path | None) -> str:
    """table on a terminal, plain otherwise; for --output, by the file's extension."""
    if output is None:
        return "table" if sys.stdout.isatty() else "plain"
    return {".json": "json", ".csv": "csv"}.get(output.suffix.lower(), "plain")


def _option_files(options: dict[str, Any]) -> list[str]:
    """Files named by a loss's options (``--class-weights w.csv``): inputs too, so never
    overwritten by an output."""
    return [v for v in options.values() if isinstance(v, str) and os.path.isfile(v)]


# --------------------------------------------------------------------------- list, explain

ListFormat = Annotated[
    Literal[FORMATS] | None,
    typer.Option(
        "--format",
        "-f",
        show_default=False,
        help="Output format. Default: table on a terminal, plain (tab-separated) otherwise.",
    ),
]
ExplainFormat = Annotated[
    Literal[("table", "plain", "json")] | None,
    typer.Option(
        "--format",
        "-f",
        show_default=False,
        help="table: rendered Markdown (default on a terminal); plain: the Markdown text "
        '(default otherwise); json: {"markdown": ...}.',
    ),
]


@app.command("list")
def list_losses(fmt: ListFormat = None) -> None:
    """Every loss with its formula, its gradient and the options it takes."""
    from .losses import REGISTRY
    from .render import render_listing

    fmt = fmt or ("table" if sys.stdout.isatty() else "plain")
    render_listing([loss.info() for loss in REGISTRY.values()], fmt, sys.stdout)


@app.command("explain")
def explain_loss(
    name: Annotated[str, typer.Argument(metavar="LOSS", help="A loss, e.g. ce or smooth-l1.")],
    fmt: ExplainFormat = None,
) -> None:
    """The derivation of a loss and its gradient, with a worked example computed live.

    Example: losscli explain ce
    """
    from .explain import explain
    from .losses import get_loss
    from .render import render_markdown

    try:
        loss = get_loss(name)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    fmt = fmt or ("table" if sys.stdout.isatty() else "plain")
    render_markdown(explain(loss), fmt, sys.stdout)


def main() -> None:
    """Console-script entry point (see also ``losscli.__main__.main``)."""
    try:
        app()
    except KeyboardInterrupt:  # before or after LossCliGroup.main's own handling
        sys.exit(EXIT_INTERRUPTED)
