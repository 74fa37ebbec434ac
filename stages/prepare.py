"""Stage 2: read the collection's label<TAB>text lines and prepare.sources, validate, drop duplicate texts.

Parsed by hand rather than with pandas.read_csv: its default quoting merges lines at a stray `"`
(5,572 rows instead of 5,574), and a hand parser can name the exact bad line.
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from stages.common.cli import reports_errors, stage_app
from stages.common.errors import StageError, clip
from stages.common.io import write_json, write_parquet
from stages.common.layout import GROUPS_FILE, MESSAGES_FILE, RAW_FILE, SUMMARY_FILE
from stages.common.near_duplicates import group_near_duplicates
from stages.common.params import NearDuplicateParams, PrepareParams, load_params
from stages.common.sources import (
    BadLine,
    Parsed,
    check_sources_dir,
    excerpt,
    read_source,
    source_files,
    split_lines,
)

app = stage_app(__doc__)

LABELS = {"ham": 0, "spam": 1}
MAX_TWINS_SHOWN = 20  # cross-source near-twins listed in the summary (all are counted)


def parse_collection(raw: bytes) -> Parsed:
    """Parse the whole file. Lines end in LF, CRLF or CR; a leading BOM is ignored; blank lines skipped.

    A line is `label<TAB>text`: the label is ham or spam in any case, and the text (which may itself
    hold tabs) is kept exactly, and must not be blank.
    """
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    rows, bad, blank = [], [], 0
    for number, line in enumerate(split_lines(raw), start=1):  # a CR-only file is never one message
        if not line.strip():
            blank += 1
            continue
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append(BadLine(number, f"invalid UTF-8 at byte {exc.start}", excerpt(line)))
            continue
        label, tab, text = decoded.partition("\t")
        if not tab:
            bad.append(BadLine(number, "no tab between label and text", excerpt(line)))
        elif label.strip().lower() not in LABELS:
            bad.append(BadLine(number, f"label {label[:20]!r} is not ham or spam", excerpt(line)))
        elif not text.strip():
            bad.append(BadLine(number, "empty text", excerpt(line)))
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


def blank_once_decoded(name: str, parsed: Parsed) -> Parsed:
    """The part without the texts that decoding HTML entities leaves blank (`&nbsp;`, `&#32;&#32;`): those
    become bad lines, as an empty text is, instead of training texts of nothing but whitespace."""
    texts = parsed.messages["text"]
    blank = texts.map(html.unescape).str.strip().eq("")
    if not blank.any():
        return parsed
    bad = [
        BadLine(int(line), "empty text once HTML entities are decoded", excerpt(text), name)
        for line, text in zip(parsed.messages["line"][blank], texts[blank], strict=True)
    ]
    kept = parsed.messages[~blank].reset_index(drop=True)
    # In line order, so that the first five listed are the file's first five
    return Parsed(kept, sorted([*parsed.bad_lines, *bad], key=lambda b: b.number), parsed.blank_lines)


def drop_duplicates(messages: pd.DataFrame) -> pd.DataFrame:
    """Keep the first of each exact text; the same text under two labels is an error naming where each is."""
    labels_per_text = messages.groupby("text", sort=False)["label"].nunique()
    conflicts = labels_per_text[labels_per_text > 1].index
    if len(conflicts):
        first = messages[messages["text"] == conflicts[0]]
        sources = first["source"] if "source" in first else [""] * len(first)
        lines = ", ".join(
            f"{f'{source} ' if source else ''}line {n} says {lab}"
            for source, n, lab in zip(sources, first["line"], first["label"], strict=True)
        )
        raise StageError(
            f"{len(conflicts)} text(s) appear with both labels; first: {excerpt(conflicts[0].encode())!r} ({lines})"
        )
    return messages.drop_duplicates("text", keep="first")


def prepare_messages(raw: bytes, on_bad_line: str, decode_html_entities: bool = True) -> tuple[pd.DataFrame, dict]:
    """The bundled collection alone: see prepare_parts."""
    return prepare_parts([("", parse_collection(raw))], on_bad_line, decode_html_entities)


def prepare_parts(
    parts: list[tuple[str, Parsed]], on_bad_line: str, decode_html_entities: bool = True
) -> tuple[pd.DataFrame, dict]:
    """Return the clean table (id, text, label 0/1) of all parts, concatenated in order, and a summary of
    what was decoded and dropped. Each part is (source name, parsed file); the name ("" for the collection
    read alone) is how bad lines and conflicting labels are located.

    Entities are decoded before duplicates are dropped, so `a &amp; b` and `a & b` count as one text.
    """
    table, _, summary = located_messages(parts, on_bad_line, decode_html_entities)
    return table, summary


def located_messages(
    parts: list[tuple[str, Parsed]], on_bad_line: str, decode_html_entities: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """prepare_parts' table and summary, and between them each kept message's (source, line): what names
    a near-twin in the summary. The table is what messages.parquet holds, nothing more, so that the encoders
    (which depend on it) rerun only when a message changes."""
    if not parts:
        raise StageError("no messages: nothing to prepare (prepare.collection is false and no source file)")
    if decode_html_entities:
        parts = [(name, blank_once_decoded(name, parsed)) for name, parsed in parts]
    bad_lines = [bad for _, parsed in parts for bad in parsed.bad_lines]
    blank_lines = sum(parsed.blank_lines for _, parsed in parts)
    if bad_lines and on_bad_line == "error":
        shown = "\n  ".join(str(b) for b in bad_lines[:5])
        more = f"\n  … and {len(bad_lines) - 5} more" if len(bad_lines) > 5 else ""
        raise StageError(f"{len(bad_lines)} bad line(s) (set prepare.on_bad_line: skip to drop them):\n  {shown}{more}")
    parsed = pd.concat([p.messages.assign(source=name) for name, p in parts], ignore_index=True)
    messages, decoded = decode_entities(parsed) if decode_html_entities else (parsed, 0)
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
        "lines": len(parsed) + len(bad_lines) + blank_lines,
        "blank_lines": blank_lines,
        "bad_lines": len(bad_lines),
        "bad_line_examples": [str(b) for b in bad_lines[:20]],
        "html_entities_decoded": decoded,  # lines whose text changed, counted before duplicates are dropped
        "duplicates_dropped": len(parsed) - len(unique),
        "messages": len(table),
        "spam": int(table["label"].sum()),
        "ham": int((table["label"] == 0).sum()),
    }
    if any(name for name, _ in parts):
        summary["sources"] = {
            name: {"rows": len(p.messages), "bad_lines": len(p.bad_lines), "blank_lines": p.blank_lines}
            for name, p in parts
        }
    return table, unique[["source", "line"]].reset_index(drop=True), summary


def where(source: str, line: int) -> str:
    return f"{source} line {line}" if source else f"line {line}"


def near_duplicate_groups(
    table: pd.DataFrame, located: pd.DataFrame, params: NearDuplicateParams
) -> tuple[pd.DataFrame, dict]:
    """(id, group) for every message, group being the smallest id of its near-duplicate group (its own id
    when alone), and the summary's counts: groups of 2+, the messages in them, the largest, and the
    cross-source twins.

    A cross-source twin is a message whose group's first message (in read order: the collection, then
    prepare.sources in order) comes from another file: a "new" message an added source brought that the
    data already had in another spelling (Kaggle's spam.csv writes the collection's `I‘m` as `I?m`).
    """
    grouping = group_near_duplicates(
        table["id"].tolist(),
        table["text"].tolist(),
        params.method,
        params.threshold,
        params.shingle_size,
        params.num_perm,
    )
    groups = pd.DataFrame({"id": table["id"], "group": grouping.groups})
    sizes = grouping.sizes()
    first = groups.reset_index().groupby("group", sort=False)["index"].transform("min").to_numpy()
    sources = located["source"].to_numpy()
    twin = sources != sources[first]  # False for a message alone: it is its group's first
    examples = [
        f"{where(located['source'][i], located['line'][i])} {clip(table['text'][i], 80)!r} twins "
        f"{where(located['source'][j], located['line'][j])} {clip(table['text'][j], 80)!r}"
        for i, j in zip(np.flatnonzero(twin)[:MAX_TWINS_SHOWN], first[twin][:MAX_TWINS_SHOWN], strict=True)
    ]
    summary = {
        "method": params.method,
        "groups": len(sizes),  # of 2 or more messages
        "messages_in_groups": sum(sizes.values()),
        "largest_group": max(sizes.values(), default=1),
        "cross_source_twins": int(twin.sum()),
        "cross_source_examples": examples,
    }
    return groups, summary


def read_parts(raw_file: Path, params: PrepareParams) -> list[tuple[str, Parsed]]:
    """The collection (if prepare.collection) then each file of each of prepare.sources, in order."""
    check_sources_dir()  # before any glob or read: a FIFO there would block the read forever
    files = [
        (path, spec) for i, spec in enumerate(params.sources) for path in source_files(spec, f"prepare.sources[{i}]")
    ]
    if not params.collection and not files:
        globs = ", ".join(spec.files for spec in params.sources)
        raise StageError(
            f"no messages: prepare.collection is false and no file matches prepare.sources ({clip(globs, 200)}); "
            "add files there or set prepare.collection: true"
        )
    parts = []
    if params.collection:  # named by its path only beside other files
        parts.append((raw_file.as_posix() if files else "", parse_collection(raw_file.read_bytes())))
    parts.extend((path.as_posix(), read_source(path, spec)) for path, spec in files)
    return parts


@app.command()
@reports_errors
def main(
    raw_file: Path = typer.Argument(RAW_FILE),
    output: Path = typer.Argument(MESSAGES_FILE),
    summary_file: Path = typer.Argument(SUMMARY_FILE),
    groups_file: Path = typer.Argument(GROUPS_FILE),
) -> None:
    """Validate, decode HTML entities in and deduplicate RAW_FILE and prepare.sources into OUTPUT (Parquet),
    and group its near-duplicates into GROUPS_FILE (Parquet: id, group), which split keeps together.

    RAW_FILE is the bundled collection (read when prepare.collection is true); prepare.sources name more
    files inside data/sources/ (CSV, TSV, JSONL, Parquet): see docs/data.md.
    """
    params = load_params().prepare
    parts = read_parts(raw_file, params)
    table, located, summary = located_messages(parts, params.on_bad_line, params.decode_html_entities)
    # A file of its own: a change to prepare.near_duplicates reruns split, not the encoders (which read messages)
    groups, summary["near_duplicates"] = near_duplicate_groups(table, located, params.near_duplicates)
    write_parquet(table, output)
    write_parquet(groups, groups_file)
    write_json(summary_file, summary)
    near = summary["near_duplicates"]
    typer.echo(
        f"wrote {output}: {summary['messages']:,} messages ({summary['spam']:,} spam); decoded HTML entities in "
        f"{summary['html_entities_decoded']:,} lines; dropped "
        f"{summary['duplicates_dropped']:,} duplicates, {summary['bad_lines']:,} bad "
        f"and {summary['blank_lines']:,} blank lines; wrote {groups_file}: {near['groups']:,} near-duplicate "
        f"groups of {near['messages_in_groups']:,} messages ({near['cross_source_twins']:,} cross-source twins)"
    )


if __name__ == "__main__":
    app()
