"""The ``resize`` rule: Resize attributes the TensorRT ONNX parser cannot import (segmentation decoders upsample).

onnx-tensorrt's ``docs/operators.md`` gives the same Resize restrictions for every stored revision, 8.4
(``009d654``), 8.5 GA (``6d0ab7b``) and 10.15 (main): coordinate transformation modes ``half_pixel``,
``pytorch_half_pixel``, ``tf_half_pixel_for_nn``, ``asymmetric`` and ``align_corners`` (not
``tf_crop_and_resize``); modes ``nearest`` and ``linear`` (not ``cubic``); all four nearest modes. The 10.15 table
adds what opset 18 introduced: keep-aspect-ratio policy ``stretch`` only, and no antialiasing (8.x parsers read at
most opset 17, where neither attribute exists).

Example::

    checker = Checker(model, parser_spec(10, 3), None)   # check_resize runs for every Resize node
"""

from __future__ import annotations

from typing import Any

import onnx

MODES = frozenset({"nearest", "linear"})
COORDINATE_MODES = frozenset({"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric",
                              "align_corners"})


def _attribute(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for attribute in node.attribute:
        if attribute.name == name:
            value = onnx.helper.get_attribute_value(attribute)
            return value.decode() if isinstance(value, bytes) else value
    return default


def check_resize(checker: Any, node: onnx.NodeProto, label: str) -> None:
    """Add one ``resize`` problem to ``checker`` naming every attribute of ``node`` the parser refuses."""
    version = checker.spec.version
    reasons = []
    mode = _attribute(node, "mode", "nearest")
    if mode not in MODES:
        reasons.append(f"mode '{mode}' is not imported by TensorRT {version} (nearest and linear are): upsample "
                       "with mode 'linear' (bilinear) or 'nearest'")
    coordinates = _attribute(node, "coordinate_transformation_mode", "half_pixel")
    if coordinates not in COORDINATE_MODES:
        reasons.append(f"coordinate_transformation_mode '{coordinates}' is not imported by TensorRT {version}: use "
                       "half_pixel (F.interpolate's default), pytorch_half_pixel, asymmetric or align_corners")
    if _attribute(node, "antialias", 0):
        reasons.append(f"antialias=1 is not supported by TensorRT {version}: export without antialiasing "
                       "(F.interpolate(..., antialias=False))")
    policy = _attribute(node, "keep_aspect_ratio_policy", "stretch")
    if policy != "stretch":
        reasons.append(f"keep_aspect_ratio_policy '{policy}' is not supported by TensorRT {version} (only "
                       "stretch): give the output sizes explicitly")
    if reasons:
        checker.add("resize", label, node.op_type, "Resize " + "; ".join(reasons))
