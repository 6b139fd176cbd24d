"""Rank quantized layers by how much their quantization hurts the model's output.

For each layer (an op with weights) of the fully quantized model, its quantizers (weights, and the activation
quantizer feeding its input) are switched off and the logits compared with the float model's on a few
calibration images. The score is the drop of the normalized mean squared error (NMSE) of the logits:

    NMSE = mean ||q(x) - f(x)||^2 / mean ||f(x)||^2,    score(layer) = NMSE(all quantized) - NMSE(layer in float)

Worked example: if the quantized model's NMSE is 0.020 and it falls to 0.012 with ``layer3.2.conv2`` in float but
only to 0.019 with ``layer1.0.conv1`` in float, the ranking starts ``layer3.2.conv2`` (score 0.008), and accuracy
control keeps it in float first. The ranking uses no labels, so it needs no validation data.

Example::

    ranking = rank_layers(quantized, folded, images, layers)
    [(r.name, round(r.score, 4)) for r in ranking[:3]]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from edgecv.quantize.layers import Layer
from edgecv.quantize.nncf_ptq import quantizers


@dataclass
class LayerSensitivity:
    """One layer's place in the ranking."""

    name: str
    node: str
    score: float
    nmse_in_float: float
    quantizers: int

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


def layer_quantizer_names(layer: Layer, hooks: dict[str, Any]) -> list[str]:
    """The hook names of ``layer``'s weight quantizer(s) and of the activation quantizer nearest its input."""
    from nncf.torch.function_hook.hook_storage import decode_hook_name

    decoded = {decode_hook_name(name): name for name in hooks}
    names = [decoded[("pre_hooks", layer.node, port)] for port in layer.weight_ports if
             ("pre_hooks", layer.node, port) in decoded]
    if ("pre_hooks", layer.node, 0) in decoded:
        return [*names, decoded[("pre_hooks", layer.node, 0)]]
    for node, port in layer.producers:
        if ("post_hooks", node, port) in decoded:
            return [*names, decoded[("post_hooks", node, port)]]
    return names


def _as_dict(output: Any) -> dict[str, torch.Tensor]:
    """A model's output by name: a tensor is ``logits``; a tuple's entries are numbered; a dict stays."""
    if isinstance(output, dict):
        return output
    if isinstance(output, tuple | list):
        return {str(i): t for i, t in enumerate(output)}
    return {"logits": output}


@torch.no_grad()
def _logits(model: nn.Module, images: torch.Tensor, batch: int = 64) -> dict[str, torch.Tensor]:
    parts = [_as_dict(model(images[i : i + batch])) for i in range(0, len(images), batch)]
    return {name: torch.cat([p[name].float() for p in parts]) for name in parts[0]}


def nmse(candidate: torch.Tensor | dict[str, torch.Tensor], reference: torch.Tensor | dict[str, torch.Tensor]) -> float:
    """Normalized mean squared error of two output batches; for outputs by name (a detector's boxes and
    scores), the mean of each output's NMSE, so outputs in different units weigh alike."""
    if isinstance(reference, dict) and isinstance(candidate, dict):
        return sum(nmse(candidate[k], reference[k]) for k in reference) / len(reference)
    assert isinstance(candidate, torch.Tensor) and isinstance(reference, torch.Tensor)
    return float(((candidate - reference) ** 2).sum() / (reference**2).sum().clamp_min(1e-12))


def rank_layers(
    quantized: nn.Module, reference: nn.Module, images: torch.Tensor, layers: list[Layer], batch: int = 64
) -> list[LayerSensitivity]:
    """Layers of ``quantized`` ordered from most to least sensitive (see the module docstring); ``batch`` images
    per forward."""
    quantized.eval()
    target = _logits(reference.eval(), images, batch)
    base = nmse(_logits(quantized, images, batch), target)
    hooks = quantizers(quantized)
    ranking = []
    for layer in layers:
        names = layer_quantizer_names(layer, hooks)
        if not names:
            continue  # not quantized (ignored scope, or NNCF left it float)
        states = [hooks[n].is_enabled_quantization() for n in names]
        for n in names:
            hooks[n].disable_quantization()
        try:
            error = nmse(_logits(quantized, images, batch), target)
        finally:
            for n, enabled in zip(names, states, strict=True):
                if enabled:
                    hooks[n].enable_quantization()
        ranking.append(LayerSensitivity(layer.name, layer.node, base - error, error, len(names)))
    return sorted(ranking, key=lambda r: r.score, reverse=True)
