import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stages import prepare
from stages.common.errors import StageError
from stages.common.params import NearDuplicateParams, PrepareParams, SourceParams
from tests.conftest import VENDORED, real_params, write_params


def test_real_collection_parses_all_5574_lines_and_drops_403_duplicates():
    table, summary = prepare.prepare_messages(VENDORED.read_bytes(), "error")
    assert summary["lines"] == 5574 and summary["bad_lines"] == 0
    assert summary["duplicates_dropped"] == 403
    assert len(table) == 5171 and table["id"].is_unique and table["text"].is_unique
    assert set(table["label"]) == {0, 1}
    # 309 lines hold HTML entities (`&lt;#&gt;` is the collection's number placeholder); none survive prepare.
    assert summary["html_entities_decoded"] == 309
    assert not table["text"].str.contains(r"&(?:lt|gt|amp);").any() and table["text"].str.contains("<#>").any()
    # pandas' default quoting would merge lines at a stray quote; the parser must not.
    assert any('"' in text for text in table["text"])


def test_html_entities_are_decoded_before_duplicates_are_dropped():
    raw = b"ham\tI am &lt;#&gt; km away &amp; late\nham\tI am <#> km away & late\nspam\tR&D &amp;c\n"
    table, summary = prepare.prepare_messages(raw, "error")
    assert list(table["text"]) == ["I am <#> km away & late", "R&D &c"]
    assert summary["html_entities_decoded"] == 2 and summary["duplicates_dropped"] == 1
    assert table["id"].tolist() == [prepare.message_id(t) for t in table["text"]]  # ids hash the decoded text
    kept, summary = prepare.prepare_messages(raw, "error", decode_html_entities=False)
    assert len(kept) == 3 and summary["html_entities_decoded"] == 0


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"ham hello there", "no tab"),
        (b"eggs\thello", "not ham or spam"),
        (b"spam\t   ", "empty text"),
        (b"ham\thello \xff\xfe there", "invalid UTF-8"),
    ],
)
def test_bad_line_is_reported_with_number_and_excerpt(line, reason):
    raw = b"ham\tfine\n" + line + b"\nspam\talso fine\n"
    with pytest.raises(StageError) as error:
        prepare.prepare_messages(raw, "error")
    assert "line 2" in str(error.value) and reason in str(error.value)
    assert line[:3].decode() in str(error.value)


def test_skip_policy_drops_and_counts_bad_lines():
    raw = b"ham\tfine\nnonsense\nspam\tWIN now\n\n"
    table, summary = prepare.prepare_messages(raw, "skip")
    assert list(table["text"]) == ["fine", "WIN now"]
    assert summary["bad_lines"] == 1 and "line 2" in summary["bad_line_examples"][0]


def test_crlf_bom_blank_lines_and_label_case_are_tolerated():
    raw = b"\xef\xbb\xbfHAM\thello\r\n\r\nSpam\tfree prize\ttoday\r\n"
    table, summary = prepare.prepare_messages(raw, "error")
    assert list(table["text"]) == ["hello", "free prize\ttoday"]
    assert list(table["label"]) == [0, 1]
    assert summary["blank_lines"] == 1


def test_duplicates_keep_first_and_conflicting_labels_are_an_error():
    table, summary = prepare.prepare_messages(b"ham\ta\nspam\tb\nham\ta\n", "error")
    assert list(table["text"]) == ["a", "b"] and summary["duplicates_dropped"] == 1
    with pytest.raises(StageError, match=r"line 1 says ham, line 3 says spam"):
        prepare.prepare_messages(b"ham\ta\nspam\tb\nspam\ta\n", "error")


def test_id_is_stable_hash_of_text():
    assert prepare.message_id("hello") == "2cf24dba5fb0a30e"


def test_cli_writes_parquet_and_summary(in_tmp):
    raw = in_tmp / "raw.txt"
    raw.write_bytes(b"ham\thi\nspam\tWIN\n")
    result = CliRunner().invoke(prepare.app, [str(raw), "out/m.parquet", "out/summary.json"])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(in_tmp / "out" / "m.parquet")
    assert list(frame.columns) == ["id", "text", "label"]


def test_cli_bad_input_exits_nonzero_and_writes_nothing(in_tmp):
    raw = in_tmp / "raw.txt"
    raw.write_bytes(b"ham\thi\nbogus line\n")
    result = CliRunner().invoke(prepare.app, [str(raw), "out/m.parquet", "out/summary.json"])
    assert result.exit_code == 1 and "line 2" in result.output
    assert not (in_tmp / "out").exists()


