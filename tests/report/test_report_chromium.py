"""report.html in a real browser: headless Chromium renders it (not blank) without console errors.

Skipped where Debian's chromium is not installed (``apt-get install -y chromium``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgecv.report.html import render_html
from tests.report.helpers import enrich

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)


@pytest.fixture
def page(tiny_run, tmp_path: Path) -> Path:
    if not CHROMIUM.is_file():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    path = tmp_path / "report.html"
    path.write_text(render_html(enrich(tiny_run.report)))
    return path


def test_chromium_renders_the_report_without_errors(page: Path, tmp_path: Path) -> None:
    from PIL import Image, ImageStat

    shot = tmp_path / "report.png"
    result = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("L")
    assert image.size == (1280, 2400)
    assert ImageStat.Stat(image).stddev[0] > 20, "the screenshot is blank"
    # the top 400 px hold the header, and the page's body is not one flat colour
    assert ImageStat.Stat(image.crop((0, 600, 1280, 2400))).stddev[0] > 20
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    assert "ERR_FILE_NOT_FOUND" not in result.stderr and "net::ERR" not in result.stderr


def test_chromium_parses_every_section(page: Path, tmp_path: Path) -> None:
    result = chromium(tmp_path, "--dump-dom", page.as_uri())
    dom = result.stdout
    assert dom.rstrip().endswith("</html>"), result.stderr[-2000:]
    for anchor in ("devices", "stages", "tradeoff", "classes", "confusion", "parity", "environment", "recipe"):
        assert f'id="{anchor}"' in dom
    assert dom.count("<svg") >= 4 and "Uncaught" not in result.stderr
