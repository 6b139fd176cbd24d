"""Deploy bundles of a detector and a segmenter from tiny real runs (the quickstart recipes, a few batches): the
bundle's runner in its ONNX Runtime mode, in a fresh interpreter without edgecv or torch, gives the same mAP / mIoU
as edgecv's own evaluation (its task loader, OrtRunner and evaluator) of the same bundled images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgecv.api import compress
from edgecv.artifacts import Preprocessing
from edgecv.export.bundle import deploy_run, verify_bundle
from edgecv.recipe import load_recipe
from edgecv.runtime import OrtRunner
from edgecv.tasks import get_task
from edgecv.validate.accuracy import evaluate_runner
from tests.conftest import REPO
from tests.deploy.bundle_runner import QUICK
from tests.deploy.bundle_runner import run_bundle as _run_bundle

DEVICE = "jetson-orin-nano-8gb"
TINY = ["train.epochs=1", "train.max_batches_per_epoch=2", "train.batch_size=8", "data.max_val_samples=24",
        "data.max_selection_samples=8", "export.parity.samples=8", "validate.runs=2", "validate.warmup=1",
        "report.formats=[json]", f"export.bundles=[{DEVICE}]", "export.bundle_images=24"]


def _tiny_run(tmp: Path, recipe: str, *extra: str) -> Path:
    report = compress(load_recipe(REPO / "recipes" / recipe, [*TINY, *extra, f"output={tmp}"]))
    return Path(report.run_dir)


@pytest.fixture(scope="module")
def detection_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_run(tmp_path_factory.mktemp("det"), "quickstart-detection.yaml")


@pytest.fixture(scope="module")
def segmentation_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_run(tmp_path_factory.mktemp("seg"), "quickstart-segmentation.yaml", "model.input_size=48")


def _stage_bundle(run_dir: Path) -> Path:
    """The bundle folder the recipe's deploy stage wrote."""
    folders = [p for p in run_dir.glob("*-deploy/*") if p.is_dir() and p.name.startswith(DEVICE)]
    assert len(folders) == 1, folders
    return folders[0]


