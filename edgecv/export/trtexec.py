"""The exact ``trtexec`` command that builds a BuildPlan's engine on the device, per TensorRT version.

Each flag carries where it is documented, and ``build_engine.sh`` prints those citations as comments. Sources:

- [HELP8] ``trtexec --help`` of TensorRT 8.x, i.e. ``samples/common/sampleOptions.cpp`` of
  https://github.com/NVIDIA/TensorRT (8.4-8.6 releases): ``--onnx``, ``--saveEngine``, ``--minShapes/--optShapes/
  --maxShapes``, ``--memPoolSize=poolspec`` ("pool ::= workspace|dlaSRAM|..." in MiB; ``--workspace=N`` "has been
  deprecated by --memPoolSize" since 8.4), ``--fp16``, ``--int8``, ``--sparsity=spec`` (disable|enable|force),
  ``--useDLACore=N``, ``--allowGPUFallback``, ``--timingCacheFile=<file>``, ``--profilingVerbosity=detailed``,
  ``--exportLayerInfo``, ``--buildOnly``; ``--explicitBatch`` "has been deprecated and has no effect" from 8.4
  ("Explicit batch dim is automatically enabled if input model is ONNX"), a live flag on 8.2.
- [MIG10] "Migrating trtexec Usage from TensorRT 8.x to 10.x",
  https://docs.nvidia.com/deeplearning/tensorrt/10.16.1/api/tensorrt-8x-to-10x-trtexec.html:
  "--workspace flag replaced with --memPoolSize=workspace:<size>"; implicit-batch flags removed.
- [HELP10] ``trtexec --help`` of TensorRT 10.3 (``v100300``): ``--memPoolSize`` "Supports the following base-2
  suffixes ... If none of suffixes is appended, the default unit is in MiB"; ``--skipInference`` "Exit after the
  engine has been built and skip inference perf measurement"; ``--stronglyTyped``.
- [README] https://github.com/NVIDIA/TensorRT/blob/main/samples/trtexec/README.md: Example 2 (DLA:
  ``--useDLACore=1 --int8 --allowGPUFallback``), Example 3 (``--minShapes/--optShapes/--maxShapes``), Example 6
  (``--stronglyTyped``: "Use of specific builder precision flags such as --int8 or --best with this option is not
  allowed").
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from edgecv import __version__
from edgecv.export.trt_plan import BuildPlan, parse_version


@dataclass(frozen=True)
class Flag:
    """One trtexec argument, why it is there, and where it is documented."""

    arg: str
    why: str
    source: str


def _shape(plan: BuildPlan, batch: int) -> str:
    return f"{plan.input_name}:{'x'.join(str(d) for d in plan.shape(batch))}"


def trtexec_flags(plan: BuildPlan) -> list[Flag]:
    """The arguments, in order, for the plan's TensorRT version (see the module docstring for sources)."""
    version = parse_version(plan.tensorrt)
    v10 = version >= (10, 0, 0)
    help_ = "[HELP10]" if v10 else "[HELP8]"
    flags = [
        Flag(f"--onnx={plan.onnx}", "the ONNX model to parse", help_),
        Flag(f"--saveEngine={plan.engine}", "write the serialized engine (a raw plan file)", help_),
    ]
    if version < (8, 4, 0):
        flags.append(Flag("--explicitBatch", "explicit batch network (TensorRT < 8.4)", "[HELP8]"))
    if plan.dynamic_batch:
        for key, batch in (("min", plan.min_batch), ("opt", plan.opt_batch), ("max", plan.max_batch)):
            flags.append(
                Flag(
                    f"--{key}Shapes={_shape(plan, batch)}",
                    f"dynamic batch: {key} of the profile",
                    f"{help_} [README] Example 3",
                )
            )
    if version < (8, 4, 0):
        flags.append(Flag(f"--workspace={plan.workspace_mb}", "builder workspace in MiB", "[HELP8]"))
    else:
        size = f"{plan.workspace_mb}M" if v10 else str(plan.workspace_mb)
        flags.append(
            Flag(
                f"--memPoolSize=workspace:{size}",
                "builder workspace limit (MiB)",
                f"{help_} [MIG10]" if v10 else "[HELP8] (--workspace is deprecated since 8.4)",
            )
        )
    if plan.strongly_typed:
        flags.append(
            Flag(
                "--stronglyTyped",
                "types from the ONNX (Q/DQ) graph; no precision flags allowed",
                "[HELP10] [README] Example 6",
            )
        )
    else:
        if "FP16" in plan.builder_flags:
            flags.append(Flag("--fp16", "allow fp16 kernels", help_))
        if "INT8" in plan.builder_flags:
            flags.append(Flag("--int8", "allow int8 kernels; the Q/DQ nodes give the scales (no --calib)", help_))
    if plan.sparsity:
        flags.append(Flag("--sparsity=enable", "2:4 sparse tactics where weights are 2:4 sparse", help_))
    if plan.dla_core is not None:
        flags.append(
            Flag(
                f"--useDLACore={plan.dla_core}", "run supported layers on this DLA core", f"{help_} [README] Example 2"
            )
        )
        flags.append(Flag("--allowGPUFallback", "layers DLA cannot run go to the GPU", f"{help_} [README] Example 2"))
    flags += [
        Flag(f"--timingCacheFile={plan.timing_cache}", "reuse kernel timings across builds", help_),
        Flag("--profilingVerbosity=detailed", "keep per-layer detail for the layer report", help_),
        Flag(f"--exportLayerInfo={plan.layer_info}", "each layer's precision and placement (engine inspector)", help_),
    ]
    skip = "--skipInference" if version >= (8, 6, 0) else "--buildOnly"
    flags.append(Flag(skip, "build only; run_bundle.py measures", help_))
    return flags


