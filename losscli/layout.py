"""How a text input is laid out, decided once per source from its first lines.

A CSV/TSV file (or text on stdin) leaves four things unsaid, and every reader of losscli —
in memory, streamed, column by column — asks this module rather than guess for itself:

* the **delimiter**: ``--delimiter``/``--tsv``, else detected: the one the extension names
  (``.csv`` comma, ``.tsv``/``.tab`` tab) when it splits the lines evenly, else the first of
  comma, tab, semicolon and ``|`` that does, else runs of spaces (``np.savetxt``'s files);
* the **header**: ``--header``/``--no-header``, else detected: a first row with text in it
  names the columns (unless it is shaped like the row below: text ids in the same places);
  a first row of exactly ``0,1,…,D-1`` (what pandas writes for an unnamed frame) is a header
  when the rows below are not whole numbers, or the other file has a header of the same
  width; read as data when the other file has none; refused as ambiguous otherwise;
* a **pandas index**: a first column named ``""`` or ``Unnamed: 0`` that counts 0, 1, 2, …
  (or 1, 2, 3, … as R's ``write.csv`` writes row names) is dropped, with a note
  (``--keep-index`` keeps it); one that does not count is refused;
* how the targets' **columns line up** with the predictions': when both files have headers
  of the same width, the same names in another order are put in the predictions' order
  (a note; ``--strict-columns`` makes it an error), different names are a warning.

:func:`decide` returns one :class:`Layout` per source and issues the notes
(:class:`~losscli.errors.LossCliNote`) and warnings; :meth:`Layout.arrange` applies it to
every block of rows a reader produces. Pure: it sees text the caller has read, no files.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .errors import InputError, LossCliNote, LossCliWarning, UsageError

__all__ = [
    "Options",
    "Head",
    "Layout",
    "decide",
    "match_names",
    "read_head",
    "head_of_bytes",
    "parse_delimiter",
    "separator_for",
    "split_rows",
    "QuotingError",
    "clean_cell",
    "is_number",
    "NUMBER",
    "WHITESPACE",
    "HEAD_LINES",
]

# What a cell may hold, after stripping whitespace and one pair of double quotes. Kept to
# what pandas' C parser also accepts so small and big files are treated alike.
NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.I)
_INTEGER = re.compile(r"[+-]?\d+")
WHITESPACE = " "  # the delimiter of whitespace-separated text: runs of spaces and tabs
HEAD_LINES = 50  # lines a decision looks at
_HEAD_MAX_BYTES = 16 << 20
_EXTENSION_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_CANDIDATES = (",", "\t", ";", "|")
_NAMED = {
    "tab": "\t",
    "\\t": "\t",
    "\t": "\t",
    "comma": ",",
    "semicolon": ";",
    "pipe": "|",
    "space": WHITESPACE,
    "whitespace": WHITESPACE,
    " ": WHITESPACE,
}
_INDEX_NAMES = ("", "Unnamed: 0")
_SHOW = 12  # names listed in a message before "… N more"


@dataclass(frozen=True)
class Options:
    """What the command line says about reading text: None means detect."""

    delimiter: str | None = None  # a character, "\t", or WHITESPACE
    header: bool | None = None
    keep_index: bool = False
    strict_columns: bool = False


@dataclass(frozen=True)
class Head:
    """The first lines of one text source, as the caller read them."""

    text: str  # decoded (BOM removed), whole lines only
    source: str  # display name: the path as given, or "<stdin>"
    role: str  # "predictions", "targets", …
    extension: str = ""  # ".csv", ".tsv", … ("" for stdin)
    complete: bool = True  # whether text is the whole input


@dataclass(frozen=True)
class Layout:
    """What was decided for one source.

    ``width`` is the number of fields on each line of the file; ``index`` whether field 0 is a
    row index to drop (``index_start`` is its first value); ``names`` the header's names of
    the kept columns (None without a header); ``order`` the kept columns in the order to
    use (None: as in the file); ``how`` says, per decision, whether it came from an option,
    the extension or detection.
    """

    source: str
    role: str
    sep: str
    header: bool
    width: int
    names: tuple[str, ...] | None = None
    index: bool = False
    index_start: int = 0
    order: tuple[int, ...] | None = None
    how: tuple[tuple[str, str], ...] = ()
    pending: str = ""  # a numeric first row the other file must settle (internal to decide)

    @property
    def pandas_sep(self) -> str:
        return r"\s+" if self.sep == WHITESPACE else self.sep

    @property
    def file_names(self) -> list[str] | None:
        """The header as in the file (index column included), None without one."""
        if self.names is None:
            return None
        return ([""] if self.index else []) + list(self.names)

    @property
    def columns(self) -> list[str] | None:
        """The names of the columns :meth:`arrange` returns, None without a header."""
        if self.names is None:
            return None
        names = list(self.names)
        return [names[j] for j in self.order] if self.order is not None else names

    def no_data_rows(self) -> str:
        """The message for a file whose one row was read as its header. A detected header
        that holds numbers too may be a line of data with a typo in it: say which cell."""
        message = "has a header row but no data rows"
        names = self.file_names or []
        text = next((n for n in names if n and not is_number(n)), None)
        if dict(self.how).get("header_from") == "detected" and text and any(map(is_number, names)):
            message += (
                f"; its one line {_show_row(names)} was read as column names because {text!r} "
                "is not a number: if the line is data, correct that value"
            )
        return message

    def describe(self) -> dict[str, Any]:
        """The decisions, for reports: delimiter, header, index, column order."""
        return {
            "delimiter": {WHITESPACE: "whitespace", "\t": "tab"}.get(self.sep, self.sep),
            "header": self.header,
            "index_dropped": self.index,
            "reordered": self.order is not None,
            **dict(self.how),
        }

    def arrange(self, block: Any, first_row: int = 0) -> Any:
        """A 2-D float array of the file's fields (``first_row``: data rows before it) as the
        losses take it: the index column checked and dropped, the columns put in order."""
        if self.index:
            import numpy as np

            expected = np.arange(len(block), dtype=np.float64) + (first_row + self.index_start)
            got = block[:, 0]
            if not np.array_equal(got, expected):
                i = int(np.argmax(got != expected))
                raise self._error(
                    f"column 1 looked like a row index (it counts {self.index_start}, "
                    f"{self.index_start + 1}, … on the first lines) but data row "
                    f"{first_row + i + 1} holds {_show_number(got[i])}, not "
                    f"{_show_number(expected[i])}; pass --keep-index to read it as data"
                )
            block = block[:, 1:]
        if self.order is not None:
            block = block[:, list(self.order)]
        return block

    def _error(self, message: str) -> InputError:
        return InputError(message, role=self.role, source=self.source)


# --------------------------------------------------------------------------- small helpers


def clean_cell(cell: str) -> str:
    """A cell stripped of whitespace and one pair of double quotes."""
    cell = cell.strip()
    if len(cell) >= 2 and cell[0] == cell[-1] == '"':
        cell = cell[1:-1].strip()
    return cell


def is_number(cell: str) -> bool:
    return bool(NUMBER.fullmatch(cell))


def separator_for(extension: str) -> str:
    """The delimiter an extension names (comma when it names none)."""
    return _EXTENSION_SEPARATORS.get(extension.lower(), ",")


def parse_delimiter(value: str) -> str:
    """``--delimiter``'s value as a delimiter: one character, ``tab`` or ``whitespace``."""
    if value in _NAMED or value.lower() in _NAMED:
        return _NAMED.get(value, _NAMED.get(value.lower(), value))
    if len(value) != 1 or value in '"\r\n' or NUMBER.fullmatch(value) or value in ".+-eE":
        raise UsageError(
            f"--delimiter takes one character (not a quote or part of a number), tab or "
            f"whitespace; got {value!r}"
        )
    return value


