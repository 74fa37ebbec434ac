"""The params.yaml schema: every stage validates the whole file before doing any work."""

from __future__ import annotations

import codecs
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator
from pydantic import Strict as StrictType

from stages.common.errors import NAME_PATTERN, StageError, clip, utf8_text
from stages.common.layout import PARAMS_FILE
from stages.common.vectorizer import Analyzer, VectorizerKind

MAX_PARAMS_BYTES = 1_000_000  # params.yaml is ~5 KB; anything near this is a mistake or an attack
MAX_ERRORS_SHOWN = 5

# A featurizer name becomes a stage name (featurize@NAME), a directory (data/features/NAME) and a CLI
# argument: one safe alphabet (stages/common/cli.py), checked here before anything uses it.
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]

# Numbers: finite, never a boolean (YAML `true` is not 1.0), never a string; ints never floats.
Float = Annotated[float, StrictType(), Field(allow_inf_nan=False)]
PositiveFloat = Annotated[Float, Field(gt=0)]
NonNegativeFloat = Annotated[Float, Field(ge=0)]
LearningRate = Annotated[Float, Field(gt=0, le=10)]  # beyond 10 a single neuron only overflows
Int = StrictInt
PositiveInt = Annotated[StrictInt, Field(gt=0)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
Seed = Annotated[StrictInt, Field(ge=0, lt=2**32)]  # what numpy and torch both accept
Fraction = Annotated[Float, Field(gt=0, lt=1)]
Epochs = Annotated[StrictInt, Field(gt=0, le=1_000_000)]


class Strict(BaseModel):
    # extra="forbid": a misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DownloadParams(Strict):
    sources: list[str] = Field(min_length=1, description="URLs or local paths, tried in order")
    member: str = Field(description="file name inside a zip archive")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    timeout: Annotated[PositiveFloat, Field(le=600)] = Field(3.0, description="seconds a connect or a read may stall")
    deadline: Annotated[PositiveFloat, Field(le=3600)] = Field(
        60.0, description="seconds one source's whole transfer may take"
    )
    max_bytes: Annotated[PositiveInt, Field(le=2**31)] = 50_000_000


LabelValue = Annotated[str, Field(min_length=1, max_length=100)] | StrictInt


class SourceParams(Strict):
    """A file (or a glob of files) of labelled messages, read by stages/common/sources.py."""

    files: str = Field(min_length=1, max_length=300, description="a path or glob inside data/sources/")
    format: Literal["csv", "tsv", "jsonl", "parquet"]
    text: str = Field("text", min_length=1, max_length=200, description="the column (JSONL: field) of the message")
    label: str = Field("label", min_length=1, max_length=200, description="the column (JSONL: field) of the label")
    spam: list[LabelValue] = Field(default_factory=lambda: ["spam"], min_length=1, max_length=100)
    ham: list[LabelValue] = Field(default_factory=lambda: ["ham"], min_length=1, max_length=100)
    encoding: str = Field("utf-8", max_length=40, description="the file's text encoding, e.g. latin-1")

    @model_validator(mode="after")
    def readable(self) -> SourceParams:
        from stages.common.sources import SOURCES_DIR, label_key

        path = PurePosixPath(self.files)
        if path.is_absolute() or ".." in path.parts or path.parts[:2] != SOURCES_DIR.parts or len(path.parts) < 3:
            raise ValueError(
                f"files: {clip(self.files)!r} must be inside {SOURCES_DIR}/ (prepare depends on that directory in "
                "dvc.yaml, so a file added there reruns prepare)"
            )
        try:
            codec = codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"encoding: unknown encoding {clip(self.encoding, 40)!r} (e.g. utf-8, latin-1)") from None
        # rot13, hex, base64, zlib...: codecs knows them, but they turn bytes into bytes, not into text
        if not codec._is_text_encoding:
            raise ValueError(f"encoding: {clip(self.encoding, 40)!r} is not a text encoding (e.g. utf-8, latin-1)")
        if self.format == "parquet" and codecs.lookup(self.encoding).name != "utf-8":
            raise ValueError("encoding: Parquet text is always UTF-8; leave encoding out")
        both = {label_key(v) for v in self.spam} & {label_key(v) for v in self.ham}
        if both:
            raise ValueError(f"spam and ham both list {clip(sorted(both))}")
        return self


