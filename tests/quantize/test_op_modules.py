"""Ops are traced to the module that ran them even when a forward calls a grandchild (torchvision's SSDLite), so the
CPU scheme's hard-swish rewrite still runs in INT8 there."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgecv.artifacts import InputSpec
from edgecv.quantize.onnx_graph import ort_fusion
from edgecv.quantize.op_modules import traced_graph
from edgecv.quantize.output_quantizers import Int8Hardswish, int8_activations
from tests.quantize.test_int8_fusion import TinyMobileNetV3
from tests.quantize.tiny_models import cpu_scheme_fake_quant


class GrandchildCalls(nn.Module):
    """TinyMobileNetV3 run as SSDLite's extractor runs its blocks (``for block in self.features: x = block(x)``) and
    as edgecv's detector wrapper runs ``self.net.backbone``: ``body`` itself is never called, so NNCF names the
    stem's hard-swish ``2/add/0`` (no ``body/stem``)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = TinyMobileNetV3()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.body
        x = b.stem(x)
        y = b.depthwise(b.expand(x))
        x = x + b.project(y * b.se(y))
        return b.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def test_ops_map_to_the_module_that_ran_them() -> None:
    model = int8_activations(GrandchildCalls().eval())
    graph, modules = traced_graph(model, torch.zeros(1, 3, 32, 32))
    adds = [n.node_name for n in graph.get_all_nodes() if n.node_name.endswith("/add/0")]
    assert "2/add/0" in adds  # the name NNCF gives: body/stem dropped, so it cannot be looked up by name
    assert modules["2/add/0"] is model.body.stem[2] and isinstance(modules["2/add/0"], Int8Hardswish)
    assert set(modules) >= {n.node_name for n in graph.get_all_nodes() if "/" in n.node_name and "." not in n.node_name}


@pytest.mark.parametrize("grandchild_calls", [False, True])
def test_hard_swish_runs_in_int8_however_the_blocks_are_called(tmp_path, grandchild_calls: bool) -> None:
    """Before, with grandchild calls every hard-swish stayed float (DQ -> Add -> Clip -> Div -> Mul -> Q): the
    SSDLite INT8 file ran at 0.60x its FP32 model's speed at batch 1."""
    from edgecv.quantize.onnx_export import weight_storage, write_qdq_onnx
    from edgecv.quantize.schemes import ORT_CPU

    torch.manual_seed(0)
    model = GrandchildCalls() if grandchild_calls else TinyMobileNetV3()
    fake = cpu_scheme_fake_quant(model, torch.rand(64, 3, 32, 32) * 2 - 1)
    path = tmp_path / "int8.onnx"
    write_qdq_onnx(fake, InputSpec(shape=(3, 32, 32)), path, opset=17, weights=weight_storage(ORT_CPU))
    fusion = ort_fusion(path)
    assert fusion["float_ops"] == {}, fusion["float_ops"]  # no float Add/Clip/Div/Mul left of any hard-swish
    assert (fusion.get("QLinearMul"), fusion["ops"].get("Clip")) == (4, 3)  # 3 hard-swish + SE scale; 3 uint8 gates
