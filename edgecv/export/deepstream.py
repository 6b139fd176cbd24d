"""DeepStream Gst-nvinfer configs (the "gie" config file) for a deploy bundle's classifier, detector or segmenter.

Keys and meanings from the Gst-nvinfer documentation
(https://docs.nvidia.com/metropolis/deepstream/dev-guide/text/DS_plugin_gst-nvinfer.html): nvinfer preprocesses
each pixel as ``y = net-scale-factor * (x - offsets[c])`` with ``x`` in [0, 255]; ``network-mode`` 0 = FP32,
1 = INT8, 2 = FP16; ``network-type`` 0 = detector, 1 = classifier, 2 = segmentation; ``model-color-format``
0 = RGB, 1 = BGR. A classifier's label file holds one line per output layer with the labels separated by ``;``;
a detector's and a segmenter's one label per line. None of these configs has been loaded by nvinfer here (no
DeepStream on these machines); the detector's and segmenter's comments say what nvinfer needs beyond them.

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


def _header(plan: BuildPlan, pre: Preprocessing, kind: str) -> list[str]:
    _, _, error = scale_and_offsets(pre)
    channels, height, width = plan.input_shape
    lines = [
        f"# Gst-nvinfer config for {plan.device}: {kind}, {plan.precision}, input {channels}x{height}x{width}.",
        "# Build the engine first (./build_engine.sh): nvinfer then loads model-engine-file and does not rebuild.",
        "# https://docs.nvidia.com/metropolis/deepstream/dev-guide/text/DS_plugin_gst-nvinfer.html",
    ]
    if error > 1e-6:
        lines.append(
            f"# net-scale-factor: nvinfer takes one scale; the channel stds {list(pre.std)} differ, so their mean "
            f"is used (up to {error * 100:.1f}% off per channel). Fold the per-channel std into the model's first "
            "layer, or use Gst-nvdspreprocess, for exact preprocessing."
        )
    return lines


def _property(plan: BuildPlan, pre: Preprocessing, network_type: int, num_classes: int) -> list[str]:
    """The ``[property]`` keys every network type shares."""
    scale, offsets, _ = scale_and_offsets(pre)
    channels, height, width = plan.input_shape
    return [
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
        f"network-type={network_type}",
        f"num-detected-classes={num_classes}",
        f"infer-dims={channels};{height};{width}",
        f"output-blob-names={';'.join(plan.output_names)}",
        "process-mode=1",
        "gie-unique-id=1",
    ]


def _dla(plan: BuildPlan) -> list[str]:
    return ["enable-dla=1", f"use-dla-core={plan.dla_core}"] if plan.dla_core is not None else []


def nvinfer_config(plan: BuildPlan, pre: Preprocessing, num_classes: int) -> str:
    """The ``[property]`` section for a primary classifier that loads ``plan.engine`` (built by build_engine.sh)."""
    lines = [*_header(plan, pre, "classifier"), *_property(plan, pre, 1, num_classes),
             "maintain-aspect-ratio=0", "classifier-threshold=0.0", *_dla(plan)]
    return "\n".join(lines) + "\n"


def detector_config(plan: BuildPlan, pre: Preprocessing, num_classes: int, post: dict[str, float]) -> str:
    """A primary detector (network-type 0): edgecv's decoded outputs need a custom bbox parser (see the comments).

    ``post`` is edgecv's decoding (score_threshold, iou_threshold, max_detections): nvinfer's per-class NMS
    (cluster-mode 2) is set to the same thresholds."""
    boxes, scores = plan.output_names[:2] if len(plan.output_names) >= 2 else ("boxes", "scores")
    letterbox = pre.resize == "letterbox"
    lines = [
        *_header(plan, pre, "detector"),
        f"# Outputs: '{boxes}' (batch, anchors, 4) boxes x1,y1,x2,y2 in input pixels, already decoded, and",
        f"# '{scores}' (batch, anchors, {num_classes}) class probabilities (no background column). nvinfer's built-in",
        "# parsers do not read this layout: set parse-bbox-func-name and custom-lib-path to a parser of your own",
        "# (NvDsInferParseCustomFunc) that emits, per anchor and class, the box and the probability when it is above",
        "# pre-cluster-threshold; nvinfer's NMS (cluster-mode=2) then runs per class like edgecv's. edgecv ships no",
        "# such parser and this config has not been run in DeepStream; without a parser nvinfer will not start.",
        f"# edgecv keeps the {int(post['max_detections'])} best detections per image over all classes (after the "
        f"{int(post['candidates'])} best candidates);",
        "# topk in [class-attrs-all] applies per class, so nvinfer may keep more objects per frame.",
    ]
    if letterbox:
        lines.append("# Letterbox: nvinfer pads black where edgecv pads gray (114), so scores may differ slightly.")
    lines += [
        *_property(plan, pre, 0, num_classes),
        f"maintain-aspect-ratio={1 if letterbox else 0}",
        *(["symmetric-padding=1"] if letterbox else []),
        "cluster-mode=2",
        "#parse-bbox-func-name=NvDsInferParseCustomEdgecv",
        "#custom-lib-path=libnvdsinfer_custom_edgecv.so",
        *_dla(plan),
        "",
        "[class-attrs-all]",
        f"pre-cluster-threshold={post['score_threshold']:g}",
        f"nms-iou-threshold={post['iou_threshold']:g}",
        f"topk={int(post['max_detections'])}",
    ]
    return "\n".join(lines) + "\n"


def segmentation_config(plan: BuildPlan, pre: Preprocessing, num_classes: int) -> str:
    """A segmenter (network-type 2): nvinfer's own per-pixel argmax over the ``logits`` output (N, C, H, W)."""
    lines = [
        *_header(plan, pre, "segmentation"),
        f"# Output '{plan.output_names[0]}': (batch, {num_classes}, H, W) raw logits (NCHW), at the input size.",
        "# nvinfer gives each pixel the class of its largest output value, or -1 when that value is not above",
        "# segmentation-threshold (which it refuses below 0). These are logits, not probabilities: a pixel whose",
        "# largest logit is <= 0 becomes -1 here, where edgecv takes the argmax; append a Softmax to the model for",
        "# exactly edgecv's classes. Not run in DeepStream here.",
        *_property(plan, pre, 2, num_classes),
        "maintain-aspect-ratio=0",
        "segmentation-threshold=0.0",
        *_dla(plan),
    ]
    return "\n".join(lines) + "\n"


def detector_labels(labels: list[str]) -> str:
    """A detector's or segmenter's label file: one label per line."""
    return "".join(f"{label}\n" for label in labels)