class NearDuplicateParams(Strict):
    """Which messages split keeps together (stages/common/near_duplicates.py, docs/data.md#near-duplicates)."""

    # normalised: texts equal once NFKC-casefolded to letters and digits; minhash: those, and texts whose
    # character shingles (digit runs as one 0) have an exact Jaccard similarity >= threshold
    method: Literal["normalised", "minhash"] = "minhash"
    # Below 0.3 unrelated messages sharing common words join, and LSH's candidates grow quadratically
    threshold: Annotated[Float, Field(ge=0.3, le=1)] = 0.5
    shingle_size: Annotated[StrictInt, Field(ge=2, le=20)] = 5  # characters per shingle
    num_perm: Annotated[StrictInt, Field(ge=16, le=1024)] = 128  # MinHash permutations: more find more pairs, slower


class PrepareParams(Strict):
    on_bad_line: Literal["error", "skip"] = "error"
    decode_html_entities: bool = True
    collection: StrictBool = True  # the bundled SMS Spam Collection (the download stage's output)
    # More labelled messages, concatenated after the collection (in this order) and deduplicated.
    sources: list[SourceParams] = Field(default_factory=list, max_length=100)
    near_duplicates: NearDuplicateParams = NearDuplicateParams()  # written to their own file: see prepare

    @model_validator(mode="after")
    def some_source(self) -> PrepareParams:
        if not self.collection and not self.sources:
            raise ValueError("no messages to prepare: set collection: true or list sources")
        return self


class SplitParams(Strict):
    train: Fraction = 0.70
    val: Fraction = 0.15
    test: Fraction = 0.15
    seed: Seed = 42

    @model_validator(mode="after")
    def fractions_sum_to_one(self) -> SplitParams:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"train + val + test must sum to 1, got {total:g}")
        return self


class VectorizerParams(Strict):
    """Sparse bag-of-words (`count`) or TF-IDF (`tfidf`) features, fitted on the train split only."""

    kind: VectorizerKind
    analyzer: Analyzer = "word"
    ngram_range: tuple[Annotated[PositiveInt, Field(le=20)], Annotated[PositiveInt, Field(le=20)]] = (1, 1)
    max_features: Annotated[PositiveInt, Field(le=10_000_000)] | None = None
    min_df: Annotated[PositiveInt, Field(le=1_000_000)] = 1
    lowercase: StrictBool = True
    binary: StrictBool = False
    sublinear_tf: StrictBool = False

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
    max_length: Annotated[PositiveInt, Field(le=8192)] = 128
    pooling: Literal["mean", "cls"] = "mean"
    batch_size: Annotated[PositiveInt, Field(le=65536)] = 64
    # The precision the model runs in; vectors are stored as float32 either way (docs/internals.md#precision).
    # float64 (default): the same vectors, bytes and DVC hashes on every CPU, about 2x float32's time.
    # Opt-ins, faster, whose vectors differ in their last bits from one CPU to another: float32; bfloat16 and
    # float16 (they also change the metrics); auto (fp16 on CUDA, bf16 on a CPU with AMX, else float32).
    dtype: Literal["float64", "float32", "bfloat16", "float16", "auto"] = "float64"
    # Encoder-decoder models (BART): pool the full model's last_hidden_state (as the course did) or the
    # encoder's only, at half the cost. Ignored by encoder-only models.
    hidden_states: Literal["full", "encoder"] = "full"
    # Who encodes the messages missing from the cache: this process (local), or an actor pool through Ray
    # Data (ray: the `ray` extra; a local Ray, or the cluster in RAY_ADDRESS; stages/common/ray_engine.py).
    engine: Literal["local", "ray"] = "local"
    # What runs the model (docs/backends.md): torch (default), or onnx / openvino on the model that the
    # export@NAME stage exported to data/encoders/NAME. Opt-ins, faster, whose vectors differ from torch's
    # in their last bits (and, with quantize int8, in their second decimal) and from one CPU to another.
    backend: Literal["torch", "onnx", "openvino"] = "torch"
    quantize: Literal["none", "int8"] = "none"  # int8: onnx dynamic, openvino static (calibrated on train)

    @model_validator(mode="after")
    def backend_settings(self) -> EncoderParams:
        if self.backend == "torch" and self.quantize != "none":
            raise ValueError(f"quantize: {self.quantize} needs backend: onnx or openvino (docs/backends.md)")
        if self.backend != "torch" and self.dtype != "float32":
            raise ValueError(f"backend: {self.backend} runs the model exported in float32: set dtype: float32")
        if self.backend != "torch" and self.engine == "ray":
            raise ValueError(f"backend: {self.backend} runs in this process: set engine: local")
        return self


