"""The concat featurizer: blocks side by side, dense ones standardised on train, parts reused as saved."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from stages.common.features import fit_concat, join_blocks, load_features, save_dense_features
from stages.common.io import read_json
from stages.common.layout import CONCAT
from stages.common.params import Params
from tests.conftest import real_params, write_params

TEXTS = ["Free prize, call now", "see you at lunch", "WIN a free prize", "zebra crossing", "call me", "txt WIN 50p"]
MESSAGES = pd.DataFrame({"id": [f"m{i}" for i in range(6)], "text": TEXTS, "label": [1, 0, 1, 0, 0, 1]})
SPLIT = pd.DataFrame({"id": MESSAGES["id"], "split": ["train", "train", "train", "train", "val", "test"]})


def test_join_standardises_dense_blocks_on_train_and_keeps_sparse_as_is():
    rng = np.random.default_rng(0)
    sparse = sp.random(6, 5, density=0.5, format="csr", random_state=0, dtype=np.float32)
    dense = rng.normal(3.0, 2.0, size=(6, 4))
    train = np.array([True, True, True, True, False, False])
    state = fit_concat([sparse, dense], train, ["tfidf", "minilm"], [1.0, 0.5])
    joined = join_blocks([sparse, dense], state)
    assert sp.issparse(joined) and joined.shape == (6, 9) and joined.dtype == np.float32
    assert np.allclose(joined[:, :5].toarray(), sparse.toarray())  # weight 1: the sparse block unchanged
    block = joined[:, 5:].toarray()
    assert np.allclose(block[train].mean(axis=0), 0, atol=1e-6)  # train statistics...
    assert np.allclose(block[train].std(axis=0), 0.5, atol=1e-5)  # ...times the block's weight
    expected = (dense[~train] - dense[train].mean(axis=0)) / dense[train].std(axis=0) * 0.5
    assert np.allclose(block[~train], expected, atol=1e-5)  # val/test rows use train's mean and std
    again = join_blocks([sparse[4:], dense[4:]], state)  # new messages: same transform from the JSON state
    assert np.allclose(again.toarray(), joined[4:].toarray(), atol=1e-6)


def concat_params(**concat) -> dict:
    params = real_params()
    params["featurize"]["tfidf_minilm"] = {"kind": "concat", "parts": ["tfidf", "minilm"]} | concat
    return params


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["featurize"]["tfidf_minilm"].update(parts=["tfidf", "word2vec"]), "'word2vec' is not a text"),
        (lambda p: p["featurize"]["tfidf_minilm"].update(weights=[1.0]), "one value per part"),
        (lambda p: p["featurize"]["tfidf_minilm"].update(parts=["tfidf"]), "at least 2"),
        (lambda p: p["featurize"]["tfidf_minilm"].update(parts=["tfidf", "minilm", "bow", "bart"]), "at most 3"),
        (lambda p: p.update(featurizers=["bow", "tfidf_minilm"]), "not its part"),
    ],
)
def test_bad_concat_params_are_named(change, message):
    params = concat_params()
    change(params)
    with pytest.raises(ValueError, match=message):
        Params.model_validate(params)


def test_concat_reads_the_parts_outputs_and_encodes_nothing(in_tmp, monkeypatch):
    """featurize tfidf_minilm with the encoder made unloadable: it joins what tfidf and minilm saved."""
    from stages import featurize

    write_params(in_tmp, concat_params(weights=[1.0, 0.2]))
    MESSAGES.to_parquet(in_tmp / "messages.parquet")
    SPLIT.to_parquet(in_tmp / "split.parquet")
    files = ["--messages-file", "messages.parquet", "--split-file", "split.parquet"]
    runner = CliRunner()
    assert runner.invoke(featurize.app, ["tfidf", *files]).exit_code == 0
    shuffled = MESSAGES.sample(frac=1, random_state=0)  # rows in another order: the join matches them by id
    vectors = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    save_dense_features(in_tmp / "data/features/minilm", shuffled["id"], vectors, {"params": {}})

    def no_encoding(*args, **kwargs):
        raise AssertionError("concat must not encode")

    monkeypatch.setattr(featurize, "embed", no_encoding)
    monkeypatch.setattr("stages.common.encoders.load_encoder", no_encoding)
    result = runner.invoke(featurize.app, ["tfidf_minilm", *files])
    assert result.exit_code == 0, result.output
    ids, joined = load_features(in_tmp / "data/features/tfidf_minilm")
    _, tfidf = load_features(in_tmp / "data/features/tfidf")
    assert list(ids) == list(MESSAGES["id"]) and joined.shape == (6, tfidf.shape[1] + 3)
    dense = joined[:, tfidf.shape[1] :].toarray()
    order = pd.Series(range(6), index=shuffled["id"].to_numpy())[MESSAGES["id"]].to_numpy()
    state = read_json(in_tmp / "data/features/tfidf_minilm" / CONCAT)
    expected = (vectors[order] - state["standardise"][1]["mean"]) / state["standardise"][1]["std"] * 0.2
    assert np.allclose(dense, expected, atol=1e-5) and state["parts"] == ["tfidf", "minilm"]


def test_concat_without_a_part_says_which_stage_to_run(in_tmp):
    from stages import featurize

    write_params(in_tmp, concat_params())
    MESSAGES.to_parquet(in_tmp / "messages.parquet")
    SPLIT.to_parquet(in_tmp / "split.parquet")
    files = ["--messages-file", "messages.parquet", "--split-file", "split.parquet"]
    result = CliRunner().invoke(featurize.app, ["tfidf_minilm", *files])
    assert result.exit_code == 1 and "featurize@tfidf" in result.output


def test_concat_predictor_featurizes_new_text_like_the_stage(in_tmp):
    """Two sparse parts (bow, tfidf): the predictor's features for the messages equal the saved rows."""
    from stages import featurize
    from stages.common.io import write_json
    from stages.common.layout import CARD
    from stages.common.neuron import Neuron, save_neuron
    from stages.user.predictor import load_predictor

    params = real_params()
    params["featurize"]["both"] = {"kind": "concat", "parts": ["bow", "tfidf"], "weights": [0.5, 2.0]}
    write_params(in_tmp, params)
    MESSAGES.to_parquet(in_tmp / "messages.parquet")
    SPLIT.to_parquet(in_tmp / "split.parquet")
    files = ["--messages-file", "messages.parquet", "--split-file", "split.parquet"]
    for name in ("bow", "tfidf", "both"):
        assert CliRunner().invoke(featurize.app, [name, *files]).exit_code == 0
    _, saved = load_features(in_tmp / "data/features/both")
    (in_tmp / "data/models/both").mkdir(parents=True)
    save_neuron(in_tmp / "data/models/both", Neuron(np.full(saved.shape[1], 0.01), 0.0))
    write_json(in_tmp / "data/models/both" / CARD, {"threshold": 0.5, "n_features": saved.shape[1]})
    predictor = load_predictor("both", in_tmp / "data/models", in_tmp / "data/features")
    assert np.allclose(predictor.featurize(TEXTS).toarray(), saved.toarray(), atol=1e-6)


