"""Runners return every output by name (as Polygraphy's do); ``infer`` is the first of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgecv.runtime import OrtRunner, TorchRunner


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 3, padding=1)
        self.classes, self.boxes = nn.Linear(4, 5), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x).mean((2, 3))
        return self.classes(features), self.boxes(features)


def test_torch_and_onnx_runners_name_every_output_alike(tmp_path: Path) -> None:
    model = TwoHeads().eval()
    batch = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype(np.float32)
    path = tmp_path / "two.onnx"
    torch.onnx.export(model, (torch.from_numpy(batch),), path, input_names=["input"],
                      output_names=["scores", "boxes"], dynamo=False, opset_version=17)
    torch_out = TorchRunner(model, output_names=["scores", "boxes"]).infer_all(batch)
    with OrtRunner(path, threads=1) as runner:
        ort_out = runner.infer_all(batch)
        first = runner.infer(batch)
    assert list(torch_out) == list(ort_out) == ["scores", "boxes"]
    assert ort_out["scores"].shape == (2, 5) and ort_out["boxes"].shape == (2, 2)
    for name in ort_out:
        np.testing.assert_allclose(ort_out[name], torch_out[name], atol=1e-5)
    np.testing.assert_array_equal(first, ort_out["scores"])


def test_a_dict_output_keeps_its_keys_and_a_bad_output_is_named() -> None:
    class DictOut(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"out": x.mean((2, 3)), "aux": x.amax((2, 3))}

    out = TorchRunner(DictOut()).infer_all(np.ones((1, 3, 4, 4), np.float32))
    assert list(out) == ["out", "aux"] and out["out"].shape == (1, 3)

    class Bad(nn.Module):
        def forward(self, x: torch.Tensor) -> str:
            return "nope"

    with pytest.raises(TypeError, match="returned a str"):
        TorchRunner(Bad()).infer(np.ones((1, 3, 4, 4), np.float32))