class StaticParams(Strict):
    """Static embeddings: a model2vec model that the distill@NAME stage distils from a transformer, offline
    (docs/backends.md#static): one vector per token, averaged; no transformer runs, no torch at predict."""

    kind: Literal["static"]
    model: str = Field("sentence-transformers/all-MiniLM-L6-v2", description="hub id or local directory")
    revision: str = "main"
    pca_dims: Annotated[PositiveInt, Field(le=4096)] | None = 256  # None: the teacher's own width


MAX_CONCAT_PARTS = 3


class ConcatParams(Strict):
    """One feature vector from other featurizers' outputs, side by side (see stages/common/features.py).

    Dense blocks are standardised with train statistics; each block is multiplied by its weight, which
    sets its share of the neuron's input scale (and so of the weight decay).
    """

    kind: Literal["concat"]
    # At most MAX_CONCAT_PARTS: dvc.yaml gives each part a dep slot (stages/common/featurize_inputs.py).
    parts: list[Name] = Field(
        min_length=2, max_length=MAX_CONCAT_PARTS, description="featurizers whose outputs are joined, in this order"
    )
    weights: list[PositiveFloat] | None = Field(None, description="one per part; default: 1 each")

    @model_validator(mode="after")
    def one_weight_per_part(self) -> ConcatParams:
        if len(set(self.parts)) != len(self.parts):
            raise ValueError(f"parts lists a featurizer twice: {self.parts}")
        if self.weights is not None and len(self.weights) != len(self.parts):
            raise ValueError(f"weights needs one value per part ({len(self.parts)}), got {len(self.weights)}")
        return self

    @property
    def block_weights(self) -> list[float]:
        return list(self.weights) if self.weights is not None else [1.0] * len(self.parts)


FeaturizerParams = Annotated[
    VectorizerParams | EncoderParams | StaticParams | ConcatParams, Field(discriminator="kind")
]


# `train.NAME.weight_decay: auto` trains one neuron per value here and keeps the one with the lowest val loss
# (stages/common/training.py, train_weight_decay_grid); ties go to the larger value. The one place the grid
# is set: changing it reruns train (this file is one of its deps).
# Measured in docs/benchmarks.md#weight-decay-chosen-on-val-auto.
WEIGHT_DECAY_GRID = (1e-5, 1e-4, 1e-3, 1e-2)


class TrainParams(Strict):
    loss: Literal["bce", "mse"] = "bce"
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: LearningRate = 0.01
    epochs: Epochs = 500
    batch_size: NonNegativeInt = Field(0, description="0 = full batch")
    # A number, or "auto": the value of WEIGHT_DECAY_GRID with the lowest val loss.
    weight_decay: Annotated[NonNegativeFloat, Field(le=10)] | Literal["auto"] = 0.0
    pos_weight: Annotated[PositiveFloat, Field(le=1e6)] | Literal["balanced"] = 1.0
    # Stop after this many epochs without a lower val loss and keep the best epoch's weights;
    # 0 = no early stopping, keep the final weights.
    patience: NonNegativeInt = 20
    threshold: Fraction | Literal["auto"] = "auto"
    # Fitted on val after training (see stages/common/calibration.py): none, platt (sigmoid(a*logit + b))
    # or temperature (sigmoid(logit / T)). The threshold is chosen on the calibrated val probabilities.
    calibration: Literal["none", "platt", "temperature"] = "none"
    seed: Seed = 0


