"""Segmentation end to end, tiny: the quickstart recipe trains LR-ASPP briefly, exports, ONNX Runtime mIoU equals
torch's; a prune stage passes preflight; the shared ESPNet (a user's model) loads and segments."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgecv.api import compress, plan_recipe
from edgecv.errors import RecipeError
from edgecv.recipe import load_recipe
from tests.conftest import SHARED

REPO = Path(__file__).resolve().parents[3]
RECIPE = REPO / "recipes" / "quickstart-segmentation.yaml"
TINY = ["model.input_size=48", "train.epochs=1", "train.max_batches_per_epoch=3", "train.batch_size=16",
        "data.max_val_samples=24", "data.max_selection_samples=8", "export.parity.samples=8", "validate.runs=2",
        "validate.warmup=1", "report.formats=[json,html]"]


def test_quickstart_segmentation_onnx_miou_equals_torch(tmp_path: Path) -> None:
    report = compress(load_recipe(RECIPE, [*TINY, f"output={tmp_path}"]))
    weights = next(r for r in report.stages if r.kind == "train").metrics["class_weights"]
    assert weights["background"] < 0.2 and all(5.0 < weights[str(d)] < 10.0 for d in range(10))  # strokes ~7%
    row = next(v for v in report.validations if v.artifact == "trained-onnx")
    assert row.metrics["torch_miou"] is not None and 0.0 < row.metrics["miou"] <= 100.0
    assert abs(row.metrics["miou"] - row.metrics["torch_miou"]) < 1e-6
    assert set(row.per_class) == {"background", *map(str, range(10))} and "pixel_accuracy" in row.metrics
    parity = next(r for r in report.stages if r.kind == "export-onnx").metrics["parity"][0]
    assert parity["passed"] and parity["confident_top1_agreement"] == 1.0 and abs(parity["top1_diff"]) < 1e-6
    html = next(tmp_path.rglob("report.html")).read_text()
    assert "Per-class IoU" in html
    assert html.count("data:image/png;base64,") == 8  # 4 val images: truth and the one artifact
    files = next(r for r in report.stages if r.kind == "validate").files
    assert len(files) == 9 and all((Path(report.run_dir) / name).is_file() for name in files)


def test_prune_not_refused_for_segmentation() -> None:
    """Pruning is no longer refused for segmentation: the prune stage's dry run passes on an ESPNet-like user net."""
    from edgecv.compress.prunability import pruning_problem
    from edgecv.tasks import get_task
    from edgecv.tasks.segmentation.models import SegmentationNet
    from tests.conftest import import_beside

    task = get_task("segmentation")
    assert "prune" not in task.unsupported_stages
    net = SegmentationNet(import_beside(Path(__file__).parent, "user_segmenters").TinyESP(11)).eval()
    assert pruning_problem(net, torch.zeros(1, 3, 32, 32), ignored=[], round_to=4, task=task) is None


def test_half_crop_refused_outside_segmentation(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="half-crop-flip crops segmentation inputs"):
        plan_recipe(REPO / "recipes" / "quickstart.yaml", ["train.augment=half-crop-flip", f"output={tmp_path}"])


def test_shared_espnet_segments_camvid(tmp_path: Path) -> None:
    if not (SHARED / "models" / "espnet-camvid").is_dir() or not (SHARED / "data" / "camvid").is_dir():
        pytest.skip("../shared/models/espnet-camvid or ../shared/data/camvid is not present")
    from edgecv.evaluation import evaluate_torch
    from edgecv.preflight import preflight
    from edgecv.tasks import get_task

    recipe = load_recipe(REPO / "recipes" / "camvid-espnet.yaml",
                         [f"output={tmp_path}", "data.max_val_samples=3", "model.input_size=[176,240]"])
    _, splits, pre, _, model = preflight(recipe)
    assert pre.channel_order == "BGR" and pre.size == (176, 240) and len(splits.val) == 3
    assert model(torch.zeros(1, 3, 176, 240)).shape == (1, 12, 176, 240)  # the void channel too
    task = get_task("segmentation")
    metrics = evaluate_torch(model, task.loader(splits.val, pre, 3), splits.labels, task=task)
    assert metrics["miou"] > 40.0 and metrics["pixel_accuracy"] > 80.0  # a real segmenter, even at half size
