"""A content-addressed, resumable cache of message embeddings in Parquet chunks.

One directory per encoder setting (hash of model, revision, pooling, max_length, hidden states, dtype);
inside, chunk files of (text_sha256, vector). Each chunk is written whole and renamed into place, so a
kill at any moment loses at most the chunk being encoded and never leaves a torn file. A chunk that
does not read back (truncated, garbage) is reported, deleted and its messages encoded again.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stages.common.io import atomic_path, write_json


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def vectors_to_arrow(vectors: np.ndarray) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
    return pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])


def arrow_to_vectors(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), column.type.list_size)


class EmbeddingCache:
    def __init__(self, root: Path, setting: str) -> None:
        self.directory = Path(root) / hashlib.sha256(setting.encode()).hexdigest()[:16]
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json(self.directory / "setting.json", {"setting": setting})
        self.corrupt: list[str] = []

    def load(self) -> dict[str, np.ndarray]:
        """All cached vectors by text key; unreadable chunks are removed and listed in `self.corrupt`."""
        vectors: dict[str, np.ndarray] = {}
        for leftover in self.directory.glob(".chunk-*.tmp"):  # a killed run's unfinished chunk
            leftover.unlink(missing_ok=True)
        for chunk in sorted(self.directory.glob("chunk-*.parquet")):
            try:
                table = pq.read_table(chunk)
                keys, values = table.column("text_sha256").to_pylist(), arrow_to_vectors(table.column("vector"))
                if len(keys) != len(values):
                    raise ValueError("row counts differ")
            except Exception as exc:  # noqa: BLE001 - any unreadable chunk is dropped, never used
                self.corrupt.append(f"{chunk.name}: {type(exc).__name__}: {str(exc)[:80]}")
                chunk.unlink(missing_ok=True)
                continue
            vectors.update(zip(keys, values, strict=True))
        return vectors

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        table = pa.table({"text_sha256": pa.array(keys, pa.string()), "vector": vectors_to_arrow(vectors)})
        name = f"chunk-{len(list(self.directory.glob('chunk-*.parquet'))):05d}-{uuid.uuid4().hex[:8]}.parquet"
        with atomic_path(self.directory / name) as tmp:
            pq.write_table(table, tmp)