# The bootstrap holds resamples x test messages indices at once (int64): 1,000,000 over 776 test messages
# asked for 5.78 GiB. `spam compare --resamples` has the same limit.
MAX_RESAMPLES = 100_000


class CompareParams(Strict):
    baseline: Name = "bow"  # every other featurizer's change is measured against this one
    resamples: Annotated[PositiveInt, Field(le=MAX_RESAMPLES)] = 2000  # bootstrap resamples of the test split
    seed: Seed = 0


class ExploreParams(Strict):
    top_tokens: Annotated[PositiveInt, Field(le=1000)] = 15  # most frequent words per class (no stop words)
    examples: Annotated[NonNegativeInt, Field(le=1000)] = 3  # example messages shown per class
    seed: Seed = 0


class CarsPrepareParams(Strict):
    source: str = "data/vendor/used_cars/used_cars.csv"
    on_bad_line: Literal["error", "skip"] = "error"


CarColumn = Literal["accident", "clean_title", "fuel_type"]


class CarsTrainParams(Strict):
    reference_year: Int = Field(2024, ge=1900, le=2100, description="car age = reference_year - model_year")
    target: Literal["price", "log_price"] = "price"
    extra_features: list[CarColumn] = Field(default_factory=list, description="added to age and mileage")
    outliers: Literal["none", "iqr", "quantiles"] = "iqr"  # price outliers removed from train only
    iqr_factor: Annotated[PositiveFloat, Field(le=1000)] = 1.5
    quantiles: tuple[Fraction, Fraction] = (0.01, 0.99)
    test: Fraction = 0.2
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: LearningRate = 0.05
    epochs: Epochs = 2000
    seed: Seed = 42

    @model_validator(mode="after")
    def quantiles_ordered(self) -> CarsTrainParams:
        if self.quantiles[0] >= self.quantiles[1]:
            raise ValueError(f"quantiles must be (low, high) with low < high, got {list(self.quantiles)}")
        return self


class FahrenheitParams(Strict):
    samples: Annotated[PositiveInt, Field(ge=2, le=1_000_000)] = 200
    noise: Annotated[NonNegativeFloat, Field(le=1e6)] = 2.0  # standard deviation of the Fahrenheit noise
    celsius_range: tuple[Annotated[Float, Field(ge=-1e6, le=1e6)], Annotated[Float, Field(ge=-1e6, le=1e6)]] = (
        -30.0,
        50.0,
    )
    learning_rates: list[LearningRate] = Field(
        default_factory=lambda: [1e-5, 1e-4, 5e-4, 1e-3, 1.2e-3, 2e-3], min_length=1, max_length=20
    )
    iterations: Epochs = 5000
    tolerance: Fraction = 0.01  # converged: loss within 1 % of the least-squares loss, and staying there
    seed: Seed = 0


