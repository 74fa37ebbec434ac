"""The explore stage's numbers and markdown, from messages built in memory (no pipeline run)."""

from __future__ import annotations

import pandas as pd
import pytest

from stages.common.params import ExploreParams
from stages.explore import describe_messages, markdown_report, top_tokens

MESSAGES = pd.DataFrame(
    {
        "id": [f"m{i}" for i in range(6)],
        "text": [
            "see you at lunch",
            "lunch tomorrow then",
            "call me when home",
            "free prize call now",
            "claim your free prize",
            "free cash prize winner now",
        ],
        "label": [0, 0, 0, 1, 1, 1],
    }
)
SUMMARY = {"lines": 9, "html_entities_decoded": 2, "duplicates_dropped": 3, "bad_lines": 0}


@pytest.fixture
def facts() -> dict:
    return describe_messages(MESSAGES, SUMMARY, ExploreParams(top_tokens=2, examples=2, seed=0))


def test_counts_shares_and_lengths_per_class(facts):
    assert facts["messages"] == 6 and facts["lines_read"] == 9 and facts["duplicates_dropped"] == 3
    spam, ham = facts["classes"]["spam"], facts["classes"]["ham"]
    assert spam["messages"] == ham["messages"] == 3 and spam["share"] == ham["share"] == 0.5
    assert ham["median_chars"] == len("call me when home") == 17  # 16, 19 and 17 characters
    assert ham["median_words"] == 4.0 and spam["median_words"] == 4.0 and spam["mean_chars"] == 22.0


def test_top_words_are_counted_per_class_without_stop_words(facts):
    assert facts["classes"]["spam"]["top_tokens"] == [("free", 3), ("prize", 3)]
    assert facts["classes"]["ham"]["top_tokens"][0] == ("lunch", 2)
    assert all(word not in ("you", "at", "me", "your") for word, _ in top_tokens(MESSAGES["text"], 20))


def test_examples_come_from_their_own_class_and_are_seeded(facts):
    ham_texts = set(MESSAGES.loc[MESSAGES["label"] == 0, "text"])
    assert len(facts["classes"]["ham"]["examples"]) == 2 and set(facts["classes"]["ham"]["examples"]) <= ham_texts
    again = describe_messages(MESSAGES, SUMMARY, ExploreParams(top_tokens=2, examples=2, seed=0))
    assert again == facts


def test_markdown_states_the_balance_and_lists_the_words(facts):
    text = markdown_report(facts)
    assert "6 messages, 3 ham (50.0%) and 3 spam (50.0%)" in text
    assert "- **spam**: free (3), prize (3)" in text
    assert "| ham | 3 | 17 |" in text


def test_near_duplicate_counts_pass_from_prepare_to_the_reports():
    near = {"groups": 2, "messages_in_groups": 5, "largest_group": 3, "cross_source_twins": 1}
    summary = SUMMARY | {"near_duplicates": near | {"method": "minhash", "cross_source_examples": ["x"]}}
    facts = describe_messages(MESSAGES, summary, ExploreParams(top_tokens=2, examples=2, seed=0))
    assert facts["near_duplicates"] == near  # the counts, not the examples
    assert "5 messages are near-duplicates in 2 groups (largest 3; 1 near-twins" in markdown_report(facts)
    older = describe_messages(MESSAGES, SUMMARY, ExploreParams(top_tokens=2, examples=2, seed=0))
    assert older["near_duplicates"] is None and "near-duplicates" not in markdown_report(older)
