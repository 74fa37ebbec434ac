"""Where the pipeline keeps what it trained: directories and file names, read by the stages, `spam` and the app.

Kept free of heavy imports: `spam predict` reads it on its fast path.
"""

from pathlib import Path

MODELS_DIR, FEATURES_DIR, METRICS_DIR = Path("data/models"), Path("data/features"), Path("reports/metrics")
WEIGHTS, CARD = "model.safetensors", "card.json"  # in data/models/NAME
MATRIX, ROWS, VECTORIZER = "matrix.npz", "rows.parquet", "vectorizer.json"  # sparse data/features/NAME
EMBEDDINGS, ENCODER = "embeddings.parquet", "encoder.json"  # dense data/features/NAME
CONCAT = "concat.json"  # a concat featurizer's data/features/NAME: its parts, weights and train statistics
