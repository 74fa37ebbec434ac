"""Readers for labelled messages: CSV/TSV, JSONL and Parquet files (params: prepare.sources).

Each reader returns the same `Parsed` table as the collection's parser (line, label ham/spam, text), with
every bad row named by file and line (Parquet: row), so `prepare` can stop at them or skip and count them.
Line endings: LF, CRLF and old-Mac CR-only all end a line; a CR-only file is never read as one message.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from stages.common.errors import StageError, clip

if TYPE_CHECKING:
    import pandas as pd

    from stages.common.params import SourceParams

EXCERPT = 60
# Every source file lives in here: dvc.yaml's prepare depends on this directory, so a file added to it
# (or changed) reruns prepare, whatever the number of files; params.yaml says how to read each one.
SOURCES_DIR = PurePosixPath("data/sources")
LINE_END = re.compile(rb"\r\n|\r|\n")
GLOB_CHARS = re.compile(r"[*?\[]")
TEXT_LINE_END = re.compile(r"\r\n|\r|\n")  # the same three, in decoded text (not str.splitlines' dozen)
SURROGATE = re.compile("[\udc80-\udcff]")  # bytes that were not valid in the file's encoding (UNDECODABLE)
UNDECODABLE = "spamneuron-undecodable"
# The csv module's default field limit: a longer field is a bad line, not the end of the file (csv.Error).
FIELD_LIMIT = 131_072


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    """Like surrogateescape, a lone surrogate in place of the bytes that cannot be decoded, so that the row holding
    them becomes a bad line; unlike it, for any bytes (surrogateescape gives up on UTF-16's, below 0x80)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "".join(chr(0xDC00 | max(b, 0x80)) for b in error.object[error.start : error.end]), error.end


codecs.register_error(UNDECODABLE, _mark_undecodable)


@dataclass(frozen=True)
class BadLine:
    number: int
    reason: str
    excerpt: str
    source: str = ""  # the file, when prepare reads more than one
    unit: str = "line"  # Parquet has rows, not lines

    def __str__(self) -> str:
        where = f"{self.source} {self.unit}" if self.source else self.unit
        return f"{where} {self.number}: {self.reason}: {self.excerpt!r}"


@dataclass(frozen=True)
class Parsed:
    messages: pd.DataFrame  # columns: line, label ("ham"/"spam"), text
    bad_lines: list[BadLine]
    blank_lines: int


def excerpt(raw: bytes | str) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else SURROGATE.sub("\ufffd", raw)
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"


def split_lines(raw: bytes) -> list[bytes]:
    """The file's lines: LF, CRLF and CR-only endings all end one (a final line end starts no new line)."""
    lines = LINE_END.split(raw)
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def label_key(value: object) -> str:
    """How a label value is compared with prepare.sources[].spam/ham: as text, trimmed, any case."""
    return str(value).strip().lower()


class RowChecker:
    """Turns (line, label value, text) into a row or a BadLine, for every reader alike."""

    def __init__(self, spec: SourceParams, source: str, unit: str = "line") -> None:
        self.spec, self.source, self.unit = spec, source, unit
        self.spam = {label_key(v) for v in spec.spam}
        self.ham = {label_key(v) for v in spec.ham}
        self.rows: list[tuple[int, str, str]] = []
        self.bad: list[BadLine] = []
        self.blank = 0

    def bad_row(self, number: int, reason: str, raw: bytes | str) -> None:
        self.bad.append(BadLine(number, reason, excerpt(raw), self.source, self.unit))

    def add(self, number: int, label: object, text: object, raw: bytes | str) -> None:
        if isinstance(text, str) and SURROGATE.search(text):
            return self.bad_row(number, f"not valid {self.spec.encoding} text", raw)
        if not isinstance(text, str):
            return self.bad_row(number, f"{self.spec.text!r} is {type(text).__name__}, not text", raw)
        if not text.strip():
            return self.bad_row(number, "empty text", raw)
        if "\x00" in text:  # binary data: `spam predict` refuses it too
            return self.bad_row(number, "a NUL character (binary data?)", raw)
        if label is None or isinstance(label, bool | float | dict | list):
            return self.bad_row(number, f"label {clip(label, 20)!r} is not a text or a whole number", raw)
        key = label_key(label)
        if key in self.spam:
            self.rows.append((number, "spam", text))
        elif key in self.ham:
            self.rows.append((number, "ham", text))
        else:
            return self.bad_row(
                number, f"label {clip(label, 20)!r} is neither spam ({self.spec.spam}) nor ham ({self.spec.ham})", raw
            )
        return None

    def parsed(self) -> Parsed:
        import pandas as pd  # 0.2 s: only prepare, which reads the sources, pays it (not spam repro's check)

        return Parsed(pd.DataFrame(self.rows, columns=["line", "label", "text"]), self.bad, self.blank)


def python_codec(encoding: str) -> str:
    """utf-8 files may start with a BOM (Excel writes one): utf-8-sig reads both."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def column_index(header: list[str], column: str, source: str) -> int:
    names = [name.strip() for name in header]
    if column not in names:
        raise StageError(f"{source}: no column {column!r} in its header (columns: {clip(', '.join(names))})")
    return names.index(column)


def read_delimited(raw: bytes, spec: SourceParams, source: str, delimiter: str) -> Parsed:
    """CSV (RFC 4180 quoting: a quoted field may hold commas and line breaks) or TSV (no quoting: a `"` is
    text, as in the SMS collection). The first row names the columns."""
    text = raw.decode(python_codec(spec.encoding), errors=UNDECODABLE)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    # newline="": the csv module ends records itself at LF, CRLF or CR, and keeps line breaks in quotes.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
    checker = RowChecker(spec, source)
    limit = csv.field_size_limit(max(FIELD_LIMIT, len(text) + 1))  # no field is longer than the file
    try:
        header = next(reader, None)
        if header is None:
            raise StageError(f"{source} is empty: it needs a header row naming the columns")
        text_at, label_at = column_index(header, spec.text, source), column_index(header, spec.label, source)
        while True:
            start = reader.line_num + 1  # a quoted field may span lines: name the record's first line
            row = next(reader, None)
            if row is None:
                break
            if not any(field.strip() for field in row):
                checker.blank += 1
            elif (longest := max(len(field) for field in row)) > FIELD_LIMIT:
                reason = f"a field of {longest:,} characters, over the limit of {FIELD_LIMIT:,}"
                checker.bad_row(start, reason, delimiter.join(row))
            elif len(row) <= max(text_at, label_at):
                checker.bad_row(start, f"{len(row)} field(s), the header has {len(header)}", delimiter.join(row))
            else:
                checker.add(start, row[label_at], row[text_at], delimiter.join(row))
    except csv.Error as exc:
        raise StageError(f"{source} line {reader.line_num}: not valid {spec.format.upper()}: {exc}") from None
    finally:
        csv.field_size_limit(limit)  # a process-wide setting
    return checker.parsed()


def read_jsonl(raw: bytes, spec: SourceParams, source: str) -> Parsed:
    """One JSON object a line, e.g. {"text": "...", "label": "spam"}.

    The whole file is decoded before it is split into lines: in UTF-16 a line end's byte is half a character.
    """
    checker = RowChecker(spec, source)
    lines = TEXT_LINE_END.split(raw.decode(python_codec(spec.encoding), errors=UNDECODABLE))
    if lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            checker.blank += 1
            continue
        if SURROGATE.search(line):
            checker.bad_row(number, f"not valid {spec.encoding} text", line)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            checker.bad_row(number, f"not JSON ({exc.msg})", line)
            continue
        except ValueError:  # json makes every digit string an int, and Python refuses one over 4,300 digits
            checker.bad_row(
                number, f"not JSON Python can read (a number of over {sys.get_int_max_str_digits()} digits)", line
            )
            continue
        except RecursionError:
            checker.bad_row(number, "not JSON Python can read (nested too deep)", line)
            continue
        if not isinstance(record, dict):
            checker.bad_row(number, f"a JSON {type(record).__name__}, not an object", line)
        elif spec.text not in record or spec.label not in record:
            missing = spec.text if spec.text not in record else spec.label
            checker.bad_row(number, f"no field {missing!r}", line)
        else:
            checker.add(number, record[spec.label], record[spec.text], line)
    return checker.parsed()


def read_parquet(path: Path, spec: SourceParams, source: str) -> Parsed:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        for column in (spec.text, spec.label):
            if column not in names:
                raise StageError(f"{source}: no column {column!r} (columns: {clip(', '.join(names))})")
        table = pq.read_table(path, columns=[spec.text, spec.label])
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise StageError(f"{source} is not a readable Parquet file: {clip(str(exc), 200)}") from None
    checker = RowChecker(spec, source, unit="row")
    texts, labels = table.column(spec.text).to_pylist(), table.column(spec.label).to_pylist()
    for number, (text, label) in enumerate(zip(texts, labels, strict=True), start=1):
        checker.add(number, label, text, f"{label}\t{text}")
    return checker.parsed()


def read_source(path: Path, spec: SourceParams) -> Parsed:
    """One file of a source, read as its spec says (format, columns, label values, encoding)."""
    source = path.as_posix()
    if spec.format == "parquet":
        return read_parquet(path, spec, source)
    raw = path.read_bytes()
    if spec.format == "jsonl":
        return read_jsonl(raw, spec, source)
    return read_delimited(raw, spec, source, "\t" if spec.format == "tsv" else ",")


def _kind(mode: int) -> str | None:
    """What a non-regular entry is, in words; None for a regular file or a directory."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def _irregular(directory: str) -> Iterator[tuple[str, str]]:
    """(path, kind) of every entry under `directory` that is neither a regular file nor a directory; links are
    never followed and nothing is opened (opening a FIFO blocks until a writer comes)."""
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            kind = _kind(entry.stat(follow_symlinks=False).st_mode)
            if kind is not None:
                yield entry.path, kind
            elif entry.is_dir(follow_symlinks=False):
                yield from _irregular(entry.path)


def check_sources_dir(root: Path = Path(SOURCES_DIR)) -> None:
    """StageError naming the first entry under data/sources that is not a regular file or a directory.

    DVC hashes a symlink as the link, not what it points to (so a file changed behind one reruns nothing and
    prepare reads stale rows), and `dvc status` hangs reading a FIFO: both are refused before anything reads
    the folder, by prepare and by `spam repro`.
    """
    if root.is_symlink():
        raise StageError(f"{root.as_posix()} is a symbolic link: {SOURCES_DIR} must be a real directory")
    if not root.is_dir():  # no sources: nothing to check
        return
    found = list(itertools.islice(_irregular(str(root)), 2))
    if found:
        path, kind = found[0]
        more = " (and more)" if len(found) > 1 else ""
        raise StageError(
            f"{Path(path).as_posix()} is {kind}{more}: {SOURCES_DIR} holds regular files only (DVC would hash "
            "a link, not its target, and a pipe or device hangs it); copy the data in as a file instead"
        )


def source_files(spec: SourceParams, key: str) -> Iterator[Path]:
    """The files of one source: its path, which must exist, or every match of its glob (possibly none),
    sorted so that the concatenation, and so the first of two duplicates kept, never depends on the disk."""
    if GLOB_CHARS.search(spec.files) is None:
        path = Path(spec.files)
        if not path.is_file():
            raise StageError(
                f"{key}.files: {spec.files} is not a file (a glob such as data/sources/new/*.csv may match none)"
            )
        yield path
        return
    yield from sorted(p for p in Path().glob(spec.files) if p.is_file())
