"""The validation pictures from the validate stage's files to report.html: written atomically with their sha256
(checked by --resume), drawn back to the model's pixels, and shown by the detection and segmentation sections."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgecv.artifacts import Preprocessing, StageResult, sha256_file
from edgecv.errors import RecipeError
from edgecv.pipeline import _finished
from edgecv.report.html import render_html
from edgecv.report.schema import Report
from edgecv.report.thumbnails import THUMB_SIDE
from edgecv.tasks import get_task
from edgecv.tasks.detection.visuals import DetectionDrawer
from edgecv.tasks.segmentation.visuals import SegmentationDrawer
from edgecv.validate.samples import Samples
from edgecv.validate.visuals import Shown, input_image, write_visuals
from tests.report.conftest import TinyRun

PRE = Preprocessing(size=(12, 16), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), channel_order="BGR")
LABELS = ["background", "car", "road"]


def _normalized(image: np.ndarray) -> np.ndarray:
    """What the loader gives the model for a uint8 (H, W, 3) RGB image under PRE."""
    x = image.transpose(2, 0, 1)[::-1].astype(np.float64) * PRE.scale
    return ((x - np.reshape(PRE.mean, (3, 1, 1))) / np.reshape(PRE.std, (3, 1, 1))).astype(np.float32)


def _samples(seed: int, task: str) -> Samples:
    rng = np.random.default_rng(seed)
    samples = Samples(4)
    for _ in range(2):  # two batches of three: the first four images are kept
        images = np.stack([_normalized(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)) for _ in range(3)])
        if task == "segmentation":
            outputs = {"logits": rng.normal(size=(3, 3, 12, 16)).astype(np.float32)}
            targets = rng.integers(0, 3, (3, 12, 16))
        else:
            outputs = {"boxes": np.tile(np.array([[2, 2, 8, 8]], np.float32), (3, 1, 1)),
                       "scores": np.tile(np.array([[[0.1, 0.8, 0.0]]], np.float32), (3, 1, 1))}
            targets = [{"boxes": np.array([[1.0, 1, 9, 9]]), "labels": np.array([1])} for _ in range(3)]
        samples.add(images, outputs, targets)
    return samples


def _report(tiny_run: TinyRun, run_dir: Path, task: str, files: dict[str, str]) -> Report:
    base = tiny_run.report
    stage = StageResult(stage="03-validate", kind="validate", files=files)
    rows = [base.validations[0].model_copy(update={"artifact": name, "per_class": {
        c: {"iou": iou + i, "support": 10.0} for i, c in enumerate(LABELS)}}) for name, iou in
        (("fp32-onnx", 80.0), ("int8-onnx", 70.0))]
    return base.model_copy(update={"run_dir": str(run_dir), "stages": [*base.stages, stage], "validations": rows,
                                   "recipe": {**base.recipe, "task": task}, "labels": LABELS})


def _write(tmp_path: Path, task: str, drawer, curves: dict | None = None) -> dict[str, str]:
    metrics = {"curves": curves or {}}
    shown = [Shown("baseline", "fp32-onnx", _samples(0, task), metrics),
             Shown("final", "int8-onnx", _samples(0, task), metrics)]
    return write_visuals(tmp_path / "03-validate", tmp_path, drawer, PRE, shown)


def test_input_image_undoes_the_preprocessing() -> None:
    image = np.random.default_rng(3).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    assert np.array_equal(input_image(_normalized(image), PRE), image)


def test_segmentation_pictures_and_sections(tiny_run: TinyRun, tmp_path: Path) -> None:
    files = _write(tmp_path, "segmentation", SegmentationDrawer(LABELS))
    pictures = sorted(name for name in files if name.endswith(".png"))
    assert len(pictures) == 12 and "03-validate/visuals/truth-3.png" in pictures  # 4 truth + 4 per artifact
    for name, digest in files.items():
        assert sha256_file(tmp_path / name) == digest
    for name in pictures:
        with Image.open(tmp_path / name) as picture:
            assert picture.size == (THUMB_SIDE, THUMB_SIDE * 12 // 16) and picture.mode == "RGB"
    index = json.loads((tmp_path / "03-validate/visuals/visuals.json").read_text())
    assert [e["role"] for e in index["artifacts"]] == ["baseline", "final"]
    assert index["legend"] == [["background", "#000000"], ["car", "#800000"], ["road", "#008000"]]

    report = _report(tiny_run, tmp_path, "segmentation", files)
    sections = dict((anchor, html) for anchor, _, html in get_task("segmentation").report_sections(report))
    assert list(sections) == ["classes", "samples"]
    truth = base64.b64encode((tmp_path / "03-validate/visuals/truth-0.png").read_bytes()).decode()
    assert sections["samples"].count("data:image/png;base64,") == 12 and truth in sections["samples"]
    assert "int8-onnx (final)" in sections["samples"] and "background</span>" in sections["samples"]
    assert "<svg" in sections["classes"] and "72.00" in sections["classes"]  # bars, and the table's int8 road IoU
    html = render_html(report)
    assert '<a href="#samples">Val images</a>' in html and html.count("data:image/png;base64,") == 12


def test_detection_pr_and_boxes_sections(tiny_run: TinyRun, tmp_path: Path) -> None:
    precision = [1.0] * 51 + [0.5] * 50
    curves = {"pr50": {"recall": [i / 100 for i in range(101)], "precision": precision}}
    files = _write(tmp_path, "detection", DetectionDrawer(LABELS), curves)
    assert len([name for name in files if name.endswith(".png")]) == 8  # the truth is drawn into each prediction
    report = _report(tiny_run, tmp_path, "detection", files)
    sections = dict((anchor, html) for anchor, _, html in get_task("detection").report_sections(report))
    assert list(sections) == ["classes", "pr", "samples"]
    assert "<svg" in sections["pr"] and sections["pr"].count("<path") > 4
    assert "<td>fp32-onnx</td><td>baseline</td><td class=\"num\">75.25</td>" in sections["pr"]  # (51 + 25) / 101
    assert sections["samples"].count("data:image/png;base64,") == 8 and "truth</h3>" not in sections["samples"]


def test_no_pictures_is_said(tiny_run: TinyRun, tmp_path: Path) -> None:
    report = _report(tiny_run, tmp_path, "detection", {})
    sections = dict((anchor, html) for anchor, _, html in get_task("detection").report_sections(report))
    assert "No precision-recall curve" in sections["pr"] and "No val images" in sections["samples"]


def test_resume_checks_the_pictures(tmp_path: Path) -> None:
    files = _write(tmp_path, "segmentation", SegmentationDrawer(LABELS))
    folder = tmp_path / "03-validate"
    (folder / "stage.json").write_text(StageResult(stage="03-validate", kind="validate", files=files)
                                       .model_dump_json())
    assert _finished(folder, tmp_path).files == files
    picture = folder / "visuals" / "final-2.png"
    picture.write_bytes(picture.read_bytes() + b"\0")
    with pytest.raises(RecipeError, match=r"final-2\.png was changed after the run wrote it"):
        _finished(folder, tmp_path)
    picture.unlink()
    with pytest.raises(RecipeError, match=r"final-2\.png \(a file of 03-validate\) is gone"):
        _finished(folder, tmp_path)
