import itertools
import random

import pytest

from stages.common.near_duplicates import (
    describe_counts,
    group_near_duplicates,
    lsh_bands,
    normalise,
    shingles,
    similar,
)

TEMPLATE = "URGENT! Your mobile No {number} was awarded a £{prize} Bonus Caller Prize on {date}! Call {phone} now"
UNRELATED = [
    "ok",
    "Ok lar...",
    "Ok lar... Joking wif u oni...",
    "I'll be home late tonight, keep some dinner for me",
    "Did you see the match yesterday? What a goal",
    "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005",
    "Sorry, I'll call later",
    "Where are you? The class already started",
]


def campaign(n: int, seed: int = 0) -> list[str]:
    """One spam template, another number, prize, date and phone each time."""
    rng = random.Random(seed)
    digits = lambda k: "".join(rng.choice("0123456789") for _ in range(k))  # noqa: E731
    return [
        TEMPLATE.format(
            number=digits(11), prize=rng.choice([500, 1000, 2000]), date=f"{digits(2)}/0{i}", phone=digits(11)
        )
        for i in range(n)
    ]


def ids_for(texts: list[str]) -> list[str]:
    return [f"{i:016x}" for i in range(len(texts))]


def groups_by_text(texts: list[str], **settings) -> dict[str, str]:
    return dict(zip(texts, group_near_duplicates(ids_for(texts), texts, **settings).groups, strict=True))


def test_normalise_is_nfkc_casefolded_letters_and_digits():
    assert normalise("Ｏｋ  LAR...!!") == "oklar"  # full-width letters, case, spacing, punctuation
    assert normalise("Straße ² ½") == "strasse212"  # casefold ß; NFKC's ² and ½ are digits
    assert normalise("Call 0800-542 0825 😀") == "call08005420825"
    assert normalise(":-) ...") == ""


def test_mangled_quotes_normalise_like_the_originals():
    # Kaggle's spam.csv, read as latin-1, writes the collection's curly quotes as `?`
    assert normalise("I‘m going 2 b late, don’t wait") == normalise("I?m going 2 b late, don?t wait")
    texts = ["I‘m on the way", "I?m on the way", "Im on the way!!", "I'm not on the way"]
    groups = groups_by_text(texts, method="normalised")
    assert groups["I‘m on the way"] == groups["I?m on the way"] == groups["Im on the way!!"]
    assert groups["I'm not on the way"] != groups["I‘m on the way"]


def test_shingles_mask_digit_runs_and_keep_short_texts_whole():
    assert shingles("call0800today", 5) == shingles("call12345today", 5)
    assert shingles("ok", 5) == frozenset({"ok"}) and shingles("", 5) == frozenset()
    assert not shingles("ok", 5) & shingles("oklar", 5)


def test_a_campaign_is_one_group_and_unrelated_short_messages_stay_apart():
    spam = campaign(6)
    texts = UNRELATED + spam
    groups = groups_by_text(texts)
    assert len({groups[t] for t in spam}) == 1
    assert len({groups[t] for t in UNRELATED}) == len(UNRELATED)  # "ok" and "Ok lar..." included
    assert groups[spam[0]] not in {groups[t] for t in UNRELATED}


def test_method_normalised_does_not_join_a_campaign():
    spam = campaign(4)
    groups = groups_by_text(spam + ["FREE entry!!", "free entry"], method="normalised")
    assert len({groups[t] for t in spam}) == 4
    assert groups["FREE entry!!"] == groups["free entry"]


def test_threshold_is_inclusive_and_exact():
    a, b = "the quick brown fox jumps over the lazy dog", "the quick brown fox leaps over the lazy cat"
    sa, sb = (shingles(normalise(t), 5) for t in (a, b))
    jaccard = len(sa & sb) / len(sa | sb)
    assert 0.3 < jaccard < 0.9 and similar(sa, sb, jaccard) and not similar(sa, sb, jaccard + 1e-9)
    joined = groups_by_text([a, b], threshold=jaccard)
    apart = groups_by_text([a, b], threshold=jaccard + 1e-9)
    assert joined[a] == joined[b] and apart[a] != apart[b]


