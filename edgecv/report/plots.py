"""Plots for report.html as inline SVG: matplotlib Figures (no pyplot, no GUI backend), rendered offline.

Each function takes plain data and returns an ``<svg>`` element ready to paste into HTML: the XML prolog,
metadata and namespace URIs are stripped (an inline SVG in HTML needs none), element ids are prefixed so
several plots can share a page, and the fixed size becomes a viewBox so the plot scales with the page.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from edgecv.report.pareto import pareto_front

PALETTE = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#dc2626"]
BUDGET = "#b91c1c"
INK = "#1f2937"
GRID = "#e5e7eb"
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": "#9ca3af",
    "axes.labelcolor": INK,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#4b5563",
    "ytick.color": "#4b5563",
    "axes.grid": True,
    "grid.color": GRID,
    "grid.linewidth": 0.6,
    "svg.fonttype": "path",
    "svg.hashsalt": "edgecv",  # stable element ids: the same report renders the same page
    "legend.frameon": False,
}


@dataclass(frozen=True)
class TradeoffPoint:
    """One artifact on one device: batch-1 latency, the task metric, whether measured, and its series (run) name."""

    device: str
    label: str
    latency_ms: float
    score: float
    measured: bool
    group: str = ""


def available() -> bool:
    """Whether matplotlib can be imported (it is a dependency; a broken install still renders the tables)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def to_svg(fig) -> str:
    """The figure as an inline ``<svg>`` element (see the module docstring)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(r'\s+(width|height)="[\d.]+pt"', "", text, count=2)
    prefix = f"p{hashlib.sha1(text.encode()).hexdigest()[:8]}-"  # unique per plot, stable across renders
    text = re.sub(r'id="([^"]+)"', rf'id="{prefix}\1"', text)
    text = re.sub(r'(href="|url\()#([^")]+)', rf"\1#{prefix}\2", text)
    return text.replace("<svg", '<svg class="plot" role="img"', 1)


def _plot(width: float, height: float, draw) -> str:
    """Build a figure under the report's style, let ``draw(fig)`` fill it, return its SVG."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(width, height)
        draw(fig)
        return to_svg(fig)


def tradeoff_svg(
    points: Sequence[TradeoffPoint], limits: dict[str, tuple[float | None, float | None]], ylabel: str = "top-1 (%)"
) -> str:
    """The task metric vs batch-1 latency, one panel per device, Pareto front marked; ``limits`` maps a device to
    (latency budget ms, lowest allowed metric) drawn as dashed lines when they fall on the plotted range."""
    devices = list(dict.fromkeys(p.device for p in points))
    groups = list(dict.fromkeys(p.group for p in points))
    cols = min(3, len(devices))
    rows = math.ceil(len(devices) / cols)

    def draw(fig) -> None:
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, device in zip(axes, devices, strict=False):
            _tradeoff_panel(ax, [p for p in points if p.device == device], groups, limits.get(device, (None, None)))
            ax.set_ylabel(ylabel)
            ax.set_title(device)
        for ax in axes[len(devices) :]:
            ax.set_visible(False)
        handles = _tradeoff_legend(groups, any(lat is not None or floor is not None for lat, floor in limits.values()))
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), fontsize=8)

    return _plot(4.2 * cols, 3.3 * rows + 0.5, draw)


def _tradeoff_legend(groups: list[str], budgets: bool) -> list:
    from matplotlib.lines import Line2D

    def marker(label: str, face: str, edge: str = INK, size: float = 7) -> Line2D:
        return Line2D([], [], ls="", marker="o", ms=size, mfc=face, mec=edge, mew=1.4, label=label)

    handles = [marker("measured", INK), marker("estimated", "white")]
    handles.append(Line2D([], [], color="#9ca3af", ls="--", marker="o", ms=11, mfc="none", mec="#111827",
                          label="Pareto front"))
    if budgets:
        handles.append(Line2D([], [], color=BUDGET, ls=":", lw=1.2, label="budget"))
    if len(groups) > 1:
        handles += [marker(g, PALETTE[i % len(PALETTE)], PALETTE[i % len(PALETTE)]) for i, g in enumerate(groups)]
    return handles


