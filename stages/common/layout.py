"""Where the pipeline keeps its files: every path, as a function of the featurizer where it has one.

The stages (their defaults), `spam`, the predictor and the app all read their paths here; dvc.yaml spells
the same paths for DVC. Kept free of heavy imports: `spam predict` reads it on its fast path.
"""

from pathlib import Path

PARAMS_FILE = Path("params.yaml")

RAW_FILE = Path("data/raw/SMSSpamCollection")  # download writes it, prepare reads it
MESSAGES_FILE = Path("data/prepared/messages.parquet")  # prepare: id, text, label
SUMMARY_FILE = Path("data/prepared/summary.json")  # prepare: lines read, duplicates dropped, ...
GROUPS_FILE = Path("data/prepared/groups.parquet")  # prepare: id, group (near-duplicates split keeps together)
SPLIT_FILE = Path("data/split/split.parquet")  # split: id, split
SPLITS = ("train", "val", "test")  # the names in SPLIT_FILE's split column
CARS_LISTINGS, CARS_SUMMARY = Path("data/cars/listings.parquet"), Path("data/cars/summary.json")  # cars_prepare
EMBEDDING_CACHE = Path("data/cache/embeddings")
# featurizers/NAME/inputs.yaml: the files featurize@NAME reads, for dvc.yaml (stages/common/featurize_inputs.py)
FEATURIZER_INPUTS_DIR, INPUTS_FILE = Path("featurizers"), "inputs.yaml"

MODELS_DIR, FEATURES_DIR, PREDICTIONS_DIR = Path("data/models"), Path("data/features"), Path("data/predictions")

# reports/: what a person reads (the stages that write it take the directory as an option; names inside it:)
REPORTS_DIR = Path("reports")
EVAL, METRICS, TRAIN_LOGS = "eval", "metrics", "train"  # per-featurizer directories
COMPARE_JSON, COMPARE_MD, COMPARE_CHART = "compare.json", "compare.md", Path("figures/compare.png")
EXPLORE_JSON, EXPLORE_MD, EXPLORE_FIGURES = "explore.json", "explore.md", "explore"
CARS, FAHRENHEIT = "cars", "fahrenheit"  # the regression lessons' output directories
LESSON_METRICS = "metrics.json"  # in reports/cars and reports/fahrenheit
INDEX = "index.html"
EVAL_DIR, METRICS_DIR, TRAIN_LOG_DIR = REPORTS_DIR / EVAL, REPORTS_DIR / METRICS, REPORTS_DIR / TRAIN_LOGS
SEEDS_JSON, SEEDS_MD = REPORTS_DIR / "seeds.json", REPORTS_DIR / "seeds.md"  # bench/seeds.py: verdicts over split seeds

WEIGHTS, CARD = "model.safetensors", "card.json"  # in data/models/NAME
LOSS_HISTORY = "loss_history.json"  # in data/models/NAME: train's loss per epoch, what evaluate draws
MATRIX, ROWS, VECTORIZER = "matrix.npz", "rows.parquet", "vectorizer.json"  # sparse data/features/NAME
EMBEDDINGS, ENCODER = "embeddings.parquet", "encoder.json"  # dense data/features/NAME
CONCAT = "concat.json"  # a concat featurizer's data/features/NAME: its parts, weights and train statistics
ALL_METRICS = "metrics.json"  # in reports/eval/NAME: every metric of every split
FIGURES = "figures"  # PNGs, in reports/eval/NAME


def features_dir(featurizer: str, root: Path = FEATURES_DIR) -> Path:
    return Path(root) / featurizer


def model_dir(featurizer: str, root: Path = MODELS_DIR) -> Path:
    return Path(root) / featurizer


def train_log_dir(featurizer: str) -> Path:
    """dvclive's loss curves for `dvc plots` (train writes them; nothing reads them back)."""
    return TRAIN_LOG_DIR / featurizer


def metrics_file(featurizer: str, root: Path = METRICS_DIR) -> Path:
    """The headline that `dvc metrics show` lists."""
    return Path(root) / f"{featurizer}.json"


def eval_dir(featurizer: str, root: Path = EVAL_DIR) -> Path:
    return Path(root) / featurizer


def predictions_file(featurizer: str, root: Path = PREDICTIONS_DIR) -> Path:
    return Path(root) / f"{featurizer}.parquet"
