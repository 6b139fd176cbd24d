"""The detection quickstart end to end, tiny: train SSDLite briefly, export, ONNX Runtime mAP equals torch's."""

from __future__ import annotations

import json
from pathlib import Path

from edgecv.api import compress
from edgecv.recipe import load_recipe

RECIPE = Path(__file__).resolve().parents[3] / "recipes" / "quickstart-detection.yaml"
TINY = ["train.epochs=1", "train.max_batches_per_epoch=3", "train.batch_size=16", "data.max_val_samples=24",
        "data.max_selection_samples=8", "export.parity.samples=8", "validate.runs=2", "validate.warmup=1",
        "report.formats=[json,html]"]


def test_quickstart_detection_onnx_map_equals_torch(tmp_path: Path) -> None:
    report = compress(load_recipe(RECIPE, [*TINY, f"output={tmp_path}"]))
    onnx_rows = [v for v in report.validations if v.artifact == "trained-onnx"]
    assert onnx_rows, [v.artifact for v in report.validations]
    row = onnx_rows[0]
    assert row.metrics["torch_map"] is not None
    assert abs(row.metrics["map"] - row.metrics["torch_map"]) <= 0.5
    assert 0.0 <= row.metrics["map"] <= 100.0 and "map50" in row.metrics
    export = next(r for r in report.stages if r.kind == "export-onnx")
    assert all(p["passed"] and p["max_abs_diff"] < 1e-2 for p in export.metrics["parity"])
    validate = next(r for r in report.stages if r.kind == "validate")
    assert sorted(validate.files) == [f"03-validate/visuals/{n}" for n in (
        "baseline-0.png", "baseline-1.png", "baseline-2.png", "baseline-3.png", "visuals.json")]
    index = json.loads((Path(report.run_dir) / "03-validate/visuals/visuals.json").read_text())
    curve = index["artifacts"][0]["curves"]["pr50"]["precision"]
    assert abs(sum(curve) / len(curve) * 100 - row.metrics["map50"]) < 1e-3  # the curve of the reported mAP@0.5
    html = (Path(report.run_dir) / "report.html").read_text()
    assert 'id="pr"' in html and html.count("data:image/png;base64,") == 4
