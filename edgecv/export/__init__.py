"""Exporting compressed models for a target runtime, and checking exported artifacts before they ship.

``edgecv.export.tensorrt_rules`` says, without a GPU or TensorRT installed, whether an ONNX model will parse
and quantize in a given TensorRT version::

    from edgecv.export.tensorrt_rules import check_onnx_for_tensorrt
    result = check_onnx_for_tensorrt("model.onnx", "8.5.2")
    print(result.summary())
"""
