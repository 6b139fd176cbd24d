"""Knowledge distillation losses: logit KD (Hinton et al. 2015) and feature KD through learned 1x1 adapters.

Example::

    kd = Distiller(student, teacher, temperature=4.0, alpha=0.9, features=[("layer3", "layer3", 1.0)],
                   example=torch.zeros(1, 3, 32, 32))
    loss = kd.loss(images, student_logits)      # the extra term for edgecv.training.train_model
    kd.adapters                                 # trainable modules to optimize with the student
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) on temperature-softened outputs, scaled by T^2 so gradients keep their size."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, dim=1), F.softmax(teacher_logits / t, dim=1),
                    reduction="batchmean") * t * t


class _Capture:
    """Forward hook that keeps a module's latest output."""

    def __init__(self, module: nn.Module) -> None:
        self.value: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        self.value = output


class Distiller:
    """Holds a frozen teacher and computes the distillation term for a batch of the student's training."""

    def __init__(self, student: nn.Module, teacher: nn.Module, *, temperature: float, alpha: float,
                 features: list[tuple[str, str, float]], example: torch.Tensor,
                 logit_loss: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor] = kd_loss) -> None:
        """``logit_loss(student outputs, teacher outputs, T)`` is the task's (logit KD for classification)."""
        self.teacher = teacher.eval()
        self.logit_loss = logit_loss
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.temperature = temperature
        self.alpha = alpha
        student_modules, teacher_modules = dict(student.named_modules()), dict(teacher.named_modules())
        self.pairs = [(_Capture(student_modules[s]), _Capture(teacher_modules[t]), w) for s, t, w in features]
        self.adapters = nn.ModuleList(self._adapter(student, example, pair) for pair in self.pairs)

    def _adapter(self, student: nn.Module, example: torch.Tensor, pair: tuple[_Capture, _Capture, float]) -> nn.Module:
        with torch.no_grad():
            was_training = student.training
            student.eval()
            student(example)
            self.teacher(example)
            student.train(was_training)
        s_channels, t_channels = pair[0].value.shape[1], pair[1].value.shape[1]  # type: ignore[union-attr]
        return nn.Conv2d(s_channels, t_channels, kernel_size=1, bias=False)

    def to(self, device: torch.device) -> Distiller:
        self.teacher.to(device)
        self.adapters.to(device)
        return self

    def loss(self, images: torch.Tensor, student_outputs: torch.Tensor) -> torch.Tensor:
        """alpha * the task's output KD + the weighted feature MSEs (features read from the forward pass just made)."""
        with torch.no_grad():
            teacher_outputs = self.teacher(images)
        total = self.alpha * self.logit_loss(student_outputs, teacher_outputs, self.temperature)
        for (student_cap, teacher_cap, weight), adapter in zip(self.pairs, self.adapters, strict=True):
            s, t = adapter(student_cap.value), teacher_cap.value
            if s.shape[-2:] != t.shape[-2:]:
                s = F.adaptive_avg_pool2d(s, t.shape[-2:])
            total = total + weight * F.mse_loss(s, t)
        return total

    def close(self) -> None:
        for student_cap, teacher_cap, _ in self.pairs:
            student_cap.handle.remove()
            teacher_cap.handle.remove()
