"""ResNet-20 (option-A shortcut) exports with the legacy ONNX exporter and matches in ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import onnxslim
import pytest
import torch

from edgecv.models import build_model

pytestmark = pytest.mark.filterwarnings("ignore:Constant folding")


def _export(model: torch.nn.Module, x: torch.Tensor, path: Path, opset: int) -> None:
    torch.onnx.export(
        model,
        (x,),
        str(path),
        dynamo=False,
        opset_version=opset,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )


@pytest.mark.parametrize("opset", [13, 17])
def test_resnet20_onnx_matches_torch(tmp_path: Path, opset: int) -> None:
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10)
    x = torch.randn(2, 3, 32, 32)
    path = tmp_path / "resnet20.onnx"
    _export(model, x, path, opset)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_onnxslim_folds_the_shortcut_padding(tmp_path: Path) -> None:
    """The legacy exporter computes Pad's pads at run time (a step -1 Slice blocks its folding); onnxslim folds
    them into constants, which TensorRT parsers want."""
    path = tmp_path / "resnet20.onnx"
    _export(build_model("resnet20", num_classes=10), torch.randn(1, 3, 32, 32), path, 13)
    slim = onnxslim.slim(str(path))
    ops = [node.op_type for node in slim.graph.node]
    assert ops.count("Pad") == 2 and "ConstantOfShape" not in ops
    initializers = {init.name for init in slim.graph.initializer}
    assert all(node.input[1] in initializers for node in slim.graph.node if node.op_type == "Pad")