def _tradeoff_panel(ax, pts: list[TradeoffPoint], groups: list[str], limits: tuple[float | None, float | None]) -> None:
    xs, ys = [p.latency_ms for p in pts], [p.score for p in pts]
    front = pareto_front(list(zip(xs, ys, strict=True)))
    ax.plot([xs[i] for i in front], [ys[i] for i in front], color="#9ca3af", lw=1.2, ls="--", zorder=1)
    ax.scatter([xs[i] for i in front], [ys[i] for i in front], s=150, facecolors="none", edgecolors="#111827",
               lw=1.2, zorder=2)
    for i, p in enumerate(pts):
        color = PALETTE[groups.index(p.group) % len(PALETTE)]
        ax.scatter([p.latency_ms], [p.score], s=46, color=color, zorder=3,
                   facecolors=color if p.measured else "white", lw=1.6)
        ax.annotate(p.label, (p.latency_ms, p.score), xytext=(6, 5 if i % 2 == 0 else -11),
                    textcoords="offset points", fontsize=7.5, color=INK)
    lo, hi = min(xs), max(xs)
    if hi / max(lo, 1e-12) > 20:
        ax.set_xscale("log")
    else:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.xaxis.set_major_formatter(lambda value, _pos: f"{value:g}")
    lat, floor = limits
    if lat is not None and lo / 5 <= lat <= hi * 5:
        ax.axvline(lat, color=BUDGET, ls=":", lw=1.2)
    if floor is not None and min(ys) - 5 <= floor <= max(ys) + 5:
        ax.axhline(floor, color=BUDGET, ls=":", lw=1.2)
    ax.margins(x=0.25, y=0.25)
    ax.set_xlabel("latency p50, batch 1 (ms)")


def stage_bars_svg(names: list[str], size_mb: list[float], macs: list[float | None]) -> str:
    """Two horizontal bar charts side by side: file size (MB) and MACs (millions) per stage output."""

    def draw(fig) -> None:
        left, right = fig.subplots(1, 2, sharey=True)
        y = list(range(len(names)))
        for ax, values, title, fmt in (
            (left, size_mb, "size (MB)", "{:.3f}"),
            (right, [(m or 0) / 1e6 for m in macs], "MACs (millions, batch 1)", "{:.2f}"),
        ):
            bars = ax.barh(y, values, color=PALETTE[0] if ax is left else PALETTE[1], height=0.6)
            ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=8, color=INK)
            ax.set_title(title)
            ax.grid(axis="y", visible=False)
            ax.margins(x=0.18)
        left.set_yticks(y, names)
        left.invert_yaxis()

    return _plot(11, 0.45 * len(names) + 1.0, draw)


def per_class_svg(labels: list[str], series: dict[str, list[float]], ylabel: str = "accuracy (recall, %)") -> str:
    """Per-class figures (recall %, or ``ylabel``) as a dot plot, one marker style per artifact, joined per class."""

    def draw(fig) -> None:
        ax = fig.subplots()
        x = list(range(len(labels)))
        names = list(series)
        for k, name in enumerate(names):
            ring = k == 0 and len(names) > 1  # the baseline: a ring around the last artifact's dot
            ax.scatter(x, series[name], s=90 if ring else 30, zorder=4 if ring else 3, label=name, lw=1.4,
                       facecolors="none" if ring else PALETTE[k % len(PALETTE)], edgecolors=PALETTE[k % len(PALETTE)])
        if len(names) > 1:
            for i in x:
                ax.plot([i, i], [series[n][i] for n in (names[0], names[-1])], color="#9ca3af", lw=1, zorder=2)
        ax.set_xticks(x, [_short(lab) for lab in labels], rotation=45 if len(labels) > 12 else 0, ha="right"
                      if len(labels) > 12 else "center")
        ax.set_ylabel(ylabel)
        ax.set_xlabel("class")
        ax.margins(y=0.2)
        fig.legend(loc="outside upper center", ncols=len(names), fontsize=8)

    return _plot(11, 3.2, draw)


