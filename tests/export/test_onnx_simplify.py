"""The exported graph keeps no run-time shape arithmetic where the sizes are static (:func:`simplify_onnx`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn
from torchvision.models.shufflenetv2 import channel_shuffle

from edgecv.artifacts import InputSpec
from edgecv.export.onnx import export_onnx


class QuantizedShuffles(nn.Module):
    """What a quantized ShuffleNetV2 exports: fake-quantized conv outputs, then a channel split and a shuffle."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.convs = nn.ModuleList(nn.Conv2d(8, 8, 1) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = torch.fake_quantize_per_tensor_affine(conv(x), 0.05, 0, -128, 127)
            passthrough, branch = x.chunk(2, dim=1)
            x = channel_shuffle(torch.cat((passthrough, torch.relu(branch)), 1), 2)
        return x


def test_shape_arithmetic_behind_quantizers_folds_to_constant_shapes(tmp_path: Path) -> None:
    model = QuantizedShuffles().eval()
    path = export_onnx(model, InputSpec(shape=(8, 4, 6)), tmp_path / "shuffles.onnx", opset=17)
    ops = Counter(node.op_type for node in onnx.load(str(path)).graph.node)
    # torch leaves DequantizeLinear outputs without sizes: unfolded, each chunk reads Shape -> Gather -> Div
    assert not {"Shape", "Gather", "Div", "Unsqueeze"} & set(ops), ops
    assert ops["Reshape"] == 6 and ops["QuantizeLinear"] == 3
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):  # the batch stays dynamic
        x = torch.randn(batch, 8, 4, 6)
        expected = model(x).detach().numpy()
        np.testing.assert_allclose(session.run(None, {"input": x.numpy()})[0], expected, atol=1e-6)