def trtexec_command(plan: BuildPlan, trtexec: str = "trtexec") -> list[str]:
    """``[trtexec, --onnx=..., ...]`` for the plan."""
    return [trtexec, *(f.arg for f in trtexec_flags(plan))]


SOURCES = {
    "[HELP8]": "trtexec --help, TensorRT 8.x (samples/common/sampleOptions.cpp, github.com/NVIDIA/TensorRT)",
    "[HELP10]": "trtexec --help, TensorRT 10.3",
    "[MIG10]": "https://docs.nvidia.com/deeplearning/tensorrt/10.16.1/api/tensorrt-8x-to-10x-trtexec.html",
    "[README]": "https://github.com/NVIDIA/TensorRT/blob/main/samples/trtexec/README.md",
}


def build_engine_script(plan: BuildPlan, device_title: str = "") -> str:
    """``build_engine.sh``: run trtexec as planned, then record the sidecar; each flag's source in a comment."""
    flags = trtexec_flags(plan)
    width = max(len(f.arg) for f in flags)
    used = sorted({tag for f in flags for tag in SOURCES if tag in f.source})
    lines = [
        "#!/usr/bin/env bash",
        f"# Build {plan.engine} for {plan.device}{f' ({device_title})' if device_title else ''}, TensorRT "
        f"{plan.tensorrt}, on the device itself:",
        "# engines are not portable across TensorRT versions or GPUs. Generated by edgecv "
        f"{__version__} from build_plan.json.",
        "#",
        "# Decisions (build_plan.json 'notes'):",
        *(f"#   - {note}" for note in plan.notes),
        "#",
        "# Flags, with where each is documented:",
        *(f"#   {f.arg.ljust(width)}  {f.why} {f.source}" for f in flags),
        "# Sources:",
        *(f"#   {tag} {SOURCES[tag]}" for tag in used),
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        'TRTEXEC="${TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}"',
        'if [ ! -x "$TRTEXEC" ]; then',
        '  echo "trtexec not found: it comes with JetPack (/usr/src/tensorrt/bin/trtexec); or set TRTEXEC=" >&2',
        "  exit 2",
        "fi",
        '"$TRTEXEC" \\',
        *(f"  {shlex.quote(f.arg)} \\" for f in flags[:-1]),
        f"  {shlex.quote(flags[-1].arg)}",
        "# Record what built the engine (TensorRT version, GPU, precision, ONNX sha256) in its sidecar JSON.",
        'python3 run_bundle.py --write-sidecar --built-with trtexec || echo "warning: no sidecar written '
        '(needs the tensorrt Python package); run_bundle.py will refuse the engine until one is" >&2',
        "",
    ]
    return "\n".join(lines)
