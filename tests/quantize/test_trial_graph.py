"""Exported node names back to module names, so accuracy control's trials can edit the exported graph."""

from __future__ import annotations

from edgecv.quantize.trial_graph import scope_module


def test_scope_names_become_module_paths() -> None:
    assert scope_module("/conv1/Conv") == "conv1"
    assert scope_module("/layer1/layer1.0/conv1/Conv") == "layer1.0.conv1"
    assert scope_module("/model/net/backbone/first_conv/first_conv.0/Conv") == "model.net.backbone.first_conv.0"
    assert scope_module("/model/net/stage2/stage2.0/branch_main/branch_main.3/Conv") == \
        "model.net.stage2.0.branch_main.3"


def test_a_module_called_outside_its_parent_is_found_by_its_weights(tmp_path) -> None:
    import onnx
    import torch
    from torch import nn

    from edgecv.artifacts import InputSpec
    from edgecv.export.onnx import export_onnx
    from edgecv.quantize.layers import model_layers
    from edgecv.quantize.trial_graph import map_layers

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

    class Net(nn.Module):  # calls self.encoder.conv from its own forward, as ESPNet does
        def __init__(self) -> None:
            super().__init__()
            self.encoder = Encoder()
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.relu(self.encoder.conv(x)))

    net = Net().eval()
    path = export_onnx(net, InputSpec(shape=(3, 8, 8)), tmp_path / "net.onnx", opset=17)
    graph = onnx.load(str(path))
    layers = model_layers(net, torch.zeros(1, 3, 8, 8))
    assert len(map_layers(graph, layers)) == 1  # by scope only "head": the conv is scoped under the top module
    mapped = map_layers(graph, layers, net)
    assert set(mapped) == {"encoder.conv", "head"} and len(set(mapped.values())) == 2
