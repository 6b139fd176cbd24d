"""Exported node names back to module names, so accuracy control's trials can edit the exported graph."""

from __future__ import annotations

from edgecv.quantize.trial_graph import scope_module


def test_scope_names_become_module_paths() -> None:
    assert scope_module("/conv1/Conv") == "conv1"
    assert scope_module("/layer1/layer1.0/conv1/Conv") == "layer1.0.conv1"
    assert scope_module("/model/net/backbone/first_conv/first_conv.0/Conv") == "model.net.backbone.first_conv.0"
    assert scope_module("/model/net/stage2/stage2.0/branch_main/branch_main.3/Conv") == \
        "model.net.stage2.0.branch_main.3"