def split_rows(stream: Any, sep: str) -> Iterator[tuple[int, list[str], int]]:
    """Rows of ``stream`` split at ``sep``: ``(first line, fields, last line)``, blank lines
    skipped. Raises :class:`QuotingError` for broken quoting."""
    if sep == WHITESPACE:
        for number, line in enumerate(stream, 1):
            fields = line.split()
            if fields:
                yield number, fields, number
        return
    reader = csv.reader(stream, delimiter=sep, skipinitialspace=True)
    end = 0
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            if len(fields) > 1 or (fields and fields[0].strip()):
                yield start, fields, end
    except csv.Error as e:
        raise QuotingError(reader.line_num, str(e)) from None


class QuotingError(csv.Error):
    """A row csv cannot split (broken quoting); ``line`` is where it was found."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


# --------------------------------------------------------------------------- deciding


def decide(
    heads: Sequence[Head], options: Options = Options(), *, match_columns: bool = True
) -> list[Layout]:
    """One :class:`Layout` per head, issuing the notes and warnings about them.

    The predictions and the targets (roles ``"predictions"`` and ``"targets"``) are decided
    together: a numeric first row is settled by the other file's header, and (unless
    ``match_columns`` is false: columns are picked by name) the targets' columns are matched
    to the predictions' names. Any other source is decided alone.
    """
    notes: list[str] = []
    found = [_sniff(h, options, notes) for h in heads]
    roles = [h.role for h in heads]
    if "predictions" in roles and "targets" in roles:
        i, j = roles.index("predictions"), roles.index("targets")
        found[i] = _settle(found[i], found[j], heads[i], notes)
        found[j] = _settle(found[j], found[i], heads[j], notes)
        if match_columns:
            found[j] = _match_columns(found[i], found[j], options, notes)
    for k, lay in enumerate(found):
        if lay.pending:
            found[k] = _settle(lay, None, heads[k], notes)
    _issue(notes)
    return found


def _issue(notes: list[str]) -> None:
    """Notes as LossCliNote, those marked "!" as LossCliWarning, each once."""
    for message in dict.fromkeys(notes):
        category = LossCliWarning if message.startswith("!") else LossCliNote
        warnings.warn(message.lstrip("!"), category, stacklevel=3)


def _sniff(head: Head, options: Options, notes: list[str]) -> Layout:
    """The decisions one source allows alone (a numeric first row may stay pending)."""

    def error(message: str) -> InputError:
        return InputError(message, role=head.role, source=head.source)

    how = []
    if options.delimiter is not None:
        sep = options.delimiter
        how.append(("delimiter_from", "option"))
    else:
        sep, origin = _detect_delimiter(head, error)
        how.append(("delimiter_from", origin))
        expected = _EXTENSION_SEPARATORS.get(head.extension)
        if origin == "detected" and expected is not None and sep != expected:
            notes.append(
                f"{head.source}: read as {_sep_name(sep)}-separated, although its extension "
                f"says {_sep_name(expected)}; pass --delimiter to choose"
            )
    rows = _sample(head, sep, error)
    if not rows:
        raise error("file is empty")
    first = [clean_cell(c) for c in rows[0]]
    width = len(first)
    below = [[clean_cell(c) for c in r] for r in rows[1:]]
    pending = ""
    if options.header is True:
        header = True
        how.append(("header_from", "option"))
    elif options.header is False:
        if not any(is_number(c) for c in first):
            raise error(
                f"--no-header was given, but the first row ({_show_row(first)}) holds no "
                "numbers: it looks like column names; drop --no-header"
            )
        header = False
        how.append(("header_from", "option"))
    else:
        header = _header(first, below[0] if below else None)
        how.append(("header_from", "detected"))
        if not header and width >= 2 and first == [str(j) for j in range(width)]:
            why = ""
            if not all(_INTEGER.fullmatch(c) for r in below for c in r):
                why = "the rows below are not whole numbers"
            elif width >= 3 and below and max(abs(int(c)) for r in below for c in r) < width - 1:
                why = f"no row below holds a value as large as {width - 1}"
            else:
                pending = "integers"
            if why:
                header = True
                notes.append(
                    f"{head.source}: first row {_show_row(first, quote=False)} read as column "
                    f"names, as pandas writes them for an unnamed frame ({why}); pass "
                    "--no-header if it is data"
                )
    lay = Layout(head.source, head.role, sep, header, width, how=tuple(how), pending=pending)
    if header:
        lay = _index(lay, first, below, options, error, notes)
    return lay


def _sample(head: Head, sep: str, error) -> list[list[str]]:
    """The first rows of the head (a last row the head may have cut is left out)."""
    out: list[list[str]] = []
    try:
        for _, fields, _ in split_rows(io.StringIO(head.text, newline=None), sep):
            out.append(fields)
            if len(out) > HEAD_LINES:
                break
    except csv.Error:
        if not out:
            raise error("cannot parse line 1 (broken quoting)") from None
    if not head.complete and len(out) > 1 and len(out) <= HEAD_LINES:
        out.pop()
    return out[:HEAD_LINES]


def _detect_delimiter(head: Head, error) -> tuple[str, str]:
    """``(delimiter, "extension" or "detected")``."""
    preferred = _EXTENSION_SEPARATORS.get(head.extension)
    order = ([preferred] if preferred else []) + [c for c in _CANDIDATES if c != preferred]
    for sep in order:
        if sep in head.text:
            try:
                rows = [r for r in _sample(head, sep, error) if any(c.strip() for c in r)]
            except InputError:
                continue
            widths = {len(r) for r in rows}
            if len(widths) == 1 and widths.pop() >= 2:
                return sep, "extension" if sep == preferred else "detected"
    rows = _sample(head, WHITESPACE, error)
    widths = {len(r) for r in rows}
    if rows and len(widths) == 1 and widths.pop() >= 2 and '"' not in head.text:
        return WHITESPACE, "detected"
    return preferred or ",", "extension" if preferred else "default"


def _header(first: list[str], second: list[str] | None) -> bool:
    """Whether a first row names the columns, by itself and the row below.

    A row of numbers is data. A row with text in it is a header — unless it has the shape of
    the row below (text in the same columns, numbers in the others, at least one number), as
    the rows of a header-less file with an id column do. An empty first cell before names
    (``,a,b`` or ``,0,1``: pandas' index column) makes a header too.
    """
    kinds = [is_number(c) for c in first]
    if len(first) >= 2 and first[0] == "" and all(first[1:]):
        return True
    if all(k or not c for k, c in zip(kinds, first, strict=True)):
        return False  # numbers (and holes): data
    if second is None or len(second) != len(first) or not any(kinds):
        return True
    return kinds != [is_number(c) for c in second]


def _index(lay: Layout, first, below, options: Options, error, notes) -> Layout:
    """The names, and whether the first column is a pandas index (checked on the first
    lines here, on every row by :meth:`Layout.arrange`)."""
    names = tuple(first)
    column = [r[0] for r in below if r]
    if options.keep_index or lay.width < 2 or first[0] not in _INDEX_NAMES or not column:
        return replace(lay, names=names)  # (no rows: the reader says so)
    start = None
    if all(_INTEGER.fullmatch(c) for c in column):
        values = [int(c) for c in column]
        for s in (0, 1):
            if values == list(range(s, s + len(values))):
                start = s
                break
    shown = "no name" if first[0] == "" else f'the name "{first[0]}"'
    if start is None:
        raise error(
            f"column 1 has {shown}, as a pandas index does, but does not count 0, 1, 2, …: "
            "if it is an index, remove it (to_csv(index=False) writes none); to read it as "
            "data, pass --keep-index"
        )
    counting = "0, 1, 2, …" if start == 0 else "1, 2, 3, …"
    notes.append(
        f"{lay.source}: column 1 ({shown}, counting {counting}) is a row index, as pandas "
        "writes one; it is left out (pass --keep-index to keep it)"
    )
    return replace(
        lay,
        names=names[1:],
        index=True,
        index_start=start,
        how=(*lay.how, ("index_from", "detected")),
    )


def _settle(lay: Layout, other: Layout | None, head: Head, notes: list[str]) -> Layout:
    """A first row ``0,1,…`` over rows of whole numbers, decided by the other file: a header
    when the other file has one of the same width, else data (said in a note when there is
    no other file to go by)."""
    if not lay.pending:
        return lay
    shown = _show_row([str(j) for j in range(lay.width)], quote=False)
    if other is not None and not other.pending:
        if other.header and other.width - int(other.index) == lay.width:
            notes.append(
                f"{lay.source}: first row {shown} read as column names, as pandas writes them "
                f"for an unnamed frame ({other.source} has a header of the same width); pass "
                "--no-header if it is data"
            )
            names = tuple(str(j) for j in range(lay.width))
            return replace(lay, header=True, names=names, pending="")
        if not other.header:
            return replace(lay, pending="")  # as the other file: no header
    if other is None or other.header:
        notes.append(
            f"{lay.source}: first row {shown} read as data; pass --header if it is column "
            "names, as pandas writes them for an unnamed frame"
        )
    return replace(lay, pending="")  # both files start 0,1,…: read alike, as data


def _match_columns(preds: Layout, targets: Layout, options: Options, notes) -> Layout:
    """The targets' columns in the predictions' order when both name the same columns."""
    if preds.names is None or targets.names is None:
        return targets
    order = _compare(preds.names, targets.names, preds.source, targets, options, notes)
    if order is None:
        return targets
    return replace(targets, order=order, how=(*targets.how, ("order_from", "names")))


def match_names(
    predictions: Sequence[str],
    targets: Sequence[str],
    *,
    sources: tuple[str, str],
    options: Options = Options(),
) -> tuple[int, ...] | None:
    """The targets' columns (by position) in the order of the predictions' names when both
    name the same columns in another order, else None; issues the note or warning, and
    raises with ``options.strict_columns``. ``sources`` names the two inputs in messages.
    Used where columns are taken without a :class:`Layout` (the id-column mode)."""
    notes: list[str] = []
    target = Layout(sources[1], "targets", ",", True, len(targets))
    order = _compare(tuple(predictions), tuple(targets), sources[0], target, options, notes)
    _issue(notes)
    return order


def _compare(p, t, p_source: str, targets: Layout, options: Options, notes):
    """The rule of :func:`match_names`, its notes added to ``notes``."""
    if len(p) != len(t) or len(p) < 2 or p == t:
        return None
    if all(map(is_number, p)) or all(map(is_number, t)):  # numbers (pandas' 0,1,…) name nothing
        return None
    if sorted(p) == sorted(t) and len(set(p)) == len(p):
        if options.strict_columns:
            raise InputError(
                f"columns {_listing(t)} are those of {p_source} ({_listing(p)}) in another "
                "order; put them in the same order, or drop --strict-columns to have them "
                "matched by name",
                role=targets.role,
                source=targets.source,
            )
        notes.append(
            f"{targets.source}: columns {_listing(t)} put in the order of {p_source} "
            f"({_listing(p)}) by name; pass --strict-columns to make this an error"
        )
        return tuple(t.index(name) for name in p)
    if options.strict_columns:
        raise InputError(
            f"columns {_listing(t)} are not those of {p_source} ({_listing(p)}); rename "
            "them, or drop --strict-columns to pair them by position",
            role=targets.role,
            source=targets.source,
        )
    notes.append(
        f"!{p_source} and {targets.source} name their columns differently: "
        f"{_listing(p)} vs {_listing(t)}; they are paired by position"
    )
    return None


def _listing(names: Sequence[str]) -> str:
    names = [n or '""' for n in names]
    if len(names) > _SHOW:
        names = [*names[:_SHOW], f"… {len(names) - _SHOW} more"]
    return ", ".join(names)


def _show_row(cells: Sequence[str], quote: bool = True) -> str:
    text = ",".join(cells)
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text) if quote else f'"{text}"'


def _show_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _sep_name(sep: str) -> str:
    return {",": "comma", "\t": "tab", ";": "semicolon", WHITESPACE: "whitespace", "|": "pipe"}.get(
        sep, repr(sep)
    )


def read_head(stream: Any, source: str, role: str, extension: str = "") -> Head:
    """The :class:`Head` of a binary stream: its first lines, read without seeking (the
    stream is left wherever reading them took it)."""
    chunks: list[bytes] = []
    lines = size = 0
    complete = False
    # Enough lines, or (very wide rows) 16 MiB holding at least one whole line.
    while lines <= HEAD_LINES + 1 and not (size >= _HEAD_MAX_BYTES and lines):
        chunk = stream.read(1 << 16)
        if not chunk:
            complete = True
            break
        chunks.append(chunk)
        lines += chunk.count(b"\n")
        size += len(chunk)
    data = b"".join(chunks)
    return head_of_bytes(data, source, role, extension, complete=complete)


def head_of_bytes(
    data: bytes, source: str, role: str, extension: str = "", *, complete: bool = True
) -> Head:
    """The :class:`Head` of the first bytes of an input (``complete``: all of it)."""
    cut = -1
    for _ in range(HEAD_LINES + 2):
        cut = data.find(b"\n", cut + 1)
        if cut < 0:
            break
    if cut < 0 and not complete:
        cut = data.rfind(b"\n")  # a character may be cut at the end: whole lines only
    if cut >= 0:
        complete = complete and cut + 1 == len(data)
        data = data[: cut + 1]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            "file is not UTF-8 text; save it as UTF-8", role=role, source=source
        ) from None
    return Head(text, source, role, extension.lower(), complete)
