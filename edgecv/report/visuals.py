"""The validation pictures in report.html: val images of the baseline and the final artifact side by side, and the
precision-recall curves, read from the validate stage's ``visuals/`` folder (:mod:`edgecv.validate.visuals`).

The PNGs are embedded as data URIs, so the page stays one file that opens from disk.

Example::

    visuals = load_visuals(report)              # None for a run without pictures (or with them missing)
    samples_section(visuals, note="...")        # "<section id=\"samples\">..."
    pr_section(visuals, note="...")
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecv.report import htmlkit as k
from edgecv.report import plots
from edgecv.report.schema import Report
from edgecv.validate.visuals import FOLDER, INDEX


@dataclass(frozen=True)
class Visuals:
    """A run's visuals.json and the folder its pictures are in."""

    index: dict[str, Any]
    folder: Path

    def data_uri(self, name: str) -> str | None:
        """The picture as a ``data:image/png;base64,...`` URI, or None when it is not there."""
        path = self.folder / name
        if not path.is_file():
            return None
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def load_visuals(report: Report) -> Visuals | None:
    """The last validate stage's pictures, or None (a task without pictures, an older run, a missing file)."""
    suffix = f"{FOLDER}/{INDEX}"
    for stage in reversed(report.stages):
        for relative in stage.files:
            if relative.endswith(suffix):
                path = Path(report.run_dir) / relative
                try:
                    return Visuals(json.loads(path.read_text()), path.parent)
                except (OSError, ValueError):
                    return None
    return None


def _legend(visuals: Visuals) -> str:
    swatches = "".join(f'<span class="swatch"><i style="background:{k.esc(colour)}"></i>{k.esc(name)}</span>'
                       for name, colour in visuals.index.get("legend", []))
    return f'<div class="legend">{swatches}</div>' if swatches else ""


def _figure(visuals: Visuals, name: str, caption: str) -> str:
    uri = visuals.data_uri(name)
    image = f'<img src="{uri}" alt="{k.esc(caption)}">' if uri else '<span class="empty">missing</span>'
    return f"<figure>{image}<figcaption>{k.esc(caption)}</figcaption></figure>"


def _row(visuals: Visuals, heading: str, names: list[str]) -> str:
    figures = "".join(_figure(visuals, name, f"image {i + 1}") for i, name in enumerate(names))
    return f'<h3>{k.esc(heading)}</h3><div class="pics">{figures}</div>'


def samples_section(visuals: Visuals | None, note: str, title: str = "Val images") -> str:
    """One row of val images per kind: the truth (when drawn apart), then each shown artifact's prediction."""
    if visuals is None or not visuals.index.get("artifacts"):
        return k.section("samples", title, '<p class="empty">No val images were drawn in this run.</p>')
    truth = visuals.index.get("truth") or []
    rows = [_row(visuals, "truth", truth)] if truth else []
    rows += [_row(visuals, f"{e['artifact']} ({e['role']})", e["images"]) for e in visuals.index["artifacts"]]
    return k.section("samples", title, _legend(visuals) + "".join(rows), note)


def pr_section(visuals: Visuals | None, note: str, curve: str = "pr50", area_label: str = "area",
               title: str = "Precision-recall") -> str:
    """The ``curve`` of each shown artifact (precision at evenly spaced recall levels) on one plot, and a table of
    the mean precision (the area under each curve) in percent, headed ``area_label``."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    rows = []
    for entry in (visuals.index.get("artifacts", []) if visuals else []):
        found = entry.get("curves", {}).get(curve)
        if found:
            name = f"{entry['artifact']} ({entry['role']})"
            series[name] = (found["recall"], found["precision"])
            rows.append([k.esc(entry["artifact"]), k.esc(entry["role"]),
                         k.pct(sum(found["precision"]) / len(found["precision"]) * 100)])
    if not series or not plots.available():
        return k.section("pr", title, '<p class="empty">No precision-recall curve in this run.</p>')
    table = k.table(["artifact", "role", f"{k.esc(area_label)} % (area)"], rows, numeric=[2])
    return k.section("pr", title, f'<div class="plot-narrow">{plots.pr_curve_svg(series)}</div>{table}', note)
