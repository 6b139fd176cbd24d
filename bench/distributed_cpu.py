"""Training throughput of edgecv's loop on 1 process vs N Gloo processes on this CPU (torch.distributed, DDP).

Each configuration is launched with torchrun (``python -m torch.distributed.run --standalone``) and trains
ResNet-20 on the embedded digits at 32x32 with the same global batch (``batch_size_is: global``), through
:func:`edgecv.training.train_model`, the loop every training stage uses. A configuration is processes x torch
threads per process (``OMP_NUM_THREADS``): 1x2 gives one process the whole 2-core machine, 2x1 splits it, 1x1 tells
how much of a difference is the thread count rather than the processes. Images per second is the train-split
images of an epoch over that epoch's wall time (which includes rank 0's selection-split evaluation); the last epoch
is reported (the first one warms up).

    .venv/bin/python bench/distributed_cpu.py --configs 1x2,1x1,2x1 --epochs 3     # ~5 min on 2 cores

Writes bench/results/distributed_cpu.json and .md. No GPU here: the NCCL path is not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def worker(epochs: int, batch: int, samples: int, out: Path) -> None:
    """One rank: train ResNet-20 with edgecv's loop; rank 0 writes the measurement to ``out``."""
    import torch

    from edgecv import distributed
    from edgecv.models import build_model
    from edgecv.preflight import preprocessing_for
    from edgecv.recipe import parse_recipe
    from edgecv.stages.params import TrainParams
    from edgecv.tasks import get_task
    from edgecv.training import train_model

    recipe = parse_recipe({"name": "bench", "model": {"arch": "resnet20"},
                           "data": {"digits_size": 32, "max_train_samples": samples, "batch_size": batch}},
                          "bench", ROOT)
    with distributed.session():
        splits = get_task("classification").load_datasets(recipe.data)
        pre = preprocessing_for(recipe, splits.labels)
        torch.manual_seed(0)
        model = build_model("resnet20", splits.num_classes)
        params = TrainParams(epochs=epochs, lr=0.05, batch_size=batch, warmup_epochs=0)
        with tempfile.TemporaryDirectory() as workdir:
            outcome = train_model(model, splits, pre, params, workdir=Path(workdir))
        if distributed.is_main():
            last = outcome.history[-1]
            out.write_text(json.dumps({
                "processes": distributed.world_size(), "torch_threads": torch.get_num_threads(),
                "train_images": len(splits.train), "global_batch": batch, "epochs": epochs,
                "epoch_seconds": [round(h["seconds"], 3) for h in outcome.history],
                "images_per_second": round(len(splits.train) / last["seconds"], 1),
                "selection_top1": round(last["selection"], 2),
            }))


def run(processes: int, threads: int, epochs: int, batch: int, samples: int) -> dict:
    """Launch one configuration under torchrun and read its measurement back."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "OMP_NUM_THREADS": str(threads),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                        str(processes), __file__, "--worker", "--epochs", str(epochs), "--batch", str(batch),
                        "--samples", str(samples), "--out", str(out)], env=env, check=True, capture_output=True)
        result = json.loads(out.read_text())
    result["launch_seconds"] = round(time.perf_counter() - started, 1)
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="1x2,1x1,2x1", help="processes x threads, comma-separated")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1200)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.worker:
        worker(args.epochs, args.batch, args.samples, args.out)
        return
    configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
    rows = [run(n, t, args.epochs, args.batch, args.samples) for n, t in configs]
    base = rows[0]["images_per_second"]
    for row in rows:
        row["speedup_vs_first"] = round(row["images_per_second"] / base, 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "distributed_cpu.json").write_text(json.dumps({"cpu_cores": os.cpu_count(), "rows": rows}, indent=2))
    lines = ["| processes | torch threads each | global batch | img/s (last epoch) | speed-up | epoch s | "
             "selection top-1 % | load avg |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['processes']} | {r['torch_threads']} | {r['global_batch']} | {r['images_per_second']} | "
              f"{r['speedup_vs_first']}x | {', '.join(map(str, r['epoch_seconds']))} | {r['selection_top1']} | "
              f"{r['load_average_1min']} |" for r in rows]
    (RESULTS / "distributed_cpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
