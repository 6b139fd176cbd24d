"""Code that runs on the device, shipped inside deploy bundles: standalone modules (numpy, plus TensorRT and
cuda-python or pycuda on the device; ONNX Runtime in the CPU test mode), importing nothing from edgecv.

- ``trt_infer``: CUDA memory and events (cuda-python or pycuda), the GPU's identity, ``TrtEngine`` (load, infer).
- ``trt_engine``: build an engine from ONNX with the TensorRT Python API; the engine's sidecar JSON and its check.
- ``device_state``: power mode, clocks, a tegrastats sample; each optional.
- ``run_bundle``: the bundle's runner script (the task's metric and latency on the bundled images, results JSON).
- ``task_scores``: one scorer per task (top-1/top-5, COCO mAP, mIoU) over the runner's batches.
- ``detection_postprocess``: score threshold, top-k and per-class NMS (edgecv's own decoding, used by edgecv too).
- ``detection_metrics``: COCO mAP in numpy (pycocotools' algorithm; equal to faster-coco-eval's figure).
- ``box_geometry``: letterbox geometry, and boxes from model-input pixels back to the original image.
- ``segmentation_metrics``: the pixel confusion matrix, mIoU and pixel accuracy (edgecv's own code).
"""
