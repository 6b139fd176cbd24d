"""The run folder lock: a second writer is refused in one line, a dead writer's lock is taken over, and a
"running" manifest without a live writer reads as killed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgecv.errors import RecipeError
from edgecv.run_dir import KILLED, LOCK_NAME, manifest_status, read_lock, run_lock

HOLD = """
import sys, time
from pathlib import Path
from edgecv.run_dir import run_lock
with run_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_writer_is_refused_while_another_process_holds_the_run(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RecipeError) as err, run_lock(tmp_path):
            pass
        message = str(err.value)
        assert "\n" not in message and f"is being written by pid {holder.pid} on host {socket.gethostname()}" in message
        assert "wait for it to finish" in message
        assert read_lock(tmp_path)["pid"] == holder.pid  # the refused writer did not touch the holder's lock
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_writers_lock_is_taken_over_and_released(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = {"pid": _dead_pid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00+0000"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(stale))
    with run_lock(tmp_path) as lock:
        assert read_lock(tmp_path) == lock.holder and lock.holder["pid"] != stale["pid"]
    assert f"taking over the lock of pid {stale['pid']}" in capsys.readouterr().err
    assert not (tmp_path / LOCK_NAME).exists()


def test_another_hosts_lock_is_never_taken_over(tmp_path: Path) -> None:
    other = {"pid": _dead_pid(), "host": "some-other-host", "started": "2026-01-01T00:00:00+0000"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(other))
    with pytest.raises(RecipeError, match=r"on host some-other-host .* delete .*\.lock if that process is gone"):
        run_lock(tmp_path).acquire()


def test_a_running_manifest_without_a_live_lock_reads_as_killed(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"status": "running"}))
    assert manifest_status(tmp_path) == KILLED
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "started": "x"}))
    assert manifest_status(tmp_path) == KILLED
    with run_lock(tmp_path):
        assert manifest_status(tmp_path) == "running"
    (tmp_path / "manifest.json").write_text(json.dumps({"status": "complete"}))
    assert manifest_status(tmp_path) == "complete"


def test_resume_of_a_run_being_written_fails_in_one_line(tmp_path: Path) -> None:
    """Two ``edgecv compress --resume`` at once: the second one is refused by the lock, with exit status 2."""
    from tests.conftest import write_recipe

    recipe = write_recipe(tmp_path)
    first = subprocess.run([sys.executable, "-m", "edgecv", "compress", str(recipe)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    (run,) = (tmp_path / "runs" / "tiny").iterdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.time()
        second = subprocess.run(
            [sys.executable, "-m", "edgecv", "compress", str(recipe), "--resume"], capture_output=True, text=True
        )
        errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
        assert second.returncode == 2 and len(errors) == 1, second.stderr
        assert f"is being written by pid {holder.pid}" in errors[0] and time.time() - started < 60
        assert json.loads((run / "manifest.json").read_text())["status"] == "complete"
    finally:
        holder.kill()
        holder.wait()
