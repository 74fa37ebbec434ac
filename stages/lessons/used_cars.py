"""The used-car lesson's trained neuron outside its stage: the files cars_train writes, and a car's price.

Light (numpy only) so that the app can price a car from its sliders without importing the stage.
"""

from __future__ import annotations

import numpy as np

from stages.common.standardise import Standardiser

NEURON_WEIGHTS, NEURON_CARD = "neuron.safetensors", "neuron.json"  # in reports/cars


def price_from_sliders(state: dict[str, np.ndarray], card: dict, age: float, mileage: float) -> float:
    """The used-car neuron's price for a car of this age and mileage (age and mileage models only)."""
    scale_x, scale_y = Standardiser(state["x_mean"], state["x_std"]), Standardiser(state["y_mean"], state["y_std"])
    standardised = scale_x(np.array([age, mileage], dtype=float)) @ state["weight"] + state["bias"]
    value = float(scale_y.inverse(standardised)[0])
    return float(np.exp(value)) if card["target"] == "log_price" else value
