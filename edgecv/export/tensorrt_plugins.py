"""Which TensorRT plugins each TensorRT version ships, and the ``plugin`` rule that checks a plugin node against it.

The ONNX parser imports an op it has no importer for through its plugin fallback: it looks the op type up in the
plugin registry (version ``plugin_version``, default "1"; namespace ``plugin_namespace``, default "", and from
10.10 on the node's domain when that fails). The node's domain does not choose the importer, so a plugin node may
carry a custom domain (``TRT``, as YOLOv7's end-to-end exporter writes it), which also keeps ``onnx.checker`` happy.
A plugin that the device's ``libnvinfer_plugin`` does not have fails the parse: this module says which do.

Sources
-------
* Names: ``plugin/README.md`` of https://github.com/NVIDIA/TensorRT (the list of shipped plugins).
* When one was added or removed: the same repository's ``CHANGELOG.md``. 8.0.1: "Added ``EfficientNMS_TRT``,
  ``EfficientNMS_ONNX_TRT`` plugins"; 8.4.1: ``DisentangledAttention_TRT``, ``MultiscaleDeformableAttnPlugin_TRT``,
  decodeBbox3D, pillarScatter and voxelGenerator plugins; 8.5.1: ``ROIAlign_TRT``; 9.0 deprecates the old NMS,
  Clip, LReLU... plugins; 10.12 deprecates version 1 of ``EfficientNMS_TRT`` and others (still shipped). The
  TensorRT 11.0 release notes: "Removed deprecated plugins: batchTile, clip, coordConvAC, cropAndResize, gelu,
  leakyRelu, normalize, singleStepLSTM, specialSlice, split, nms, and proposal".
* ``ModulatedDeformConv2d``: NVIDIA's deepstream_tao_apps OCDNet README ("If you're using TensorRT 8.6 and above,
  you can skip" building it).
* The other listed plugins predate TensorRT 8 (the changelog mentions them from 7.2 on and records no later
  addition), so they count as shipped by every version edgecv has a parser table for (8.2 and later).

Example::

    plugin_problem("EfficientNMS_TRT", "8.5")    # None: shipped since 8.0
    plugin_problem("NMS_TRT", "11")              # ("error", "NMS_TRT ... removed in TensorRT 11.0 ...")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from edgecv.export.tensorrt_plugin_inputs import check_efficient_nms

if TYPE_CHECKING:
    import onnx

    from edgecv.export.tensorrt_checker import Checker

__all__ = ["PLUGINS", "Plugin", "check_plugin", "is_plugin", "plugin_problem", "ships", "version_key"]

_OLDER = (7, 0)
"""``since`` of the plugins that predate TensorRT 8."""
_CHANGELOG = "NVIDIA/TensorRT CHANGELOG.md"


@dataclass(frozen=True)
class Plugin:
    """One plugin of ``libnvinfer_plugin``: the first release that ships it, and the one that removed it."""

    name: str
    since: tuple[int, int]
    removed: tuple[int, int] | None = None
    deprecated: tuple[int, int] | None = None
    source: str = f"{_CHANGELOG} (shipped before TensorRT 8)"


def _older(
    names: str, removed: tuple[int, int] | None = None, deprecated: tuple[int, int] | None = None
) -> list[Plugin]:
    return [Plugin(n, _OLDER, removed, deprecated) for n in names.split()]


_ADDED_8_4 = f"{_CHANGELOG}, 8.4.1 GA"
PLUGINS: dict[str, Plugin] = {
    p.name: p
    for p in [
        Plugin("EfficientNMS_TRT", (8, 0), None, (10, 12), f"{_CHANGELOG}, 8.0.1"),
        Plugin("EfficientNMS_ONNX_TRT", (8, 0), None, (9, 0), f"{_CHANGELOG}, 8.0.1"),
        *(
            Plugin(n, (8, 4), None, None, _ADDED_8_4)
            for n in (
                "DisentangledAttention_TRT",
                "MultiscaleDeformableAttnPlugin_TRT",
                "DecodeBbox3DPlugin",
                "PillarScatterPlugin",
                "VoxelGeneratorPlugin",
            )
        ),
        Plugin("ROIAlign_TRT", (8, 5), None, None, f"{_CHANGELOG}, 8.5.1 GA"),
        Plugin("ModulatedDeformConv2d", (8, 6), None, None, "deepstream_tao_apps OCDNet README (TensorRT 8.6 on)"),
        *_older("BatchedNMS_TRT BatchedNMSDynamic_TRT", deprecated=(9, 0)),
        *_older(
            "BatchTilePlugin_TRT Clip_TRT CoordConvAC CropAndResize CustomGeluPluginDynamic LReLU_TRT NMS_TRT "
            "NMSDynamic_TRT Normalize_TRT Proposal SpecialSlice_TRT Split",
            removed=(11, 0),
            deprecated=(9, 0),
        ),
        *_older(
            "CropAndResizeDynamic CustomQKVToContextPluginDynamic CustomEmbLayerNormPluginDynamic "
            "CustomFCPluginDynamic CustomSkipLayerNormPluginDynamic DetectionLayer_TRT FlattenConcat_TRT "
            "GenerateDetection_TRT GridAnchor_TRT GridAnchorRect_TRT GroupNormalizationPlugin "
            "InstanceNormalization_TRT MultilevelCropAndResize_TRT MultilevelProposeROI_TRT PriorBox_TRT "
            "ProposalDynamic ProposalLayer_TRT PyramidROIAlign_TRT Region_TRT Reorg_TRT ResizeNearest_TRT "
            "RPROI_TRT"
        ),
    ]
}
"""Every plugin edgecv knows, by the name an ONNX node uses (its op type)."""


def version_key(version: str) -> tuple[int, int]:
    """``"8.5"`` -> (8, 5), ``"10.3.0.30"`` -> (10, 3), ``"11"`` -> (11, 0)."""
    parts = [int(p) for p in str(version).strip().lstrip("v").split(".")[:2]]
    return parts[0], parts[1] if len(parts) > 1 else 0


def _text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def is_plugin(op_type: str) -> bool:
    """Whether an op type names a TensorRT plugin: a known one, or any ``*_TRT`` (TensorRT's naming)."""
    return op_type in PLUGINS or op_type.endswith("_TRT")


def plugin_problem(op_type: str, version: str) -> tuple[Literal["error", "warning"], str] | None:
    """Why TensorRT ``version`` cannot (error) or should not (warning, deprecated) import plugin ``op_type``."""
    plugin, key = PLUGINS.get(op_type), version_key(version)
    if plugin is None:
        return "error", (
            f"'{op_type}' is not a plugin TensorRT {version} ships (edgecv's list: NVIDIA/TensorRT plugin/README.md); "
            "the parse fails with 'Plugin not found' unless a library registering it is loaded (trtexec --plugins): "
            "check the name, or replace the node with standard ops"
        )
    if key < plugin.since:
        return "error", (
            f"'{op_type}' is a TensorRT plugin first shipped in TensorRT {_text(plugin.since)} ({plugin.source}); "
            f"TensorRT {version} does not have it: target TensorRT {_text(plugin.since)} or later, or leave it out"
        )
    if plugin.removed is not None and key >= plugin.removed:
        return "error", (
            f"'{op_type}' was removed in TensorRT {_text(plugin.removed)} (its release notes); TensorRT {version} "
            "does not have it: replace it with standard ops or target an older TensorRT"
        )
    if plugin.deprecated is not None and key >= plugin.deprecated:
        return "warning", (
            f"'{op_type}' is deprecated since TensorRT {_text(plugin.deprecated)} ({_CHANGELOG}) but TensorRT "
            f"{version} still ships it; expect it to go in a later release"
        )
    return None


def ships(op_type: str, version: str) -> bool:
    """Whether TensorRT ``version`` ships plugin ``op_type`` (a deprecated one still counts)."""
    problem = plugin_problem(op_type, version)
    return problem is None or problem[0] == "warning"


def check_plugin(checker: Checker, node: onnx.NodeProto, label: str) -> None:
    """The ``plugin`` rule for one plugin node (and EfficientNMS_TRT's ``plugin-inputs`` rule)."""
    problem = plugin_problem(node.op_type, checker.spec.version)
    if problem is not None:
        severity, message = problem
        checker.add("plugin", label, node.op_type, message, severity)
    if node.op_type == "EfficientNMS_TRT":
        check_efficient_nms(checker, node, label)
