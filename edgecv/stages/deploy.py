"""The ``deploy`` stage: after validation, write a deploy bundle per device in ``export.bundles``.

It runs when a recipe lists devices there (``export.bundles: [jetson-orin-nano-8gb]``); the bundles go to the
stage's folder, each as ``<device>-<artifact>/`` and ``.tar.gz``. ``edgecv deploy RUN_DIR --device NAME`` does
the same for a finished run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecv.artifacts import ModelArtifact, StageResult, sha256_file
from edgecv.console import info
from edgecv.devices import load_device
from edgecv.errors import EdgecvError, RecipeError
from edgecv.stages.contract import ANY_FORMAT, Stage, StageCheck, register_stage

if TYPE_CHECKING:
    from edgecv.stages.base import CurrentModel, RunContext


@register_stage
class DeployStage(Stage):
    """Bundles for the recipe's ``export.bundles`` devices (params: the recipe's ExportSection)."""

    kind = "deploy"
    accepts = ANY_FORMAT

    @classmethod
    def check(cls, params: Any, check: StageCheck) -> None:
        """Every bundle device is a known TensorRT device."""
        for index, name in enumerate(getattr(params, "bundles", [])):
            try:
                device = load_device(name)
            except EdgecvError as exc:
                raise RecipeError(f"key 'export.bundles[{index}]': {exc}") from exc
            if device.runtime != "tensorrt" or not device.software.tensorrt:
                raise RecipeError(
                    f"key 'export.bundles[{index}]': '{name}' deploys with {device.runtime}, not TensorRT; bundles "
                    "are for TensorRT devices (see `edgecv devices`)",
                    field="export.bundles",
                )

    def run(self, ctx: RunContext, current: CurrentModel, folder: Path) -> StageResult:
        from edgecv.export.bundle import write_bundle
        from edgecv.export.bundle_source import source_from_context

        started = time.perf_counter()
        section = self.params
        outputs, bundles = [], []
        for name in section.bundles:  # type: ignore[attr-defined]
            device = load_device(name)
            source = source_from_context(ctx, device, section.bundle_images)  # type: ignore[attr-defined]
            result = write_bundle(source, device, folder, section.tensorrt)  # type: ignore[attr-defined]
            info(f"  bundle for {device.name}: {result.tarball} ({result.plan.precision})")
            art = source.artifact
            outputs.append(
                ModelArtifact(
                    name=f"{art.name}-bundle-{device.name}",
                    format="bundle",
                    path=str(result.tarball),
                    input=art.input,
                    preprocessing=art.preprocessing,
                    precision=result.plan.precision,
                    size_bytes=result.tarball.stat().st_size,
                    params=art.params,
                    macs=art.macs,
                    sha256=sha256_file(result.tarball),
                    parent=art.name,
                    arch=art.arch,
                    targets=[device.name],
                )
            )
            bundles.append(
                {
                    "device": device.name,
                    "artifact": art.name,
                    "folder": str(result.folder),
                    "tarball": str(result.tarball),
                    "trtexec": result.manifest["trtexec"],
                    "notes": result.plan.notes,
                }
            )
        return StageResult(
            stage=folder.name,
            kind=self.kind,
            inputs=[o.parent or "" for o in outputs],
            outputs=outputs,
            metrics={"bundles": bundles},
            seconds=time.perf_counter() - started,
        )
