"""Building blocks of report.html: the stylesheet, escaping, number formats and tables.

Number formats, used everywhere in the page: accuracy ``99.72`` (%, 2 decimals), deltas signed
(``+0.35`` / ``−1.20``), latency ms with 3 decimals below 10 ms, 2 below 100, 1 above; sizes MB likewise;
counts (params, MACs) in K/M/G with 3 significant digits and the exact value as a tooltip.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f8fafc; --card:#fff; --accent:#2563eb;
  --pass:#15803d; --pass-bg:#dcfce7; --fail:#b91c1c; --fail-bg:#fee2e2; --unk:#4b5563; --unk-bg:#f3f4f6; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); font:14px/1.5 system-ui,-apple-system,"Segoe UI",
  Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1200px; margin:0 auto; padding:24px 28px 48px; }
header.top { background:#0f172a; color:#e2e8f0; }
header.top .inner { max-width:1200px; margin:0 auto; padding:20px 28px 16px; }
header.top h1 { margin:0 0 6px; font-size:22px; font-weight:600; color:#fff; }
header.top .tool { color:#94a3b8; font-weight:400; }
.meta { display:flex; flex-wrap:wrap; gap:4px 22px; font-size:13px; color:#cbd5e1; }
.meta b { color:#94a3b8; font-weight:500; margin-right:4px; }
nav { margin-top:12px; display:flex; flex-wrap:wrap; gap:4px 16px; font-size:13px; }
nav a { color:#93c5fd; text-decoration:none; } nav a:hover { text-decoration:underline; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:18px 22px;
  margin:18px 0; }
h2 { font-size:17px; margin:0 0 4px; } h3 { font-size:14px; margin:18px 0 6px; }
p.note { color:var(--muted); margin:2px 0 12px; font-size:13px; }
table { border-collapse:collapse; width:100%; font-size:13px; margin:6px 0 10px; }
th, td { padding:6px 9px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
.scroll { overflow-x:auto; }
td:nth-child(-n+2) { white-space:nowrap; }
th { background:#f1f5f9; font-weight:600; font-size:12px; color:#334155; white-space:nowrap; }
tbody tr:nth-child(even) td { background:#fafbfc; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.mono, code { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12px; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:11px; font-weight:600;
  letter-spacing:.02em; vertical-align:middle; white-space:nowrap; }
.st-complete { background:var(--pass-bg); color:var(--pass); } .st-failed { background:var(--fail-bg);
  color:var(--fail); } .st-interrupted, .st-running { background:#fef3c7; color:#92400e; }
.src-measured { background:#dbeafe; color:#1e40af; } .src-device { background:#ede9fe; color:#5b21b6; }
.src-estimated { background:var(--unk-bg); color:var(--unk); }
td.v-pass { background:var(--pass-bg) !important; color:var(--pass); }
td.v-fail { background:var(--fail-bg) !important; color:var(--fail); font-weight:600; }
td.v-unknown { background:var(--unk-bg) !important; color:var(--unk); }
td.v-pass small, td.v-fail small, td.v-unknown small { display:block; font-weight:400; color:var(--muted); }
.sub { display:block; color:var(--muted); font-size:11px; font-weight:400; }
.chips { display:flex; gap:8px; margin:10px 0 0; }
.chip { padding:3px 10px; border-radius:12px; font-size:12px; font-weight:600; }
.chip.pass { background:var(--pass-bg); color:var(--pass); } .chip.fail { background:var(--fail-bg);
  color:var(--fail); } .chip.unknown { background:var(--unk-bg); color:var(--unk); }
svg.plot { width:100%; height:auto; display:block; margin:6px 0; }
.plot-narrow svg.plot { max-width:760px; margin:6px auto; }
.pics { display:grid; grid-template-columns:repeat(auto-fill,minmax(200px,260px)); gap:10px 12px; margin:4px 0; }
.pics figure { margin:0; } .pics img { width:100%; height:auto; display:block; border-radius:4px; }
.pics figcaption { font-size:12px; color:var(--muted); }
.legend { display:flex; flex-wrap:wrap; gap:4px 14px; font-size:12px; margin:4px 0 8px; }
.swatch i { display:inline-block; width:12px; height:12px; border-radius:2px; margin-right:5px;
  vertical-align:-2px; border:1px solid #9ca3af; }
details summary { cursor:pointer; font-weight:600; }
pre { background:#0f172a; color:#e2e8f0; padding:14px; border-radius:6px; overflow:auto; font-size:12px;
  line-height:1.45; max-height:640px; }
.kv { display:grid; grid-template-columns:max-content 1fr; gap:3px 18px; font-size:13px; }
.kv dt { color:var(--muted); } .kv dd { margin:0; }
.empty { color:var(--muted); font-style:italic; }
footer { color:var(--muted); font-size:12px; text-align:center; margin-top:28px; }
"""


def esc(value: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(value), quote=True)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def delta(value: float | None) -> str:
    """Signed, with a real minus sign: ``+0.35``, ``−1.20``."""
    return "–" if value is None else f"{round(value, 2) + 0.0:+.2f}".replace("-", "−")


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:,.1f}"


mb = ms


def count(value: float | None) -> str:
    """``70.6 K`` with the exact value as a tooltip."""
    if value is None:
        return "–"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f'<span title="{value:,.0f}">{value / scale:.3g} {unit}</span>'
    return f"{value:,.0f}"


def seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 600 else f"{value / 60:.1f} min"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table from already-escaped cell HTML; ``numeric`` columns are right-aligned. A cell starting with
    ``<td`` is used as is (to carry its own class)."""
    head = "".join(f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = [
            c if c.startswith("<td") else f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def section(anchor: str, title: str, body: str, note: str = "") -> str:
    """A titled card with an anchor for the navigation bar."""
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{note_html}{body}</section>'


def page(title: str, header: str, body: str, footer: str) -> str:
    """The whole document: one file, inline CSS, no scripts or external resources."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><div class="inner">{header}</div></header>'
        f"<main>{body}<footer>{footer}</footer></main></body></html>\n"
    )
