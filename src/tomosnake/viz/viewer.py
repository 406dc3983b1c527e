"""A minimal WebGL viewer of a scan's phase meshes, embedded in the report (works offline).

The meshes come from ``preview.json`` (:func:`tomosnake.viz.meshes.pack_preview`): uint16
positions quantised over a bounding box and uint16/uint32 triangle indices, base64. The
page holds them in a ``<script type="application/json">`` block; :data:`VIEWER_JS` (one
copy per page, no library, no network) decodes them, computes vertex normals and draws
them with a head light. Drag rotates, the wheel zooms, a double click resets; a checkbox
per phase shows or hides it. Viewers start when scrolled into view and at most
:data:`MAX_LIVE` WebGL contexts are kept (browsers allow about 16).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tomosnake.viz import html as H

#: WebGL contexts kept alive at once; the oldest off-screen viewer is released beyond this
MAX_LIVE = 6
#: phases hidden when a viewer opens (they enclose the others)
HIDDEN_AT_START = ("pore", "void", "electrolyte")

VIEWER_CSS = """
.viewer{display:inline-block;border:1px solid #ccd;background:#fff;padding:6px;margin:6px 0}
.viewer canvas{display:block;width:560px;height:420px;max-width:100%;cursor:grab;touch-action:none}
.viewer .toggles{font-size:.85em;margin-top:4px} .viewer label{margin-right:12px}
.viewer .hint{font-size:.75em;color:#666;margin:2px 0 0}
"""

VIEWER_JS = r"""
(function () {
  'use strict';
  var MAX_LIVE = %MAX_LIVE%, live = [];
  var VS = 'attribute vec3 p;attribute vec3 n;uniform mat3 r;uniform vec3 lo,ext,c,s;' +
    'varying vec3 vn;void main(){vec3 q=r*(lo+p*ext-c);gl_Position=vec4(q*s,1.0);vn=r*n;}';
  var FS = 'precision mediump float;varying vec3 vn;uniform vec3 col;void main(){' +
    'float d=abs(normalize(vn).z);gl_FragColor=vec4(col*(0.3+0.7*d)+vec3(0.12)*pow(d,24.0),1.0);}';
  function bytes(b64) {
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function rgb(h) {
    return [1, 3, 5].map(function (i) { return parseInt(h.substr(i, 2), 16) / 255; });
  }
  function mul(a, b) {  // 3x3 row-major
    var o = [];
    for (var i = 0; i < 3; i++) for (var j = 0; j < 3; j++)
      o.push(a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j]);
    return o;
  }
  function rotX(t) { var c = Math.cos(t), s = Math.sin(t); return [1, 0, 0, 0, c, -s, 0, s, c]; }
  function rotY(t) { var c = Math.cos(t), s = Math.sin(t); return [c, 0, s, 0, 1, 0, -s, 0, c]; }
  function normals(q, idx, ext) {
    var nv = q.length / 3, pos = new Float32Array(q.length), nrm = new Float32Array(q.length);
    for (var i = 0; i < q.length; i++) pos[i] = q[i] / 65535 * ext[i % 3];
    for (var f = 0; f < idx.length; f += 3) {
      var a = 3 * idx[f], b = 3 * idx[f + 1], c = 3 * idx[f + 2];
      var ux = pos[b] - pos[a], uy = pos[b + 1] - pos[a + 1], uz = pos[b + 2] - pos[a + 2];
      var vx = pos[c] - pos[a], vy = pos[c + 1] - pos[a + 1], vz = pos[c + 2] - pos[a + 2];
      var nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
      [a, b, c].forEach(function (k) { nrm[k] += nx; nrm[k + 1] += ny; nrm[k + 2] += nz; });
    }
    for (var k = 0; k < nv; k++) {
      var l = Math.hypot(nrm[3 * k], nrm[3 * k + 1], nrm[3 * k + 2]) || 1;
      nrm[3 * k] /= l; nrm[3 * k + 1] /= l; nrm[3 * k + 2] /= l;
    }
    return nrm;
  }
  function shader(gl, type, src) {
    var s = gl.createShader(type);
    gl.shaderSource(s, src); gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  }
  function start(box) {
    var data = JSON.parse(document.getElementById(box.dataset.mesh).textContent);
    var canvas = box.querySelector('canvas');
    var opts = {preserveDrawingBuffer: true, antialias: true};
    var gl = canvas.getContext('webgl2', opts), big = !!gl;
    if (!gl) {
      gl = canvas.getContext('webgl', opts);
      big = !!(gl && gl.getExtension('OES_element_index_uint'));
    }
    if (!gl) {
      box.querySelector('.hint').textContent =
        'WebGL is not available in this browser: open the PLY files in ParaView instead.';
      return null;
    }
    var prog = gl.createProgram();
    gl.attachShader(prog, shader(gl, gl.VERTEX_SHADER, VS));
    gl.attachShader(prog, shader(gl, gl.FRAGMENT_SHADER, FS));
    gl.linkProgram(prog); gl.useProgram(prog);
    var U = {}; ['r', 'lo', 'ext', 'c', 's', 'col'].forEach(function (k) {
      U[k] = gl.getUniformLocation(prog, k);
    });
    var aP = gl.getAttribLocation(prog, 'p'), aN = gl.getAttribLocation(prog, 'n');
    var lo = data.lo, ext = data.hi.map(function (h, i) { return (h - lo[i]) || 1; });
    var centre = ext.map(function (e, i) { return lo[i] + e / 2; });
    var radius = Math.hypot(ext[0], ext[1], ext[2]) / 2 || 1;
    var meshes = data.phases.map(function (ph) {
      var q = new Uint16Array(bytes(ph.positions));
      var wide = ph.index_bytes === 4;
      if (wide && !big) return null;
      var idx = wide ? new Uint32Array(bytes(ph.indices)) : new Uint16Array(bytes(ph.indices));
      var pb = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, pb);
      gl.bufferData(gl.ARRAY_BUFFER, q, gl.STATIC_DRAW);
      var nb = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, nb);
      gl.bufferData(gl.ARRAY_BUFFER, normals(q, idx, ext), gl.STATIC_DRAW);
      var ib = gl.createBuffer(); gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, ib);
      gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, idx, gl.STATIC_DRAW);
      return {pb: pb, nb: nb, ib: ib, n: idx.length, type: wide ? gl.UNSIGNED_INT
        : gl.UNSIGNED_SHORT, col: rgb(ph.color), name: ph.name};
    });
    var view = {yaw: 0.6, pitch: 0.35, zoom: 0.9}, pending = false;
    var checks = box.querySelectorAll('input[type=checkbox]');
    function draw() {
      pending = false;
      var w = canvas.clientWidth, h = canvas.clientHeight, dpr = window.devicePixelRatio || 1;
      if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
        canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
      }
      gl.viewport(0, 0, canvas.width, canvas.height);
      gl.clearColor(1, 1, 1, 1); gl.enable(gl.DEPTH_TEST);
      gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
      var r = mul(rotX(view.pitch), mul(rotY(view.yaw), rotX(-Math.PI / 2)));
      var rt = [r[0], r[3], r[6], r[1], r[4], r[7], r[2], r[5], r[8]];  // column-major
      var k = view.zoom / radius, aspect = canvas.width / canvas.height;
      gl.uniformMatrix3fv(U.r, false, rt);
      gl.uniform3fv(U.lo, lo); gl.uniform3fv(U.ext, ext); gl.uniform3fv(U.c, centre);
      gl.uniform3fv(U.s, [k / Math.max(aspect, 1), k * Math.min(aspect, 1), -1 / radius]);
      var drawn = 0;
      meshes.forEach(function (m, i) {
        if (!m || !checks[i] || !checks[i].checked) return;
        gl.bindBuffer(gl.ARRAY_BUFFER, m.pb);
        gl.vertexAttribPointer(aP, 3, gl.UNSIGNED_SHORT, true, 0, 0);
        gl.enableVertexAttribArray(aP);
        gl.bindBuffer(gl.ARRAY_BUFFER, m.nb);
        gl.vertexAttribPointer(aN, 3, gl.FLOAT, false, 0, 0);
        gl.enableVertexAttribArray(aN);
        gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, m.ib);
        gl.uniform3fv(U.col, m.col);
        gl.drawElements(gl.TRIANGLES, m.n, m.type, 0);
        drawn += m.n / 3;
      });
      box.dataset.drawn = drawn;
    }
    function redraw() { if (!pending) { pending = true; requestAnimationFrame(draw); } }
    var drag = null;
    canvas.addEventListener('pointerdown', function (e) {
      drag = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener('pointermove', function (e) {
      if (!drag) return;
      view.yaw += (e.clientX - drag[0]) * 0.01;
      view.pitch = Math.max(-1.57, Math.min(1.57, view.pitch + (e.clientY - drag[1]) * 0.01));
      drag = [e.clientX, e.clientY]; redraw();
    });
    canvas.addEventListener('pointerup', function () { drag = null; });
    canvas.addEventListener('wheel', function (e) {
      e.preventDefault(); view.zoom *= Math.exp(-e.deltaY * 0.001); redraw();
    }, {passive: false});
    canvas.addEventListener('dblclick', function () {
      view = {yaw: 0.6, pitch: 0.35, zoom: 0.9}; redraw();
    });
    checks.forEach(function (c) { c.addEventListener('change', redraw); });
    draw();
    return gl;
  }
  function release(entry) {
    var lose = entry.gl.getExtension('WEBGL_lose_context');
    if (lose) lose.loseContext();
    var old = entry.box.querySelector('canvas'), fresh = old.cloneNode(false);
    old.parentNode.replaceChild(fresh, old);
    delete entry.box.dataset.drawn;
  }
  function visible(box) {
    var r = box.getBoundingClientRect();
    return r.bottom > 0 && r.top < window.innerHeight;
  }
  function wake(box) {
    if (live.some(function (e) { return e.box === box; })) return;
    var gl = start(box);
    if (!gl) return;
    live.push({box: box, gl: gl});
    while (live.length > MAX_LIVE) {
      var k = live.findIndex(function (e) { return !visible(e.box); });
      if (k < 0) break;
      release(live.splice(k, 1)[0]);
    }
  }
  var boxes = document.querySelectorAll('.viewer[data-mesh]');
  if ('IntersectionObserver' in window) {
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) wake(e.target); });
    });
    boxes.forEach(function (b) { io.observe(b); });
  } else {
    boxes.forEach(wake);
  }
})();
""".replace("%MAX_LIVE%", str(MAX_LIVE))


def preview_size(preview: Mapping[str, Any]) -> int:
    """Bytes the preview adds to the page (its JSON text)."""
    return len(json.dumps(preview, separators=(",", ":")))


def viewer_html(scan_id: str, preview: Mapping[str, Any]) -> str:
    """The viewer of one scan: canvas, a checkbox per phase, and the embedded mesh data."""
    data_id = f"mesh-{scan_id}"
    toggles = "".join(
        f'<label><input type="checkbox" data-phase="{H.esc(p["name"])}"'
        f'{"" if p["name"].lower() in HIDDEN_AT_START else " checked"}> '
        f'{H.swatch(p["color"])}{H.esc(p["name"])} '
        f'<small>({p["n_faces"]:,} triangles)</small></label>'
        for p in preview["phases"]
    )
    text = json.dumps(preview, separators=(",", ":")).replace("</", "<\\/")
    return (
        f'<div class="viewer" data-mesh="{H.esc(data_id)}"><canvas width="560" height="420" '
        f'aria-label="3-D view of the phases of {H.esc(scan_id)}"></canvas>'
        f'<div class="toggles">{toggles}</div><p class="hint">Drag to rotate, wheel to zoom, '
        "double-click to reset. z is up; sizes in µm.</p></div>"
        f'<script type="application/json" id="{H.esc(data_id)}">{text}</script>'
    )
