import pytest

from stages.common.errors import StageError
from stages.common.params import load_params
from tests.conftest import params_yaml, real_params


def load_with(tmp_path, change) -> None:
    params = real_params()
    change(params)
    path = tmp_path / "params.yaml"
    path.write_text(params_yaml(params))
    return load_params(path)


def test_project_params_are_valid():
    params = load_params()
    assert params.featurizers and all(name in params.train for name in params.featurizers)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda p: p["train"]["tfidf"].update(lr="fast"), "train.tfidf.lr"),
        (lambda p: p["train"]["tfidf"].update(lr=-0.1), "train.tfidf.lr"),
        (lambda p: p["train"]["bow"].update(epochs=1.5), "train.bow.epochs"),
        (lambda p: p["train"]["bow"].update(threshold=1.5), "train.bow.threshold"),
        (lambda p: p["train"]["bow"].update(learning_rate=0.1), "train.bow.learning_rate"),
        (lambda p: p["featurizers"].append("word2vec"), "word2vec"),
        (lambda p: p["split"].update(train=0.8), "train + val + test must sum to 1"),
        (lambda p: p["featurize"]["bow"].update(kind="hashing"), "featurize.bow"),
        (lambda p: p["featurize"]["bow"].update(ngram_range=[3, 1]), "featurize.bow"),
        (lambda p: p["download"].update(sha256="abc"), "download.sha256"),
        (lambda p: p.pop("download"), "download"),
        (lambda p: p["prepare"]["near_duplicates"].update(threshold=0.1), "prepare.near_duplicates.threshold"),
        (lambda p: p["prepare"]["near_duplicates"].update(threshold=1.5), "prepare.near_duplicates.threshold"),
        (lambda p: p["prepare"]["near_duplicates"].update(shingle_size=1), "prepare.near_duplicates.shingle_size"),
        (lambda p: p["prepare"]["near_duplicates"].update(num_perm=8), "prepare.near_duplicates.num_perm"),
        (lambda p: p["prepare"]["near_duplicates"].update(num_perm=64.0), "prepare.near_duplicates.num_perm"),
        (lambda p: p["prepare"]["near_duplicates"].update(method="simhash"), "prepare.near_duplicates.method"),
        (lambda p: p["prepare"]["near_duplicates"].update(theshold=0.6), "prepare.near_duplicates.theshold"),
    ],
)
def test_bad_params_name_the_key(tmp_path, change, key):
    with pytest.raises(StageError) as error:
        load_with(tmp_path, change)
    assert key in str(error.value)


def test_invalid_yaml_is_reported(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("featurizers: [bow\n")
    with pytest.raises(StageError, match="not valid YAML"):
        load_params(path)


def test_compare_resamples_over_the_limit_is_one_error_naming_value_and_limit(tmp_path):
    """1,000,000 resamples passed the check, then the bootstrap allocated 5.78 GiB (issue 24)."""
    with pytest.raises(StageError) as error:
        load_with(tmp_path, lambda p: p["compare"].update(resamples=1_000_000))
    message = str(error.value)
    assert "compare.resamples" in message and "100000" in message and "1000000" in message, message
    assert "\n" not in message
