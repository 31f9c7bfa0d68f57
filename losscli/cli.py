"""The command line: one command per registered loss, all sharing one set of options.

Thin by design: it parses, calls :func:`losscli.evaluate` (or, for ``--which``,
:func:`losscli.engine.which_readings`), renders, and maps failures to exit codes; the commands
and their options are built in :mod:`losscli.options`. numpy, pandas and rich are imported only
once a command runs.

Exit codes: 0 ok; 1 a gradient check failed; 2 bad usage or bad input; 3 internal error (a bug);
130 interrupted; 141 stdout closed early (``| head``).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from ._version import __version__
from .errors import InputError, LossCliError, LossCliNote, LossCliWarning, UsageError
from .fastparams import FastParams
from .helpformat import TidyHelp
from .options import (
    APP_HELP,
    EXPLAIN_FORMAT,
    LIST_FORMAT,
    LazyCommands,
    hess_value,
    loss_commands,
    parse_range,
    reading_options,
    suggest_choice,
    with_conventions,
    with_defaults,
)
from .process import (
    STDOUT_NAME,
    WRITE_ERRNOS,
    ClosedStdout,
    catch_signals,
    checked_stdout,
    finish_signals,
    pipe_closed,
    silence_stdout,
    stdout_identity,
)
from .request import check_request, name_the_file, option_files, resolve_inputs

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141


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


class LossCommand(TidyHelp, FastParams, TyperCommand):
    """A loss command: typer's, converting plain option values without pydantic."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.help = with_conventions(self.help or "", self.name)
        return super().format_help(ctx, formatter)


