"""Training the single neuron, `nn.Linear(n_features, 1)`, on sparse or dense features: the train stage's
torch half. Scoring is numpy (stages/common/neuron.py), so evaluate and `spam predict` never import torch.

Training runs in float64 and the weights are stored in float32 (docs/internals.md#precision): the kernels that
differ between CPUs (vector widths, BLAS code paths, thread counts) move float64 results by a few units in
the last place, far below float32's, so the stored weights are the same bytes on every machine.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from stages.common.errors import TrainingDiverged
from stages.common.neuron import Neuron
from stages.common.params import WEIGHT_DECAY_GRID, TrainParams
from stages.common.precision import round_significant
from stages.common.standardise import Standardiser

Features = sp.csr_matrix | np.ndarray

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")


def to_tensor(matrix: Features) -> torch.Tensor:
    """Sparse stays sparse (CSR tensor); both become float64, the precision training runs in."""
    if sp.issparse(matrix):
        csr = matrix.tocsr()
        # int32 indices, shared with scipy's: MKL's sparse product takes int32 and converts int64 ones on every
        # call (2.6x slower, the same bits; measured), and they take 12 bytes per stored value, not 16
        index = np.int32 if max(csr.nnz, *csr.shape) < 2**31 else np.int64
        return torch.sparse_csr_tensor(
            torch.from_numpy(csr.indptr.astype(index, copy=False)),
            torch.from_numpy(csr.indices.astype(index, copy=False)),
            torch.from_numpy(csr.data.astype(np.float64)),
            size=csr.shape,
            check_invariants=True,
        )
    return torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float64))


class SparseRows:
    """A fixed sparse batch and its transpose, kept together for the fast backward pass."""

    def __init__(self, matrix: sp.csr_matrix) -> None:
        self.x = to_tensor(matrix)
        self.x_t = to_tensor(matrix.T.tocsr())
        self.shape = matrix.shape


class _SparseMatmul(torch.autograd.Function):
    """x @ w with a backward of x.T @ grad from the precomputed transpose.

    torch's own CSR backward is ~25x slower here (41 ms vs 1.6 ms per epoch on 3,619 x 64,791 TF-IDF).
    """

    @staticmethod
    def forward(ctx, weight_t: torch.Tensor, x: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        ctx.x_t = x_t
        return x @ weight_t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return ctx.x_t @ grad, None, None


def neuron_logits(model: nn.Linear, batch: torch.Tensor | SparseRows) -> torch.Tensor:
    """The neuron's pre-sigmoid output, one value per row."""
    if isinstance(batch, SparseRows):
        return (_SparseMatmul.apply(model.weight.T, batch.x, batch.x_t) + model.bias).squeeze(1)
    return model(batch).squeeze(1)


@dataclass
class TrainResult:
    model: nn.Linear
    standardizer: Standardiser  # identity for sparse features
    history: list[dict] = field(default_factory=list)  # epoch, train_loss, val_loss
    best_epoch: int = 0
    seconds: float = 0.0
    # weight_decay "auto": the grid, each candidate's val score and the chosen value (rounded: it goes in the card)
    weight_decay_search: dict | None = None

    @property
    def neuron(self) -> Neuron:
        """The trained weights as they are stored, rounded to float32: what evaluate and `spam predict` score with."""
        weight, bias = (t.detach().to(torch.float32).double().numpy() for t in (self.model.weight, self.model.bias))
        return Neuron(weight.ravel(), float(bias[0]), self.standardizer)