class Params(Strict):
    # Every featurizer featurized, trained, evaluated and compared: the pipeline's one list of them.
    featurizers: list[Name] = Field(min_length=1, max_length=100)
    download: DownloadParams
    prepare: PrepareParams = PrepareParams()
    split: SplitParams = SplitParams()
    featurize: dict[Name, FeaturizerParams]
    train: dict[Name, TrainParams]
    compare: CompareParams = CompareParams()
    explore: ExploreParams = ExploreParams()
    cars_prepare: CarsPrepareParams = CarsPrepareParams()
    cars_train: CarsTrainParams = CarsTrainParams()
    fahrenheit: FahrenheitParams = FahrenheitParams()

    @model_validator(mode="after")
    def featurizers_are_configured(self) -> Params:
        if len(set(self.featurizers)) != len(self.featurizers):
            raise ValueError(f"featurizers lists a name twice: {clip(self.featurizers)}")
        for name in self.featurizers:
            for block in ("featurize", "train"):
                if name not in getattr(self, block):
                    known = clip(", ".join(getattr(self, block)) or "none")
                    raise ValueError(f"unknown featurizer {name!r}: no {block}.{name} block (known: {known})")
        for name, settings in self.featurize.items():
            if isinstance(settings, ConcatParams):
                for part in settings.parts:
                    if part not in self.featurize or isinstance(self.featurize[part], ConcatParams):
                        raise ValueError(f"featurize.{name}.parts: {part!r} is not a text featurizer in featurize")
                    if name in self.featurizers and part not in self.featurizers:
                        raise ValueError(f"featurizers lists {name!r} but not its part {part!r}")
        return self

    def featurizer(self, name: str) -> FeaturizerParams:
        """featurize.NAME; the one `unknown featurizer` error where params.yaml has no such block."""
        if name not in self.featurize:
            raise StageError(f"unknown featurizer {name!r}; params.yaml has: {', '.join(self.featurize)}")
        return self.featurize[name]

    def training(self, name: str) -> TrainParams:
        """train.NAME of a known featurizer (see `featurizer`)."""
        self.featurizer(name)
        if name not in self.train:
            raise StageError(f"featurizer {name!r} has no train.{name} block in params.yaml")
        return self.train[name]

    def concat_parts(self) -> dict[str, list[str]]:
        """The concat featurizers among `featurizers`, each with its parts."""
        return {
            name: list(settings.parts)
            for name in self.featurizers
            if isinstance(settings := self.featurize[name], ConcatParams)
        }


def _describe(error: dict) -> str:
    loc = list(error["loc"])
    if loc[:1] == ["featurize"] and len(loc) > 3:
        del loc[2]  # pydantic puts the `kind` tag of the union in the location: featurize.bow.count.min_df
    key = ".".join(clip(str(part), 40) for part in loc) or "(top level)"
    value = f" (got {clip(error['input'])})" if error["type"] not in ("missing", "value_error") else ""
    return f"{key}: {clip(error['msg'], 200)}{value}"


class ParamsLoader(yaml.SafeLoader):
    """YAML without aliases (a 1 KB alias bomb expands to gigabytes) and without duplicate keys (DVC
    refuses them, so the stages must not silently take the last one)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{clip(event.anchor, 40)}) are not allowed in params.yaml", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key (a list or a mapping)
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value, not a list or a mapping", key_node.start_mark
                ) from None
            if first != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {clip(key, 40)!r} is written twice (first on line {first})", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def parse_params(data: bytes, path: Path = PARAMS_FILE) -> object:
    """params.yaml's bytes as Python objects; StageError (one line) for anything that is not sane YAML."""
    if len(data) > MAX_PARAMS_BYTES:
        raise StageError(f"{path} is {len(data):,} bytes, more than the {MAX_PARAMS_BYTES:,} allowed")
    text = utf8_text(data, path, "save it as UTF-8")
    try:
        return yaml.load(text, Loader=ParamsLoader)  # noqa: S506 (ParamsLoader is a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = " ".join(part for part in (exc.context, exc.problem) if part)
        raise StageError(f"{path} is not valid YAML{where}: {clip(problem, 200)}") from None
    except yaml.YAMLError as exc:
        raise StageError(f"{path} is not valid YAML: {clip(str(exc), 200)}") from None
    except RecursionError:
        raise StageError(f"{path} is nested too deeply to be params") from None


def validate_params(raw: object, path: Path = PARAMS_FILE) -> Params:
    """The parsed file as Params; StageError naming each bad key (the first few, on one line)."""
    try:
        return Params.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        details = "; ".join(_describe(e) for e in errors[:MAX_ERRORS_SHOWN])
        more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise StageError(f"{path} is invalid: {details}{more}") from None
    except RecursionError:
        raise StageError(f"{path} is nested too deeply to be params") from None


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; raise StageError (one line) naming each bad key."""
    path = Path(path)
    with path.open("rb") as handle:  # read at most one byte past the limit, whatever the file's size
        data = handle.read(MAX_PARAMS_BYTES + 1)
    return validate_params(parse_params(data, path), path)