def test_groups_are_transitive_and_named_by_their_smallest_id():
    a = "meet me at the station at seven tonight please"
    b = "meet me at the station at seven tonight"
    c = "meet me at the station tonight"
    texts, ids = [a, b, c, "something else entirely here"], ["f3", "a1", "c2", "00"]
    assert similar(*(shingles(normalise(t), 5) for t in (a, b)), 0.5)
    assert not similar(*(shingles(normalise(t), 5) for t in (a, c)), 0.5)  # only through b
    grouping = group_near_duplicates(ids, texts, threshold=0.5)
    assert grouping.groups == ["a1", "a1", "a1", "00"]
    assert grouping.sizes() == {"a1": 3}


def test_texts_without_letters_or_digits_are_never_grouped():
    grouping = group_near_duplicates(["a", "b", "c"], [":)", ":-(", "..."])
    assert grouping.groups == ["a", "b", "c"]


def test_same_groups_twice_and_whatever_the_row_order():
    texts = UNRELATED + campaign(8, seed=1) + campaign(5, seed=2) + ["Ok lar", "OK LAR!!"]
    ids = ids_for(texts)
    first = group_near_duplicates(ids, texts).groups
    assert group_near_duplicates(ids, texts).groups == first
    order = list(range(len(texts)))
    random.Random(3).shuffle(order)
    shuffled = group_near_duplicates([ids[i] for i in order], [texts[i] for i in order]).groups
    assert dict(zip([ids[i] for i in order], shuffled, strict=True)) == dict(zip(ids, first, strict=True))


def test_lsh_finds_every_similar_pair_a_brute_force_finds():
    # 40 sentences and 8 edited copies of each (a word dropped, swapped or replaced): pairs on both sides of 0.5
    rng = random.Random(0)
    words = "win free call now prize claim cash txt stop reply ur mobile today home late dinner see you".split()
    texts = set()
    for _ in range(40):
        base = [rng.choice(words) for _ in range(rng.randint(4, 14))]
        for _ in range(8):
            copy = list(base)
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(copy))
                edit = rng.choice(["drop", "swap", "replace"])
                if edit == "drop" and len(copy) > 2:
                    del copy[i]
                elif edit == "swap":
                    copy[i], copy[-1] = copy[-1], copy[i]
                else:
                    copy[i] = rng.choice(words)
            texts.add(" ".join(copy))
    texts = sorted(texts)
    ids = ids_for(texts)
    sets = [shingles(normalise(t), 5) for t in texts]
    parent = list(range(len(texts)))

    def jaccard(i, j):
        return len(sets[i] & sets[j]) / len(sets[i] | sets[j])

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(len(texts)), 2):
        if normalise(texts[i]) == normalise(texts[j]) or similar(sets[i], sets[j], 0.5):
            parent[find(j)] = find(i)
    brute = {frozenset(k for k in range(len(texts)) if find(k) == root) for root in set(map(find, parent))}
    grouping = group_near_duplicates(ids, texts, threshold=0.5)
    found = {frozenset(k for k, g in enumerate(grouping.groups) if g == group) for group in set(grouping.groups)}
    assert sum(len(g) > 1 for g in brute) > 20  # the corpus has groups to find
    near_misses = [(i, j) for i, j in itertools.combinations(range(len(texts)), 2) if 0.4 <= jaccard(i, j) < 0.5]
    assert len(near_misses) > 20  # and pairs just below the threshold, which must not join
    assert found == brute


def test_lsh_bands_are_fixed_numbers():
    # Chosen in Decimal: the same bands, so the same candidates, on every CPU
    assert lsh_bands(0.5, 128) == (42, 3)
    assert lsh_bands(0.9, 128) == (10, 12)
    bands, rows = lsh_bands(0.3, 16)
    assert bands * rows <= 16


def test_describe_counts():
    assert describe_counts(None) == ""
    counts = {"groups": 3, "messages_in_groups": 7, "largest_group": 4, "cross_source_twins": 1}
    assert describe_counts(counts).startswith("7 messages are near-duplicates in 3 groups (largest 4; 1 near-twins")


@pytest.mark.parametrize("bad", [(["a"], ["x", "y"])])
def test_ids_and_texts_must_align(bad):
    with pytest.raises(ValueError, match="1 ids but 2 texts"):
        group_near_duplicates(*bad)
