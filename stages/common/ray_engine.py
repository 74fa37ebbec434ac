"""`featurize.<name>.engine: ray`: encode the messages missing from the embedding cache with Ray Data.

The messages go through `ray.data.from_pandas(...).map_batches(EncoderActor, compute=ActorPoolStrategy)`:
a pool of actors, each loading the model once (one actor per GPU on a GPU cluster, `num_gpus=1`; else one
single-threaded actor per CPU). The driver writes each finished batch to the same content-addressed cache
as the local engine (stages/common/embed_cache.py) as it arrives, so a kill loses only the batches in flight
and a rerun encodes only what is missing.

Without RAY_ADDRESS a local Ray starts on 127.0.0.1 (no dashboard) and stops at the end; with it, the
run joins that cluster (`ray start --head` there; see docs/ray.md). Every node must load the model from the
same place: a hub id, or a directory at the same path on each node.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from stages.common.embed_cache import EmbeddingCache
from stages.common.encoders import ModelSource, encode, load_encoder
from stages.common.errors import StageError
from stages.common.params import EncoderParams

INSTALL = 'pip install -e ".[ray]"'
BATCHES_PER_ACTOR = 4
OBJECT_STORE_BYTES = 512 * 2**20  # texts and vectors in flight only; Ray's default takes 30 % of the RAM
JOIN_DEADLINE = 10.0  # seconds RAY_ADDRESS's host:port gets to accept and answer; ray.init retried past 240 s


class EncoderActor:
    """A Ray Data actor: loads the encoder once, then encodes each batch of (row, text)."""

    def __init__(self, params: dict, featurizer: str, source: ModelSource, threads: int) -> None:
        import torch

        if not torch.cuda.is_available():
            torch.set_num_threads(threads)  # one actor per CPU: threads would only contend
        self.encoder = load_encoder(EncoderParams.model_validate(params), featurizer, source)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"row": batch["row"], "vector": encode(self.encoder, batch["text"].tolist())}


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise StageError(f"engine: ray needs Ray Data, which is not installed: {INSTALL}") from None
    return ray


@contextmanager
def ray_session() -> Iterator[object]:
    """Ray, started here (local, 127.0.0.1, stopped on exit) unless RAY_ADDRESS names a cluster to join."""
    ray = import_ray()
    if ray.is_initialized():  # a caller's session (a notebook, a test): use it, leave it running
        yield ray
        return
    options = dict(log_to_driver=False, logging_level=logging.WARNING, configure_logging=False)
    if not os.environ.get("RAY_ADDRESS"):
        options |= dict(
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            object_store_memory=OBJECT_STORE_BYTES,
        )
    check_ray_address(os.environ.get("RAY_ADDRESS", ""))
    try:
        ray.init(**options)
    except Exception as exc:  # noqa: BLE001 - a cluster that cannot start or be reached: one clear line
        where = os.environ.get("RAY_ADDRESS") or "a local Ray"
        raise StageError(f"cannot start or join {where}: {str(exc).splitlines()[0][:200]}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


# An HTTP/2 client's first bytes (the preface, then an empty SETTINGS frame): Ray's GCS and Ray Client speak
# gRPC, whose server answers them with its own SETTINGS frame at once. One that accepts and stays silent
# would hold ray.init without a deadline.
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def check_ray_address(address: str, deadline: float = JOIN_DEADLINE) -> None:
    """A StageError naming RAY_ADDRESS when its host:port does not accept a connection and answer an HTTP/2
    greeting within `deadline` seconds. `auto`, `local` and empty (start one here) are left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=deadline) as sock:
            sock.sendall(HTTP2_PREFACE)
            answered = bool(sock.recv(9))
        reason = None if answered else "it closed the connection: no Ray there"
    except OSError as exc:  # refused, unreachable, unknown host, or no answer in time
        reason = f"no answer in {deadline:g} s" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
    if reason:
        raise StageError(
            f"cannot join the Ray cluster at RAY_ADDRESS={address} ({reason}): start it there "
            "(`ray start --head`, docs/ray.md), or unset RAY_ADDRESS to start a local Ray"
        )


def pool_size(ray) -> tuple[int, float, int]:
    """(actors, GPUs per actor, torch threads per actor): one actor per GPU, else one per CPU."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return gpus, 1.0, 1
    return max(1, int(resources.get("CPU", 1))), 0.0, 1


def encode_with_ray(
    texts: list[str],
    keys: np.ndarray,
    missing_rows: np.ndarray,
    params: EncoderParams,
    featurizer: str,
    source: ModelSource,
    cache: EmbeddingCache,
    chunk_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """texts[missing_rows] encoded by an actor pool, each finished batch added to the cache as it arrives.
    Returns (keys, vectors) in the order the batches arrived; embed() merges them with the cached ones."""
    from tqdm import tqdm

    with ray_session() as ray:
        actors, gpus, threads = pool_size(ray)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours below counts what reached the cache
        context.print_on_execution_start = False
        # One block per batch, at least BATCHES_PER_ACTOR per actor so that none idles while another
        # works through a long queue; at most chunk_size rows (what a kill can lose).
        rows_per_batch = max(1, min(chunk_size, -(-len(missing_rows) // (BATCHES_PER_ACTOR * actors))))
        blocks = [
            pd.DataFrame({"row": rows, "text": [texts[i] for i in rows]})
            for rows in np.array_split(missing_rows, -(-len(missing_rows) // rows_per_batch))
        ]
        dataset = ray.data.from_pandas(blocks).map_batches(
            EncoderActor,
            fn_constructor_kwargs=dict(
                params=params.model_dump(mode="json"), featurizer=featurizer, source=source, threads=threads
            ),
            batch_size=rows_per_batch,  # one batch, one cache chunk
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_gpus=gpus,
        )
        new_keys, new_vectors = [], []
        desc = f"embed {featurizer} (ray, {actors} actor{'s' * (actors > 1)}{', 1 GPU each' if gpus else ''})"
        try:
            with tqdm(total=len(missing_rows), unit="msg", desc=desc) as bar:
                for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                    batch_keys = keys[batch["row"]]
                    vectors = np.asarray(batch["vector"], dtype=np.float32)
                    cache.add(batch_keys, vectors)  # a finished batch survives a kill
                    new_keys.append(batch_keys)
                    new_vectors.append(vectors)
                    bar.update(len(batch_keys))
        except ray.exceptions.RayError as exc:
            lines = [line for line in str(exc).splitlines() if line.strip()]
            raise StageError(
                f"ray engine failed for {featurizer}: {(lines[-1] if lines else type(exc).__name__)[:300]}"
            ) from None
    return np.concatenate(new_keys), np.concatenate(new_vectors)
