"""How far to trust the roofline latency estimate: leave-one-out on its fit, and published points it never saw.

The estimator (:mod:`edgecv.validate.estimate`) fits three factors on four MLPerf ResNet-50 INT8 SingleStream
latencies. Its in-sample error says little, so this bench measures two out-of-sample errors:

1. **Leave-one-out** on the four calibration points: fit on three (``calibrate(points=...)``), predict the
   fourth, for each of the four.
2. **Published Jetson latencies the fit never saw**: other models (SSD-MobileNet v1, SSD-ResNet34, RetinaNet,
   YOLOv8n), other batch sizes (ResNet-50 MultiStream, batch 8), other precisions (FP16 and FP32 for YOLOv8n),
   and devices outside the fit (Orin Nano 8GB, with and without JetPack 6.2 Super). Each point carries its
   device profile, model, precision, batch, published milliseconds and exact source (``PUBLISHED``). Nothing
   here is fitted to them.

Each model is built from torchvision or from the architecture of the public reference code (random weights:
latency does not depend on the values) and exported with ``torch.onnx.export(..., dynamo=False,
opset_version=17)``; INT8 points are estimated on the FP32 graph with ``precision="int8"``, as the validate
stage does for a device without a Q/DQ model. Detection models are exported up to their raw head outputs
(post-processing and NMS are not in the graph).

    .venv/bin/python bench/estimate_out_of_sample.py        # ~20-60 s on 2 cores (exports 5 models)

Writes bench/results/estimate_out_of_sample.json and .md (atomically) and prints the tables. The error band it
reports is the one stored in ``edgecv.validate.estimate.OUT_OF_SAMPLE_ERROR``; the script says so when they
disagree (update the constant by hand).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgecv.artifacts import atomic_write_json, atomic_write_text  # noqa: E402
from edgecv.devices import load_device  # noqa: E402
from edgecv.validate.estimate import (  # noqa: E402
    CALIBRATION,
    MLPERF_RESNET50_INT8,
    OUT_OF_SAMPLE_ERROR,
    estimate_latency,
    leave_one_out,
)
from edgecv.validate.onnx_cost import graph_cost  # noqa: E402

RESULTS = REPO / "bench" / "results"


# ---------------------------------------------------------------------------------------------- published points


@dataclass(frozen=True)
class Published:
    """One published latency: device profile, model (a key of ``MODELS``), precision, batch, ms, and source."""

    device: str
    model: str
    precision: str
    batch: int
    ms: float
    metric: str
    source: str


def _mlperf(version: str, system: str, bench: str, scenario: str) -> str:
    return (f"MLPerf Inference {version} closed edge, NVIDIA {system}, {bench} {scenario}: "
            f"github.com/mlcommons/inference_results_{version}, closed/NVIDIA/results/{system}/{bench}/{scenario}/"
            "performance/run_1/mlperf_log_summary.txt")


_HC = "github.com/hokwangchoi/jetson-orin-nano-benchmarks, vision-benchmarks/assets/results/"
_HC_NOTE = (" (Jetson Orin Nano 8GB dev kit, L4T 36.4.7 / JetPack 6.2, TensorRT 10.3, YOLOv8n 640x640; "
            "'trtexec GPU Compute Time (mean of means)', H2D/D2H excluded)")
PUBLISHED: tuple[Published, ...] = (
    # MLPerf SingleStream: one sample per query, the 90th-percentile latency; NVIDIA's SingleStream configs run
    # GPU-only at gpu_batch_size 1 (v1.1 configs/ssd-*/SingleStream, v3.1 configs/retinanet/SingleStream).
    Published("jetson-agx-xavier", "ssd-mobilenet-v1-300", "int8", 1, 1.002352, "p90",
              _mlperf("v1.1", "AGX_Xavier_TRT", "ssd-mobilenet", "SingleStream")),
    Published("jetson-xavier-nx", "ssd-mobilenet-v1-300", "int8", 1, 1.358271, "p90",
              _mlperf("v1.1", "Xavier_NX_TRT", "ssd-mobilenet", "SingleStream")),
    Published("jetson-agx-xavier", "ssd-resnet34-1200", "int8", 1, 26.134242, "p90",
              _mlperf("v1.1", "AGX_Xavier_TRT", "ssd-resnet34", "SingleStream")),
    Published("jetson-xavier-nx", "ssd-resnet34-1200", "int8", 1, 42.001892, "p90",
              _mlperf("v1.1", "Xavier_NX_TRT", "ssd-resnet34", "SingleStream")),
    Published("jetson-agx-orin-64gb", "retinanet-resnext50-800", "int8", 1, 11.672065, "p90",
              _mlperf("v3.1", "Orin_TRT", "retinanet", "SingleStream")),
    Published("jetson-orin-nx-16gb", "retinanet-resnext50-800", "int8", 1, 28.625606, "p90",
              _mlperf("v3.1", "Orin_NX_TRT", "retinanet", "SingleStream")),
    # MLPerf MultiStream: 8 samples per query, the 99th-percentile query latency; the v3.1 Orin configs
    # (configs/resnet50/MultiStream) run gpu_batch_size 8 on the GPU alone.
    Published("jetson-agx-orin-64gb", "resnet50", "int8", 8, 2.182046, "p99",
              _mlperf("v3.1", "Orin_TRT", "resnet50", "MultiStream")),
    Published("jetson-orin-nx-16gb", "resnet50", "int8", 8, 5.107731, "p99",
              _mlperf("v3.1", "Orin_NX_TRT", "resnet50", "MultiStream")),
    # trtexec on an Orin Nano 8GB: MAXN_SUPER, then the JetPack 6.2 15W mode (GPU 612 MHz, EMC 2133 MHz per
    # nvpmodel_p3767_0003_super.conf, i.e. the pre-Super 15 W clocks of the jetson-orin-nano-8gb profile).
    *(Published("jetson-orin-nano-8gb-super", "yolov8n-640", p, 1, v, "mean",
                _HC + "yolov8_20260414_223810.json, power_mode MAXN_SUPER" + _HC_NOTE)
      for p, v in (("fp32", 8.36), ("fp16", 4.43), ("int8", 3.49))),
    *(Published("jetson-orin-nano-8gb", "yolov8n-640", p, 1, v, "mean",
                _HC + "yolov8_20260414_001146.json, power_mode 15W" + _HC_NOTE)
      for p, v in (("fp32", 11.04), ("fp16", 6.13), ("int8", 4.90))),
)
"""Published Jetson latencies the estimator was not fitted on (numbers copied from the named files)."""


# ------------------------------------------------------------------------------------------------------- models


def _resnet50() -> nn.Module:
    return torchvision.models.resnet50(weights=None)


class _SSDMobileNetV1(nn.Module):
    """MLPerf SSD-MobileNet v1 (300x300, 91 classes): mlcommons/inference,
    vision/classification_and_detection/python/models/ssd_mobilenet_v1.py (MobileNetV1Base, 4 extra Blocks,
    1x1 PredictionHeads with 3/6/6/6/6/6 anchors); TF 'same' padding written as symmetric padding."""

    def __init__(self, num_classes: int = 91) -> None:
        super().__init__()

        def conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6())

        def conv_dw(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(),
            )

        cfg = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
               *[(512, 512, 1)] * 5, (512, 1024, 2), (1024, 1024, 1)]
        self.backbone = nn.ModuleList([conv_bn(3, 32, 2), *[conv_dw(*c) for c in cfg]])
        self.extras = nn.ModuleList([
            nn.Sequential(nn.Conv2d(cin, mid, 1), nn.ReLU6(), nn.Conv2d(mid, cout, 3, 2, 1), nn.ReLU6())
            for cin, mid, cout in [(1024, 256, 512), (512, 128, 256), (256, 128, 256), (256, 64, 128)]
        ])
        self.cls = nn.ModuleList()
        self.reg = nn.ModuleList()
        for cin, anchors in zip((512, 1024, 512, 256, 256, 128), (3, 6, 6, 6, 6, 6), strict=True):
            self.cls.append(nn.Conv2d(cin, num_classes * anchors, 1))
            self.reg.append(nn.Conv2d(cin, 4 * anchors, 1))
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = []
        for i, layer in enumerate(self.backbone):
            x = layer(x)
            if i in (11, 13):
                maps.append(x)
        for layer in self.extras:
            x = layer(x)
            maps.append(x)
        n = x.shape[0]
        logits = torch.cat([c(m).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes)
                            for c, m in zip(self.cls, maps, strict=True)], 1)
        boxes = torch.cat([r(m).permute(0, 2, 3, 1).reshape(n, -1, 4) for r, m in zip(self.reg, maps, strict=True)], 1)
        return torch.sigmoid(logits), boxes


class _SSDResNet34(nn.Module):
    """MLPerf SSD-ResNet34 (1200x1200, 81 classes): mlcommons/inference r0.5
    others/cloud/single_stage_detector/pytorch/ssd_r34.py (SSD_R34, strides [3,3,2,2,2,2], num_defaults
    [4,6,6,6,4,4]) on base_model_r34.py's ResNet34 (torchvision resnet34 up to layer3, layer3 at stride 1)."""

    def __init__(self, label_num: int = 81) -> None:
        super().__init__()
        rn34 = torchvision.models.resnet34(weights=None)
        layer3 = rn34.layer3
        layer3[0].conv1.stride = (1, 1)
        layer3[0].downsample[0].stride = (1, 1)
        self.backbone = nn.Sequential(*list(rn34.children())[:6], layer3)
        chans, strides = [256, 512, 512, 256, 256, 256], [3, 3, 2, 2, 2, 2]
        mids, pads = [256, 256, 128, 128, 128], [1, 1, 1, 0, 0]
        block_strides = [strides[2], strides[3], strides[4], strides[5], 1]
        self.extras = nn.ModuleList([
            nn.Sequential(nn.Conv2d(cin, mid, 1), nn.ReLU(), nn.Conv2d(mid, cout, 3, s, p), nn.ReLU())
            for cin, cout, mid, s, p in zip(chans[:-1], chans[1:], mids, block_strides, pads, strict=True)
        ])
        defaults = [4, 6, 6, 6, 4, 4]
        self.loc = nn.ModuleList([nn.Conv2d(c, d * 4, 3, strides[0], 1) for d, c in zip(defaults, chans, strict=True)])
        self.conf = nn.ModuleList([nn.Conv2d(c, d * label_num, 3, strides[1], 1)
                                   for d, c in zip(defaults, chans, strict=True)])
        self.label_num = label_num

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.backbone(x)
        maps = [x]
        for layer in self.extras:
            x = layer(x)
            maps.append(x)
        n = x.shape[0]
        locs = torch.cat([loc(m).reshape(n, 4, -1) for loc, m in zip(self.loc, maps, strict=True)], 2)
        confs = torch.cat([c(m).reshape(n, self.label_num, -1) for c, m in zip(self.conf, maps, strict=True)], 2)
        return locs, confs


