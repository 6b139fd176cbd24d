"""``edgecv compress`` on several processes: what each rank does, and the launcher behind ``--nproc-per-node``.

``torchrun --nproc-per-node N -m edgecv compress recipe.yaml`` starts N copies of the command; each one calls
:func:`compress_ranked`: rank 0 runs the pipeline (the only one that writes the run folder, its lock, manifest and
reports) and the others serve its training jobs (:mod:`edgecv.train_jobs`). ``edgecv compress --nproc-per-node N``
does the same through torchrun's elastic agent (:func:`launch`), on this machine only; several machines use
torchrun itself with ``--nnodes`` and ``--rdzv-*`` (see the README).

Example::

    edgecv compress recipe.yaml --nproc-per-node 2      # = torchrun --standalone --nproc-per-node 2 -m edgecv ...
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from edgecv import distributed
from edgecv.errors import EdgecvError, PeerLost, StageFailure
from edgecv.recipe import Recipe
from edgecv.report.schema import Report
from edgecv.stages.params import TrainParams


def compress_ranked(recipe: Path, overrides: list[str], *, resume: bool) -> Report | None:
    """This rank's part of a multi-process run: rank 0's report, None on the other ranks.

    Any failure is an EdgecvError whose one line starts with the rank (``rank 1/2: ...``); torchrun then stops
    the other ranks.
    """
    from edgecv.console import set_verbosity
    from edgecv.recipe import load_recipe
    from edgecv.train_jobs import release_workers, serve

    with distributed.session():
        where = f"rank {distributed.rank()}/{distributed.world_size()}"
        try:
            loaded = load_recipe(recipe, overrides)
            check_parallel(loaded)
            if not distributed.is_main():
                from edgecv.pipeline import apply_threads

                set_verbosity(quiet=True)  # rank 0 tells the story
                apply_threads(loaded)  # threads.torch holds on every rank (rank 0 sets it in run_pipeline)
                serve(loaded)
                return None
            from edgecv.pipeline import run_pipeline

            report = run_pipeline(loaded, resume=resume)
            release_workers()
            return report
        except EdgecvError as exc:
            raise type(exc)(f"{where}: {exc}") from exc
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [""])[0][:300]
            raise StageFailure(f"{where}: {type(exc).__name__}: {reason}") from exc


def training_sections(recipe: Recipe) -> list[tuple[str, TrainParams]]:
    """Every training loop's settings in a recipe with their key: ``train``, ``stages[i]`` (finetune, distill),
    ``stages[i].finetune`` (prune) and ``stages[i].qat`` (quantize with method qat, its default when unset)."""
    from edgecv.quantize.qat import DEFAULT_QAT

    found: list[tuple[str, TrainParams]] = [("train", recipe.train)] if recipe.train.epochs > 0 else []
    for index, stage in enumerate(recipe.stages):
        key = f"stages[{index}]"
        if isinstance(stage, TrainParams):
            found.append((key, stage))
        for name in ("finetune", "qat"):
            value = getattr(stage, name, None)
            if name == "qat" and value is None and getattr(stage, "method", None) == "qat":
                value = DEFAULT_QAT
            if isinstance(value, TrainParams):
                found.append((f"{key}.{name}", value))
    return found


def check_parallel(recipe: Recipe) -> None:
    """Before any work, on every rank: each training section's batch splits over the processes, and
    ``sync_batchnorm`` only where GPUs are; a RecipeError naming the key otherwise."""
    import torch

    from edgecv.errors import RecipeError
    from edgecv.training import parallel_plan

    source = recipe.source or "recipe"
    for key, params in training_sections(recipe):
        try:
            parallel_plan(params, params.batch_size or recipe.data.batch_size)
        except RecipeError as exc:
            raise RecipeError(f"{source}: key '{key}.batch_size': {exc}") from exc
        if params.sync_batchnorm and not torch.cuda.is_available():
            raise RecipeError(f"{source}: key '{key}.sync_batchnorm': SyncBatchNorm needs GPUs (torch's does not run "
                              "on the CPU); set it false for a Gloo/CPU run")


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``python -m edgecv <argv>`` on ``nproc`` local processes through torchrun's elastic agent; the exit code
    (0, or the first failed rank's, after one line naming that rank)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"edgecv-{os.getpid()}", rdzv_backend="c10d",
        rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.5,
    )
    if "OMP_NUM_THREADS" not in os.environ:  # torchrun's own default: one thread each, unless the user says
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # the ranks and we say what failed
    try:
        elastic_launch(config, sys.executable)("-m", "edgecv", *argv)
    except ChildFailedError as exc:
        # a rank that exited with an error, before ranks that only lost contact with it (PeerLost) and before the
        # ones torchrun then stopped with a signal; timestamps alone race when two ranks fail within a poll
        rank, first = min(exc.failures.items(), key=lambda item: (
            item[1].exitcode <= 0, item[1].exitcode == PeerLost.exit_code, item[1].timestamp, item[0]))
        code = first.exitcode if first.exitcode and first.exitcode > 0 else 1
        print(f"error: rank {rank} of {nproc} failed (exit code {first.exitcode}); its own error line is above; "
              "torchrun stopped the other ranks", file=sys.stderr)
        return code
    return 0
