"""Read an ONNX model given as a ModelProto or a file path, with errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import onnx

from edgecv.errors import ModelError


def load_onnx(model: onnx.ModelProto | str | Path) -> onnx.ModelProto:
    """The model itself, or the file read with its external data; a missing or unreadable file is a ModelError."""
    if isinstance(model, onnx.ModelProto):
        return model
    path = Path(model)
    if not path.is_file():
        raise ModelError(f"ONNX file '{path}' does not exist; give the path of an exported .onnx model")
    try:
        return onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"'{path}' is not a readable ONNX model ({exc}); re-export it") from exc