def test_cli_skip_policy_from_params(in_tmp):
    params = real_params()
    params["prepare"]["on_bad_line"] = "skip"
    write_params(in_tmp, params)
    raw = in_tmp / "raw.txt"
    raw.write_bytes(b"ham\thi\nbogus line\nspam\tWIN\n")
    result = CliRunner().invoke(prepare.app, [str(raw), "out/m.parquet", "out/summary.json"])
    assert result.exit_code == 0 and "1 bad" in result.output


labels = st.sampled_from(["ham", "spam", "HAM", "Spam"])
texts = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"), min_size=1).filter(
    lambda t: t.strip()
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(labels, texts), min_size=1, max_size=20), st.booleans(), st.booleans())
def test_valid_files_round_trip(rows, crlf, bom):
    end = "\r\n" if crlf else "\n"
    raw = ("\ufeff" if bom else "") + "".join(f"{label}\t{text}{end}" for label, text in rows)
    parsed = prepare.parse_collection(raw.encode("utf-8"))
    assert not parsed.bad_lines
    assert list(parsed.messages["text"]) == [text for _, text in rows]
    assert list(parsed.messages["label"]) == [label.lower() for label, _ in rows]


@settings(max_examples=500)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_parse_or_report_a_numbered_line(raw):
    try:
        table, summary = prepare.prepare_messages(raw, "error")
    except StageError as error:
        message = str(error)
        assert "line " in message or "no valid messages" in message or "both labels" in message
    else:
        assert len(table) == summary["messages"] > 0


def test_very_long_line_is_accepted():
    text = "a" * 1_000_000
    table, _ = prepare.prepare_messages(f"spam\t{text}\n".encode(), "error")
    assert table["text"][0] == text


def test_cli_writes_near_duplicate_groups_and_their_counts(in_tmp):
    raw = in_tmp / "raw.txt"
    raw.write_bytes(
        b"ham\tOk lar...\nham\tok lar\nham\tok\nspam\tWIN a prize call 0906123\nspam\twin a PRIZE call 0800999\n"
    )
    result = CliRunner().invoke(prepare.app, [str(raw), "out/m.parquet", "out/summary.json", "out/groups.parquet"])
    assert result.exit_code == 0, result.output
    messages = pd.read_parquet(in_tmp / "out/m.parquet")
    groups = pd.read_parquet(in_tmp / "out/groups.parquet")
    assert list(groups.columns) == ["id", "group"] and groups["id"].tolist() == messages["id"].tolist()
    ids = messages["id"].tolist()
    assert groups["group"].tolist() == [min(ids[:2])] * 2 + [ids[2]] + [min(ids[3:])] * 2  # "ok" alone
    near = json.loads((in_tmp / "out/summary.json").read_text())["near_duplicates"]
    assert near == {
        "method": "minhash",
        "groups": 2,
        "messages_in_groups": 4,
        "largest_group": 2,
        "cross_source_twins": 0,
        "cross_source_examples": [],
    }
    assert "2 near-duplicate groups of 4 messages" in result.output


def test_real_collection_near_duplicate_counts():
    parts = [("", prepare.parse_collection(VENDORED.read_bytes()))]
    table, located, _ = prepare.located_messages(parts, "error")
    groups, near = prepare.near_duplicate_groups(table, located, NearDuplicateParams())
    assert (near["groups"], near["messages_in_groups"], near["largest_group"]) == (162, 464, 14)
    assert groups["id"].tolist() == table["id"].tolist() and (groups["group"] <= groups["id"]).all()
    _, exact = prepare.near_duplicate_groups(table, located, NearDuplicateParams(method="normalised"))
    assert (exact["groups"], exact["messages_in_groups"], exact["largest_group"]) == (40, 83, 4)


def test_cross_source_twins_name_file_line_and_the_message_they_twin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kaggle = tmp_path / "data/sources/kaggle"
    kaggle.mkdir(parents=True)
    # Kaggle's spam.csv (latin-1) writes the collection's `I‘m` as `I?m`; rows 2 and 3 are new
    (kaggle / "spam.csv").write_bytes(
        b"v1,v2\nham,I?m going to try for 2 months ha ha only joking\nham,brand new message here\n"
        b"ham,Brand new message here!!\n"
    )
    params = PrepareParams(
        sources=[SourceParams(files="data/sources/kaggle/*.csv", format="csv", text="v2", label="v1")]
    )
    table, located, _ = prepare.located_messages(prepare.read_parts(VENDORED, params), "error")
    _, near = prepare.near_duplicate_groups(table, located, params.near_duplicates)
    assert near["cross_source_twins"] == 1  # the new pair twins each other, inside one file
    assert near["cross_source_examples"] == [
        "data/sources/kaggle/spam.csv line 2 'I?m going to try for 2 months ha ha only joking' twins "
        f"{VENDORED.as_posix()} line 22 'I‘m going to try for 2 months ha ha only joking'"
    ]
