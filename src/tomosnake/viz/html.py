"""Building blocks of a self-contained HTML page: escaped tables, embedded figures, CSS/JS.

Nothing the page needs to render refers to the network or to other files: images are
base64 data URIs. Links to the figure files beside the report (PNG, SVG) are relative.
"""

from __future__ import annotations

import base64
import html
import io
import zlib
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
.sw{display:inline-block;width:.8em;height:.8em;margin-right:4px;border:1px solid #555;
 vertical-align:-1px}
th.g{text-align:center} td.inf{color:#a40000}
.sev-fail,.sev-warn,.sev-info{white-space:nowrap}
.sev-fail{color:#fff;background:#a40000;border-radius:3px;padding:0 5px;font-weight:600}
.sev-warn{color:#7a4a00;background:#ffe9b3;border-radius:3px;padding:0 5px}
.sev-info{color:#234;background:#e3ecf5;border-radius:3px;padding:0 5px}
tr.failed td{color:#888} .note{font-size:.85em;color:#444;margin:2px 0 10px}
details.allnum{margin:10px 0} details.allnum summary{cursor:pointer;font-weight:600}
.figlinks{font-size:.85em;margin-left:6px} .methods p{max-width:60em}
.refs li{font-size:.9em;margin-bottom:3px;max-width:60em} .row{display:flex;gap:24px;flex-wrap:wrap}
"""

LINK_JS = """
document.querySelectorAll('a[data-img]').forEach(function (a) {
  a.href = document.getElementById(a.dataset.img).src;
});
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


def num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (paper tables); other values as text."""
    if is_number(value) and not isinstance(value, int):
        if abs(value) >= 10**digits:
            return f"{value:.0f}"
        return f"{value:.{digits}g}"
    return fmt(value)


def data_uri(data: bytes, mime: str) -> str:
    """A ``data:MIME;base64,...`` URI."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def web_image(png: bytes, max_width: int = 1400) -> tuple[bytes, str]:
    """A print PNG made light for the page: at most ``max_width`` pixels wide, JPEG (q 88).

    Returns (bytes, MIME type); small PNGs are kept as they are.
    """
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        if im.width <= max_width and len(png) < 200_000:
            return png, "image/png"
        im = im.convert("RGBA")
        flat = Image.new("RGB", im.size, "white")
        flat.paste(im, mask=im.split()[3])
        if flat.width > max_width:
            flat = flat.resize((max_width, round(flat.height * max_width / flat.width)),
                               Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        flat.save(buf, format="JPEG", quality=88, optimize=True)
        return buf.getvalue(), "image/jpeg"


def figure(
    src: str,
    caption: str,
    kind: str = "image",
    width_px: int | None = None,
    links: Sequence[tuple[str, str]] = (),
    fig_id: str = "",
    download: str = "",
) -> str:
    """A ``<figure>`` with an embedded image (``src`` a data URI), caption and file links.

    ``kind`` is ``plot`` (a vector SVG with title and labelled axes) or ``image``.
    ``links`` are (label, relative href) of the figure's files; ``download`` adds a link
    that saves the embedded image itself under that file name.
    """
    style = f' style="width:{width_px}px;max-width:100%"' if width_px else ""
    fid = fig_id or f"fig{zlib.crc32(src.encode('ascii', 'replace')):08x}"
    extra = [f'<a href="{esc(href)}">{esc(label)}</a>' for label, href in links]
    if download:
        extra.append(f'<a data-img="{esc(fid)}" download="{esc(download)}" href="#">'
                     f"{esc(download.rsplit('.', 1)[-1].upper())}</a>")
    files = f'<span class="figlinks">{" · ".join(extra)}</span>' if extra else ""
    return (
        f'<figure data-kind="{esc(kind)}"><img id="{esc(fid)}" src="{src}" '
        f'alt="{esc(caption)}"{style}><figcaption>{esc(caption)}{files}</figcaption></figure>'
    )


def swatch(color: str) -> str:
    """A small square of a phase colour (``#rrggbb``)."""
    return f'<span class="sw" style="background:{esc(color)}"></span>'


def details(summary: str, body: str, cls: str = "", open_: bool = False) -> str:
    """A collapsed section (``<details>``); ``body`` is trusted HTML."""
    c = f' class="{esc(cls)}"' if cls else ""
    o = " open" if open_ else ""
    return f"<details{c}{o}><summary>{esc(summary)}</summary>{body}</details>"


class Td(str):
    """A finished ``<td>`` (see :func:`td`); tables insert it as it is."""


def td(value: Any, text: str | None = None, cls: str = "", title: str = "") -> Td:
    """A cell showing ``text`` (trusted HTML; default: ``value`` with 3 significant digits)
    that sorts by ``value`` (``data-v``)."""
    attrs = f' class="{esc(cls)}"' if cls else ""
    if is_number(value):
        attrs += f' data-v="{float(value)!r}"'
    elif isinstance(value, float) and value == float("inf"):
        attrs += ' data-v="1e308"'
    if title:
        attrs += f' title="{esc(title)}"'
    return Td(f"<td{attrs}>{esc(num(value)) if text is None else text}</td>")


def cell(value: Any, raw_html: bool = False, cls: str = "") -> str:
    """A table cell; numbers carry their exact value in ``data-v`` for sorting."""
    if isinstance(value, Td):
        return value
    attrs = f' class="{cls}"' if cls else ""
    if is_number(value):
        attrs += f' data-v="{float(value)!r}"'
    body = value if raw_html else esc(num(value))
    if not is_number(value) and not cls:
        attrs += ' class="t"'
    return f"<td{attrs}>{body}</td>"


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    sortable: bool = False,
    html_columns: Sequence[int] = (),
    table_id: str = "",
    header_html: str = "",
    row_classes: Sequence[str] = (),
) -> str:
    """An HTML table; cells in ``html_columns`` are inserted unescaped (trusted HTML).

    ``header_html`` replaces the header row built from ``header`` (e.g. two header rows
    with grouped columns); ``row_classes`` gives each body row a CSS class.
    """
    cls = ' class="sortable"' if sortable else ""
    tid = f' id="{esc(table_id)}"' if table_id else ""
    head = header_html or "<tr>" + "".join(
        f'<th class="t">{esc(h)}</th>' if i == 0 else f"<th>{esc(h)}</th>"
        for i, h in enumerate(header)
    ) + "</tr>"
    body = "".join(
        (f'<tr class="{esc(row_classes[r])}">' if r < len(row_classes) and row_classes[r]
         else "<tr>")
        + "".join(cell(v, i in html_columns) for i, v in enumerate(row))
        + "</tr>"
        for r, row in enumerate(rows)
    )
    return (
        f'<div class="wide"><table{cls}{tid}><thead>{head}</thead>'
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
