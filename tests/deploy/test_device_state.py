"""Device state readings from a fake /sys and fake Jetson tools on PATH; every reading optional."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgecv.deploy.device_state import device_state, power_mode


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    _write(path, f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_power_mode_parses_nvpmodel_output() -> None:
    assert power_mode("NV Power Mode: MAXN\n0\n") == {"name": "MAXN", "id": 0}
    assert power_mode("NVPM WARN: ...\nNV Power Mode: 15W\n2\n") == {"name": "15W", "id": 2}
    assert power_mode(None) is None


@pytest.mark.skipif(os.name != "posix", reason="shell scripts as fake tools")
def test_reads_a_fake_jetson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    _write(root / "proc/device-tree/model", "NVIDIA Jetson Orin Nano Developer Kit\x00")
    _write(root / "etc/nv_tegra_release", "# R36 (release), REVISION: 4.3")
    gpu = root / "sys/class/devfreq/17000000.ga10b"
    for key, value in (("cur", "624750000"), ("min", "306000000"), ("max", "624750000")):
        _write(gpu / f"{key}_freq", value)
    _write(root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "1510400")
    _write(root / "sys/class/thermal/thermal_zone0/type", "gpu-thermal")
    _write(root / "sys/class/thermal/thermal_zone0/temp", "41500")
    bin_dir = tmp_path / "bin"
    _tool(bin_dir, "nvpmodel", 'echo "NV Power Mode: 15W"; echo 0')
    _tool(bin_dir, "tegrastats", 'echo "RAM 1234/7620MB GR3D_FREQ 0% cpu@41.5C"; exec sleep 30')
    _tool(bin_dir, "jetson_clocks", "exit 1")  # needs root on a real device
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    state = device_state(root)
    assert state["model"] == "NVIDIA Jetson Orin Nano Developer Kit"
    assert state["power_mode"] == {"name": "15W", "id": 0}
    assert state["devfreq"]["17000000.ga10b"] == {"cur": 624750000, "min": 306000000, "max": 624750000}
    assert state["cpu_freq_hz"] == {"cpu0": 1510400000}
    assert state["temperatures_c"] == {"gpu-thermal": 41.5}
    assert state["tegrastats"].startswith("RAM 1234/7620MB")
    assert state["jetson_clocks"] is None and state["unavailable"] == ["jetson_clocks"]


def test_nothing_available_is_not_an_error(tmp_path: Path) -> None:
    state = device_state(tmp_path, run_tools=False)
    assert state["power_mode"] is None and state["devfreq"] == {}
    assert {"model", "power_mode", "devfreq", "tegrastats"} <= set(state["unavailable"])


@pytest.mark.skipif(os.name != "posix", reason="shell scripts as fake tools")
def test_silent_tegrastats_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgecv.deploy.device_state import tegrastats_line

    _tool(tmp_path, "tegrastats", "exec sleep 30")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert tegrastats_line(timeout=0.3) is None