class _RetinaNet(nn.Module):
    """MLPerf RetinaNet (800x800, 264 OpenImages classes): mlcommons/inference,
    vision/classification_and_detection/python/models/resnext50/retinanet.py (retinanet_resnext50_32x4d_fpn:
    resnet_fpn_backbone('resnext50_32x4d', returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256)),
    RetinaNetHead with 9 anchors), built here from torchvision's identical modules; raw head outputs."""

    def __init__(self, num_classes: int = 264) -> None:
        super().__init__()
        from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
        from torchvision.models.detection.retinanet import RetinaNetHead
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7

        self.backbone = resnet_fpn_backbone(backbone_name="resnext50_32x4d", weights=None, trainable_layers=3,
                                            returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
        self.head = RetinaNetHead(256, 9, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(list(self.backbone(x).values()))
        return out["cls_logits"], out["bbox_regression"]


class _Conv(nn.Sequential):
    """Ultralytics Conv: Conv2d (no bias, 'same' padding) + BatchNorm + SiLU."""

    def __init__(self, cin: int, cout: int, k: int = 1, s: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class _C2f(nn.Module):
    def __init__(self, cin: int, cout: int, n: int, shortcut: bool) -> None:
        super().__init__()
        self.c = cout // 2
        self.cv1 = _Conv(cin, 2 * self.c)
        self.cv2 = _Conv((2 + n) * self.c, cout)
        self.m = nn.ModuleList([nn.Sequential(_Conv(self.c, self.c, 3), _Conv(self.c, self.c, 3)) for _ in range(n)])
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(y[-1] + m(y[-1]) if self.shortcut else m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class _SPPF(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.cv1 = _Conv(cin, cin // 2)
        self.cv2 = _Conv(cin // 2 * 4, cout)
        self.m = nn.MaxPool2d(5, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class _YOLOv8n(nn.Module):
    """YOLOv8n detect (Ultralytics yolov8.yaml at depth 0.33, width 0.25; 80 classes), inference graph with the
    DFL box decode and class sigmoid, output (1, 84, 8400) as Ultralytics exports it. Checked below against the
    published 3.2M parameters and 8.7 GFLOPs at 640x640."""

    def __init__(self, nc: int = 80, reg_max: int = 16) -> None:
        super().__init__()
        self.b = nn.ModuleList([
            _Conv(3, 16, 3, 2), _Conv(16, 32, 3, 2), _C2f(32, 32, 1, True), _Conv(32, 64, 3, 2),
            _C2f(64, 64, 2, True), _Conv(64, 128, 3, 2), _C2f(128, 128, 2, True), _Conv(128, 256, 3, 2),
            _C2f(256, 256, 1, True), _SPPF(256, 256),
        ])
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.h12, self.h15 = _C2f(384, 128, 1, False), _C2f(192, 64, 1, False)
        self.d16, self.h18 = _Conv(64, 64, 3, 2), _C2f(192, 128, 1, False)
        self.d19, self.h21 = _Conv(128, 128, 3, 2), _C2f(384, 256, 1, False)
        ch, c2, c3 = (64, 128, 256), max(16, 64 // 4, reg_max * 4), max(64, min(nc, 100))
        self.box = nn.ModuleList([nn.Sequential(_Conv(c, c2, 3), _Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
                                  for c in ch])
        self.cls = nn.ModuleList([nn.Sequential(_Conv(c, c3, 3), _Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for c in ch])
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False)
        self.dfl.weight.data[:] = torch.arange(reg_max, dtype=torch.float32).view(1, reg_max, 1, 1)
        self.nc, self.reg_max = nc, reg_max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        for layer in self.b:
            x = layer(x)
            feats.append(x)
        p3, p4, p5 = feats[4], feats[6], feats[9]
        h12 = self.h12(torch.cat([self.up(p5), p4], 1))
        h15 = self.h15(torch.cat([self.up(h12), p3], 1))
        h18 = self.h18(torch.cat([self.d16(h15), h12], 1))
        h21 = self.h21(torch.cat([self.d19(h18), p5], 1))
        n, outs, anchors, strides = x.shape[0], [], [], []
        for i, f in enumerate((h15, h18, h21)):
            outs.append(torch.cat([self.box[i](f), self.cls[i](f)], 1).view(n, 4 * self.reg_max + self.nc, -1))
            h, w = f.shape[2:]
            sy, sx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
            anchors.append(torch.stack((sx, sy), -1).view(-1, 2))
            strides.append(torch.full((h * w, 1), 640 / h))
        y = torch.cat(outs, 2)
        box, cls = y.split((4 * self.reg_max, self.nc), 1)
        a = torch.cat(anchors).transpose(0, 1).unsqueeze(0)
        s = torch.cat(strides).transpose(0, 1)
        dist = self.dfl(box.view(n, 4, self.reg_max, -1).transpose(2, 1).softmax(1)).view(n, 4, -1)
        lt, rb = dist.chunk(2, 1)
        xy = (a - lt + a + rb) / 2 * s
        wh = (a + rb - (a - lt)) * s
        return torch.cat((xy, wh, cls.sigmoid()), 1)


MODELS: dict[str, tuple[Callable[[], nn.Module], int]] = {
    "resnet50": (_resnet50, 224),
    "ssd-mobilenet-v1-300": (_SSDMobileNetV1, 300),
    "ssd-resnet34-1200": (_SSDResNet34, 1200),
    "retinanet-resnext50-800": (_RetinaNet, 800),
    "yolov8n-640": (_YOLOv8n, 640),
}
"""Model key -> (builder, square input size)."""


def export(name: str, folder: Path) -> Path:
    """The model's FP32 ONNX at batch 1 (random weights, eval mode), as the export stage writes it: legacy
    exporter at opset 17, then onnxslim (constant folding; without it shape inference loses the shapes behind
    a ``chunk``'s computed split sizes and those layers would count 0 FLOPs)."""
    import onnx
    import onnxslim

    build, size = MODELS[name]
    torch.manual_seed(0)
    net = build().eval()
    path = folder / f"{name}.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, size, size),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"])
    onnx.save(onnxslim.slim(onnx.load(str(path))), str(path))
    return path


# ------------------------------------------------------------------------------------------------------- tables


def _ratio_stats(ratios: list[float]) -> dict[str, float]:
    logs = [math.log(r) for r in ratios]
    abs_rel = [abs(r - 1) for r in ratios]
    return {
        "points": len(ratios),
        "rms_log_ratio": math.sqrt(sum(x * x for x in logs) / len(logs)),
        "mean_abs_log_ratio": sum(abs(x) for x in logs) / len(logs),
        "max_abs_log_ratio": max(abs(x) for x in logs),
        "mean_abs_rel_error": sum(abs_rel) / len(abs_rel),
        "max_abs_rel_error": max(abs_rel),
        "min_ratio": min(ratios),
        "max_ratio": max(ratios),
        "geomean_ratio": math.exp(sum(logs) / len(logs)),
    }


def leave_one_out_table(model: Path) -> dict[str, Any]:
    folds = leave_one_out(model)
    rows = [{"device": f.held_out.device, "published_ms": f.held_out.ms, "estimated_ms": f.estimated_ms,
             "ratio": f.ratio, "fitted_on": list(f.fitted_on), "factors": asdict(f.factors),
             "source": f.held_out.source} for f in folds]
    return {"rows": rows, "summary": _ratio_stats([r["ratio"] for r in rows])}


def out_of_sample_table(models: dict[str, Path]) -> dict[str, Any]:
    rows = []
    for p in PUBLISHED:
        est = estimate_latency(models[p.model], load_device(p.device), precision=p.precision, batch=p.batch)
        rows.append({**asdict(p), "published_ms": p.ms, "estimated_ms": est.ms, "ratio": est.ms / p.ms,
                     "compute_bound_ms": est.compute_bound_ms, "memory_bound_ms": est.memory_bound_ms,
                     "overhead_ms": est.overhead_ms})
        del rows[-1]["ms"]
    by_model: dict[str, Any] = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        by_model[name] = _ratio_stats([r["ratio"] for r in rows if r["model"] == name])
    return {"rows": rows, "summary": _ratio_stats([r["ratio"] for r in rows]), "by_model": by_model}


def model_stats(models: dict[str, Path]) -> dict[str, Any]:
    out = {}
    for name, path in models.items():
        costs = graph_cost(path)
        import onnx

        params = sum(math.prod(t.dims) for t in onnx.load(str(path)).graph.initializer)
        out[name] = {"input": MODELS[name][1], "gflops": sum(c.flops for c in costs) / 1e9,
                     "gmacs": sum(c.macs for c in costs) / 1e9, "onnx_params_m": params / 1e6,
                     "layers": sum(c.role in ("compute", "layer") for c in costs)}
    return out


def _md(result: dict[str, Any]) -> str:
    loo, oos, band = result["leave_one_out"], result["out_of_sample"], result["error_band"]
    lines = [
        "# Roofline latency estimate: out-of-sample error",
        "",
        f"Written by `bench/estimate_out_of_sample.py` ({result['seconds']:.0f} s). Ratio = estimate / published "
        "(1.00 is exact, 2.00 twice too slow). Stored calibration: "
        f"compute_eff {CALIBRATION.compute_eff}, memory_eff {CALIBRATION.memory_eff}, "
        f"{CALIBRATION.layer_overhead_us} us/layer.",
        "",
        "## 1. Leave-one-out on the four calibration points (MLPerf ResNet-50 INT8 SingleStream, batch 1)",
        "",
        "Fit on three points, predict the fourth.",
        "",
        "| held out | published ms | estimated ms | ratio | factors fitted on the other three |",
        "|---|---|---|---|---|",
    ]
    for r in loo["rows"]:
        f = r["factors"]
        lines.append(f"| {r['device']} | {r['published_ms']:.3f} | {r['estimated_ms']:.3f} | {r['ratio']:.2f} | "
                     f"compute {f['compute_eff']}, memory {f['memory_eff']}, {f['layer_overhead_us']} us |")
    s = loo["summary"]
    lines += [
        "",
        f"Mean |relative error| {s['mean_abs_rel_error']:.0%}, max {s['max_abs_rel_error']:.0%}; "
        f"RMS ln(ratio) {s['rms_log_ratio']:.3f}; ratios {s['min_ratio']:.2f}-{s['max_ratio']:.2f}.",
        "",
        "## 2. Published Jetson latencies the estimator was not fitted on",
        "",
        "| device profile | model | precision | batch | published ms | metric | estimated ms | ratio | source |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in oos["rows"]:
        lines.append(f"| {r['device']} | {r['model']} | {r['precision']} | {r['batch']} | {r['published_ms']:.3f} | "
                     f"{r['metric']} | {r['estimated_ms']:.3f} | {r['ratio']:.2f} | {r['source']} |")
    s = oos["summary"]
    lines += [
        "",
        f"All {s['points']} points: mean |relative error| {s['mean_abs_rel_error']:.0%}, max "
        f"{s['max_abs_rel_error']:.0%}; RMS ln(ratio) {s['rms_log_ratio']:.3f}; ratios "
        f"{s['min_ratio']:.2f}-{s['max_ratio']:.2f} (geometric mean {s['geomean_ratio']:.2f}).",
        "",
        "| model | points | ratios | geometric mean | mean abs rel. error |",
        "|---|---|---|---|---|",
    ]
    for name, m in oos["by_model"].items():
        lines.append(f"| {name} | {m['points']} | {m['min_ratio']:.2f}-{m['max_ratio']:.2f} | "
                     f"{m['geomean_ratio']:.2f} | {m['mean_abs_rel_error']:.0%} |")
    lines += [
        "",
        "## Error band stored in the code",
        "",
        f"`edgecv.validate.estimate.OUT_OF_SAMPLE_ERROR`: **{band['label']}**"
        + ("" if band["matches"] else " (**out of date**: the measured figures above differ; update the constant)"),
        "",
        "## Models (built here, random weights)",
        "",
        "| model | input | GFLOPs | GMACs | ONNX params (M) | layers that run |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in result["models"].items():
        lines.append(f"| {name} | {m['input']}x{m['input']} | {m['gflops']:.2f} | {m['gmacs']:.2f} | "
                     f"{m['onnx_params_m']:.2f} | {m['layers']} |")
    lines += ["", *[f"- {n}" for n in result["notes"]], ""]
    return "\n".join(lines)


NOTES = [
    "MLPerf latencies are the harness's (query issue to completion, H2D copy of the int8 input included) on "
    "hand-tuned engines; the trtexec points are GPU compute only. Both run the whole network on the GPU.",
    "INT8 points are estimated on the FP32 graph with precision='int8' (every layer at int8). The YOLOv8n FP32 "
    "points used TensorRT defaults, which allow TF32 Tensor Cores on Ampere; the estimator uses the CUDA-core "
    "fp32 peak, so it may read slow there.",
    "Detection graphs stop at the raw head outputs (YOLOv8n keeps its DFL decode and sigmoid, as Ultralytics "
    "exports it); NMS and box decoding outside the graph are not estimated.",
    "Model checks: YOLOv8n has 3,157,200 parameters and 8.8 GFLOPs here (its source lists 3.2M and 8.7); the "
    "SSD-MobileNet, SSD-ResNet34 and RetinaNet heads emit 1917, 15130 and 120087 boxes; SSD-ResNet34 counts "
    "433 GFLOPs.",
    "The jetson-orin-nano-8gb profile stands for the JetPack 6.2 15W mode (GPU 612 MHz, EMC 2133 MHz per "
    "nvpmodel_p3767_0003_super.conf) next to its 625 MHz / 68 GB/s figures.",
    "Not used, for want of a source with an exact number or a GPU-only engine: NVIDIA's Jetson benchmarks page "
    "(its tables were not found in the searchable copies; jetson_benchmarks runs GPU + 2 DLAs), Ultralytics' "
    "Jetson tables (end-to-end, not found with exact figures), MLPerf Offline (GPU + DLAs), 3D-UNet (3D, "
    "variable volume sizes).",
]


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        models = {name: export(name, Path(tmp)) for name in MODELS}
        loo = leave_one_out_table(models["resnet50"])
        oos = out_of_sample_table(models)
        stats = model_stats(models)
    measured = {"leave_one_out": loo["summary"], "out_of_sample": oos["summary"]}
    band = OUT_OF_SAMPLE_ERROR
    got, held = oos["summary"], loo["summary"]
    matches = (band.points == got["points"]
               and all(round(getattr(band, k), 2) == round(got[k], 2)
                       for k in ("min_ratio", "max_ratio", "mean_abs_rel_error", "rms_log_ratio"))
               and round(band.leave_one_out_max_abs_rel_error, 2) == round(held["max_abs_rel_error"], 2))
    result = {
        "seconds": time.time() - t0,
        "torch": torch.__version__,
        "calibration": asdict(CALIBRATION),
        "calibration_points": [asdict(p) for p in MLPERF_RESNET50_INT8],
        "leave_one_out": loo,
        "out_of_sample": oos,
        "error_band": {**asdict(band), "label": band.label, "matches": matches, "measured": measured},
        "models": stats,
        "notes": NOTES,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "estimate_out_of_sample.json", result)
    md = _md(result)
    atomic_write_text(RESULTS / "estimate_out_of_sample.md", md)
    print(md)
    if not matches:
        print("\nOUT_OF_SAMPLE_ERROR in edgecv/validate/estimate.py does not match these numbers; update it.")


if __name__ == "__main__":
    main()
