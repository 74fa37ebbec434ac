"""Messages read from a file or stdin one line at a time, in bounded memory, for `spam predict`.

A line is held up to `cap` characters (MAX_CHARS): the rest of a longer line is read and dropped,
never stored, so a 50 MB line or an endless stream costs kilobytes. Lines end at LF, CRLF or CR. NUL bytes
(binary input, /dev/zero) stop the read at the first block that holds one.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from stages.common.errors import StageError

MAX_CHARS = 5_000  # SMS are short; longer input is cut (app and `spam predict` alike), with a note
BLOCK = 1 << 16  # bytes read at a time
LINE_END = re.compile(rb"\r\n|\r|\n")
BYTES_PER_CHAR = 4  # UTF-8's longest character: `cap` characters never need more than 4 * cap bytes
CUT_LINES_SHOWN = 3
# Half of a UTF-16 pair: not a character. Bytes that are not UTF-8 on a command line, or a browser's broken
# text, reach Python as one; it cannot be encoded.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class StreamStats:
    """What the reader skipped or cut, for the notes printed after the output."""

    blank: int = 0
    cut: int = 0
    cut_examples: list[str] = field(default_factory=list)  # "line 3 (52,428,800 bytes)"

    def cut_note(self, cap: int) -> str | None:
        if not self.cut:
            return None
        lines = ", ".join(self.cut_examples) + (", …" if self.cut > len(self.cut_examples) else "")
        many = "s were" if self.cut != 1 else " was"
        return f"note: {self.cut:,} message{many} longer than {cap:,} characters; scored the first {cap:,} ({lines})"

    def record_cut(self, where: str) -> None:
        self.cut += 1
        if len(self.cut_examples) < CUT_LINES_SHOWN:
            self.cut_examples.append(where)


def raw_lines(read: Callable[[int], bytes], source: str, cap_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(the line's first `cap_bytes` bytes, the line's full length in bytes) for each line of the stream."""
    current, length, after_cr, number = bytearray(), 0, False, 1
    while chunk := read(BLOCK):
        if after_cr and chunk[:1] == b"\n":  # the second half of a CRLF split between two blocks
            chunk = chunk[1:]
        nul = chunk.find(b"\0")
        if nul >= 0:
            line = number + len(LINE_END.findall(chunk[:nul]))
            raise StageError(f"{source} looks binary (NUL byte on line {line}): give a text file, one message a line")
        start = 0
        for end in LINE_END.finditer(chunk):
            piece = chunk[start : end.start()]
            current += piece[: max(cap_bytes - len(current), 0)]
            yield bytes(current), length + len(piece)
            current, length, start, number = bytearray(), 0, end.end(), number + 1
        piece = chunk[start:]
        current += piece[: max(cap_bytes - len(current), 0)]
        length += len(piece)
        after_cr = chunk.endswith(b"\r")
    if length:
        yield bytes(current), length


def stream_messages(read: Callable[[int], bytes], source: str, cap: int, stats: StreamStats) -> Iterator[str]:
    """The non-blank lines of a UTF-8 stream (a leading BOM dropped), each cut to `cap` characters."""
    for number, (data, length) in enumerate(raw_lines(read, source, cap * BYTES_PER_CHAR), start=1):
        if number == 1:
            data, length = data.removeprefix(codecs.BOM_UTF8), length - data.startswith(codecs.BOM_UTF8) * 3
        try:
            # A line cut mid-character: the incremental decoder leaves the unfinished character out.
            text = codecs.getincrementaldecoder("utf-8")().decode(data, final=len(data) == length)
        except UnicodeDecodeError:
            raise StageError(
                f"{source} is not UTF-8 text (line {number}): give a text file, one message a line"
            ) from None
        if not text.strip():
            stats.blank += 1
            continue
        if len(text) > cap or len(data) < length:
            size = f"{len(text):,} characters" if len(data) == length else f"{length:,} bytes"
            stats.record_cut(f"line {number}: {size}")
            text = text[:cap]
        yield text
