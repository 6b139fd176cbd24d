"""A user's ONNX file as the run's model (``model.onnx``): read, checked before any work, put in the task's form.

edgecv did not build such a model, so everything it needs comes from the graph and the recipe:

- the image input (name, channels, height, width, fixed or dynamic batch) from the graph; a height or width the
  graph leaves symbolic comes from ``model.input_size``, and one that contradicts the graph is refused;
- the opset: the graph is converted to the run's export opset (the recipe's, else the target devices' lowest
  limit; INT8 needs 13 for per-channel Q/DQ), and refused when it cannot be;
- the operators: ONNX Runtime must open the graph (host-cpu validation runs it), and every TensorRT device's
  parser must import each operator (:mod:`edgecv.export.tensorrt_rules`), else one line names the node and device;
- the outputs: ``model.outputs`` picks and orders the graph outputs the task reads; the task puts them in its form
  (:meth:`edgecv.tasks.base.Task.adapt_onnx`: renamed to ``logits``, or decoded to ``boxes``/``scores`` by a
  detector's declared ``model.decoding``).

Example::

    prepared = prepare_onnx_model(recipe, devices, num_classes=80)
    prepared.info.shape, prepared.info.fixed_batch     # (3, 352, 352), 1
    onnx.save(prepared.model, "original.onnx")         # outputs boxes, scores
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecv.errors import ModelError

if TYPE_CHECKING:
    import onnx

    from edgecv.devices import DeviceProfile
    from edgecv.recipe import ModelSection, Recipe

FIELD = "model.onnx"
MIN_OPSET = 7
"""The oldest opset ONNX's version converter upgrades from."""
ORT_DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class OnnxModelInfo:
    """What the graph says about its input and outputs."""

    input_name: str
    shape: tuple[int, int, int]
    """(channels, height, width) of one image."""
    fixed_batch: int | None
    """The batch the graph fixes, or None for a dynamic (symbolic) batch axis."""
    opset: int
    """The file's own default-domain opset (before conversion)."""
    outputs: list[str]
    """The graph outputs the task reads, in ``model.outputs`` order."""


@dataclass
class PreparedOnnx:
    """The user's graph in the task's form at the run's opset, and what was read from it."""

    model: onnx.ModelProto
    info: OnnxModelInfo
    opset: int
    given: onnx.ModelProto
    """The file as given."""
    converted: onnx.ModelProto
    """The given graph at the run's opset (simplified when ``export.simplify``), before the task's outputs."""


def _dims(value: Any) -> list[int | str]:
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def read_onnx(path: Path) -> onnx.ModelProto:
    """The file as an ONNX model; a missing, unreadable or invalid file is a ModelError naming ``model.onnx``."""
    import onnx

    if not path.is_file():
        raise ModelError(f"model.onnx {path} does not exist; give the path of an .onnx file", field=FIELD)
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # a protobuf DecodeError, or a truncated file
        raise ModelError(f"model.onnx {path} is not an ONNX model ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:120] if str(exc) else 'unreadable'}); re-export it", field=FIELD
                         ) from exc
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(f"model.onnx {path} fails the ONNX checker ({str(exc).splitlines()[0][:160]}); re-export "
                         "it with a current exporter", field=FIELD) from exc
    return model


def default_opset(model: onnx.ModelProto) -> int:
    """The model's ``ai.onnx`` opset (0 when it declares none)."""
    return next((o.version for o in model.opset_import if o.domain in ORT_DEFAULT_DOMAINS), 0)


def inspect_onnx(model: onnx.ModelProto, section: ModelSection) -> OnnxModelInfo:
    """The image input and the task's outputs, with ``model.input_size`` filling a symbolic height/width."""
    path = section.onnx
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise ModelError(f"model.onnx {path} has {len(inputs)} inputs ({names}); edgecv runs models with one image "
                         "input (N, C, H, W): re-export it with one", field=FIELD)
    image = inputs[0]
    dims = _dims(image)
    if image.type.tensor_type.elem_type != 1 or len(dims) != 4:
        raise ModelError(f"model.onnx {path}: input '{image.name}' is {len(dims)}-D of element type "
                         f"{image.type.tensor_type.elem_type}, not a float32 (N, C, H, W) image batch; re-export it "
                         "taking float32 images", field=FIELD)
    channels = dims[1]
    if not isinstance(channels, int) or channels <= 0:
        raise ModelError(f"model.onnx {path}: input '{image.name}' has no fixed channel count ({channels}); "
                         "re-export it with the channels fixed", field=FIELD)
    if channels != 3:
        raise ModelError(f"model.onnx {path}: input '{image.name}' takes {channels} channels; edgecv feeds 3-channel "
                         "(RGB or BGR, model.channel_order) images", field=FIELD)
    wanted = section.input_hw
    sides: list[int] = []
    for axis, name in ((2, "height"), (3, "width")):
        side = dims[axis]
        if isinstance(side, int) and side > 0:
            if wanted is not None and wanted[axis - 2] != side:
                raise ModelError(f"model.input_size {list(wanted)} contradicts model.onnx {path}, whose input "
                                 f"'{image.name}' is {dims[2]}x{dims[3]}; remove model.input_size",
                                 field="model.input_size")
            sides.append(side)
        elif wanted is not None:
            sides.append(wanted[axis - 2])
        else:
            raise ModelError(f"model.onnx {path}: input '{image.name}' has no fixed {name} ({dims}); set "
                             "model.input_size: [height, width]", field="model.input_size")
    batch = dims[0]
    graph_outputs = [o.name for o in model.graph.output]
    chosen = list(section.outputs or graph_outputs)
    unknown = [name for name in chosen if name not in graph_outputs]
    if unknown:
        raise ModelError(f"model.outputs names '{unknown[0]}', which is not an output of {path} (it has "
                         f"{', '.join(graph_outputs)})", field="model.outputs")
    return OnnxModelInfo(
        input_name=image.name, shape=(int(channels), sides[0], sides[1]),
        fixed_batch=batch if isinstance(batch, int) and batch > 0 else None, opset=default_opset(model),
        outputs=chosen,
    )


