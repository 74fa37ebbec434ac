"""featurize.<name>.engine: local (default) or ray, checked by the params schema before any work."""

from __future__ import annotations

import pytest

from stages.common.errors import StageError
from stages.common.params import validate_params
from tests.conftest import real_params


def test_engine_defaults_to_local_and_accepts_ray():
    params = real_params()
    assert all(getattr(s, "engine", "local") == "local" for s in validate_params(params).featurize.values())
    params["featurize"]["minilm"]["engine"] = "ray"
    assert validate_params(params).featurize["minilm"].engine == "ray"


def test_unknown_engine_is_refused_naming_the_key():
    params = real_params()
    params["featurize"]["minilm"]["engine"] = "spark"
    with pytest.raises(StageError, match=r"featurize\.minilm\.engine: Input should be 'local' or 'ray'"):
        validate_params(params)
