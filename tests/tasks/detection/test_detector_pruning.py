"""A torchvision detector prunes with its head whole: the dry run passes and the outputs keep their shapes."""

from __future__ import annotations

import torch

from edgecv.compress.prunability import dry_run
from edgecv.tasks import get_task
from edgecv.tasks.detection.models import build_detector


def test_ssdlite_backbone_prunes_with_the_head_whole() -> None:
    torch.manual_seed(0)
    model = build_detector("ssdlite320_mobilenet_v3_large", 3, {}).eval()
    example = torch.zeros(1, 3, 64, 64)
    before = {k: v.shape for k, v in model(example).items()}
    trial = dry_run(model, example, ignored=[], round_to=8, task=get_task("detection"))
    assert trial.problem is None, trial.problem
    assert trial.macs_fraction is not None and trial.macs_fraction < 0.95
    after = {k: v.shape for k, v in trial.pruned(example).items()}
    assert after == before  # the same anchors and classes: the head and its decoding are intact
