"""Building blocks of a self-contained HTML page: escaped tables, embedded PNGs, inline CSS/JS.

Nothing refers to the network or to other files: images are base64 data URIs.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import Any

from tomosnake.viz.morphology import is_number

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
 background:#fafafa;line-height:1.4}
header{background:#1f3b57;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:1.5em} header p{margin:4px 0 0;opacity:.85}
nav{padding:6px 24px;background:#e8eef4;font-size:.9em} nav a{margin-right:12px}
main{padding:8px 24px 40px} section{margin:18px 0 28px}
h2{border-bottom:2px solid #1f3b57;padding-bottom:3px} h3{margin-bottom:6px}
table{border-collapse:collapse;font-size:.85em;margin:6px 0;background:#fff}
th,td{border:1px solid #ccd;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#e8eef4;position:sticky;top:0;text-align:left}
td.t,th.t{text-align:left}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir=asc]::after{content:" \\25B2"}
table.sortable th[data-dir=desc]::after{content:" \\25BC"}
.flag{color:#a40000;font-weight:600} .ok{color:#2a7a2a}
.flags{display:inline-block;min-width:18em}
figure{display:inline-block;margin:6px 10px 10px 0;vertical-align:top}
figure img{max-width:100%;border:1px solid #ccd;background:#fff}
figcaption{font-size:.8em;color:#555}
.scan{background:#fff;border:1px solid #dde;border-radius:6px;padding:4px 16px 10px;margin:16px 0}
.wide{overflow-x:auto} code,pre{background:#f0f0f4;padding:1px 4px;border-radius:3px}
pre{padding:8px;overflow-x:auto}
"""

SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0], col = th.cellIndex;
    var dir = th.dataset.dir === 'asc' ? 'desc' : 'asc';
    table.querySelectorAll('th').forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = dir;
    function key(row) {
      var cell = row.cells[col], v = cell.dataset.v !== undefined ? cell.dataset.v
        : cell.textContent.trim();
      var n = parseFloat(v);
      return isNaN(n) ? [1, v.toLowerCase()] : [0, n];
    }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = x[0] - y[0] || (x[0] === 0 ? x[1] - y[1] : x[1].localeCompare(y[1]));
      return dir === 'asc' ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def esc(value: Any) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """Numbers with 4 significant digits, everything else as text; None as empty."""
    if value is None:
        return ""
    if is_number(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    return str(value)


def png_data_uri(data: bytes) -> str:
    """A ``data:image/png;base64,...`` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure(data: bytes, caption: str, width: int | None = None) -> str:
    """An ``<figure>`` with an embedded PNG and its caption."""
    style = f' style="max-width:{width}px"' if width else ""
    return (
        f'<figure><img src="{png_data_uri(data)}" alt="{esc(caption)}"{style}>'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def cell(value: Any, raw_html: bool = False, cls: str = "") -> str:
    """A table cell; numbers carry their exact value in ``data-v`` for sorting."""
    attrs = f' class="{cls}"' if cls else ""
    if is_number(value):
        attrs += f' data-v="{float(value)!r}"'
    body = value if raw_html else esc(fmt(value))
    if not is_number(value) and not cls:
        attrs += ' class="t"'
    return f"<td{attrs}>{body}</td>"


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    sortable: bool = False,
    html_columns: Sequence[int] = (),
    table_id: str = "",
) -> str:
    """An HTML table; cells in ``html_columns`` are inserted unescaped (trusted HTML)."""
    cls = ' class="sortable"' if sortable else ""
    tid = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(
        f'<th class="t">{esc(h)}</th>' if i == 0 else f"<th>{esc(h)}</th>"
        for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>" + "".join(cell(v, i in html_columns) for i, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return (
        f'<div class="wide"><table{cls}{tid}><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def render_value(value: Any, depth: int = 0) -> str:
    """Any JSON-like value as HTML: dicts as key/value tables, lists of dicts as tables."""
    if isinstance(value, Mapping):
        if not value:
            return "<em>none</em>"
        rows = "".join(
            f'<tr><th class="t">{esc(k)}</th><td class="t">{render_value(v, depth + 1)}</td></tr>'
            for k, v in value.items()
        )
        return f"<table>{rows}</table>"
    if isinstance(value, list):
        if value and all(isinstance(v, Mapping) for v in value):
            keys = list(dict.fromkeys(k for v in value for k in v))
            rows = [[render_value(v.get(k), depth + 1) for k in keys] for v in value]
            return table(keys, rows, html_columns=range(len(keys)))
        return esc(", ".join(fmt(v) for v in value))
    return esc(fmt(value))
