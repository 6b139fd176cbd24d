"""Declared decodings of users' detectors: FastestDet's grid by hand, the wrapper's names, refusals."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgecv.errors import ModelError
from edgecv.quantize.nncf_ptq import float_scope_patterns
from edgecv.tasks.detection.decoders import DecodedDetector, FastestDetDecoder, decoder_for


def _raw(obj: float, tx: float, ty: float, sw: float, sh: float, classes: list[float]) -> torch.Tensor:
    """A (1, 1+4+C, 2, 2) map whose every cell holds the same values."""
    cell = torch.tensor([obj, tx, ty, sw, sh, *classes])
    return cell.view(1, -1, 1, 1).repeat(1, 1, 2, 2)


def test_fastestdet_grid_by_hand() -> None:
    # offsets atanh(0.5) -> tanh 0.5; sizes logit(0.25) -> sigmoid 0.25; a 2x2 grid over a 100x60 image
    atanh, logit = float(torch.atanh(torch.tensor(0.5))), float(torch.logit(torch.tensor(0.25)))
    out = FastestDetDecoder()(_raw(0.81, atanh, atanh, logit, logit, [0.5, 0.25]), height=60, width=100)
    boxes, scores = out["boxes"][0], out["scores"][0]
    assert boxes.shape == (4, 4) and scores.shape == (4, 2)
    # cell (row 1, col 0): centre x = (0 + 0.5) * 50 = 25, y = (1 + 0.5) * 30 = 45; half sizes 12.5 and 7.5
    assert torch.allclose(boxes[2], torch.tensor([12.5, 37.5, 37.5, 52.5]), atol=1e-4)
    # cell (row 0, col 1): centre (75, 15)
    assert torch.allclose(boxes[1], torch.tensor([62.5, 7.5, 87.5, 22.5]), atol=1e-4)
    expected = torch.tensor([0.81**0.6 * 0.5**0.4, 0.81**0.6 * 0.25**0.4])
    assert torch.allclose(scores, expected.expand(4, 2), atol=1e-6)


def test_fastestdet_refuses_a_wrong_layout() -> None:
    with pytest.raises(ModelError, match="fastestdet expects an"):
        FastestDetDecoder()(torch.zeros(1, 4, 2, 2), 8, 8)


def test_decoder_names_and_float_scope() -> None:
    with pytest.raises(ModelError, match=r"needs model\.decoding"):
        decoder_for(None)
    with pytest.raises(ModelError, match="did you mean 'fastestdet'"):
        decoder_for("fastestdt")
    model = DecodedDetector(nn.Conv2d(3, 7, 1), decoder_for("fastestdet"))
    out = model(torch.rand(2, 3, 8, 12))
    assert out["boxes"].shape == (2, 96, 4) and out["scores"].shape == (2, 96, 2)
    assert float_scope_patterns(model) == ["^decode/.*"]  # NNCF leaves the decoding in float


def test_models_command_lists_task_models_and_decodings() -> None:
    from typer.testing import CliRunner

    from edgecv.cli import app

    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0
    assert "ssdlite320_mobilenet_v3_large  (task: detection)" in result.output
    assert "decoding fastestdet" in result.output