def featurize_both(in_tmp, weights: list[float]):
    """featurize bow, tfidf, then concat `both` of them with `weights`; the last CliRunner result."""
    from stages import featurize

    params = real_params()
    params["featurize"]["both"] = {"kind": "concat", "parts": ["bow", "tfidf"], "weights": weights}
    write_params(in_tmp, params)
    MESSAGES.to_parquet(in_tmp / "messages.parquet")
    SPLIT.to_parquet(in_tmp / "split.parquet")
    files = ["--messages-file", "messages.parquet", "--split-file", "split.parquet"]
    for name in ("bow", "tfidf"):
        assert CliRunner().invoke(featurize.app, [name, *files]).exit_code == 0
    return CliRunner().invoke(featurize.app, ["both", *files])


def test_concat_weights_that_overflow_are_refused_at_featurize_naming_them(in_tmp):
    """weights [1e308, 1e308] overflow float32 to inf: train then blamed its learning rate (issue 24)."""
    result = featurize_both(in_tmp, [1e308, 1e308])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: featurize.both: "), result.output
    assert "not finite" in lines[0] and "featurize.both.weights" in lines[0] and "bow" in lines[0], lines[0]
    assert not (in_tmp / "data/features/both").exists()  # no partial output


def test_non_finite_encoder_vectors_are_refused_at_featurize(in_tmp, monkeypatch):
    """An encoder that gives NaN (e.g. float16 overflow): refused naming the encoder, nothing written."""
    from stages import featurize
    from stages.common.embedding import EmbedRun

    params = real_params()
    write_params(in_tmp, params)
    MESSAGES.to_parquet(in_tmp / "messages.parquet")
    vectors = np.ones((6, 4), np.float32)
    vectors[3, 1] = np.nan
    run = EmbedRun(6, 0, 6, "cpu", "float16", "models/x", None, "f" * 8)
    monkeypatch.setattr(featurize, "embed", lambda *args, **kwargs: (vectors, run))
    result = CliRunner().invoke(featurize.app, ["minilm", "--messages-file", "messages.parquet"])
    assert result.exit_code == 1, result.output
    line = result.output.splitlines()[-1]
    assert line.startswith("error: featurize.minilm: ") and "1 feature value" in line and "m3" in line, line
    assert "set featurize.minilm.dtype: float32" in line, line
    assert not (in_tmp / "data/features/minilm").exists()
