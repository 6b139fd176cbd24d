"""Per-class weights of a training loss (``train.class_weights``) from the train split's class counts.

``balanced`` is scikit-learn's formula over the classes present: ``w_c = total / (present * n_c)``, so a class
with the average count weighs 1 and the count-weighted mean of the weights is 1; ``sqrt`` is its square root, a
milder correction; a class absent from the train split weighs 0 (no target ever selects it). A list is taken as
given, one weight per class. Counts are images (classification) or label-map pixels (segmentation), read once.

Example::

    resolve_class_weights("balanced", torch.tensor([90, 10]))      # tensor([0.5556, 5.0000])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from edgecv.errors import RecipeError

ClassWeights = str | Sequence[float]


def balanced_weights(counts: torch.Tensor, power: float = 1.0) -> torch.Tensor:
    """``(total / (present * counts)) ** power`` per class; 0 for a class with no count."""
    counts = counts.double()
    present = counts > 0
    if not bool(present.any()):
        raise RecipeError("train.class_weights: the train split holds no labelled sample of any class")
    weights = torch.zeros_like(counts)
    weights[present] = (counts.sum() / (int(present.sum()) * counts[present])) ** power
    return weights.float()


def resolve_class_weights(setting: ClassWeights, counts: torch.Tensor | None, num_classes: int | None = None,
                          key: str = "train.class_weights") -> torch.Tensor | None:
    """The weight tensor of ``setting`` ("none", "balanced", "sqrt" or a list) for these per-class ``counts``."""
    if isinstance(setting, str):
        if setting == "none":
            return None
        if counts is None:
            raise RecipeError(f"{key}: {setting} needs the train split's class counts, which this task does not give")
        return balanced_weights(counts, {"balanced": 1.0, "sqrt": 0.5}[setting])
    classes = num_classes if num_classes is not None else (len(counts) if counts is not None else len(setting))
    if len(setting) != classes:
        raise RecipeError(f"{key} lists {len(setting)} weights for {classes} classes: give one per class")
    return torch.tensor(list(setting), dtype=torch.float32)
