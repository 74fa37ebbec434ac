"""bench/scale.py: the corpus builder and the growth arithmetic, on small in-memory inputs."""

from __future__ import annotations

import math

import pytest

from bench.scale import ROOT, build_corpus, growth_exponent, markdown, read_collection, verdicts

ROWS = [("ham", "see you at 5 then"), ("spam", "WIN a prize call 0800 123 456 now"), ("ham", "ok lar")] * 2


def test_corpus_has_n_distinct_texts_labels_kept_and_is_deterministic():
    corpus = build_corpus(ROWS, 500, seed=3)
    assert len(corpus) == 500
    assert len({text for _, text in corpus}) == 500  # no exact duplicates: prepare keeps all of them
    assert corpus[:3] == ROWS[:3]  # the distinct originals come first
    assert build_corpus(ROWS, 500, seed=3) == corpus
    assert build_corpus(ROWS, 200, seed=3) == corpus[:200]  # a smaller size is a prefix of a larger one
    assert build_corpus(ROWS, 500, seed=4) != corpus
    words = {label: set(" ".join(t for lab, t in ROWS if lab == label).split()) for label in ("ham", "spam")}
    only = {"ham": words["ham"] - words["spam"], "spam": words["spam"] - words["ham"]}
    other = {"ham": "spam", "spam": "ham"}
    for label, text in corpus:  # a perturbed copy borrows words from its own class only
        assert not only[other[label]] & set(text.split()), (label, text)
    assert sum(label == "spam" for label, _ in corpus) > 100


def test_corpus_from_the_real_collection_keeps_the_spam_share():
    rows = read_collection()
    corpus = build_corpus(rows, 8000)
    share = sum(label == "spam" for label, _ in corpus) / len(corpus)
    assert len({t for _, t in corpus}) == 8000
    assert 0.11 < share < 0.16  # the collection is 13 % spam


def test_growth_exponent():
    assert growth_exponent(50_000, 2.0, 300_000, 12.0) == pytest.approx(1.0)
    assert growth_exponent(1_000, 1.0, 10_000, 100.0) == pytest.approx(2.0)
    assert growth_exponent(10, 5.0, 100, 5.0) == 0.0
    assert growth_exponent(2, 1.0, 4, 2**1.15) == pytest.approx(1.15)
    with pytest.raises(ValueError):
        growth_exponent(10, 0.0, 100, 1.0)


def result(n: int, seconds: float, rss: float) -> dict:
    run = {"seconds": seconds, "cpu_seconds": seconds / 2, "peak_rss": int(rss), "written": 1_000_000}
    stages = [{"stage": s, **run} for s in ("prepare", "x")]
    return {"messages": n, "tfidf_features": 10, "test_mcc": {"bow": 0.9, "tfidf": 0.95}, "stages": stages}


def test_table_and_verdicts():
    results = [result(50_000, 2.0, 1e9), result(300_000, 2.0 * 6**1.3, 5e9)]
    text = markdown(results)
    assert f"| prepare | 2.0 | {2.0 * 6**1.3:.1f} | 1.30 |" in text
    assert f"| prepare | 1.0 | {6**1.3:.1f} | 1.30 |" in text  # CPU seconds
    lines = verdicts(results)
    assert lines[0].startswith("- wall time exponent 50k→300k ≤ 1.15: NOT met") and "1.30" in lines[0]
    assert lines[1].startswith("- CPU time exponent 50k→300k ≤ 1.15: NOT met") and "1.30" in lines[1]
    assert "peak RSS at 300,000 < 4 GB: NOT met, measured 5.00 GB" in lines[2]
    assert "peak RSS at 1,000,000 < 12 GB: NOT met by extrapolation (not measured): x 16.67 GB" in lines[3]
    lines = verdicts([result(50_000, 2.0, 1e9), result(300_000, 2.0 * 6**1.1, 3e9)])
    assert "< 12 GB: met by extrapolation (not measured): x 10.00 GB" in lines[3]  # 3 GB x (1M / 300k)^1
    assert "met (steepest" in lines[0] and "NOT" not in " ".join(lines)
    assert math.isfinite(float(lines[0].rsplit(", ", 1)[1].rstrip(")")))


def test_tfidf_default_is_bounded_above_the_real_vocabulary():
    """params.yaml bounds the tfidf width (growth at any corpus size), above every n-gram of the whole real
    collection, so the real train split's features (a subset) and metrics are unchanged by the bound."""
    from stages.common.features import make_vectorizer
    from stages.common.params import load_params

    params = load_params(ROOT / "params.yaml").featurize["tfidf"]
    assert params.max_features is not None
    texts = list(dict.fromkeys(text for _, text in read_collection()))
    unbounded = make_vectorizer(params.model_copy(update={"max_features": None})).fit(texts)
    assert len(unbounded.vocabulary_) <= params.max_features


def test_embedding_cache_holds_numpy_blocks_not_one_object_per_message(tmp_path):
    """At 1 M messages a dict of small arrays costs ~100 B of overhead each; the cache keeps two arrays."""
    import numpy as np

    from stages.common.embed_cache import EmbeddingCache, text_keys

    cache = EmbeddingCache(tmp_path, "setting", 8)
    cache.load()
    texts = [f"message {i}" for i in range(10_000)]
    for start in range(0, len(texts), 2_500):
        block = texts[start : start + 2_500]
        cache.add(text_keys(block), np.full((len(block), 8), start, np.float32))
    loaded = EmbeddingCache(tmp_path, "setting", 8).load()
    assert type(loaded.keys) is np.ndarray and loaded.keys.dtype == np.dtype("S32") and loaded.keys.shape == (10_000,)
    assert type(loaded.vectors) is np.ndarray and loaded.vectors.shape == (10_000, 8)
    assert loaded.vectors.flags.c_contiguous and loaded.vectors.dtype == np.float32
    rows = loaded.rows(text_keys(texts))
    assert (loaded.vectors[rows, 0] == np.repeat(np.arange(0, 10_000, 2_500), 2_500)).all()


def test_the_one_million_target_counts_featurize_train_and_evaluate_only():
    from bench.scale import one_million_verdict

    def stage(name: str, seconds: float, gb: float) -> dict:
        return {"stage": name, "seconds": seconds, "peak_rss": gb * 1e9}

    result = {
        "messages": 1_000_000,
        "test_mcc": {"bow": 0.9},
        "load_average": [1.0, 1.2],
        "stages": [stage("prepare", 5000, 9.0), stage("featurize bow", 600, 2.0), stage("train bow", 600, 7.5)],
    }
    assert ": met, measured 20.0 min and 7.50 GB, 1-minute load average 1.0 to 1.2" in one_million_verdict(result)
    result["stages"].append(stage("evaluate bow", 700, 1.0))  # 31.7 min
    assert "NOT met" in one_million_verdict(result)