def confusion_svg(matrices: dict[str, list[list[int]]], labels: list[str]) -> str:
    """Confusion heatmaps side by side: rows are true classes, colour is the row share, text the count."""
    n = len(labels)
    all_shares = {title: [[c / max(sum(row), 1) for c in row] for row in m] for title, m in matrices.items()}
    worst = max((s for m in all_shares.values() for r, row in enumerate(m) for c, s in enumerate(row) if r != c),
                default=0.0) or 1.0

    def draw(fig) -> None:
        axes = fig.subplots(1, len(matrices), squeeze=False).ravel()
        for ax, (title, matrix) in zip(axes, matrices.items(), strict=True):
            shares = all_shares[title]
            diagonal = [[s if r == c else math.nan for c, s in enumerate(row)] for r, row in enumerate(shares)]
            errors = [[s if r != c and s > 0 else math.nan for c, s in enumerate(row)] for r, row in enumerate(shares)]
            ax.imshow([[0.0] * n] * n, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
            image = ax.imshow(diagonal, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
            ax.imshow(errors, cmap="Oranges", vmin=-worst * 0.3, vmax=worst * 1.25, interpolation="nearest")
            ax.set_title(title)
            ax.grid(False)
            ticks = list(range(n)) if n <= 30 else []
            ax.set_xticks(ticks, [_short(labels[i]) for i in ticks], rotation=90 if n > 10 else 0)
            ax.set_yticks(ticks, [_short(labels[i]) for i in ticks])
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            if n <= 20:
                for (r, c), count in _cells(matrix):
                    dark = shares[r][c] > 0.55 if r == c else shares[r][c] > 0.6 * worst
                    ax.text(c, r, str(count), ha="center", va="center", fontsize=7 if n > 12 else 8,
                            color="white" if dark else INK)
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="share of the true class (diagonal)")

    side = 5.2 if len(matrices) > 1 else 5.6
    return _plot(side * len(matrices) + 0.8, side, draw)


def _cells(matrix: list[list[int]]):
    return (((r, c), count) for r, row in enumerate(matrix) for c, count in enumerate(row) if count)


def _short(label: str, width: int = 12) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def training_curves_svg(curves: dict[str, list[float]], ylabel: str = "selection top-1 (%)") -> str:
    """The selection split's task metric after each epoch, one line per training stage (train, fine-tune, distill)."""

    def draw(fig) -> None:
        ax = fig.subplots()
        for k, (name, values) in enumerate(curves.items()):
            epochs = list(range(1, len(values) + 1))
            ax.plot(epochs, values, marker="o", ms=4, lw=1.6, color=PALETTE[k % len(PALETTE)], label=name)
            ax.annotate(f"{values[-1]:.2f}", (epochs[-1], values[-1]), textcoords="offset points", xytext=(6, 0),
                        fontsize=8, color=INK, va="center")
        longest = max(len(v) for v in curves.values())
        ax.set_xticks(range(1, longest + 1))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.margins(x=0.08, y=0.12)
        fig.legend(loc="outside upper center", ncols=min(len(curves), 4), fontsize=8)

    return _plot(11, 3.0, draw)


def per_class_bars_svg(labels: list[str], series: dict[str, list[float]], ylabel: str) -> str:
    """Per-class figures as grouped vertical bars, one colour per artifact (baseline first), value on top when few."""

    def draw(fig) -> None:
        ax = fig.subplots()
        names = list(series)
        width = 0.8 / len(names)
        for k, name in enumerate(names):
            x = [i + (k - (len(names) - 1) / 2) * width for i in range(len(labels))]
            bars = ax.bar(x, series[name], width=width * 0.92, color=PALETTE[k % len(PALETTE)], label=name)
            if len(labels) * len(names) <= 24:
                ax.bar_label(bars, labels=[f"{v:.1f}" for v in series[name]], padding=2, fontsize=7, color=INK)
        ax.set_xticks(range(len(labels)), [_short(lab) for lab in labels], rotation=45 if len(labels) > 12 else 0,
                      ha="right" if len(labels) > 12 else "center")
        ax.set_ylabel(ylabel)
        ax.set_xlabel("class")
        ax.grid(axis="x", visible=False)
        ax.margins(y=0.12)
        fig.legend(loc="outside upper center", ncols=len(names), fontsize=8)

    return _plot(11, 3.4, draw)


def pr_curve_svg(curves: dict[str, tuple[list[float], list[float]]], title: str = "") -> str:
    """Precision against recall, one line per artifact (its legend entry says the area under it)."""

    def draw(fig) -> None:
        ax = fig.subplots()
        for k, (name, (recall, precision)) in enumerate(curves.items()):
            ax.plot(recall, precision, lw=1.8, color=PALETTE[k % len(PALETTE)], drawstyle="steps-post", label=name)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        if title:
            ax.set_title(title)
        ax.legend(loc="lower left", fontsize=8)

    return _plot(6.0, 3.8, draw)
