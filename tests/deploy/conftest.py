"""Fixtures for deploy tests: one tiny FP32 run shared by the module, and a fake tensorrt module."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_recipe
from tests.deploy.fake_tensorrt import FakeCuda, make_fake_tensorrt


@pytest.fixture(scope="package")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run (small_cnn on 16x16 digits, FP32) validated on host-cpu and a Jetson (estimated)."""
    from edgecv.api import compress

    tmp = tmp_path_factory.mktemp("tiny-run")
    recipe = write_recipe(tmp, validate={"devices": ["host-cpu", "jetson-orin-nano-8gb"]})
    return Path(compress(recipe).run_dir)


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``fake_trt("10.3.0")`` puts a fake tensorrt module in sys.modules and returns it."""

    def install(version: str = "10.3.0.30", cuda: FakeCuda | None = None, **kwargs: Any) -> Any:
        trt = make_fake_tensorrt(version, cuda, **kwargs)
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        return trt

    return install
