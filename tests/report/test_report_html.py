"""report.html and the comparison page: self-contained, every section, inline plots, imported values shown."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from edgecv.artifacts import StageResult
from edgecv.cli import app
from edgecv.report.build import load_report
from edgecv.report.html import render_html
from edgecv.report.html_compression import compression_section, training_curves
from edgecv.report.markdown import render_markdown
from tests.report.helpers import enrich

SECTIONS = ("devices", "stages", "compression", "tradeoff", "classes", "confusion", "parity", "environment", "recipe")
REMOTE = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""",
                    re.I)


def assert_self_contained(page: str) -> None:
    assert not REMOTE.search(page), REMOTE.search(page)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    links = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page)
    assert links and all(link.startswith(("#", "data:")) for link in links), links


def test_run_writes_a_self_contained_report_html(tiny_run) -> None:
    page = (tiny_run.run_dir / "report.html").read_text()
    assert page == render_html(load_report(tiny_run.run_dir))  # rendered from report.json alone, deterministically
    assert_self_contained(page)
    for anchor in SECTIONS:
        assert f'id="{anchor}"' in page
    assert page.count("<svg") >= 5  # stage bars, training curve, trade-off, per-class, confusion
    assert "<style>" in page and "estimated" in page and "measured" in page
    assert "v-fail" in page and "≤ 1e-06 ms" in page  # the failing latency budget, colour-coded, limit shown


def test_imported_and_estimated_values_both_show(tiny_run) -> None:
    report = enrich(tiny_run.report)
    page = render_html(report)
    assert_self_contained(page)
    assert "on device" in page and "est. ~0.030" in page and "device top-1 %" in page
    assert "≤ 0.15 MB · device" in page  # a budget from the device profile names its source
    markdown = render_markdown(report)
    assert "0.090 ms (device; est. ~0.030)" in markdown


def test_report_command_compares_runs_into_html(tiny_run, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", str(tiny_run.run_dir), str(tiny_run.run_dir)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "edgecv-compare.html").read_text()
    assert_self_contained(page)
    assert 'id="runs"' in page and "<svg" in page and page.count(tiny_run.run_dir.name) >= 2
    target = tmp_path / "out" / "cmp.html"
    result = CliRunner().invoke(app, ["report", str(tiny_run.run_dir), str(tiny_run.run_dir), "--html", str(target)])
    assert result.exit_code == 0 and target.is_file()


def test_an_empty_or_failed_run_still_renders(tiny_run) -> None:
    empty = tiny_run.report.model_copy(update={"status": "failed", "validations": [], "parity": [], "stages": []})
    page = render_html(empty)
    assert_self_contained(page)
    assert "st-failed" in page and "No validations in this run." in page and 'id="recipe"' in page


def test_compression_section_shows_curves_removed_blocks_rounds_and_ranking(tiny_run) -> None:
    prune = StageResult(stage="02-prune", kind="prune", metrics={
        "round_to": 16, "removed_blocks": [{"block": "layer2.5", "kl_divergence": 0.0819}],
        "rounds": [{"step": 1, "macs_fraction": 0.497, "params_fraction": 0.393, "pruned": 10.1,
                    "bn_recalibrated": 30.74}]})
    distill = StageResult(stage="03-distill", kind="distill", metrics={"history": [
        {"epoch": 1, "selection": 73.88}, {"epoch": 2, "selection": 78.78}]})
    quantize = StageResult(stage="04-quantize", kind="quantize", metrics={"schemes": [
        {"scheme": "onnxruntime-cpu", "accuracy_control": {"ranking": [
            {"name": "layer3.8.conv2", "score": 0.31, "kept_float": True},
            {"name": "conv1", "score": 0.02, "kept_float": False}]}}]})
    report = tiny_run.report.model_copy(update={"stages": [*tiny_run.report.stages, prune, distill, quantize]})
    assert training_curves(report)["03-distill"] == [73.88, 78.78]
    html = compression_section(report)
    assert "<svg" in html and "layer2.5" in html and "0.0819" in html and "rounded to 16" in html
    assert "49.70" in html and "30.74" in html
    assert html.index("layer3.8.conv2") < html.index("conv1") and "float" in html
    empty = tiny_run.report.model_copy(update={"stages": []})
    assert "No stage trained" in compression_section(empty)


def test_quantization_settings_show_what_auto_resolved_to_and_what_selection_chose(tiny_run) -> None:
    quantize = StageResult(stage="04-quantize", kind="quantize", metrics={"schemes": [
        {"scheme": "onnxruntime-cpu", "artifact": "int8-ort-cpu", "weight_type": "uint8", "weight_range": "full",
         "range_estimator": "minmax", "float_layers": ["layer3.8.conv2"],
         "weight_types_tried": {"chosen": "uint8", "selection_scores": {"int8": 85.76, "uint8": 86.16}}},
        {"scheme": "tensorrt", "artifact": "int8-tensorrt", "weight_type": "int8", "weight_range": "full",
         "range_estimator": "histogram", "float_layers": []}]})
    report = tiny_run.report.model_copy(update={"stages": [*tiny_run.report.stages, quantize]})
    markdown = render_markdown(report)
    assert "## Quantization" in markdown
    assert ("| 04-quantize | int8-ort-cpu | onnxruntime-cpu | uint8, full range | minmax | weights: int8 85.76, "
            "uint8 86.16 -> uint8 kept | 1 (layer3.8.conv2) |") in markdown
    assert "| 04-quantize | int8-tensorrt | tensorrt | int8, full range | histogram | – | 0 |" in markdown
    html = compression_section(report)
    assert "Quantization settings as resolved" in html and "uint8 86.16 -&gt; uint8 kept" in html
    assert "## Quantization" not in render_markdown(tiny_run.report.model_copy(update={"stages": []}))
