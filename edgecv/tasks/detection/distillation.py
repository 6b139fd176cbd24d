"""Detector distillation: the student learns the teacher's class scores and, where the teacher sees an object, its
boxes, anchor by anchor (both models' raw outputs before NMS, same anchors: the student is a pruned teacher).

    score term = BCE(student scores, teacher scores), summed over classes, mean over anchors
    box term   = sum_a w_a |student box_a - teacher box_a| / (image side * sum_a w_a),  w_a = teacher's best score

The teacher's scores are probabilities already (softmax or sigmoid inside the network), so the temperature of
classification's logit KD does not apply. Needs no labels: with ``alpha: 1`` a user's own detector, for which edgecv
knows no training loss, is fine-tuned after pruning from its teacher alone.

Example::

    loss = detection_kd(student_out, teacher_out)     # {"boxes": (N, A, 4), "scores": (N, A, C)} each
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

EPS = 1e-6


@dataclass
class DetectorForward:
    """What a detector's training forward yields: its own loss terms (torchvision detectors) and, on demand, its
    raw outputs (what distillation compares), computed once."""

    model: Any
    images: torch.Tensor
    losses: dict[str, torch.Tensor] | None
    _outputs: dict[str, torch.Tensor] | None = None

    @property
    def outputs(self) -> dict[str, torch.Tensor]:
        if self._outputs is None:
            self._outputs = self.model(self.images)
        return self._outputs


def raw_outputs(value: Any) -> dict[str, torch.Tensor]:
    """The ``boxes``/``scores`` of a training forward or of a plain forward."""
    return value.outputs if isinstance(value, DetectorForward) else value


def detection_kd(student: Any, teacher: Any) -> torch.Tensor:
    """The score and box terms of the module docstring, summed."""
    s, t = raw_outputs(student), raw_outputs(teacher)
    s_scores, t_scores = s["scores"].float().clamp(EPS, 1 - EPS), t["scores"].float().clamp(0, 1)
    score_term = F.binary_cross_entropy(s_scores, t_scores, reduction="none").sum(-1).mean()
    weight = t_scores.amax(-1)  # (N, A): where the teacher sees something
    side = t["boxes"].detach().abs().amax().clamp_min(1.0)
    box_error = (s["boxes"].float() - t["boxes"].float()).abs().sum(-1) / side
    box_term = (weight * box_error).sum() / weight.sum().clamp_min(EPS)
    return score_term + box_term
