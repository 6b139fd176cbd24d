"""The recipe's TensorRT engine options (``export.tensorrt``); pydantic only, so a recipe validates without TensorRT.

Example (in a recipe)::

    export:
      bundles: [jetson-orin-nano-8gb]     # write a deploy bundle per device after validation
      tensorrt:
        precision: auto                   # int8 for Q/DQ models, else fp16 where the device has it
        max_batch: 16
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edgecv.stages.params import StrictModel


class TensorRTOptions(StrictModel):
    """How engines are built on the device; the device profile decides the rest (see edgecv.export.trt_plan)."""

    precision: Literal["auto", "fp32", "fp16", "int8"] = Field(
        "auto",
        description="auto: int8 when the ONNX has Q/DQ nodes, else fp16 where the device has it, else fp32. "
        "int8 needs a Q/DQ (explicitly quantized) model: implicit calibration is not offered",
    )
    strongly_typed: Literal["auto", "on", "off"] = Field(
        "auto",
        description="auto: strongly typed on TensorRT 11+ (required) and for Q/DQ models on TensorRT 10.x; "
        "builder precision flags otherwise",
    )
    dla: bool = Field(
        True,
        description="Use a DLA core (GPU fallback on) where the device has one and the "
        "precision is fp16/int8; DLA takes static shapes only, so the engine's batch is opt_batch",
    )
    dla_core: int = Field(0, ge=0)
    sparsity: bool = Field(True, description="Enable 2:4 sparse tactics where the device's profile has them")
    workspace_mb: int = Field(1024, gt=0, description="Builder workspace limit (capped at a quarter of memory)")
    max_batch: int = Field(32, gt=0, description="Largest batch of the dynamic-batch optimization profile")
    opt_batch: int = Field(1, gt=0, description="Batch the builder tunes kernels for (and DLA's static batch)")

    @model_validator(mode="after")
    def _batches(self) -> TensorRTOptions:
        if self.opt_batch > self.max_batch:
            raise ValueError(f"opt_batch ({self.opt_batch}) must not exceed max_batch ({self.max_batch})")
        return self
