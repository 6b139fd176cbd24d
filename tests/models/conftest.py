"""Fixtures for the model tests: the shared pretrained checkpoints and small checkpoint files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgecv.models import build_model

SHARED_MODELS = Path(__file__).parents[2].parent / "shared" / "models"


@pytest.fixture
def shared_resnet20() -> Path:
    """The shared akamaster ResNet-20 checkpoint; the test is skipped when ../shared is absent."""
    path = SHARED_MODELS / "cifar10-resnet20-akamaster.th"
    if not path.is_file():
        pytest.skip(f"shared checkpoint {path} is absent")
    return path


@pytest.fixture
def resnet20_state() -> dict[str, torch.Tensor]:
    """A randomly initialized ResNet-20 state_dict (10 classes)."""
    torch.manual_seed(0)
    return build_model("resnet20", num_classes=10).state_dict()