def convert_opset(model: onnx.ModelProto, opset: int, path: Path | None) -> onnx.ModelProto:
    """``model`` at ``opset`` (ONNX's version converter, both ways); refused in one line when it cannot be."""
    import onnx
    from onnx import version_converter

    current = default_opset(model)
    if current == opset:
        return model
    if current < MIN_OPSET:
        raise ModelError(f"model.onnx {path} has opset {current}; edgecv converts from opset {MIN_OPSET} up: "
                         "re-export it at a newer opset", field=FIELD)
    try:
        converted = version_converter.convert_version(model, opset)
        onnx.checker.check_model(converted)
    except Exception as exc:
        direction = "up" if opset > current else "down"
        raise ModelError(
            f"model.onnx {path} (opset {current}) cannot be converted {direction} to opset {opset}, the run's export "
            f"opset ({str(exc).splitlines()[0][:120]}); re-export it at opset {opset}, or set export.opset "
            f"(INT8 needs at least 13)", field=FIELD) from exc
    return converted


def rename_outputs(model: onnx.ModelProto, names: dict[str, str]) -> onnx.ModelProto:
    """Rename graph outputs (every node that reads or writes them too) and drop the outputs not in ``names``."""
    graph = model.graph
    for node in graph.node:
        node.output[:] = [names.get(x, x) for x in node.output]
        node.input[:] = [names.get(x, x) for x in node.input]
    kept = [o for o in graph.output if o.name in names]
    for output in kept:
        output.name = names[output.name]
    del graph.output[:]
    graph.output.extend(sorted(kept, key=lambda o: list(names.values()).index(o.name)))
    return model


def check_runtimes(model: onnx.ModelProto, devices: list[DeviceProfile], path: Path | None) -> None:
    """ONNX Runtime opens the graph, and every TensorRT device's parser imports its operators and opset."""
    from edgecv.export.tensorrt_rules import check_for_device
    from edgecv.runtime import OrtRunner

    custom = sorted({n.domain for n in model.graph.node if n.domain not in ORT_DEFAULT_DOMAINS})
    if custom:
        node = next(n for n in model.graph.node if n.domain == custom[0])
        raise ModelError(f"model.onnx {path}: node '{node.name}' is {custom[0]}::{node.op_type}, a custom operator "
                         "neither ONNX Runtime's CPU build nor TensorRT's parser has; re-export it with standard "
                         "ONNX operators", field=FIELD)
    try:
        OrtRunner(model, threads=1).close()
    except Exception as exc:
        raise ModelError(f"model.onnx {path}: ONNX Runtime cannot open it ({str(exc).splitlines()[0][:200]}); "
                         "re-export it with operators ONNX Runtime implements", field=FIELD) from exc
    for device in devices:
        if device.runtime != "tensorrt" or not device.software.tensorrt:
            continue
        result = check_for_device(model, device)
        if not result.ok:
            raise ModelError(f"model.onnx {path} on {device.name}: {result.summary()}; re-export it without that "
                             "operator or remove the device from validate.devices", field=FIELD)


def prepare_onnx_model(recipe: Recipe, devices: list[DeviceProfile], num_classes: int) -> PreparedOnnx:
    """The recipe's ONNX model checked, at the run's opset, with the task's outputs (see the module docstring)."""
    from edgecv.stages.export import export_opset
    from edgecv.tasks import get_task

    section = recipe.model
    assert section.onnx is not None
    model = read_onnx(section.onnx)
    info = inspect_onnx(model, section)
    opset = export_opset(recipe, devices)
    converted = convert_opset(model, opset, section.onnx)
    if recipe.export.simplify:
        from edgecv.export.onnx import simplify_onnx

        converted = simplify_onnx(converted)
    adapted = get_task(recipe.task).adapt_onnx(copy.deepcopy(converted), info, section, num_classes)
    check_runtimes(adapted, devices, section.onnx)
    return PreparedOnnx(adapted, info, opset, model, converted)


def conversion_difference(prepared: PreparedOnnx, batches: list[Any]) -> tuple[float, float]:
    """Largest |difference| of the chosen outputs between the file as given and the graph edgecv runs (at the run's
    opset, simplified) over ``batches`` of preprocessed images, and the largest |output| of the given file."""
    import numpy as np

    from edgecv.quantize.onnx_float_layers import run_batches

    given, converted = (run_batches(m, batches) for m in (prepared.given, prepared.converted))
    names = prepared.info.outputs
    worst = max((float(np.abs(given[n] - converted[n]).max()) for n in names), default=0.0)
    return worst, max((float(np.abs(given[n]).max()) for n in names), default=0.0)


def count_onnx_params(model: onnx.ModelProto) -> int:
    """Elements in the graph's initializers (its weights)."""
    import math

    return sum(math.prod(t.dims) for t in model.graph.initializer)
