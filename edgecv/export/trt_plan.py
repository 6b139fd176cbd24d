"""What a TensorRT engine build will do for one (device profile, ONNX model): pure decisions, no TensorRT needed.

The same :class:`BuildPlan` drives the TensorRT Python API builder (:mod:`edgecv.deploy.trt_engine`), the
``trtexec`` command of a deploy bundle (:mod:`edgecv.export.trtexec`) and the DeepStream config, so the three
cannot disagree. Every decision reads the profile's capabilities (``software.tensorrt``, ``precisions``,
``dla_cores``, ``sparsity_2_4``, ``memory_gb``) and the model itself (Q/DQ nodes, input shape), never a name.

Example::

    plan = plan_build(load_device("jetson-orin-nano-8gb"), "model_int8.onnx")
    plan.precision, plan.strongly_typed, plan.builder_flags    # ("int8", True, ["SPARSE_WEIGHTS"])
    plan.notes                                                 # why, one line per decision
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import onnx
from pydantic import BaseModel, ConfigDict

from edgecv.artifacts import sha256_file
from edgecv.devices import DeviceProfile
from edgecv.errors import ModelError, UnsupportedError
from edgecv.export.trt_options import TensorRTOptions

Version = tuple[int, int, int]
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


class BuildPlan(BaseModel):
    """Everything needed to build one engine; stored as ``build_plan.json`` in a bundle (plain JSON there)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str
    tensorrt: str
    compute_capability: str | None = None
    onnx: str = "model.onnx"
    onnx_sha256: str | None = None
    input_name: str
    input_shape: list[int]
    output_names: list[str]
    dynamic_batch: bool
    min_batch: int
    opt_batch: int
    max_batch: int
    precision: Literal["fp32", "fp16", "int8"]
    qdq_nodes: int = 0
    strongly_typed: bool = False
    explicit_batch_flag: bool = True
    builder_flags: list[str] = []
    dla_core: int | None = None
    gpu_fallback: bool = False
    sparsity: bool = False
    workspace_mb: int = 1024
    engine: str = "model.engine"
    timing_cache: str = "timing.cache"
    layer_info: str = "model.engine.layers.json"
    ort_fake_quantized: bool = False
    """The ONNX is in TensorRT's Q/DQ form: the runner's ONNX Runtime mode runs it op by op in float, as edgecv scores
    it (:func:`edgecv.runtime.ort.tensorrt_qdq_form`), not through ONNX Runtime's own int8 kernels."""
    notes: list[str] = []

    def shape(self, batch: int) -> list[int]:
        """The full input shape for ``batch`` images."""
        return [batch, *self.input_shape]

    @property
    def shapes(self) -> dict[str, list[int]]:
        """The optimization profile's min/opt/max input shapes."""
        return {"min": self.shape(self.min_batch), "opt": self.shape(self.opt_batch), "max": self.shape(self.max_batch)}

    def batch_sizes(self) -> list[int]:
        """Batch sizes a latency sweep can run on this engine: powers of two within the profile, plus its ends."""
        low, high = self.min_batch, self.max_batch
        powers = {1 << i for i in range(high.bit_length()) if low <= 1 << i <= high}
        return sorted(powers | {low, self.opt_batch, high})


def parse_version(text: str) -> Version:
    """``"8.5.2.2"`` -> ``(8, 5, 2)``; missing parts are 0. Raises UnsupportedError for text with no number."""
    numbers = [int(n) for n in re.findall(r"\d+", str(text))[:3]]
    if not numbers:
        raise UnsupportedError(f"'{text}' is not a TensorRT version; write it like 8.5.2 or 10.3")
    return tuple([*numbers, 0, 0][:3])  # type: ignore[return-value]


def count_qdq(model: onnx.ModelProto) -> int:
    """Default-domain QuantizeLinear/DequantizeLinear nodes in the graph, its subgraphs and local functions."""

    def walk(nodes: list[onnx.NodeProto]) -> int:
        total = 0
        for node in nodes:
            total += node.domain in ("", "ai.onnx") and node.op_type in QDQ_OPS
            for attr in node.attribute:
                graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
                total += sum(walk(list(g.node)) for g in graphs)
        return total

    return walk(list(model.graph.node)) + sum(walk(list(f.node)) for f in model.functions)


