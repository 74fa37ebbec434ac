"""Bring your own data: prepare.sources (CSV/TSV/JSONL/Parquet in data/sources/), read, validated, merged."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from stages import prepare
from stages.common.errors import StageError
from stages.common.params import PrepareParams, SourceParams, load_params, validate_params
from stages.common.sources import read_source, split_lines
from tests.conftest import ROOT, SAMPLE, VENDORED, real_params

KAGGLE_SAMPLE = ROOT / "data" / "sample" / "spam.csv"
NEW_SAMPLE = ROOT / "data" / "sample" / "new_messages.csv"
KAGGLE = SourceParams(files="data/sources/kaggle/*.csv", format="csv", text="v2", label="v1", encoding="latin-1")


def params_with(**prepare_keys) -> dict:
    params = real_params()
    params["prepare"] = {**params["prepare"], **prepare_keys}
    return params


def test_kaggle_sample_reads_latin1_v1_v2():
    parsed = read_source(KAGGLE_SAMPLE, KAGGLE)
    assert not parsed.bad_lines and len(parsed.messages) == 36
    assert parsed.messages["label"].value_counts().to_dict() == {"ham": 23, "spam": 13}
    assert "£2,000" in parsed.messages["text"][1] and parsed.messages["line"][0] == 2  # line 1 is the header


def test_new_messages_sample_reads_with_the_default_columns():
    spec = real_params()["prepare"]["sources"][0]
    parsed = read_source(NEW_SAMPLE, SourceParams(**spec))
    assert len(parsed.messages) == 5 and not parsed.bad_lines
    assert parsed.messages["text"][3] == "Pick you up at 6, wear something warm"  # quoted comma


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "spec"),
    [
        (
            "m.tsv",
            b'msg\tis_spam\nfree "prize" now\t1\nhello\t0\n',
            {"format": "tsv", "text": "msg", "label": "is_spam"},
        ),
        (
            "m.jsonl",
            b'{"msg": "free prize now", "is_spam": 1}\n\n{"msg": "hello", "is_spam": 0}\n',
            {"format": "jsonl"},
        ),
        ("m.csv", 'msg,is_spam\n"free prize\nnow",1\nhello,0\n'.encode("utf-16"), {"encoding": "utf-16"}),
    ],
)
def test_each_format_with_its_columns_labels_and_encoding(tmp_path, name, data, spec):
    spec = {"format": "csv", "text": "msg", "label": "is_spam", "spam": [1], "ham": [0]} | spec
    parsed = read_source(write(tmp_path, name, data), SourceParams(files="data/sources/x/*", **spec))
    assert parsed.messages["label"].tolist() == ["spam", "ham"] and not parsed.bad_lines
    assert parsed.messages["text"][0].startswith("free")


def test_parquet_rows(tmp_path):
    path = tmp_path / "m.parquet"
    pd.DataFrame({"body": ["win cash", "see you", None], "y": ["SPAM", "ham", "ham"]}).to_parquet(path)
    parsed = read_source(path, SourceParams(files="data/sources/m.parquet", format="parquet", text="body", label="y"))
    assert parsed.messages["label"].tolist() == ["spam", "ham"]
    assert [str(b) for b in parsed.bad_lines] == [
        f"{path.as_posix()} row 3: 'body' is NoneType, not text: 'ham\\tNone'"
    ]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_cr_only_line_endings_are_lines_not_one_message(tmp_path, fmt):
    rows = {
        "csv": ["text,label", "a,ham", "b,spam", "c,ham"],
        "tsv": ["text\tlabel", "a\tham", "b\tspam", "c\tham"],
        "jsonl": [json.dumps({"text": t, "label": lab}) for t, lab in [("a", "ham"), ("b", "spam"), ("c", "ham")]],
    }[fmt]
    path = write(tmp_path, f"m.{fmt}", "\r".join(rows).encode())
    parsed = read_source(path, SourceParams(files="data/sources/x/*", format=fmt))
    assert parsed.messages["text"].tolist() == ["a", "b", "c"]


def test_cr_only_collection_is_lines_not_one_message():
    raw = SAMPLE.read_bytes().replace(b"\n", b"\r")
    assert prepare.parse_collection(raw).messages.equals(prepare.parse_collection(SAMPLE.read_bytes()).messages)
    assert split_lines(b"a\rb\r\nc\nd") == [b"a", b"b", b"c", b"d"]


def test_bad_rows_name_file_and_line_or_are_skipped_and_counted(tmp_path):
    path = write(tmp_path, "m.csv", b"text,label\nhi,ham\n,spam\nfree,maybe\nshort\n\nok,SPAM\n")
    spec = SourceParams(files="data/sources/x/*", format="csv")
    parts = [(path.as_posix(), read_source(path, spec))]
    with pytest.raises(StageError) as error:
        prepare.prepare_parts(parts, "error")
    message = str(error.value)
    assert "3 bad line(s)" in message and f"{path.as_posix()} line 3: empty text" in message
    assert f"{path.as_posix()} line 4: label 'maybe' is neither spam" in message
    assert f"{path.as_posix()} line 5: 1 field(s)" in message
    table, summary = prepare.prepare_parts(parts, "skip")
    assert len(table) == 2 and summary["bad_lines"] == 3 and summary["blank_lines"] == 1
    assert summary["sources"][path.as_posix()] == {"rows": 2, "bad_lines": 3, "blank_lines": 1}


def test_invalid_bytes_in_the_encoding_are_bad_rows(tmp_path):
    path = write(tmp_path, "m.csv", b"text,label\ncaf\xe9,ham\nok,spam\n")
    parsed = read_source(path, SourceParams(files="data/sources/x/*", format="csv"))
    assert [b.number for b in parsed.bad_lines] == [2] and "not valid utf-8" in parsed.bad_lines[0].reason


def test_missing_column_names_the_file_and_its_columns(tmp_path):
    path = write(tmp_path, "m.csv", b"v1,v2\nham,hi\n")
    with pytest.raises(StageError, match=r"m\.csv: no column 'text' in its header \(columns: v1, v2\)"):
        read_source(path, SourceParams(files="data/sources/x/*", format="csv"))


def test_sources_concatenate_and_deduplicate_across_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/sources/new").mkdir(parents=True)
    (tmp_path / "data/sources/new/b.csv").write_text("text,label\nnew one,spam\nsecond new,ham\n")
    (tmp_path / "data/sources/new/a.csv").write_text("text,label\nnew one,spam\n")  # a duplicate across files
    params = PrepareParams(sources=[SourceParams(files="data/sources/new/*.csv", format="csv")])
    parts = prepare.read_parts(VENDORED, params)
    assert [name for name, _ in parts] == [VENDORED.as_posix(), "data/sources/new/a.csv", "data/sources/new/b.csv"]
    table, summary = prepare.prepare_parts(parts, "error")
    alone, _ = prepare.prepare_messages(VENDORED.read_bytes(), "error")
    assert len(table) == len(alone) + 2 and table["text"].tolist()[-2:] == ["new one", "second new"]
    assert summary["duplicates_dropped"] == len(parts[0][1].messages) - len(alone) + 1


def test_a_text_with_both_labels_names_both_files_and_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/sources").mkdir(parents=True)
    (tmp_path / "data/sources/a.csv").write_text("text,label\nhello,ham\nwin now,spam\n")
    (tmp_path / "data/sources/b.jsonl").write_text(
        '{"text": "x", "label": "ham"}\n{"text": "win now", "label": "ham"}\n'
    )
    params = PrepareParams(
        collection=False,
        sources=[
            SourceParams(files="data/sources/a.csv", format="csv"),
            SourceParams(files="data/sources/b.jsonl", format="jsonl"),
        ],
    )
    with pytest.raises(StageError) as error:
        prepare.prepare_parts(prepare.read_parts(VENDORED, params), "error")
    assert "data/sources/a.csv line 3 says spam, data/sources/b.jsonl line 2 says ham" in str(error.value)


def test_default_params_prepare_the_collection_exactly_as_before(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/sources here: the default globs match nothing
    parts = prepare.read_parts(VENDORED, load_params(ROOT / "params.yaml").prepare)
    assert [name for name, _ in parts] == [""]
    table, summary = prepare.prepare_parts(parts, "error")
    before, summary_before = prepare.prepare_messages(VENDORED.read_bytes(), "error")
    assert table.equals(before) and summary == summary_before and "sources" not in summary


def test_a_missing_named_file_is_an_error_a_glob_may_match_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = PrepareParams(sources=[SourceParams(files="data/sources/spam.csv", format="csv")])
    with pytest.raises(StageError, match=r"prepare.sources\[0\].files: data/sources/spam.csv is not a file"):
        prepare.read_parts(VENDORED, params)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            {"files": "/etc/passwd", "format": "csv"},
            "prepare.sources.0: Value error, files: '/etc/passwd' must be inside data/sources/",
        ),
        ({"files": "data/sources/../../x.csv", "format": "csv"}, "must be inside data/sources/"),
        ({"files": "data/raw/x.csv", "format": "csv"}, "must be inside data/sources/"),
        ({"files": "data/sources/x.csv", "format": "xls"}, "prepare.sources.0.format: Input should be"),
        ({"files": "data/sources/x.csv", "format": "csv", "encoding": "klingon"}, "unknown encoding 'klingon'"),
        ({"files": "data/sources/x.csv", "format": "csv", "spam": ["Spam"], "ham": ["spam"]}, "spam and ham both"),
        ({"files": "data/sources/x.csv", "format": "csv", "spam": [True]}, "prepare.sources.0.spam.0"),
        ({"files": "data/sources/x.csv", "format": "csv", "colum": "t"}, "prepare.sources.0.colum: Extra inputs"),
        ({"files": "data/sources/x.parquet", "format": "parquet", "encoding": "latin-1"}, "Parquet text is always"),
    ],
)
def test_source_params_are_strict_and_errors_name_the_key(source, expected):
    with pytest.raises(StageError, match="params.yaml is invalid") as error:
        validate_params(params_with(sources=[source]))
    assert expected in str(error.value)


def test_no_source_at_all_is_refused():
    with pytest.raises(StageError, match="no messages to prepare"):
        validate_params(params_with(collection=False, sources=[]))


@pytest.mark.slow
def test_adding_k_messages_reruns_prepare_and_encodes_exactly_k(tmp_path):
    """Through DVC: a new file in data/sources/new/ reruns prepare, and the encoder embeds only its k texts."""
    from tests.sample_project import copy_project, ran_stages, run, set_param
    from tests.tiny_models import save_tiny_bert

    project = copy_project(
        tmp_path / "project",
        featurizers=["bow", "bert"],
        **{"featurize.bert.model": str(save_tiny_bert(tmp_path / "bert"))},
    )
    first = run(project, "dvc", "repro", "featurize@bert")
    assert "0 cache hits" in first
    (project / "data/sources/new").mkdir()
    shutil.copy(NEW_SAMPLE, project / "data/sources/new/2026-11-27.csv")
    k = len(NEW_SAMPLE.read_text().splitlines()) - 1
    second = run(project, "dvc", "repro", "featurize@bert")
    assert {"prepare", "featurize@bert"} <= ran_stages(second)  # an encoder does not read the split
    assert (
        f"bert: {len(pd.read_parquet(project / 'data/prepared/messages.parquet')) - k:,} cache hits, {k} to encode"
        in second
    )
    # The Kaggle-format sample goes through the same way (Latin-1, v1/v2).
    (project / "data/sources/kaggle").mkdir()
    shutil.copy(KAGGLE_SAMPLE, project / "data/sources/kaggle/spam.csv")
    third = run(project, "dvc", "repro", "featurize@bert")
    assert "36 to encode" in third
    assert "Running stage" not in run(project, "dvc", "repro", "featurize@bert")
    # A grouping param reruns prepare and split; messages.parquet is unchanged, so the encoder is not rerun
    groups_before = pd.read_parquet(project / "data/prepared/groups.parquet")
    set_param(project, "prepare.near_duplicates.method", "normalised")
    fourth = run(project, "dvc", "repro", "featurize@bert", "split")
    assert {"prepare", "split"} <= ran_stages(fourth) and "featurize@bert" not in ran_stages(fourth)
    groups_after = pd.read_parquet(project / "data/prepared/groups.parquet")
    assert groups_after["id"].equals(groups_before["id"]) and not groups_after["group"].equals(groups_before["group"])


# Bad input that used to crash prepare with a traceback or slip into the training texts (issue 24): each is
# a bad line (named, skippable) or one error line.
ANY = "data/sources/x/*"


def bad_reasons(parsed) -> list[tuple[int, str]]:
    return [(b.number, b.reason) for b in parsed.bad_lines]


def test_collection_off_and_a_glob_matching_nothing_is_one_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = PrepareParams(collection=False, sources=[SourceParams(files="data/sources/new/*.csv", format="csv")])
    with pytest.raises(StageError, match=r"^no messages: prepare.collection is false and no file matches "):
        prepare.read_parts(VENDORED, params)


@pytest.mark.parametrize(
    ("label", "reason"),
    [("1" * 5000, "a number of over 4300 digits"), ("[" * 100_000 + "]" * 100_000, "nested too deep")],
    ids=["5000-digit-label", "100k-deep-label"],
)
def test_jsonl_labels_json_cannot_hold_are_bad_lines(tmp_path, label, reason):
    data = f'{{"text": "hi", "label": "ham"}}\n{{"text": "x", "label": {label}}}\n'.encode()
    parsed = read_source(write(tmp_path, "m.jsonl", data), SourceParams(files=ANY, format="jsonl"))
    assert len(parsed.messages) == 1 and [n for n, _ in bad_reasons(parsed)] == [2]
    assert reason in parsed.bad_lines[0].reason and len(str(parsed.bad_lines[0])) < 300


@pytest.mark.parametrize("encoding", ["rot13", "hex", "base64", "zlib"])
def test_encodings_that_are_not_text_encodings_are_refused_by_the_params_check(encoding):
    with pytest.raises(StageError, match="params.yaml is invalid") as error:
        validate_params(params_with(sources=[{"files": "data/sources/x.csv", "format": "csv", "encoding": encoding}]))
    assert f"encoding: {encoding!r} is not a text encoding" in str(error.value)


def test_utf16_csv_with_an_unpaired_surrogate_is_a_bad_line(tmp_path):
    data = "text,label\nhi,ham\n".encode("utf-16") + "caf".encode("utf-16-le") + b"\x00\xd8"
    data += ",spam\nok,spam\n".encode("utf-16-le")
    parsed = read_source(write(tmp_path, "m.csv", data), SourceParams(files=ANY, format="csv", encoding="utf-16"))
    assert parsed.messages["text"].tolist() == ["hi", "ok"]
    assert bad_reasons(parsed) == [(3, "not valid utf-16 text")]


def test_utf16_jsonl_is_decoded_before_it_is_split_into_lines(tmp_path):
    lines = [{"text": f"message {i}", "label": "spam" if i % 2 else "ham"} for i in range(4)]
    data = "\n".join(json.dumps(line) for line in lines).encode("utf-16")
    spec = SourceParams(files=ANY, format="jsonl", encoding="utf-16")
    parsed = read_source(write(tmp_path, "m.jsonl", data), spec)
    assert not parsed.bad_lines and parsed.messages["text"].tolist() == [f"message {i}" for i in range(4)]
    bad = data + "\n".encode("utf-16-le") + b"\x00\xdc" + '{"text": "x", "label": "ham"}'.encode("utf-16-le")
    assert bad_reasons(read_source(write(tmp_path, "m.jsonl", bad), spec)) == [(5, "not valid utf-16 text")]


@pytest.mark.parametrize("text", ["&nbsp;", "&#32;&#32;", " &#9;&#10; "])
def test_a_text_that_is_blank_once_html_entities_are_decoded_is_a_bad_line(tmp_path, text):
    path = write(tmp_path, "m.csv", f"text,label\nhi,ham\n{text},spam\n".encode())
    parts = [(path.as_posix(), read_source(path, SourceParams(files=ANY, format="csv")))]
    with pytest.raises(StageError, match=f"{path.as_posix()} line 3: empty text once HTML entities are decoded"):
        prepare.prepare_parts(parts, "error")
    table, summary = prepare.prepare_parts(parts, "skip")
    assert table["text"].tolist() == ["hi"] and summary["bad_lines"] == 1 and summary["lines"] == 2
    kept, _ = prepare.prepare_parts(parts, "error", decode_html_entities=False)  # not decoded: a text like any
    assert kept["text"].tolist() == ["hi", text]


def test_a_csv_field_over_the_csv_modules_limit_is_a_bad_line_not_the_end_of_the_file(tmp_path):
    huge = "x" * 131_073
    path = write(tmp_path, "m.csv", f"text,label\nhi,ham\n{huge},spam\nok,spam\n".encode())
    parsed = read_source(path, SourceParams(files=ANY, format="csv"))
    assert parsed.messages["text"].tolist() == ["hi", "ok"]
    assert bad_reasons(parsed) == [(3, "a field of 131,073 characters, over the limit of 131,072")]
    assert len(str(parsed.bad_lines[0])) < 300


@pytest.mark.parametrize(
    ("name", "data", "fmt"),
    [
        ("m.csv", b"text,label\nhi,ham\nfree\x00prize,spam\n", "csv"),
        ("m.tsv", b"text\tlabel\nhi\tham\nfree\x00prize\tspam\n", "tsv"),
        ("m.jsonl", b'{"text": "hi", "label": "ham"}\n{"text": "free\\u0000prize", "label": "spam"}\n', "jsonl"),
    ],
)
def test_nul_characters_are_a_bad_line_never_a_training_text(tmp_path, name, data, fmt):
    parsed = read_source(write(tmp_path, name, data), SourceParams(files=ANY, format=fmt))
    assert parsed.messages["text"].tolist() == ["hi"]
    assert bad_reasons(parsed) == [(2 if fmt == "jsonl" else 3, "a NUL character (binary data?)")]


def irregular_entries(root: Path) -> dict[str, Callable[[Path], None]]:
    """Ways an entry under data/sources can be other than a regular file (issue 24)."""
    (root / "elsewhere").mkdir(parents=True, exist_ok=True)
    (root / "elsewhere/x.csv").write_text("text,label\nbehind a link,spam\n")
    return {
        "a symbolic link": lambda at: at.symlink_to(root / "elsewhere/x.csv"),
        "a symbolic link ": lambda at: at.symlink_to(root / "elsewhere", target_is_directory=True),
        "a FIFO (named pipe)": lambda at: os.mkfifo(at),
    }


@pytest.mark.parametrize("kind", ["a symbolic link", "a symbolic link ", "a FIFO (named pipe)"])
def test_data_sources_holds_regular_files_only(tmp_path, monkeypatch, kind):
    """A symlink (DVC hashes the link, prepare reads its target: stale rows) or a FIFO (a read blocks forever)
    anywhere under data/sources is refused by name before anything is read."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/sources/new").mkdir(parents=True)
    (tmp_path / "data/sources/new/a.csv").write_text("text,label\nhello,ham\n")
    irregular_entries(tmp_path / "outside")[kind](tmp_path / "data/sources/new/b.csv")
    params = PrepareParams(sources=[SourceParams(files="data/sources/new/*.csv", format="csv")])
    expected = rf"^data/sources/new/b\.csv is {re.escape(kind.strip())}: data/sources holds regular files only"
    with pytest.raises(StageError, match=expected):
        prepare.read_parts(VENDORED, params)


def test_a_device_is_named_as_one():
    """A device cannot be made without root: /dev/null's mode stands in for one under data/sources."""
    from stages.common.sources import _kind

    assert _kind(os.lstat("/dev/null").st_mode) == "a device"
