"""Detection parity compares objects, not pixels: box jitter passes, a lost object fails, mAP difference judged."""

from __future__ import annotations

import numpy as np
import torch

from edgecv.stages.quantize import QuantParity
from edgecv.tasks.detection.parity import detection_parity


def _outputs(boxes: list[list[float]], scores: list[list[float]]) -> dict[str, np.ndarray]:
    return {"boxes": np.asarray([boxes], dtype=np.float32), "scores": np.asarray([scores], dtype=np.float32)}


REFERENCE = _outputs([[100, 100, 300, 300], [400, 400, 700, 650], [0, 0, 5, 5]], [[0.9, 0.0], [0.0, 0.8], [0.02, 0.0]])
TARGETS = [{"boxes": torch.tensor([[100.0, 100.0, 300.0, 300.0], [400.0, 400.0, 700.0, 650.0]]),
            "labels": torch.tensor([0, 1])}]


def test_jitter_is_the_same_object_and_map_is_compared() -> None:
    jittered = _outputs([[101, 99, 301, 299], [402, 399, 701, 652], [0, 0, 5, 5]],
                        [[0.85, 0.0], [0.0, 0.82], [0.02, 0.0]])
    result = detection_parity(REFERENCE, jittered, QuantParity(), ("fq", "int8"), targets=TARGETS)
    assert result.passed, result.reason
    assert result.top1_agreement == 1.0 and result.confident_samples == 4  # two objects, counted both ways
    assert result.reference_top1 is not None and result.reference_top1 > 90.0
    assert result.top1_diff is not None and abs(result.top1_diff) <= 2.0  # 1-2 px on 200 px boxes: IoU > 0.95


def test_a_lost_object_fails_agreement() -> None:
    lost = _outputs([[100, 100, 300, 300], [400, 400, 700, 650], [0, 0, 5, 5]], [[0.9, 0.0], [0.0, 0.005], [0.02, 0.0]])
    result = detection_parity(REFERENCE, lost, QuantParity(), ("fq", "int8"), targets=TARGETS)
    assert not result.passed and "min_top1_agreement" in result.failed
    assert abs(result.top1_agreement - 2 / 3) < 1e-9  # 2 of the 3 confident detections (2 + 1) are found
    assert "max_top1_diff" in result.failed  # the mAP fell by far more than 2 points
