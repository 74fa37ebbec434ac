"""One linear neuron trained with MSE: the course's regression lessons (used-car price, Celsius -> Fahrenheit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch (~1.5 s to import) loads when a fit runs, not when a lesson's module is imported
    from torch import nn


@dataclass
class LinearFit:
    model: nn.Linear
    losses: list[float] = field(default_factory=list)  # train MSE before each update
    diverged_at: int | None = None  # first iteration whose loss was not finite (or blew past `blow_up`)

    @property
    def weight(self) -> np.ndarray:
        return self.model.weight.detach().double().numpy().ravel()

    @property
    def bias(self) -> float:
        return float(self.model.bias.detach())

    def predict(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(torch.as_tensor(x, dtype=torch.float64)).numpy().ravel()


def fit_linear(
    x: np.ndarray,
    y: np.ndarray,
    lr: float,
    iterations: int,
    optimizer: str = "adam",
    seed: int = 0,
    blow_up: float = 1e12,
) -> LinearFit:
    """Full-batch gradient descent on nn.Linear(k, 1) with MSE, from a seeded random init, in float64.

    Stops early if the loss stops being finite or exceeds `blow_up` (a learning rate that diverges).
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    features = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(len(y), -1))
    target = torch.as_tensor(np.asarray(y, dtype=np.float64))
    model = nn.Linear(features.shape[1], 1).double()
    make = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer]
    step = make(model.parameters(), lr=lr)
    fit = LinearFit(model)
    for iteration in range(iterations):
        loss = nn.functional.mse_loss(model(features).squeeze(1), target)
        value = loss.item()
        fit.losses.append(value)
        if not np.isfinite(value) or value > blow_up:
            fit.diverged_at = iteration
            break
        step.zero_grad()
        loss.backward()
        step.step()
    return fit
