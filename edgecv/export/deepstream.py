"""A DeepStream Gst-nvinfer config (the "gie" config file) for a classifier in a deploy bundle.

Keys and meanings from the Gst-nvinfer documentation
(https://docs.nvidia.com/metropolis/deepstream/dev-guide/text/DS_plugin_gst-nvinfer.html): nvinfer preprocesses
each pixel as ``y = net-scale-factor * (x - offsets[c])`` with ``x`` in [0, 255]; ``network-mode`` 0 = FP32,
1 = INT8, 2 = FP16; ``network-type`` 1 = classifier; ``model-color-format`` 0 = RGB, 1 = BGR. A classifier's
label file holds one line per output layer with the labels separated by ``;``.

edgecv normalizes as ``(x * scale - mean[c]) / std[c]``, so ``offsets[c] = mean[c] / scale`` and
``net-scale-factor = scale / std``. nvinfer has one scale for all channels: when the stds differ the config uses
their mean and says so in a comment (the deviation is written there).
"""

from __future__ import annotations

from edgecv.artifacts import Preprocessing
from edgecv.export.trt_plan import BuildPlan

NETWORK_MODE = {"fp32": 0, "int8": 1, "fp16": 2}


def scale_and_offsets(pre: Preprocessing) -> tuple[float, list[float], float]:
    """``net-scale-factor``, ``offsets`` and the largest relative error of the shared scale across channels."""
    std = list(pre.std)
    mean_std = sum(std) / len(std)
    offsets = [m / pre.scale for m in pre.mean]
    error = max(abs(s - mean_std) / s for s in std)
    return pre.scale / mean_std, offsets, error


def labels_line(labels: list[str]) -> str:
    """The classifier label file: one output layer, labels separated by ';' (so ';' in a label becomes ',')."""
    return ";".join(label.replace(";", ",") for label in labels) + "\n"


def nvinfer_config(plan: BuildPlan, pre: Preprocessing, num_classes: int) -> str:
    """The ``[property]`` section for a primary classifier that loads ``plan.engine`` (built by build_engine.sh)."""
    scale, offsets, error = scale_and_offsets(pre)
    channels, height, width = plan.input_shape
    lines = [
        f"# Gst-nvinfer config for {plan.device}: classifier, {plan.precision}, input {channels}x{height}x{width}.",
        "# Build the engine first (./build_engine.sh): nvinfer then loads model-engine-file and does not rebuild.",
        "# https://docs.nvidia.com/metropolis/deepstream/dev-guide/text/DS_plugin_gst-nvinfer.html",
    ]
    if error > 1e-6:
        lines.append(
            f"# net-scale-factor: nvinfer takes one scale; the channel stds {list(pre.std)} differ, so their mean "
            f"is used (up to {error * 100:.1f}% off per channel). Fold the per-channel std into the model's first "
            "layer, or use Gst-nvdspreprocess, for exact preprocessing."
        )
    lines += [
        "[property]",
        "gpu-id=0",
        f"net-scale-factor={scale:.10g}",
        f"offsets={';'.join(f'{o:.6g}' for o in offsets)}",
        f"model-color-format={0 if pre.channel_order == 'RGB' else 1}",
        f"onnx-file={plan.onnx}",
        f"model-engine-file={plan.engine}",
        "labelfile-path=deepstream_labels.txt",
        f"batch-size={plan.opt_batch}",
        f"network-mode={NETWORK_MODE[plan.precision]}",
        "network-type=1",
        f"num-detected-classes={num_classes}",
        f"infer-dims={channels};{height};{width}",
        f"output-blob-names={';'.join(plan.output_names)}",
        "process-mode=1",
        "gie-unique-id=1",
        "maintain-aspect-ratio=0",
        "classifier-threshold=0.0",
    ]
    if plan.dla_core is not None:
        lines += ["enable-dla=1", f"use-dla-core={plan.dla_core}"]
    return "\n".join(lines) + "\n"