def _edgecv_metrics(folder: Path, task_name: str) -> dict:
    """edgecv's own evaluation of the bundled arrays: the task's dataset view, loader, OrtRunner and evaluator."""
    task = get_task(task_name)
    pre = Preprocessing.model_validate_json((folder / "preprocessing.json").read_text())
    labels = (folder / "labels.txt").read_text().splitlines()
    with np.load(folder / "val.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    with OrtRunner(folder / "model.onnx") as runner:
        return evaluate_runner(runner, task.loader(task.bundle_dataset(arrays), pre, 7), labels, task)


def _runner_and_edgecv(run_dir: Path, task: str) -> tuple[Path, dict, dict, dict, int]:
    """The stage's bundle (verified), its runner's results, edgecv's metrics of the same arrays, the image count."""
    folder = _stage_bundle(run_dir)
    assert verify_bundle(folder).ok
    results = _run_bundle(folder, *QUICK)
    n = json.loads((folder / "manifest.json").read_text())["val_images"]
    return folder, results, results["accuracy"], _edgecv_metrics(folder, task), n


def test_detection_bundle_runner_map_equals_edgecv(detection_run: Path) -> None:
    folder, results, acc, ours, n = _runner_and_edgecv(detection_run, "detection")
    assert results["task"] == "detection" and acc["samples"] == n > 20 and acc["truths"] > n
    assert acc["detections"] == ours["detections"] > 0  # the same boxes survived the same threshold and NMS
    assert abs(acc["map"] - ours["map"]) <= 1e-6 and abs(acc["map50"] - ours["map50"]) <= 1e-6
    manifest = json.loads((folder / "manifest.json").read_text())
    on_bundle = manifest["accuracy"]["edgecv_on_bundle_images"]
    assert on_bundle["map"] == ours["map"] and on_bundle["samples"] == n and manifest["task"] == "detection"
    print(f"detection: runner mAP {acc['map']!r} / {acc['map50']!r}, edgecv {ours['map']!r} / {ours['map50']!r}, "
          f"{acc['detections']} detections")


def test_detection_bundle_val_set_and_configs(detection_run: Path, tmp_path: Path) -> None:
    folder = _stage_bundle(detection_run)
    pre = json.loads((folder / "preprocessing.json").read_text())
    with np.load(folder / "val.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    n = len(arrays["images"])
    assert arrays["images"].dtype == np.uint8 and arrays["images"].shape == (n, 3, *pre["size"]) and n > 20
    assert arrays["box_counts"].sum() == len(arrays["boxes"]) == len(arrays["labels"])
    assert (arrays["source_sizes"] == 128).all()  # the digit canvases, resized to the model's 96 px
    boxes = arrays["boxes"]
    assert boxes.dtype == np.float32 and (boxes[:, 2:] > boxes[:, :2]).all() and boxes.max() <= pre["size"][1]
    config = (folder / "deepstream_config.txt").read_text()
    assert "network-type=0" in config and "output-blob-names=boxes;scores" in config
    assert "cluster-mode=2" in config and "nms-iou-threshold=0.5" in config and "custom bbox parser" not in config
    assert "parse-bbox-func-name" in config and "num-detected-classes=10" in config
    readme = (folder / "README.md").read_text()
    assert readme.startswith(f"# {folder.name}\n") and "Task: detection. Metric: COCO mAP" in readme
    assert (folder / "deepstream_labels.txt").read_text().splitlines() == [str(i) for i in range(10)]
    info = json.loads((folder / "task.json").read_text())
    assert info["outputs"] == {"boxes": "boxes", "scores": "scores"} and info["postprocess"]["iou_threshold"] == 0.5
    # `edgecv deploy RUN_DIR` bundles the same images and boxes as the recipe's deploy stage
    again = deploy_run(detection_run, DEVICE, out=tmp_path, images=24).folder
    with np.load(again / "val.npz") as npz:
        assert all(np.array_equal(npz[name], arrays[name]) for name in arrays)


def test_segmentation_bundle_runner_miou_equals_edgecv(segmentation_run: Path) -> None:
    folder, results, acc, ours, n = _runner_and_edgecv(segmentation_run, "segmentation")
    assert results["task"] == "segmentation" and acc["samples"] == n > 20
    assert acc["pixels"] == ours["pixels"] == n * 48 * 48
    assert abs(acc["miou"] - ours["miou"]) <= 1e-6 and abs(acc["pixel_accuracy"] - ours["pixel_accuracy"]) <= 1e-6
    assert 0.0 < acc["miou"] < 100.0 and acc["per_class"] == ours["per_class"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["accuracy"]["edgecv_on_bundle_images"]["miou"] == ours["miou"]
    with np.load(folder / "val.npz") as npz:
        images, masks = npz["images"], npz["labels"]
    assert images.shape == (n, 3, 48, 48) and masks.shape == (n, 48, 48) and masks.dtype == np.int16
    assert set(np.unique(masks)) <= set(range(11)) and len(np.unique(masks)) > 2
    config = (folder / "deepstream_config.txt").read_text()
    assert "network-type=2" in config and "segmentation-threshold=0.0" in config
    assert "num-detected-classes=11" in config and "output-blob-names=logits" in config
    print(f"segmentation: runner mIoU {acc['miou']!r}, edgecv {ours['miou']!r}")


class _OrtAsEngine:
    """A stand-in for trt_infer.TrtEngine (no TensorRT here): every output by name, and a GPU time."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.last_gpu_ms, self.batches = 0.0, []

    def infer_all(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.batches.append(len(batch))
        self.last_gpu_ms = 1.0
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(None, {"input": batch}), strict=True))

    def close(self) -> None:
        self.session = None


def test_tensorrt_path_scores_named_outputs_in_engine_batches(detection_run: Path) -> None:
    """The runner's TensorRT branch (TrtBackend: every output by name, engine batch limits, the last batch padded)
    gives the ONNX Runtime mode's mAP; the engine itself is stood in by ONNX Runtime (static check only)."""
    from edgecv.deploy import run_bundle

    folder = _stage_bundle(detection_run)
    pre = json.loads((folder / "preprocessing.json").read_text())
    info = json.loads((folder / "task.json").read_text())
    with np.load(folder / "val.npz") as npz:
        data = {name: npz[name] for name in npz.files}
    engine = _OrtAsEngine(folder / "model.onnx")
    result = run_bundle.accuracy(run_bundle.TrtBackend(engine), data["images"], data, info, pre, (8, 8))
    assert set(engine.batches) == {8} and len(data["images"]) % 8  # a padded last batch
    assert result == _run_bundle(folder, *QUICK)["accuracy"]


def test_device_results_import_as_device_map(detection_run: Path, tmp_path: Path) -> None:
    from edgecv.report.build import load_report
    from edgecv.report.imports import merge_results

    results = _run_bundle(_stage_bundle(detection_run), *QUICK)
    results.update(backend="tensorrt", precision="fp16")  # stand-in for a Jetson's results.json
    report = merge_results(load_report(detection_run), results)
    entry = next(v for v in report.validations if v.device == DEVICE)
    assert entry.metrics["device_map"] == results["accuracy"]["map"]
    assert entry.metrics["device_map50"] == results["accuracy"]["map50"]


def test_runner_refuses_a_task_json_it_cannot_score(detection_run: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from edgecv.deploy import run_bundle

    folder = tmp_path / "bundle"
    shutil.copytree(_stage_bundle(detection_run), folder)
    info = json.loads((folder / "task.json").read_text())
    args = ["--bundle", str(folder), *QUICK, "--output", str(tmp_path / "r.json")]
    for change, message in [({"task": "pose"}, "task.json: task 'pose' is not one this runner scores"),
                            ({"outputs": {"boxes": "bbox", "scores": "scores"}}, "the model has no output 'bbox'")]:
        (folder / "task.json").write_text(json.dumps({**info, **change}))
        assert run_bundle.main(args) == 2
        err = capsys.readouterr().err
        assert message in err and "re-make the bundle" in err and len(err.strip().splitlines()) == 1
    (folder / "task.json").write_text(json.dumps(info))
    with np.load(folder / "val.npz") as npz:
        arrays = {name: npz[name] for name in npz.files if name != "box_counts"}
    np.savez(folder / "val.npz", **arrays)
    assert run_bundle.main(args) == 2
    assert "val.npz: no array 'box_counts', which a detection bundle holds" in capsys.readouterr().err