class LossCliGroup(TidyHelp, FastParams, TyperGroup):
    """Turns every failure into one ``Error:`` line and a documented exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The loss commands are built on first use, so --version never imports the registry
        # (and numpy with it).
        self.commands = LazyCommands(self.commands, self._loss_commands)

    @staticmethod
    def _loss_commands(only: str | None) -> dict[str, Any]:
        return loss_commands(_run, LossCommand, only)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = hess_value(list(sys.argv[1:] if args is None else args))
        debug = "--debug" in argv or bool(os.environ.get("LOSSCLI_DEBUG"))
        original_stdout = sys.stdout
        if sys.stdout is None:  # started with stdout closed (`>&-`): say so when it is used
            sys.stdout = ClosedStdout()
        elif sys.stdout is sys.__stdout__:
            sys.stdout = checked_stdout(sys.stdout)
        stdout_was = stdout_identity()
        received: list[int] = []
        previous = catch_signals(received)
        try:
            rc = super().main(
                argv, prog_name or "losscli", complete_var, standalone_mode=False, **extra
            )
            rc = rc if isinstance(rc, int) else EXIT_OK
            sys.stdout.flush()
        except SystemExit:
            # click (EPIPE) and rich (BrokenPipeError) exit 1 when the reader of stdout has
            # gone; that is the documented 141. Any other exit stands.
            if not pipe_closed(stdout_was):
                raise
            silence_stdout()
            rc = EXIT_BROKEN_PIPE
        except NoArgsIsHelpError as exc:
            # Typer's rich help prints itself while the error is built; plain click returns it.
            if exc.format_message().strip():
                print(exc.format_message(), file=sys.stderr)
            rc = EXIT_BAD_INPUT
        except ClickUsageError as exc:
            # Typer validates through pydantic, whose messages start "Value error, ".
            message = exc.format_message().replace("Value error, ", "").replace("\n", " ")
            _error(message + suggest_choice(exc, message))
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
            silence_stdout()
            rc = EXIT_BROKEN_PIPE
        except OSError as exc:
            if exc.errno in WRITE_ERRNOS:
                # stdout on a full disk (/dev/full), over a size limit (ulimit -f), or closed.
                what = "to stdout" if exc.filename == STDOUT_NAME else "the output"
                _error(f"cannot write {what} ({exc.strerror or exc})")
                silence_stdout()
                rc = EXIT_BAD_INPUT
            else:
                rc = _internal_error(exc, debug)
        except Exception as exc:  # a bug: still one line, the traceback only with --debug
            rc = _internal_error(exc, debug)
        finally:
            finish_signals(previous)
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

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """A command by name; a loss also by its frameworks' spellings (``mse_loss``,
        ``CrossEntropyLoss``, ``BCEWithLogits`` — the last with ``--logits`` on)."""
        if cmd_name in ("list", "explain") or cmd_name.startswith("-"):
            return super().get_command(ctx, cmd_name)
        from .losses import REGISTRY
        from .losses.names import canonical

        names = [n for loss in REGISTRY.values() for n in (loss.name, *loss.aliases)]
        found = canonical(cmd_name, names)
        if found is None:
            return super().get_command(ctx, cmd_name)
        command = super().get_command(ctx, found[0])
        return with_defaults(command, found[1]) if found[1] else command


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


app = typer.Typer(
    name="losscli",
    cls=LossCliGroup,
    help=APP_HELP,
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


# --------------------------------------------------------------------------- running a loss


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
    delimiter: str | None = None,
    tsv: bool = False,
    header: bool | None = None,
    keep_index: bool = False,
    strict_columns: bool = False,
    engine: str = "local",
    scheduler: str | None = None,
    hess: str | None = None,
    hess_out: Path | None = None,
    against_hess: str | None = None,
    convention: str = "torch",
    which: str | None = None,
    **options: Any,
) -> None:
    if output is not None and os.fspath(output) == "-":
        output = None  # -o - is stdout, as everywhere else
    fmt = fmt or _default_format(output)
    reading = reading_options(delimiter, tsv, header, keep_index, strict_columns)
    bounds = parse_range(hist_range)
    show_hess = hess is not None
    one_file = preds is not None and targets is None and bool(pred_col or target_col)
    if weight_col is not None and not one_file:  # before the sample data is chosen
        check_request(loss, inputs={}, one_file=False, weight_col=weight_col)
    preds, targets = resolve_inputs(loss, preds, targets, options, one_file)
    inputs = {"predictions": preds, "targets": targets}
    if sample_weights is not None:
        inputs["sample weights"] = sample_weights
    if against is not None:
        inputs["gradient"] = against
    if against_hess is not None:
        inputs["hessian"] = against_hess
    read = {k: v for k, v in inputs.items() if not (one_file and k == "targets")}
    # evaluate makes these checks too; made here before the outputs are checked.
    hess = check_request(
        loss, inputs=read, one_file=one_file, hess=hess, hess_out=hess_out,
        against_hess=against_hess,
    )  # fmt: skip
    selection = {
        "one_file": one_file,
        "pred_cols": pred_col or (),
        "target_cols": target_col or (),
        "id_col": id_col,
        "top": top,
        "bins": (bins or 10) if hist or bins or hist_range else None,
    }
    protect = [p for p in inputs.values() if p != "-"] + option_files(options)
    if output is not None or grad_out is not None or hess_out is not None:
        from .io import check_outputs

        # Every output checked before any is written: a run that cannot write one writes none.
        outputs = {"--output": output, "--grad-out": grad_out, "--hess-out": hess_out}
        check_outputs(outputs, protect=protect)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LossCliWarning)
        try:
            from .engine import evaluate

            if which is not None:  # the readings that give a value seen elsewhere
                from .engine import which_readings
                from .render import render_which

                found = which_readings(
                    loss, which, preds, None if one_file else targets,
                    pred_cols=selection["pred_cols"], target_cols=selection["target_cols"],
                    id_col=id_col, weight_col=weight_col, sample_weights=sample_weights,
                    reading=reading, **options,
                )  # fmt: skip
                return render_which(loss.name, which, *found, fmt, sys.stdout)
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
                engine=engine,
                scheduler=scheduler,
                quiet=quiet,
                protect=protect,
                reading=reading,
                hess=hess if show_hess else None,  # --hess-out alone: written, not held
                hess_out=hess_out,
                against_hess=against_hess,
                convention=convention,
                **options,
            )
        except InputError as exc:
            raise name_the_file(exc, inputs) from None
        finally:
            messages: list[str] = []  # the warnings and notes, each once
            for w in caught:
                if issubclass(w.category, LossCliWarning) and str(w.message) not in messages:
                    messages.append(str(w.message))
                    kind = "Note" if issubclass(w.category, LossCliNote) else "Warning"
                    print(f"{kind}: {_one_line(str(w.message))}", file=sys.stderr)
    report.warnings = messages  # also in --format json
    if report.check is not None:
        from .gradcheck import sample_note

        if note := sample_note(report.check):
            print(f"Note: {note}", file=sys.stderr)
    if grad_out is not None:
        print(f"Wrote the gradient {report.grad_written} to {grad_out}", file=sys.stderr)
    if hess_out is not None:
        print(f"Wrote the Hessian {report.hess_written} to {hess_out}", file=sys.stderr)
    from .render import render, shown

    for note in shown(report, fmt, grad=grad, hess=show_hess, reduction=reduction):
        print(f"Note: {note}", file=sys.stderr)
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
    for second in (report.hess_check, report.hess_against):
        if second is not None and not second.passed:
            raise typer.Exit(EXIT_CHECK_FAILED)


def _default_format(output: Path | None) -> str:
    """table on a terminal, plain otherwise; for --output, by the file's extension."""
    if output is None:
        return "table" if sys.stdout.isatty() else "plain"
    return {".json": "json", ".csv": "csv"}.get(output.suffix.lower(), "plain")


# --------------------------------------------------------------------------- list, explain


@app.command("list", cls=LossCommand)
def list_losses(fmt: LIST_FORMAT = None) -> None:
    """Every loss with its formula, its gradient and the options it takes.

    Examples:

      $ losscli list

      $ losscli list -f json | jq '.[].name'

      $ losscli list -f csv > losses.csv
    """
    from .conventions import conventions_for
    from .losses import REGISTRY
    from .render import render_listing

    fmt = fmt or ("table" if sys.stdout.isatty() else "plain")
    infos = [{**loss.info(), "conventions": conventions_for(loss)} for loss in REGISTRY.values()]
    render_listing(infos, fmt, sys.stdout)


@app.command("explain", cls=LossCommand)
def explain_loss(
    name: Annotated[str, typer.Argument(metavar="LOSS", help="A loss, e.g. ce or smooth-l1.")],
    fmt: EXPLAIN_FORMAT = None,
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
