import numpy as np
import pandas as pd
import pytest

from stages.common.errors import StageError
from stages.common.params import SplitParams
from stages.split import split_messages


def messages(n_ham: int, n_spam: int) -> pd.DataFrame:
    labels = np.array([0] * n_ham + [1] * n_spam, dtype="int8")
    return pd.DataFrame({"id": [f"{i:016x}" for i in range(len(labels))], "label": labels})


def test_split_is_stratified_disjoint_and_deterministic():
    table = messages(870, 130)
    first = split_messages(table, SplitParams())
    assert first["id"].is_unique and len(first) == 1000
    counts = first["split"].value_counts()
    assert (counts["train"], counts["val"], counts["test"]) == (700, 150, 150)
    spam_share = first.merge(table).groupby("split", observed=True)["label"].mean()
    assert np.allclose(spam_share, 0.13, atol=0.01)
    assert first.equals(split_messages(table, SplitParams()))
    assert not first.equals(split_messages(table, SplitParams(seed=1)))


def test_too_few_messages_for_every_part_to_have_both_classes_is_refused():
    with pytest.raises(StageError, match="split refused: val has no spam"):
        split_messages(messages(4, 1), SplitParams())
