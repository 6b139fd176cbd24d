"""The device's state while it is measured: power mode, clocks, temperatures, a tegrastats line. Each optional.

Standalone (stdlib only): it ships inside deploy bundles. Every reading that fails is recorded as ``None`` with
the reason under ``"unavailable"``, never raised: a missing tool must not stop a benchmark.

Sources: ``nvpmodel -q`` (power mode name and id), ``/sys/class/devfreq/*`` (GPU/DLA/EMC clocks the kernel
exposes), ``/sys/devices/system/cpu/cpu*/cpufreq``, ``/sys/class/thermal``, ``jetson_clocks --show`` (needs
root; skipped when it fails), one line of ``tegrastats``, ``/proc/device-tree/model`` and
``/etc/nv_tegra_release``.
"""

from __future__ import annotations

import re
import select
import shutil
import subprocess
from pathlib import Path
from typing import Any


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip().strip("\x00")
    except OSError:
        return None


def _run(args: list[str], timeout: float = 5.0) -> str | None:
    if shutil.which(args[0]) is None:
        return None
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def power_mode(text: str | None) -> dict[str, Any] | None:
    """Parse ``nvpmodel -q``: ``NV Power Mode: MAXN`` then the mode id on the next line."""
    if not text:
        return None
    match = re.search(r"Power Mode:\s*(\S+)", text)
    ids = re.findall(r"^\s*(\d+)\s*$", text, flags=re.M)
    return {"name": match.group(1) if match else None, "id": int(ids[0]) if ids else None}


def devfreq(root: Path) -> dict[str, dict[str, int | None]]:
    """Current/min/max frequency (Hz) of every devfreq device (GPU, DLA, EMC... by their node names)."""
    clocks: dict[str, dict[str, int | None]] = {}
    for node in sorted((root / "sys/class/devfreq").glob("*")):
        values = {k: _read(node / f"{k}_freq") for k in ("cur", "min", "max")}
        clocks[node.name] = {k: int(v) if v and v.isdigit() else None for k, v in values.items()}
    return clocks


def cpu_freqs(root: Path) -> dict[str, int | None]:
    freqs = {}
    for cpu in sorted((root / "sys/devices/system/cpu").glob("cpu[0-9]*")):
        value = _read(cpu / "cpufreq/scaling_cur_freq")
        freqs[cpu.name] = int(value) * 1000 if value and value.isdigit() else None  # kHz -> Hz
    return freqs


def temperatures(root: Path) -> dict[str, float]:
    temps = {}
    for zone in sorted((root / "sys/class/thermal").glob("thermal_zone*")):
        kind, value = _read(zone / "type"), _read(zone / "temp")
        if kind and value and value.lstrip("-").isdigit():
            temps[kind] = int(value) / 1000
    return temps


def tegrastats_line(timeout: float = 3.0) -> str | None:
    """The first line tegrastats prints (it runs until stopped, so it is stopped after one line)."""
    if shutil.which("tegrastats") is None:
        return None
    try:
        with subprocess.Popen(["tegrastats", "--interval", "200"], stdout=subprocess.PIPE, text=True) as proc:
            try:
                ready, _, _ = select.select([proc.stdout], [], [], timeout) if proc.stdout else ([], [], [])
                line = proc.stdout.readline().strip() if ready and proc.stdout else ""
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
    except OSError:
        return None
    return line or None


def device_state(root: str | Path = "/", *, run_tools: bool = True) -> dict[str, Any]:
    """Everything readable about the device now; ``root`` lets tests point at a fake filesystem."""
    root = Path(root)
    state: dict[str, Any] = {
        "model": _read(root / "proc/device-tree/model"),
        "l4t": _read(root / "etc/nv_tegra_release"),
        "power_mode": power_mode(_run(["nvpmodel", "-q"])) if run_tools else None,
        "devfreq": devfreq(root),
        "cpu_freq_hz": cpu_freqs(root),
        "temperatures_c": temperatures(root),
        "jetson_clocks": _run(["jetson_clocks", "--show"]) if run_tools else None,
        "tegrastats": tegrastats_line() if run_tools else None,
    }
    state["unavailable"] = sorted(k for k, v in state.items() if v in (None, {}, ""))
    return state
