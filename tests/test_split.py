import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from stages import prepare
from stages.common.errors import StageError
from stages.common.layout import GROUPS_FILE
from stages.common.near_duplicates import group_near_duplicates
from stages.common.params import NearDuplicateParams, SplitParams
from stages.split import group_labels, read_groups, split_messages
from tests.conftest import ROOT, VENDORED


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


def grouped_messages(sizes: list[int], spam_every: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    """Groups of the given sizes, every spam_every-th group spam; ids in no particular order."""
    ids, labels, groups = [], [], []
    for g, size in enumerate(sizes):
        for k in range(size):
            ids.append(f"{(g * 7919 + k * 104729) % 10**9:016x}")
            labels.append(int(g % spam_every == 0))
            groups.append(f"g{g:05d}")
    table = pd.DataFrame({"id": ids, "label": np.array(labels, dtype="int8")})
    return table, pd.Series(groups)


def parts_of_groups(split: pd.DataFrame, groups: pd.Series) -> pd.Series:
    return pd.Series(split["split"].to_numpy()).groupby(groups.to_numpy()).nunique()


def test_templates_grouped_by_prepare_never_straddle_the_split():
    rng = np.random.default_rng(0)
    vocabulary = [
        f"{a}{b}" for a in ("win", "txt", "cash", "prize", "free", "tone", "claim", "mob") for b in "aeiouyrst"
    ]
    templates = [" ".join(rng.choice(vocabulary, 10)) for _ in range(25)]  # one campaign each
    spam = [f"{t} call 0906{rng.integers(10**6, 10**7)} £{k}00" for t in templates for k in range(rng.integers(1, 8))]
    vocabulary = [f"{a}{b}" for a in ("sun", "moon", "tea", "bus", "cat", "map", "pen", "job") for b in "aeiouyrst"]
    ham = [" ".join(rng.choice(vocabulary, 8)) for _ in range(400)]
    ham += ["Ok lar", "ok lar!!", "OK LAR..."]
    texts = spam + ham
    table = pd.DataFrame({"id": [f"{i:016x}" for i in range(len(texts))], "text": texts})
    table["label"] = np.array([1] * len(spam) + [0] * len(ham), dtype="int8")
    groups = pd.Series(group_near_duplicates(table["id"].tolist(), texts).groups)
    assert groups.value_counts().max() >= 5  # the campaigns are grouped
    split = split_messages(table, SplitParams(), groups)
    assert (parts_of_groups(split, groups) == 1).all()
    counts = split["split"].value_counts()
    largest = groups.value_counts().max()
    for part, fraction in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
        assert abs(counts[part] - fraction * len(table)) <= largest


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=60, max_size=200),
    spam_every=st.integers(2, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_group_straddles_and_parts_stay_near_their_fractions_for_any_seed(sizes, spam_every, seed):
    table, groups = grouped_messages(sizes, spam_every)
    params = SplitParams(seed=seed)
    try:
        split = split_messages(table, params, groups)
    except StageError as error:  # a part without a class: allowed, as long as it says so
        assert str(error).startswith("split refused:")
        return
    assert (parts_of_groups(split, groups) == 1).all()
    counts = split["split"].value_counts()
    for part in ("train", "val", "test"):
        # each label's groups are cut where their midpoints fall: a part (two cuts, two labels) is off by at most
        # half a group per cut and label, plus rounding
        assert abs(counts[part] - getattr(params, part) * len(table)) <= 2 * max(sizes) + 2
    assert split.equals(split_messages(table, params, groups))
    order = np.random.default_rng(seed).permutation(len(table))
    shuffled = split_messages(
        table.iloc[order].reset_index(drop=True), params, groups.iloc[order].reset_index(drop=True)
    )
    assert dict(zip(shuffled["id"], shuffled["split"], strict=True)) == dict(
        zip(split["id"], split["split"], strict=True)
    )


def test_a_mixed_group_goes_with_its_majority():
    table, groups = grouped_messages([1] * 200, spam_every=5)
    mixed = pd.DataFrame({"id": ["mixed-a", "mixed-b", "mixed-c"], "label": np.array([1, 1, 0], dtype="int8")})
    table = pd.concat([table, mixed], ignore_index=True)
    groups = pd.concat([groups, pd.Series(["mixed"] * 3)], ignore_index=True)
    per_group = group_labels(table["label"], groups)
    assert per_group.loc["mixed", "label"] == 1 and per_group.loc["mixed", "size"] == 3
    tie = group_labels(pd.Series([0, 1]), pd.Series(["t", "t"]))
    assert tie.loc["t", "label"] == 1  # a tie goes to spam
    split = split_messages(table, SplitParams(), groups)
    assert split.loc[split["id"].str.startswith("mixed"), "split"].nunique() == 1


def test_without_groups_each_message_is_its_own_group():
    table = messages(870, 130)
    alone = pd.Series(table["id"].to_numpy())
    assert split_messages(table, SplitParams()).equals(split_messages(table, SplitParams(), alone))


def test_read_groups_refuses_a_file_of_other_messages(tmp_path):
    table = messages(10, 5)
    path = tmp_path / "groups.parquet"
    pd.DataFrame({"id": table["id"][:9], "group": table["id"][:9]}).to_parquet(path)
    with pytest.raises(StageError, match=r"does not group the 15 messages prepared \(9 rows\): rerun prepare"):
        read_groups(path, table["id"])
    pd.DataFrame({"id": table["id"][::-1], "group": ["g"] * 15}).to_parquet(path)
    assert (read_groups(path, table["id"]) == "g").all()


def test_dvc_yaml_passes_the_groups_from_prepare_to_split():
    """A grouping change must rerun split: prepare writes GROUPS_FILE, split depends on it and reads it."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    groups = GROUPS_FILE.as_posix()
    assert groups in stages["prepare"]["outs"] and groups in stages["prepare"]["cmd"].split()
    assert groups in stages["split"]["deps"] and groups in stages["split"]["cmd"].split()


def test_real_collection_keeps_its_groups_whole_and_its_part_sizes():
    table, located, _ = prepare.located_messages([("", prepare.parse_collection(VENDORED.read_bytes()))], "error")
    groups, _ = prepare.near_duplicate_groups(table, located, NearDuplicateParams())
    split = split_messages(table, SplitParams(), groups["group"])
    assert (parts_of_groups(split, groups["group"]) == 1).all()
    counts = split.merge(table).groupby("split", observed=True)["label"].agg(["size", "sum"])
    # the single messages fill each part to the sizes an ungrouped stratified split has
    assert counts.loc[["train", "val", "test"]].to_numpy().tolist() == [[3619, 457], [776, 98], [776, 98]]
