"""Code that runs on the device, shipped inside deploy bundles: standalone modules (numpy, plus TensorRT and
cuda-python or pycuda on the device; ONNX Runtime in the CPU test mode), importing nothing from edgecv.

- ``trt_infer``: CUDA memory and events (cuda-python or pycuda), the GPU's identity, ``TrtEngine`` (load, infer).
- ``trt_engine``: build an engine from ONNX with the TensorRT Python API; the engine's sidecar JSON and its check.
- ``device_state``: power mode, clocks, a tegrastats sample; each optional.
- ``run_bundle``: the bundle's runner script (accuracy and latency on the bundled images, results JSON).
"""
