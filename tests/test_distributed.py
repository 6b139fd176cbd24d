"""Multi-process training (torch.distributed, Gloo on the CPU): the batch/lr plan, and a real 2-process run of a
train + distill + QAT recipe against a 1-process run of the same recipe (same effective batch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgecv import distributed
from edgecv.errors import RecipeError
from edgecv.stages.params import TrainParams
from edgecv.training import parallel_plan
from tests.conftest import REPO, write_recipe

STAGES = [
    {"type": "distill", "epochs": 1, "lr": 0.02, "temperature": 2.0, "alpha": 0.5},
    {"type": "quantize", "precision": "int8", "method": "qat", "qat": {"epochs": 1, "lr": 0.0005, "batch_size": 16},
     "parity": {"mode": "warn"}},  # INT8 ORT vs fake-quant on 32 images is not what this file tests
]


def test_global_batch_splits_over_processes_and_per_process_batch_scales_lr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, "world_size", lambda: 4)
    glob = parallel_plan(TrainParams(lr=0.1, lr_scaling="linear"), 64)
    assert (glob.per_process_batch, glob.effective_batch, glob.lr) == (16, 64, 0.1)  # global: nothing to scale
    per = parallel_plan(TrainParams(lr=0.1, batch_size_is="per-process", lr_scaling="linear"), 64)
    assert (per.per_process_batch, per.effective_batch, per.lr) == (64, 256, pytest.approx(0.4))
    kept = parallel_plan(TrainParams(lr=0.1, batch_size_is="per-process"), 64)
    assert kept.lr == 0.1
    accumulated = parallel_plan(TrainParams(lr=0.1, batch_size_is="per-process", lr_scaling="linear", accumulate=2), 64)
    assert (accumulated.effective_batch, accumulated.lr) == (512, pytest.approx(0.8))
    with pytest.raises(RecipeError, match=r"batch_size 30 .* does not split over 4 processes: use a multiple of 4"):
        parallel_plan(TrainParams(), 30)


def test_one_process_plan_is_the_recipe_as_written() -> None:
    plan = parallel_plan(TrainParams(lr=0.05, batch_size_is="per-process", lr_scaling="linear"), 32)
    assert (plan.processes, plan.per_process_batch, plan.effective_batch, plan.lr) == (1, 32, 32, 0.05)


def test_every_training_section_of_a_recipe_is_found_with_its_key(tmp_path: Path) -> None:
    from edgecv.launch import training_sections
    from edgecv.recipe import load_recipe

    recipe = load_recipe(write_recipe(tmp_path, stages=[
        {"type": "prune", "target_macs": 0.5, "finetune": {"epochs": 1}},
        {"type": "distill", "epochs": 1},
        {"type": "quantize", "precision": "int8", "method": "qat"},
    ]))
    keys = [key for key, _ in training_sections(recipe)]
    assert keys == ["train", "stages[0].finetune", "stages[1]", "stages[2].qat"]


def test_two_accumulated_half_batches_train_like_one_whole_batch(tmp_path: Path) -> None:
    """accumulate: 2 at batch 16 takes the same optimizer steps as batch 32 (a model without BatchNorm)."""
    import torch
    from torch import nn

    from edgecv.preflight import preprocessing_for
    from edgecv.recipe import load_recipe
    from edgecv.tasks import get_task
    from edgecv.training import train_model

    recipe = load_recipe(write_recipe(tmp_path))
    splits = get_task("classification").load_datasets(recipe.data)
    pre = preprocessing_for(recipe, splits.labels)
    weights = []
    for batch, accumulate in ((32, 1), (16, 2)):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, splits.num_classes))
        workdir = tmp_path / f"b{batch}"
        workdir.mkdir()
        params = TrainParams(epochs=1, lr=0.05, batch_size=batch, accumulate=accumulate)
        outcome = train_model(model, splits, pre, params, workdir=workdir)
        assert outcome.best_epoch == 1
        weights.append(model.state_dict())
    for name, value in weights[0].items():
        torch.testing.assert_close(weights[1][name], value, atol=1e-5, rtol=1e-4)
    assert not torch.equal(weights[0]["1.weight"], nn.Linear(3 * 16 * 16, splits.num_classes).weight)


def _compress(recipe: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "edgecv", "-q", "compress", str(recipe), *extra], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def _trained_stages(run: Path) -> dict[str, dict]:
    metrics = {}
    for stage in ("01-train", "02-distill", "03-quantize"):
        metrics[stage] = json.loads((run / stage / "stage.json").read_text())["metrics"]
    return metrics


def _val_top1(run: Path) -> dict[str, float]:
    report = json.loads((run / "report.json").read_text())
    return {v["artifact"]: v["metrics"]["top1"] for v in report["validations"]}


def test_two_gloo_processes_train_distill_and_qat_like_one(tmp_path: Path) -> None:
    """2 processes (edgecv compress --nproc-per-node 2) vs 1, the same recipe and effective batch: one run folder,
    rank 0's final weights on both ranks after every training loop, and val top-1 within 5 points."""
    sections = {"train": {"epochs": 4, "lr": 0.05}, "stages": STAGES, "report": {"formats": ["json", "md"]},
                "threads": {"torch": 1},
                "validate": {"devices": ["host-cpu"], "batch_sizes": [1], "warmup": 1, "runs": 2}}
    (tmp_path / "two").mkdir()
    (tmp_path / "one").mkdir()
    two, one = write_recipe(tmp_path / "two", **sections), write_recipe(tmp_path / "one", **sections)
    done = _compress(two, "--nproc-per-node", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    runs = list((tmp_path / "two" / "runs" / "tiny").iterdir())
    assert len(runs) == 1 and not (runs[0] / ".lock").exists()
    for stage, m in _trained_stages(runs[0]).items():
        record = m.get("distributed") or m["schemes"][0]["qat"]["distributed"]
        assert record["processes"] == 2 and record["backend"] == "gloo", stage
        assert record["effective_batch"] == 2 * record["per_process_batch"], stage
        digests = record["weights_sha256_by_rank"]
        assert len(digests) == 2 and digests[0] == digests[1], stage
    markdown = (runs[0] / "report.md").read_text()
    assert "- 02-distill: 2 processes (gloo), batch 16 per process, effective 32 (batch_size_is: global" in markdown
    single = _compress(one)
    assert single.returncode == 0, single.stderr[-2000:]
    (run_one,) = (tmp_path / "one" / "runs" / "tiny").iterdir()
    assert "distributed" not in _trained_stages(run_one)["01-train"]
    assert "Multi-process" not in (run_one / "report.md").read_text()
    top1_two, top1_one = _val_top1(runs[0]), _val_top1(run_one)
    assert set(top1_two) == set(top1_one) and len(top1_one) == 3
    for artifact, value in top1_one.items():
        assert abs(top1_two[artifact] - value) <= 5.0, (artifact, top1_two[artifact], value)
        assert value > 70, (artifact, value)  # both actually learned


def test_a_failing_rank_fails_the_run_with_one_line_naming_it(tmp_path: Path) -> None:
    """A batch that does not split over 2 processes is refused before any work, naming the key and the fix."""
    recipe = write_recipe(tmp_path, stages=[{"type": "distill", "epochs": 1, "batch_size": 31}])
    done = _compress(recipe, "--nproc-per-node", "2")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert any("rank 0/2" in line and "key 'stages[0].batch_size'" in line and "batch_size 31" in line
               and "use a multiple of 2" in line for line in lines), lines
    assert not (tmp_path / "runs").exists()  # refused before a run folder was written
    assert any(line.startswith("error: rank ") and "failed (exit code 2)" in line for line in lines)


@pytest.mark.slow
def test_a_one_process_run_resumes_on_two_processes_from_its_last_epoch(tmp_path: Path) -> None:
    """--resume continues an interrupted training stage from last.pt on a different process count."""
    import torch

    recipe = write_recipe(tmp_path, train={"epochs": 2, "lr": 0.05}, threads={"torch": 1},
                          report={"formats": ["json"]},
                          validate={"devices": ["host-cpu"], "batch_sizes": [1], "warmup": 1, "runs": 2})
    assert _compress(recipe).returncode == 0
    (run,) = (tmp_path / "runs" / "tiny").iterdir()
    first = json.loads((run / "01-train" / "stage.json").read_text())["metrics"]["history"][0]
    # interrupted after epoch 1: training unfinished, nothing after it
    last = run / "01-train" / "last.pt"
    state = torch.load(last, weights_only=True)
    torch.save({**state, "epoch": 1, "history": state["history"][:1]}, last)
    (run / "01-train" / "stage.json").unlink()
    for later in [p for p in run.iterdir() if p.is_dir() and p.name > "01-train"]:
        for f in sorted(later.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        later.rmdir()
    done = _compress(recipe, "--resume", "--nproc-per-node", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert [p.name for p in (tmp_path / "runs" / "tiny").iterdir()] == [run.name]
    metrics = json.loads((run / "01-train" / "stage.json").read_text())["metrics"]
    assert [h["epoch"] for h in metrics["history"]] == [1, 2] and metrics["history"][0] == first
    record = metrics["distributed"]
    assert record["processes"] == 2 and len(set(record["weights_sha256_by_rank"])) == 1
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"


def test_a_failing_worker_rank_is_named_and_rank_0_records_the_run_failed(tmp_path: Path) -> None:
    """Rank 1 reads other data than rank 0 (the recipe reads $RANK): rank 1 says so in one line, the launcher names
    rank 1, rank 0's manifest records the run as not complete."""
    recipe = write_recipe(tmp_path, data={"max_train_samples": "2${RANK}0"}, report={"formats": ["json"]})
    done = _compress(recipe, "--nproc-per-node", "2")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert any(line.startswith("error: rank 1/2: this rank loaded 209 train") and "same data" in line
               for line in lines), lines
    assert lines[-1].startswith("error: rank 1 of 2 failed (exit code 2)"), lines
    (run,) = (tmp_path / "runs" / "tiny").iterdir()
    manifest = json.loads((run / "manifest.json").read_text())
    # rank 0 sees the lost connection first, or torchrun's stop signal: either way the run is not complete
    assert (manifest["status"] == "failed" and "lost contact with another rank" in manifest["error"]) or \
        manifest["status"] == "interrupted", manifest