def onnx_io(model: onnx.ModelProto) -> tuple[str, list[int | None], list[str]]:
    """The single image input's name and dims (None where symbolic) and the output names."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelError(f"the ONNX model has {len(inputs)} inputs; deploy bundles take one image input (NCHW)")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or any(d is None for d in dims[1:]):
        raise ModelError(f"input '{inputs[0].name}' has shape {dims}; expected (batch, channels, height, width)")
    return inputs[0].name, dims, [o.name for o in model.graph.output]


def _precision(device: DeviceProfile, options: TensorRTOptions, qdq: int) -> tuple[str, str]:
    precisions = list(device.precisions)
    if qdq:
        if "int8" not in precisions:
            raise UnsupportedError(
                f"the model has {qdq} Q/DQ nodes (INT8) but device '{device.name}' runs only "
                f"{', '.join(precisions)}; deploy the FP32 artifact to it (--artifact)"
            )
        if options.precision not in ("auto", "int8"):
            raise UnsupportedError(
                f"export.tensorrt.precision is {options.precision} but the model is quantized (Q/DQ): its "
                "precision is int8; deploy the FP32 artifact for an fp16/fp32 engine"
            )
        return "int8", f"int8: the ONNX has {qdq} Q/DQ nodes (explicit quantization, no calibration)"
    if options.precision == "auto":
        chosen = "fp16" if "fp16" in precisions else "fp32"
        return chosen, f"{chosen}: the model has no Q/DQ nodes and the device runs {', '.join(precisions)}"
    if options.precision == "int8":
        raise UnsupportedError(
            "export.tensorrt.precision int8 needs a Q/DQ model: implicit INT8 calibration is deprecated in "
            "TensorRT 10 and gone in 11; add a quantize stage (tensorrt scheme) and deploy its artifact"
        )
    if options.precision not in precisions:
        raise UnsupportedError(
            f"device '{device.name}' does not run {options.precision} (its profile lists "
            f"{', '.join(precisions)}); pick one of those in export.tensorrt.precision"
        )
    return options.precision, f"{options.precision}: asked for in export.tensorrt.precision"


def _strongly_typed(version: Version, options: TensorRTOptions, qdq: int) -> tuple[bool, str]:
    if version >= (11, 0, 0):
        if options.strongly_typed == "off":
            raise UnsupportedError("TensorRT 11 networks are always strongly typed; set strongly_typed to auto")
        return True, "strongly typed: TensorRT 11 removed the FP16/INT8 builder flags"
    if options.strongly_typed == "on":
        if version < (10, 0, 0):
            raise UnsupportedError("strongly typed networks need TensorRT 10 or later; set strongly_typed to auto")
        return True, "strongly typed: asked for in export.tensorrt.strongly_typed"
    if options.strongly_typed == "auto" and qdq and version >= (10, 0, 0):
        return True, "strongly typed: a Q/DQ model on TensorRT 10.x (types come from the Q/DQ nodes)"
    return False, "weakly typed: precision by builder flags"


def _batches(dims: list[int | None], options: TensorRTOptions, dla: bool) -> tuple[bool, int, int, int, str | None]:
    if dims[0] is not None:
        return False, dims[0], dims[0], dims[0], f"static batch {dims[0]}: the ONNX input has a fixed batch"
    if dla:
        b = options.opt_batch
        return False, b, b, b, f"static batch {b}: DLA takes no dynamic shapes (set export.tensorrt.dla false)"
    return True, 1, options.opt_batch, options.max_batch, None


def plan_build(
    device: DeviceProfile,
    onnx_model: str | Path | onnx.ModelProto,
    options: TensorRTOptions | None = None,
    *,
    onnx_sha256: str | None = None,
) -> BuildPlan:
    """Decide precision, typing, flags, DLA, sparsity, workspace and shapes for ``device``. See the module doc."""
    options = options or TensorRTOptions()
    if device.runtime != "tensorrt" or not device.software.tensorrt:
        raise UnsupportedError(
            f"device '{device.name}' deploys with {device.runtime}, not TensorRT; engines and deploy bundles "
            "are for TensorRT devices (runtime: tensorrt and software.tensorrt in the profile)"
        )
    if isinstance(onnx_model, onnx.ModelProto):
        model = onnx_model
    else:
        onnx_sha256 = onnx_sha256 or sha256_file(onnx_model)
        model = onnx.load(str(onnx_model), load_external_data=False)
    from edgecv.runtime.ort import tensorrt_qdq_form

    version = parse_version(device.software.tensorrt)
    qdq = count_qdq(model)
    name, dims, outputs = onnx_io(model)
    precision, why_precision = _precision(device, options, qdq)
    strongly_typed, why_typed = _strongly_typed(version, options, qdq)
    notes = [why_precision, why_typed]
    if strongly_typed and precision == "fp16":
        precision = "fp32"
        notes.append("fp32: a strongly typed network keeps the ONNX's float32 types (convert to fp16 offline)")
    flags: list[str] = []
    if not strongly_typed:
        if precision in ("fp16", "int8") and "fp16" in device.precisions:
            flags.append("FP16")
        if precision == "int8":
            flags.append("INT8")
    use_dla = options.dla and device.dla_cores > 0 and precision in ("fp16", "int8")
    if options.dla and device.dla_cores > 0 and not use_dla:
        notes.append(f"GPU only: DLA runs fp16/int8, not {precision}")
    if use_dla:
        if options.dla_core >= device.dla_cores:
            raise UnsupportedError(
                f"export.tensorrt.dla_core is {options.dla_core} but '{device.name}' has {device.dla_cores} DLA "
                f"core(s); use 0..{device.dla_cores - 1}"
            )
        flags.append("GPU_FALLBACK")
        notes.append(f"DLA core {options.dla_core} with GPU fallback for layers DLA cannot run")
    sparsity = options.sparsity and device.sparsity_2_4
    if sparsity:
        flags.append("SPARSE_WEIGHTS")
        notes.append("2:4 sparse tactics enabled (used only where weights are 2:4 sparse)")
    dynamic, lo, opt, hi, why_batch = _batches(dims, options, use_dla)
    if why_batch:
        notes.append(why_batch)
    workspace = min(options.workspace_mb, max(64, int(device.memory_gb * 1024 / 4)))
    return BuildPlan(
        device=device.name,
        tensorrt=str(device.software.tensorrt),
        compute_capability=device.compute_capability,
        onnx_sha256=onnx_sha256,
        input_name=name,
        input_shape=[int(d) for d in dims[1:]],  # type: ignore[arg-type]
        output_names=outputs,
        dynamic_batch=dynamic,
        min_batch=lo,
        opt_batch=opt,
        max_batch=hi,
        precision=precision,
        ort_fake_quantized=tensorrt_qdq_form(model),
        qdq_nodes=qdq,
        strongly_typed=strongly_typed,  # type: ignore[arg-type]
        explicit_batch_flag=version < (10, 0, 0),
        builder_flags=flags,
        dla_core=options.dla_core if use_dla else None,
        gpu_fallback=use_dla,
        sparsity=sparsity,
        workspace_mb=workspace,
        notes=notes,
    )
