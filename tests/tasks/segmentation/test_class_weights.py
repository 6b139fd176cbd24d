"""``train.class_weights``: balanced and sqrt weights from class counts, pixel counts of label maps, and the weighted
pixel cross-entropy against a hand computation; refused where the task's loss takes no weights."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from edgecv.api import compress
from edgecv.class_weights import balanced_weights, resolve_class_weights
from edgecv.errors import RecipeError
from edgecv.recipe import load_recipe
from edgecv.tasks import get_task
from edgecv.tasks.segmentation.data_formats import IGNORED
from edgecv.tasks.segmentation.metrics import pixel_counts

REPO = Path(__file__).resolve().parents[3]


def test_balanced_and_sqrt_weights_by_hand() -> None:
    counts = torch.tensor([90, 10, 0])  # 100 pixels, 2 classes present, the third absent
    balanced = resolve_class_weights("balanced", counts)
    assert balanced.tolist() == pytest.approx([100 / (2 * 90), 100 / (2 * 10), 0.0])
    assert float((balanced * counts).sum() / counts.sum()) == pytest.approx(1.0)  # count-weighted mean is 1
    sqrt = resolve_class_weights("sqrt", counts)
    assert sqrt.tolist() == pytest.approx([math.sqrt(100 / 180), math.sqrt(5.0), 0.0])
    assert resolve_class_weights("none", counts) is None
    assert resolve_class_weights([1.0, 2.5, 0.0], None, 3).tolist() == [1.0, 2.5, 0.0]
    with pytest.raises(RecipeError, match="lists 2 weights for 3 classes"):
        resolve_class_weights([1.0, 2.0], counts, 3)
    with pytest.raises(RecipeError, match="no labelled sample"):
        balanced_weights(torch.zeros(3, dtype=torch.int64))


def test_pixel_counts_leave_ignored_pixels_out() -> None:
    maps = torch.tensor([[[0, 0, 1], [2, IGNORED, 0]], [[1, 1, 1], [0, 0, IGNORED]]])
    dataset = Subset(TensorDataset(torch.zeros(2, 3, 2, 3), maps), [0, 1])
    assert pixel_counts(dataset, 4).tolist() == [5, 4, 1, 0]
    assert get_task("segmentation").class_counts(dataset, 3).tolist() == [5, 4, 1]


def test_weighted_pixel_cross_entropy_equals_a_hand_computation() -> None:
    # one image, 3 classes, 1x3 pixels: truth 0, 2 and an ignored pixel
    logits = torch.tensor([[[[2.0, 0.0, 5.0]], [[0.5, 1.0, -1.0]], [[-1.0, 3.0, 0.0]]]])
    targets = torch.tensor([[[0, 2, IGNORED]]])
    weights = torch.tensor([0.25, 1.0, 4.0])

    def nll(pixel: int, cls: int) -> float:
        z = [float(logits[0, c, 0, pixel]) for c in range(3)]
        return -(z[cls] - math.log(sum(math.exp(v) for v in z)))

    expected = (0.25 * nll(0, 0) + 4.0 * nll(1, 2)) / (0.25 + 4.0)
    task = get_task("segmentation")
    assert float(task.loss(logits, targets, class_weights=weights)) == pytest.approx(expected, rel=1e-6)
    assert float(task.loss(logits, targets)) == pytest.approx((nll(0, 0) + nll(1, 2)) / 2, rel=1e-6)


def test_classification_counts_images_per_class() -> None:
    dataset = TensorDataset(torch.zeros(5, 1), torch.tensor([0, 2, 2, 1, 2]))
    dataset.targets = [0, 2, 2, 1, 2]  # type: ignore[attr-defined]
    counts = get_task("classification").class_counts(Subset(dataset, [1, 2, 3]), 3)
    assert counts.tolist() == [0, 1, 2]


def test_detection_refuses_class_weights_before_work(tmp_path: Path) -> None:
    recipe = load_recipe(REPO / "recipes" / "quickstart-detection.yaml",
                         ["train.class_weights=balanced", f"output={tmp_path}"])
    with pytest.raises(RecipeError, match=r"train\.class_weights': the detection loss takes no per-class weights"):
        compress(recipe)
    assert not list(tmp_path.rglob("manifest.json"))


def test_lraspp_small_with_bn_momentum() -> None:
    from torch import nn

    from edgecv.errors import ModelError
    from edgecv.tasks.segmentation.models import SegmentationNet, build_segmenter

    net = build_segmenter("lraspp_mobilenet_v3_small", 11, {"bn_momentum": 0.1, "width_mult": 0.5})
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.1 for m in norms)
    default = build_segmenter("lraspp_mobilenet_v3_small", 11, {})
    assert {m.momentum for m in default.backbone.modules() if isinstance(m, nn.BatchNorm2d)} == {0.01}  # torchvision's
    assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in default.parameters())
    assert SegmentationNet(net).eval()(torch.zeros(2, 3, 64, 64)).shape == (2, 11, 64, 64)
    with pytest.raises(ModelError, match="bn_momentum"):
        build_segmenter("lraspp_mobilenet_v3_small", 11, {"bn_momentum": 2})