def make_loss(params: TrainParams, labels: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """BCE on logits (logistic regression) or MSE on sigmoid outputs (the course's slow-learning lesson)."""
    if params.pos_weight == "balanced":
        pos_weight = float((labels == 0).sum() / max(labels.sum(), 1))
    else:
        pos_weight = float(params.pos_weight)
    if params.loss == "bce":
        return nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, dtype=torch.float64))

    def weighted_mse(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weights = 1.0 + (pos_weight - 1.0) * target
        return (weights * (torch.sigmoid(logits) - target) ** 2).mean()

    return weighted_mse


def _batches(n_rows: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor | None]:
    if batch_size == 0 or batch_size >= n_rows:
        return [None]  # full batch
    order = torch.randperm(n_rows, generator=generator)
    return list(order.split(batch_size))


WEIGHT_DECAY_RULE = "min val loss (the kept epoch's), ties to the larger weight decay"


def val_score(result: TrainResult) -> float:
    """What `weight_decay: auto` minimises: the val loss of the epoch early stopping kept (the last epoch's with
    patience 0), i.e. early stopping's own criterion carried across the grid. It is the loss history's value:
    float64, rounded to 6 significant digits, so the comparison and the card are the same on every CPU.
    Uncalibrated on purpose: over split seeds 42-46 the val log loss after Platt scaling chose heavy decays
    whose ranking was worse on test (bow: 0.8640 vs 0.8877 test MCC on seed 42; docs/benchmarks.md)."""
    return result.history[result.best_epoch - 1]["val_loss"]


def choose_weight_decay(grid: list[float], scores: list[float]) -> float:
    """The grid value with the lowest score; equal scores go to the larger weight decay (more regularisation)."""
    best = min(scores)
    return max(decay for decay, score in zip(grid, scores, strict=True) if score == best)


def train_weight_decay_grid(
    x_train: Features, y_train: np.ndarray, x_val: Features, y_val: np.ndarray, params: TrainParams
) -> TrainResult:
    """`weight_decay: auto`: one neuron per WEIGHT_DECAY_GRID value, each judged on val only (`val_score`); the
    chosen one is returned, with the search in `weight_decay_search` and the whole search's time in `seconds`."""
    started = time.perf_counter()
    grid = [float(decay) for decay in WEIGHT_DECAY_GRID]
    results, scores = [], []
    for decay in grid:
        result = train_neuron(x_train, y_train, x_val, y_val, params.model_copy(update={"weight_decay": decay}))
        results.append(result)
        scores.append(val_score(result))
    chosen = choose_weight_decay(grid, scores)
    result = results[grid.index(chosen)]
    result.weight_decay_search = {"rule": WEIGHT_DECAY_RULE, "grid": grid, "val_scores": scores, "chosen": chosen}
    result.seconds = time.perf_counter() - started
    return result


def train_neuron(
    x_train: Features,
    y_train: np.ndarray,
    x_val: Features,
    y_val: np.ndarray,
    params: TrainParams,
) -> TrainResult:
    """Fit one neuron; keep the weights of the epoch with the lowest val loss (early stopping).

    weight_decay "auto" fits one per grid value and keeps the best on val (`train_weight_decay_grid`)."""
    if params.weight_decay == "auto":
        return train_weight_decay_grid(x_train, y_train, x_val, y_val, params)
    started = time.perf_counter()
    torch.manual_seed(params.seed)
    generator = torch.Generator().manual_seed(params.seed)
    # Sparse features stay unscaled (and sparse); dense ones get the train sample std (ddof=1), stored in float32
    # and applied in float64, as `Neuron.logits` applies it.
    standardizer = Standardiser() if sp.issparse(x_train) else Standardiser.fit(x_train, ddof=1, dtype=np.float32)
    train_t = SparseRows(x_train) if sp.issparse(x_train) else standardizer(to_tensor(x_train))
    val_t = standardizer(to_tensor(x_val))
    y_train_t = torch.as_tensor(y_train, dtype=torch.float64)
    y_val_t = torch.as_tensor(y_val, dtype=torch.float64)
    model = nn.Linear(train_t.shape[1], 1, dtype=torch.float64)
    loss_fn = make_loss(params, y_train_t)
    optimizer_cls = torch.optim.Adam if params.optimizer == "adam" else torch.optim.SGD
    optimizer = optimizer_cls(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    sparse_rows = sp.csr_matrix(x_train) if sp.issparse(x_train) else None

    result = TrainResult(model, standardizer)
    best_loss, best_state, stale = float("inf"), None, 0
    for epoch in range(1, params.epochs + 1):
        model.train()
        losses = []
        for rows in _batches(train_t.shape[0], params.batch_size, generator):
            if rows is None:
                batch, target = train_t, y_train_t
            elif sparse_rows is not None:  # slice in scipy: torch CSR tensors cannot index rows
                batch, target = SparseRows(sparse_rows[rows.numpy()]), y_train_t[rows]
            else:
                batch, target = train_t[rows], y_train_t[rows]
            optimizer.zero_grad()
            loss = loss_fn(neuron_logits(model, batch), target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item() * len(target))
        model.eval()
        with torch.inference_mode():
            val_loss = float(loss_fn(neuron_logits(model, val_t), y_val_t))
        train_loss = sum(losses) / len(y_train_t)
        # Written to files: rounded, so that the last bits of a CPU's kernels never reach them.
        result.history.append(
            {"epoch": epoch, "train_loss": round_significant(train_loss), "val_loss": round_significant(val_loss)}
        )
        if not (np.isfinite(train_loss) and np.isfinite(val_loss)):
            raise TrainingDiverged(epoch, train_loss if not np.isfinite(train_loss) else val_loss)
        if val_loss < best_loss - 1e-7:
            best_loss, best_state, stale, result.best_epoch = val_loss, copy.deepcopy(model.state_dict()), 0, epoch
        else:
            stale += 1
            if params.patience and stale >= params.patience:
                break
    if params.patience and best_state is not None:
        model.load_state_dict(best_state)
    else:  # no early stopping (patience 0): keep the final weights, as the course did
        result.best_epoch = len(result.history)
    result.seconds = time.perf_counter() - started
    return result
