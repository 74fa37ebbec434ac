"""The params.yaml schema: every stage validates the whole file before doing any work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from stages.common.cli import StageError

PARAMS_FILE = Path("params.yaml")
Fraction = Annotated[float, Field(gt=0, lt=1)]


class Strict(BaseModel):
    # extra="forbid": a misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DownloadParams(Strict):
    sources: list[str] = Field(min_length=1, description="URLs or local paths, tried in order")
    member: str = Field(description="file name inside a zip archive")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    timeout: PositiveFloat = Field(3.0, description="seconds a connect or a read may stall")
    max_bytes: PositiveInt = 50_000_000


class PrepareParams(Strict):
    on_bad_line: Literal["error", "skip"] = "error"
    decode_html_entities: bool = True


class SplitParams(Strict):
    train: Fraction = 0.70
    val: Fraction = 0.15
    test: Fraction = 0.15
    seed: int = 42

    @model_validator(mode="after")
    def fractions_sum_to_one(self) -> SplitParams:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"train + val + test must sum to 1, got {total:g}")
        return self


class VectorizerParams(Strict):
    """Sparse bag-of-words (`count`) or TF-IDF (`tfidf`) features, fitted on the train split only."""

    kind: Literal["count", "tfidf"]
    analyzer: Literal["word", "char", "char_wb"] = "word"
    ngram_range: tuple[PositiveInt, PositiveInt] = (1, 1)
    max_features: PositiveInt | None = None
    min_df: PositiveInt = 1
    lowercase: bool = True
    binary: bool = False
    sublinear_tf: bool = False

    @model_validator(mode="after")
    def ngrams_ordered(self) -> VectorizerParams:
        if self.ngram_range[0] > self.ngram_range[1]:
            raise ValueError(f"ngram_range must be [low, high] with low <= high, got {list(self.ngram_range)}")
        return self


class EncoderParams(Strict):
    """Dense features: a pretrained transformer's pooled hidden states (cached, see stages/common/embed_cache.py)."""

    kind: Literal["transformer"]
    model: str = Field(description="hub id or local directory")
    revision: str = "main"
    max_length: PositiveInt = 128
    pooling: Literal["mean", "cls"] = "mean"
    batch_size: PositiveInt = 64
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # Encoder-decoder models (BART): pool the full model's last_hidden_state (as the course did) or the
    # encoder's only, at half the cost. Ignored by encoder-only models.
    hidden_states: Literal["full", "encoder"] = "full"


FeaturizerParams = Annotated[VectorizerParams | EncoderParams, Field(discriminator="kind")]


class TrainParams(Strict):
    loss: Literal["bce", "mse"] = "bce"
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: PositiveFloat = 0.01
    epochs: PositiveInt = 500
    batch_size: NonNegativeInt = Field(0, description="0 = full batch")
    weight_decay: NonNegativeFloat = 0.0
    pos_weight: PositiveFloat | Literal["balanced"] = 1.0
    # Stop after this many epochs without a lower val loss and keep the best epoch's weights;
    # 0 = no early stopping, keep the final weights.
    patience: NonNegativeInt = 20
    threshold: Fraction | Literal["auto"] = "auto"
    seed: int = 0


class CompareParams(Strict):
    baseline: str = "bow"  # every other featurizer's change is measured against this one
    resamples: PositiveInt = 2000  # bootstrap resamples of the test split
    seed: int = 0


class ExploreParams(Strict):
    top_tokens: PositiveInt = 15  # most frequent words per class (English stop words left out)
    examples: NonNegativeInt = 3  # example messages shown per class
    seed: int = 0


class CarsPrepareParams(Strict):
    source: str = "data/vendor/used_cars/used_cars.csv"
    on_bad_line: Literal["error", "skip"] = "error"


CarColumn = Literal["accident", "clean_title", "fuel_type"]


class CarsTrainParams(Strict):
    reference_year: int = Field(2024, ge=1900, le=2100, description="car age = reference_year - model_year")
    target: Literal["price", "log_price"] = "price"
    extra_features: list[CarColumn] = Field(default_factory=list, description="added to age and mileage")
    outliers: Literal["none", "iqr", "quantiles"] = "iqr"  # price outliers removed from train only
    iqr_factor: PositiveFloat = 1.5
    quantiles: tuple[Fraction, Fraction] = (0.01, 0.99)
    test: Fraction = 0.2
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: PositiveFloat = 0.05
    epochs: PositiveInt = 2000
    seed: int = 42

    @model_validator(mode="after")
    def quantiles_ordered(self) -> CarsTrainParams:
        if self.quantiles[0] >= self.quantiles[1]:
            raise ValueError(f"quantiles must be (low, high) with low < high, got {list(self.quantiles)}")
        return self


class FahrenheitParams(Strict):
    samples: PositiveInt = 200
    noise: NonNegativeFloat = 2.0  # standard deviation of the Fahrenheit noise
    celsius_range: tuple[float, float] = (-30.0, 50.0)
    learning_rates: list[PositiveFloat] = Field(
        default_factory=lambda: [1e-5, 1e-4, 5e-4, 1e-3, 1.2e-3, 2e-3], min_length=1
    )
    iterations: PositiveInt = 5000
    tolerance: Fraction = 0.01  # converged: loss within 1 % of the least-squares loss, and staying there
    seed: int = 0


class Params(Strict):
    featurizers: list[str] = Field(min_length=1)
    download: DownloadParams
    prepare: PrepareParams = PrepareParams()
    split: SplitParams = SplitParams()
    featurize: dict[str, FeaturizerParams]
    train: dict[str, TrainParams]
    compare: CompareParams = CompareParams()
    explore: ExploreParams = ExploreParams()
    cars_prepare: CarsPrepareParams = CarsPrepareParams()
    cars_train: CarsTrainParams = CarsTrainParams()
    fahrenheit: FahrenheitParams = FahrenheitParams()

    @model_validator(mode="after")
    def featurizers_are_configured(self) -> Params:
        if len(set(self.featurizers)) != len(self.featurizers):
            raise ValueError(f"featurizers lists a name twice: {self.featurizers}")
        for name in self.featurizers:
            for block in ("featurize", "train"):
                if name not in getattr(self, block):
                    known = ", ".join(getattr(self, block)) or "none"
                    raise ValueError(f"unknown featurizer {name!r}: no {block}.{name} block (known: {known})")
        return self


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    value = f" (got {error['input']!r})" if error["type"] not in ("missing", "value_error") else ""
    return f"{key}: {error['msg']}{value}"


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; raise StageError naming each bad key."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise StageError(f"{path} is not valid YAML: {exc}") from None
    try:
        return Params.model_validate(raw or {})
    except ValidationError as exc:
        details = "\n  ".join(_describe(e) for e in exc.errors(include_url=False))
        raise StageError(f"{path} is invalid:\n  {details}") from None
