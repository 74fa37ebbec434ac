"""A content-addressed, resumable, self-checking cache of message embeddings in Parquet chunks.

One directory per encoder setting (hash of the weights' fingerprint, pooling, max_length, hidden states,
dtype); inside, chunk files of (key, vector) where key is the sha256 of the message text. A chunk is
named by the sha256 of its own bytes (`chunk-<sha256>.parquet`) and written whole then renamed into
place, so a kill at any moment loses at most the chunk being encoded and never leaves a torn file. On
read every chunk is checked against its name, the expected dimension and finiteness; one that fails
(flipped bits, truncation, vectors of another size, NaN or infinite values) is reported by name, deleted
and its messages encoded again.

Vectors are held as numpy blocks (a sorted key array and one matrix), not one object per message.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stages.common.io import read_json, write_bytes, write_json

KEY = np.dtype("S32")  # a raw sha256 digest
CHUNK_NAME = re.compile(r"chunk-([0-9a-f]{64})\.parquet")


def text_keys(texts: list[str]) -> np.ndarray:
    """The cache key of each text: the sha256 digest of its UTF-8 bytes."""
    return np.frombuffer(b"".join(hashlib.sha256(t.encode("utf-8")).digest() for t in texts), dtype=KEY)


def vectors_to_arrow(vectors: np.ndarray) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
    return pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])


def arrow_to_vectors(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), column.type.list_size)


def keys_to_arrow(keys: np.ndarray) -> pa.FixedSizeBinaryArray:
    data = np.ascontiguousarray(keys, dtype=KEY)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(data), [None, pa.py_buffer(data.tobytes())])


def arrow_to_keys(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.type != pa.binary(32) or column.null_count:
        raise ValueError(f"key column is {column.type} with {column.null_count} nulls, expected binary(32)")
    return np.frombuffer(column.buffers()[1], dtype=KEY, count=len(column) + column.offset)[column.offset :]


@dataclass
class CachedVectors:
    """Vectors by key: `keys` sorted, row i of `vectors` belongs to keys[i]."""

    keys: np.ndarray
    vectors: np.ndarray

    @classmethod
    def of(cls, keys: np.ndarray, vectors: np.ndarray) -> CachedVectors:
        order = np.argsort(keys, kind="stable")
        return cls(keys[order], vectors[order])

    def rows(self, queries: np.ndarray) -> np.ndarray:
        """The row of each query key, -1 where it is not cached."""
        found = np.searchsorted(self.keys, queries).clip(max=max(len(self.keys) - 1, 0))
        hit = (self.keys[found] == queries) if len(self.keys) else np.zeros(len(queries), bool)
        return np.where(hit, found, -1)


def _read_json_or_none(path: Path) -> object:
    try:
        return read_json(path)
    except (OSError, ValueError):  # unreadable or not JSON: written again
        return None


@dataclass
class EmbeddingCache:
    root: Path
    setting: str  # everything the vectors depend on besides the text (encoders.encoder_cache_key)
    dims: int
    dropped: list[str] = field(default_factory=list)  # "chunk-….parquet: reason", one per chunk dropped

    @property
    def directory(self) -> Path:
        return Path(self.root) / hashlib.sha256(self.setting.encode()).hexdigest()[:16]

    def check(self, name: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        """(keys, vectors) of one chunk file; ValueError if it is not exactly what was written."""
        expected = CHUNK_NAME.fullmatch(name)
        if expected is None or hashlib.sha256(data).hexdigest() != expected.group(1):
            raise ValueError("content does not match the sha256 in its name")
        table = pq.read_table(pa.BufferReader(data))
        keys, vectors = arrow_to_keys(table.column("key")), arrow_to_vectors(table.column("vector"))
        if vectors.shape[1] != self.dims:
            raise ValueError(f"{vectors.shape[1]}-d vectors, expected {self.dims}-d")
        # A chunk rewritten with NaN and renamed to its new sha256 passes the digest: no encoder writes these.
        if bad := int(np.size(vectors) - np.isfinite(vectors).sum()):
            raise ValueError(f"{bad:,} values that are not finite (NaN or infinite)")
        return keys, vectors

    def load(self) -> CachedVectors:
        """All cached vectors; chunks that fail `check` are deleted and listed in `self.dropped`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        card, record = self.directory / "setting.json", {"setting": self.setting, "dims": self.dims}
        if not card.is_file() or _read_json_or_none(card) != record:  # unchanged: a read-only cache serves hits
            write_json(card, record)
        for leftover in self.directory.glob(".chunk-*.tmp"):  # a killed run's unfinished chunk
            leftover.unlink(missing_ok=True)
        keys, vectors = [np.empty(0, KEY)], [np.empty((0, self.dims), np.float32)]
        for chunk in sorted(self.directory.glob("chunk-*.parquet")):
            try:
                chunk_keys, chunk_vectors = self.check(chunk.name, chunk.read_bytes())
            except Exception as exc:  # noqa: BLE001 - any chunk that fails its checks is dropped, never used
                self.dropped.append(f"{chunk.name}: {str(exc).splitlines()[0][:100] or type(exc).__name__}")
                chunk.unlink(missing_ok=True)
                continue
            keys.append(chunk_keys)
            vectors.append(chunk_vectors)
        return CachedVectors.of(np.concatenate(keys), np.concatenate(vectors))

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        table = pa.table({"key": keys_to_arrow(keys), "vector": vectors_to_arrow(vectors)})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        data = sink.getvalue().to_pybytes()
        write_bytes(self.directory / f"chunk-{hashlib.sha256(data).hexdigest()}.parquet", data)
