"""Stage 2: parse label<TAB>text lines, validate them, drop duplicate texts, write Parquet.

Parsed by hand rather than with pandas.read_csv: its default quoting merges lines at a stray `"`
(5,572 rows instead of 5,574), and a hand parser can name the exact bad line.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import typer

from stages.common.cli import reports_errors, stage_app
from stages.common.errors import StageError
from stages.common.io import write_json, write_parquet
from stages.common.layout import MESSAGES_FILE, RAW_FILE, SUMMARY_FILE
from stages.common.params import load_params

app = stage_app(__doc__)

LABELS = {"ham": 0, "spam": 1}
EXCERPT = 60


@dataclass(frozen=True)
class BadLine:
    number: int
    reason: str
    excerpt: str

    def __str__(self) -> str:
        return f"line {self.number}: {self.reason}: {self.excerpt!r}"


@dataclass(frozen=True)
class Parsed:
    messages: pd.DataFrame  # columns: line, label ("ham"/"spam"), text
    bad_lines: list[BadLine]
    blank_lines: int


def _excerpt(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"


def parse_collection(raw: bytes) -> Parsed:
    """Parse the whole file. Lines end in LF or CRLF; a leading BOM is ignored; blank lines skipped.

    A line is `label<TAB>text`: the label is ham or spam in any case, and the text (which may itself
    hold tabs) is kept exactly, and must not be blank.
    """
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the file's final newline does not start another line
    rows, bad, blank = [], [], 0
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix(b"\r")
        if not line.strip():
            blank += 1
            continue
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append(BadLine(number, f"invalid UTF-8 at byte {exc.start}", _excerpt(line)))
            continue
        label, tab, text = decoded.partition("\t")
        if not tab:
            bad.append(BadLine(number, "no tab between label and text", _excerpt(line)))
        elif label.strip().lower() not in LABELS:
            bad.append(BadLine(number, f"label {label[:20]!r} is not ham or spam", _excerpt(line)))
        elif not text.strip():
            bad.append(BadLine(number, "empty text", _excerpt(line)))
        else:
            rows.append((number, label.strip().lower(), text))
    messages = pd.DataFrame(rows, columns=["line", "label", "text"])
    return Parsed(messages, bad, blank)


def message_id(text: str) -> str:
    """A stable id: the first 16 hex digits of the text's sha256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def decode_entities(messages: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """HTML entities decoded (`&lt;#&gt;` -> `<#>`, `&amp;` -> `&`); returns the table and how many texts changed.

    The collection was scraped from web pages: its `&lt;#&gt;` is a number placeholder, and undecoded the
    vectorizers learn "lt" and "gt" as two of the commonest ham words.
    """
    decoded = messages["text"].map(html.unescape)
    return messages.assign(text=decoded), int((decoded != messages["text"]).sum())


def drop_duplicates(messages: pd.DataFrame) -> pd.DataFrame:
    """Keep the first of each exact text; the same text under two labels is an error."""
    labels_per_text = messages.groupby("text", sort=False)["label"].nunique()
    conflicts = labels_per_text[labels_per_text > 1].index
    if len(conflicts):
        first = messages[messages["text"] == conflicts[0]]
        lines = ", ".join(f"line {n} says {lab}" for n, lab in zip(first["line"], first["label"], strict=True))
        raise StageError(
            f"{len(conflicts)} text(s) appear with both labels; first: {_excerpt(conflicts[0].encode())!r} ({lines})"
        )
    return messages.drop_duplicates("text", keep="first")


def prepare_messages(raw: bytes, on_bad_line: str, decode_html_entities: bool = True) -> tuple[pd.DataFrame, dict]:
    """Return the clean table (id, text, label 0/1) and a summary of what was decoded and dropped.

    Entities are decoded before duplicates are dropped, so `a &amp; b` and `a & b` count as one text.
    """
    parsed = parse_collection(raw)
    if parsed.bad_lines and on_bad_line == "error":
        shown = "\n  ".join(str(b) for b in parsed.bad_lines[:5])
        more = f"\n  … and {len(parsed.bad_lines) - 5} more" if len(parsed.bad_lines) > 5 else ""
        raise StageError(
            f"{len(parsed.bad_lines)} bad line(s) (set prepare.on_bad_line: skip to drop them):\n  {shown}{more}"
        )
    messages, decoded = decode_entities(parsed.messages) if decode_html_entities else (parsed.messages, 0)
    unique = drop_duplicates(messages)
    if unique.empty:
        raise StageError("no valid messages in the input")
    table = pd.DataFrame(
        {
            "id": unique["text"].map(message_id),
            "text": unique["text"],
            "label": unique["label"].map(LABELS).astype("int8"),
        }
    ).reset_index(drop=True)
    summary = {
        "lines": len(parsed.messages) + len(parsed.bad_lines) + parsed.blank_lines,
        "blank_lines": parsed.blank_lines,
        "bad_lines": len(parsed.bad_lines),
        "bad_line_examples": [str(b) for b in parsed.bad_lines[:20]],
        "html_entities_decoded": decoded,  # lines whose text changed, counted before duplicates are dropped
        "duplicates_dropped": len(parsed.messages) - len(unique),
        "messages": len(table),
        "spam": int(table["label"].sum()),
        "ham": int((table["label"] == 0).sum()),
    }
    return table, summary


@app.command()
@reports_errors
def main(
    raw_file: Path = typer.Argument(RAW_FILE),
    output: Path = typer.Argument(MESSAGES_FILE),
    summary_file: Path = typer.Argument(SUMMARY_FILE),
) -> None:
    """Validate, decode HTML entities in and deduplicate RAW_FILE (params: prepare) into OUTPUT (Parquet)."""
    params = load_params().prepare
    table, summary = prepare_messages(raw_file.read_bytes(), params.on_bad_line, params.decode_html_entities)
    write_parquet(table, output)
    write_json(summary_file, summary)
    typer.echo(
        f"wrote {output}: {summary['messages']:,} messages ({summary['spam']:,} spam); decoded HTML entities in "
        f"{summary['html_entities_decoded']:,} lines; dropped "
        f"{summary['duplicates_dropped']:,} duplicates, {summary['bad_lines']:,} bad "
        f"and {summary['blank_lines']:,} blank lines"
    )


if __name__ == "__main__":
    app()
