"""Phantoms of ellipsoids, cylinders and rods whose line integrals are exact (closed form).

The projector of :mod:`tomosnake.recon` (Siddon) is never used here, so scans made from these
phantoms test the reconstruction against an independent model, and scans of any size are
made in seconds per hundred projections.

Coordinates, in detector pixels (= voxels): ``z`` is the height in detector rows (row ``r``
spans ``[r, r + 1)``); ``x`` and ``y`` are measured from the rotation axis, ``x`` along the
detector at angle 0 and ``y`` pointing to smaller rows of a reconstructed slice (the geometry of
:mod:`tomosnake.recon.geometry`). A point rotates with the sample; at angle ``theta`` the ray
through detector position ``u`` of row ``r`` is ``x cos(theta) + y sin(theta) = u - c(z)``.

Composition: the attenuation at a point is the **sum** of the ``mu`` of every object that
contains it (as in Shepp and Logan's phantom), so a nested object carries the difference to its
host (a particle of 0.03 inside a resin of 0.002 has ``mu = 0.028``). Labels are not summed: a
point takes the ``label`` of the **last** object in the list that contains it (``background``
where none does). Line integrals are therefore the sum over objects of ``mu`` x chord length.

Shapes:

* :class:`Ellipsoid` (any orientation; :func:`sphere`, :func:`spheroid`) and :class:`ZCylinder`
  (an elliptic cylinder along z): every horizontal section is an ellipse, whose chord profile
  is ``L sqrt(1 - ((t - t0) / w)^2)``; its integral over each detector pixel has a closed
  form, so these are exact with one evaluation per pixel edge.
* :class:`Rod`: a finite circular cylinder along any axis (binder bridges); its chord is
  computed in closed form for ``sub_x`` rays per pixel and averaged.

Each detector row is sampled at its centre height (``sub_rows`` > 1 averages several heights).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from tomosnake import threads
from tomosnake.errors import ConfigError


@dataclass(frozen=True)
class Ellipsoid:
    """Ellipsoid with semi-axes ``axes = (az, ay, ax)`` (pixels) along its own z, y, x axes.

    ``center`` is (z, y, x): z in detector rows, y and x from the rotation axis. The body
    axes are turned by ``phi_deg`` about z (the x semi-axis towards +y), or, if ``rotation``
    is given, are its columns: a 3 x 3 rotation whose columns are the body's z, y and x axes
    in (z, y, x) coordinates (any orientation: see :func:`spheroid`). ``mu`` is attenuation
    per voxel length, added to whatever contains the ellipsoid.
    """

    center: tuple[float, float, float]
    axes: tuple[float, float, float]
    mu: float
    label: int = 0
    phi_deg: float = 0.0
    rotation: tuple[tuple[float, float, float], ...] | None = None

    def quadric(self) -> np.ndarray:
        """Q (3 x 3, z-y-x) with the inside ``(p - center)^T Q (p - center) <= 1``."""
        if self.rotation is not None:
            rot = np.asarray(self.rotation, dtype=np.float64)
        else:
            c, s = np.cos(np.deg2rad(self.phi_deg)), np.sin(np.deg2rad(self.phi_deg))
            rot = np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])
        return rot @ np.diag(1.0 / np.asarray(self.axes, dtype=np.float64) ** 2) @ rot.T

    def half_extent(self) -> np.ndarray:
        """Half-extents along z, y and x (pixels)."""
        return _half_extent(self)

    def z_range(self) -> tuple[float, float]:
        """Heights the object spans."""
        hz = float(self.half_extent()[0])
        return self.center[0] - hz, self.center[0] + hz


@functools.lru_cache(maxsize=65536)
def _half_extent(obj: Ellipsoid) -> np.ndarray:
    return np.sqrt(np.diag(np.linalg.inv(obj.quadric())))


@dataclass(frozen=True)
class ZCylinder:
    """Elliptic cylinder along z: semi-axes ``axes = (ay, ax)``, heights ``z0 <= z < z1``.

    ``center`` is (y, x) from the rotation axis; ``phi_deg`` as for :class:`Ellipsoid`.
    """

    center: tuple[float, float]
    axes: tuple[float, float]
    z0: float
    z1: float
    mu: float
    label: int = 0
    phi_deg: float = 0.0

    def z_range(self) -> tuple[float, float]:
        """Heights the object spans."""
        return self.z0, self.z1

    def quadric2(self) -> np.ndarray:
        """Q2 (2 x 2, y-x) with the section ``(v - center)^T Q2 (v - center) <= 1``."""
        c, s = np.cos(np.deg2rad(self.phi_deg)), np.sin(np.deg2rad(self.phi_deg))
        rot = np.array([[c, s], [-s, c]])  # columns: body y, body x in (y, x)
        return rot @ np.diag(1.0 / np.asarray(self.axes, dtype=np.float64) ** 2) @ rot.T


@dataclass(frozen=True)
class Rod:
    """Finite circular cylinder from ``p0`` to ``p1`` (each (z, y, x)), radius in pixels."""

    p0: tuple[float, float, float]
    p1: tuple[float, float, float]
    radius: float
    mu: float
    label: int = 0

    def z_range(self) -> tuple[float, float]:
        """Heights the object spans (a bound)."""
        return min(self.p0[0], self.p1[0]) - self.radius, max(self.p0[0], self.p1[0]) + self.radius


Shape = Ellipsoid | ZCylinder | Rod


@dataclass(frozen=True)
class Phantom:
    """A list of objects (later objects' labels win, attenuations add) and label names.

    Attributes:
        objects: the shapes, in order.
        phases: label name -> value (e.g. pore 0, cbd 1, nmc 2).
        background: label of points inside no object.
        sample: index of the object that bounds the sample (e.g. a pillar), or None.
    """

    objects: tuple[Shape, ...]
    phases: dict[str, int] = field(default_factory=dict)
    background: int = 0
    sample: int | None = None


def sphere(center: Sequence[float], radius: float, mu: float, label: int = 0) -> Ellipsoid:
    """A sphere (z, y, x centre, radius in pixels)."""
    return Ellipsoid(tuple(float(c) for c in center), (radius, radius, radius), mu, label)


def spheroid(p0: Sequence[float], p1: Sequence[float], radius: float, mu: float,
             label: int = 0) -> Ellipsoid:
    """The ellipsoid of revolution whose tips are ``p0`` and ``p1`` (z, y, x), of ``radius``."""
    a, b = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    length = float(np.linalg.norm(b - a))
    if length == 0:
        raise ConfigError("spheroid: p0 and p1 coincide")
    ez = (b - a) / length
    helper = np.array([0.0, 0.0, 1.0]) if abs(ez[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    ey = np.cross(ez, helper)
    ey /= np.linalg.norm(ey)
    ex = np.cross(ez, ey)
    rot = tuple(tuple(float(v) for v in row) for row in np.stack([ez, ey, ex], axis=1))
    centre = tuple(float(v) for v in (a + b) / 2)
    return Ellipsoid(centre, (length / 2, float(radius), float(radius)), mu, label,
                     rotation=rot)


# ---------------------------------------------------------------------------------------------
# line integrals


def _ellipse_profile_integral(tau: np.ndarray) -> np.ndarray:
    """G(tau) = integral of sqrt(1 - s^2) ds from 0 to tau, for tau in [-1, 1]."""
    return 0.5 * (tau * np.sqrt(1.0 - tau * tau) + np.arcsin(tau))


def _project_elliptic(obj: Ellipsoid | ZCylinder, out: np.ndarray, cos_t: np.ndarray,
                      sin_t: np.ndarray, h: np.ndarray, axis_u: np.ndarray, r0: int) -> None:
    """Add pixel-averaged chords of an object with elliptic sections to ``out[:, r0:...]``.

    ``h`` and ``axis_u`` are (angle, row) heights and detector positions of the axis. The
    section at height h is ``u^T Q2 u <= rho(h)`` around ``e(h)`` (y, x); its chord
    profile across the detector is ``L sqrt(1 - ((t - t0) / w)^2)`` with
    ``w = sqrt(rho n^T Q2^-1 n)``, ``t0 = n . e`` and ``L w = 2 rho / sqrt(det Q2)``.
    """
    q2inv, area, zz, drift = _section_params(obj)
    if isinstance(obj, Ellipsoid):
        dz = h - obj.center[0]
        rho = np.clip(1.0 - dz**2 * zz, 0.0, None)
        ey, ex = obj.center[1] + dz * drift[0], obj.center[2] + dz * drift[1]
    else:
        rho = ((h >= obj.z0) & (h < obj.z1)).astype(np.float64)
        ey, ex = obj.center
    n_q_n = (q2inv[0, 0] * sin_t**2 + 2 * q2inv[0, 1] * sin_t * cos_t
             + q2inv[1, 1] * cos_t**2)  # n^T Q2^-1 n, n = (sin, cos) in (y, x)
    w = np.sqrt(rho * n_q_n[:, None])  # half-width of the shadow, (angle, row)
    u0 = axis_u + ex * cos_t[:, None] + ey * sin_t[:, None]  # shadow centre on the detector
    k0 = np.floor((u0 - w).min(axis=1)).astype(np.int64)  # window start per angle
    width = int(np.ceil(((u0 + w).max(axis=1) - k0).max())) + 1
    edges = k0[:, None, None] + np.arange(width + 1, dtype=np.float64)
    inv_w = 1.0 / np.where(w > 0, w, 1.0)  # empty sections: rho = 0 zeroes them below
    tau = np.clip((edges - u0[..., None]) * inv_w[..., None], -1.0, 1.0)
    g = np.diff(_ellipse_profile_integral(tau), axis=-1)
    vals = g * (2.0 * obj.mu * area * rho)[..., None]
    _scatter(out, vals, k0, r0)


@functools.lru_cache(maxsize=65536)
def _section_params(obj: Ellipsoid | ZCylinder) -> tuple[np.ndarray, float, float, np.ndarray]:
    """Per object: Q2^-1 (y-x), 1 / sqrt(det Q2), how fast rho falls with height (dz^2
    coefficient) and how the section's centre moves with height (y, x per row)."""
    if isinstance(obj, Ellipsoid):
        q = obj.quadric()
        q2, qzv = q[1:, 1:], q[1:, 0]
        q2inv = np.linalg.inv(q2)
        zz = float(q[0, 0] - qzv @ q2inv @ qzv)
        drift = -q2inv @ qzv
    else:
        q2 = obj.quadric2()
        q2inv, zz, drift = np.linalg.inv(q2), 0.0, np.zeros(2)
    return q2inv, float(1.0 / np.sqrt(np.linalg.det(q2))), zz, drift


def _scatter(out: np.ndarray, vals: np.ndarray, k0: np.ndarray, r0: int) -> None:
    """out[a, r0 + r, k0[a] + j] += vals[a, r, j] where the column is on the detector.

    Small footprints go in with one indexed add (their indices are unique), large ones one
    angle at a time as slices (cheaper per value).
    """
    na, nr, width = vals.shape
    n_rows, n_cols = out.shape[1:]
    if nr * width < 1024:
        cols = k0[:, None, None] + np.arange(width)
        base = (np.arange(na)[:, None, None] * n_rows + np.arange(r0, r0 + nr)[:, None]) * n_cols
        flat = np.broadcast_to(base + cols, vals.shape)
        if k0.min() < 0 or k0.max() + width > n_cols:
            ok = np.broadcast_to((cols >= 0) & (cols < n_cols), vals.shape)
            flat, vals = flat[ok], vals[ok]
        out.reshape(-1)[flat.ravel()] += vals.ravel()
        return
    for a, k in enumerate(k0.tolist()):
        lo, hi = max(k, 0), min(k + width, n_cols)
        if hi > lo:
            out[a, r0 : r0 + nr, lo:hi] += vals[a, :, lo - k : hi - k]


def _project_rod(rod: Rod, out: np.ndarray, cos_t: np.ndarray, sin_t: np.ndarray,
                 h: np.ndarray, axis_u: np.ndarray, r0: int, sub_x: int) -> None:
    """Add the average chord of ``sub_x`` rays per pixel through a finite cylinder."""
    p0 = np.asarray(rod.p0, dtype=np.float64)
    p1 = np.asarray(rod.p1, dtype=np.float64)
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    if length == 0:
        return
    a = axis / length
    r = rod.radius
    # shadow of the rod on the detector, per angle: its end points' x-y projections +- r
    t_end = np.stack([p0[2] * cos_t + p0[1] * sin_t, p1[2] * cos_t + p1[1] * sin_t])
    t_lo = (t_end.min(axis=0)[:, None] + axis_u - r).min(axis=1)
    t_hi = (t_end.max(axis=0)[:, None] + axis_u + r).max(axis=1)
    k0 = np.floor(t_lo).astype(np.int64)  # window start per angle
    width = int(np.ceil((t_hi - k0).max())) + 1
    sub = (np.arange(width * sub_x) + 0.5) / sub_x  # sub-ray positions within the window
    u = k0[:, None, None] + sub  # (angle, 1, width * sub_x) detector positions
    t = u - axis_u[..., None]  # (angle, row, k)
    # ray: point q(s) = (h, t sin + s cos, t cos - s sin) in (z, y, x), direction
    # d = (0, cos, -sin); q0 = q(0) - p0. Inside: radial^2 <= r^2 and 0 <= along <= length.
    cs, sn = cos_t[:, None, None], sin_t[:, None, None]
    qz = (h - p0[0])[..., None]  # (angle, row, 1)
    qy = t * sn - p0[1]  # (angle, row, k)
    qx = t * cs - p0[2]
    da = cs * a[1] - sn * a[2]  # d . a, (angle, 1, 1)
    qa = qz * a[0] + qy * a[1] + qx * a[2]
    bb = (qy * cs - qx * sn) - qa * da  # q0 . d - (q0 . a)(d . a)
    aa = 1.0 - da * da
    cc = qz * qz + qy * qy + qx * qx - qa * qa - r * r
    with np.errstate(divide="ignore", invalid="ignore"):
        disc2 = bb * bb - aa * cc
        disc = np.sqrt(np.clip(disc2, 0.0, None))
        s1 = np.where(aa > 1e-12, (-bb - disc) / aa, np.where(cc <= 0, -np.inf, 0.0))
        s2 = np.where(aa > 1e-12, (-bb + disc) / aa, np.where(cc <= 0, np.inf, 0.0))
        hit = disc2 > 0
        # caps: 0 <= qa + s da <= length
        c1 = np.where(np.abs(da) > 1e-12, (0.0 - qa) / da, np.where(qa >= 0, -np.inf, np.inf))
        c2 = np.where(np.abs(da) > 1e-12, (length - qa) / da,
                      np.where(qa <= length, np.inf, -np.inf))
    lo = np.maximum(s1, np.minimum(c1, c2))
    hi = np.minimum(s2, np.maximum(c1, c2))
    chord = np.where(hit | ((aa <= 1e-12) & (cc <= 0)), np.clip(hi - lo, 0.0, None), 0.0)
    chord = np.nan_to_num(chord, posinf=0.0, neginf=0.0)
    vals = rod.mu * chord.reshape(*chord.shape[:2], width, sub_x).mean(axis=-1)
    _scatter(out, vals, k0, r0)


def project(
    phantom: Phantom,
    theta: np.ndarray,
    n_rows: int,
    n_cols: int,
    center: float | Callable[[np.ndarray], np.ndarray],
    shifts: np.ndarray | None = None,
    rows: tuple[int, int] | None = None,
    sub_x: int = 4,
    sub_rows: int = 1,
) -> np.ndarray:
    """Exact pixel-averaged line integrals of ``phantom`` (parallel beam, axis along z).

    Args:
        phantom: the objects.
        theta: projection angles, radians.
        n_rows, n_cols: detector size (rows = heights, columns).
        center: rotation axis on the detector (tomopy convention: column j spans [j, j+1)):
            a number, or a function of the height z (array, detector rows) for a tilted axis.
        shifts: None or (n_angles, 2) stage drift (dy, dx) in pixels: projection i is the
            drift-free projection moved by dy rows and dx columns (content at (z, u) moves to
            (z + dy, u + dx)).
        rows: detector rows [r0, r1) to compute (default all).
        sub_x: rays per pixel for :class:`Rod` objects (elliptic sections are integrated
            exactly).
        sub_rows: heights averaged per detector row (1: the row centre).

    Returns:
        float32 (angle, r1 - r0, n_cols) line integrals in units of mu x pixels.
    """
    theta = np.asarray(theta, dtype=np.float64).ravel()
    r0, r1 = (0, n_rows) if rows is None else rows
    na = theta.size
    sh = np.zeros((na, 2)) if shifts is None else np.asarray(shifts, dtype=np.float64)
    if sh.shape != (na, 2):
        raise ConfigError(f"shifts must be (n_angles, 2) = ({na}, 2), got {sh.shape}")
    center_fn = center if callable(center) else (lambda z: np.full_like(z, float(center)))
    out = np.zeros((na, r1 - r0, n_cols), dtype=np.float32)
    # angles split between threads, each filling its own projections
    n_threads = max(1, min(threads.current(), na))
    parts = np.array_split(np.arange(na), n_threads)
    args = (phantom, center_fn, (r0, r1), sub_x, sub_rows)
    if n_threads == 1:
        _project_angles(out, theta, sh, *args)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(lambda idx: _project_angles(out[idx[0] : idx[-1] + 1], theta[idx],
                                                      sh[idx], *args), parts))
    return out


def _project_angles(out: np.ndarray, theta: np.ndarray, sh: np.ndarray, phantom: Phantom,
                    center_fn: Callable[[np.ndarray], np.ndarray], rows: tuple[int, int],
                    sub_x: int, sub_rows: int) -> None:
    """:func:`project` of some angles into ``out`` (angle, rows, columns), serially."""
    r0, r1 = rows
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    dy_lo, dy_hi = float(sh[:, 0].min(initial=0.0)), float(sh[:, 0].max(initial=0.0))
    for k in range(sub_rows):
        frac = (k + 0.5) / sub_rows
        for obj in phantom.objects:
            z_lo, z_hi = obj.z_range()
            # detector rows r with r + frac - dy inside [z_lo, z_hi] for some angle
            a_lo = max(r0, int(np.floor(z_lo + dy_lo - frac)))
            a_hi = min(r1, int(np.ceil(z_hi + dy_hi - frac)) + 1)
            if a_hi <= a_lo:
                continue
            h = np.arange(a_lo, a_hi) + frac - sh[:, :1]  # (angle, row) heights in the sample
            axis_u = center_fn(h) + sh[:, 1:]
            if isinstance(obj, Rod):
                _project_rod(obj, out, cos_t, sin_t, h, axis_u, a_lo - r0, sub_x)
            else:
                _project_elliptic(obj, out, cos_t, sin_t, h, axis_u, a_lo - r0)
    if sub_rows > 1:
        out /= sub_rows


# ---------------------------------------------------------------------------------------------
# ground truth on the reconstruction grid


def _inside(obj: Shape, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    if isinstance(obj, Rod):
        p0 = np.asarray(obj.p0, dtype=np.float64)
        axis = np.asarray(obj.p1, dtype=np.float64) - p0
        length = float(np.linalg.norm(axis))
        a = axis / max(length, 1e-12)
        qz, qy, qx = z - p0[0], y - p0[1], x - p0[2]
        along = qz * a[0] + qy * a[1] + qx * a[2]
        radial2 = qz * qz + qy * qy + qx * qx - along * along
        return (along >= 0) & (along <= length) & (radial2 <= obj.radius**2)
    if isinstance(obj, Ellipsoid):
        q = obj.quadric()
        d = (z - obj.center[0], y - obj.center[1], x - obj.center[2])
        form = sum(q[i, j] * d[i] * d[j] for i in range(3) for j in range(3))
        return form <= 1.0
    q2 = obj.quadric2()
    dy, dx = y - obj.center[0], x - obj.center[1]
    form = q2[0, 0] * dy * dy + 2 * q2[0, 1] * dy * dx + q2[1, 1] * dx * dx
    return (form <= 1.0) & (z >= obj.z0) & (z < obj.z1)


def _bbox(obj: Shape) -> tuple[float, float, float, float]:
    """(y_lo, y_hi, x_lo, x_hi) bounding the object."""
    if isinstance(obj, Rod):
        ys, xs = (obj.p0[1], obj.p1[1]), (obj.p0[2], obj.p1[2])
        r = obj.radius
        return min(ys) - r, max(ys) + r, min(xs) - r, max(xs) + r
    if isinstance(obj, Ellipsoid):
        (_, cy, cx), (_, hy, hx) = obj.center, obj.half_extent()
    else:
        (cy, cx), (hy, hx) = obj.center, np.sqrt(np.diag(np.linalg.inv(obj.quadric2())))
    return cy - hy, cy + hy, cx - hx, cx + hx


def _fraction_inside(obj: Shape, zc: np.ndarray, yc: np.ndarray, xc: np.ndarray,
                     offs: np.ndarray) -> np.ndarray:
    """Fraction of each voxel (corner zc, yc, xc) inside ``obj``, from offs^3 sample points.

    A :class:`ZCylinder` is separable: its height overlap is exact and only y, x are sampled.
    """
    shape = np.broadcast_shapes(zc.shape, yc.shape, xc.shape)
    frac = np.zeros(shape)
    if isinstance(obj, ZCylinder):
        z_frac = np.clip(np.minimum(zc + 1, obj.z1) - np.maximum(zc, obj.z0), 0.0, 1.0)
        mid = 0.5 * (obj.z0 + obj.z1)
        for oy in offs:
            for ox in offs:
                frac += _inside(obj, np.full_like(zc, mid), yc - oy, xc + ox)
        return frac * z_frac / offs.size**2
    for oz in offs:
        for oy in offs:
            for ox in offs:
                frac += _inside(obj, zc + oz, yc - oy, xc + ox)
    return frac / offs.size**3


def voxelize(
    phantom: Phantom, z0: int, z1: int, n: int, supersample: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Attenuation and labels of rows ``z0:z1`` on the n x n grid of ``reconstruct``.

    Pixel (row q_r, column q_c) of a slice covers x in [q_c - n/2, q_c + 1 - n/2] and y in
    [n/2 - q_r - 1, n/2 - q_r] around the rotation axis (tomosnake.recon.geometry).

    Args:
        phantom: the objects.
        z0, z1: detector rows (= slices) to voxelise.
        n: slice width in pixels (the detector width for a full reconstruction).
        supersample: points per voxel edge averaged for the attenuation (labels are taken
            at voxel centres).

    Returns:
        (mu float32 (z, n, n) attenuation per voxel length, labels uint8 (z, n, n)).
    """
    nz = z1 - z0
    mu = np.zeros((nz, n, n), dtype=np.float64)
    labels = np.full((nz, n, n), phantom.background, dtype=np.uint8)
    ss = max(1, int(supersample))
    offs = (np.arange(ss) + 0.5) / ss
    for obj in phantom.objects:
        zl, zh = obj.z_range()
        ra, rb = max(z0, int(np.floor(zl))), min(z1, int(np.ceil(zh)) + 1)
        if rb <= ra:
            continue
        y_lo, y_hi, x_lo, x_hi = _bbox(obj)
        c_lo, c_hi = max(0, int(np.floor(x_lo + n / 2))), min(n, int(np.ceil(x_hi + n / 2)) + 1)
        q_lo, q_hi = max(0, int(np.floor(n / 2 - y_hi))), min(n, int(np.ceil(n / 2 - y_lo)) + 1)
        if c_hi <= c_lo or q_hi <= q_lo:
            continue
        zc = np.arange(ra, rb, dtype=np.float64)[:, None, None]
        yc = (n / 2 - np.arange(q_lo, q_hi, dtype=np.float64))[None, :, None]
        xc = (np.arange(c_lo, c_hi, dtype=np.float64) - n / 2)[None, None, :]
        box = (slice(ra - z0, rb - z0), slice(q_lo, q_hi), slice(c_lo, c_hi))
        labels[box] = np.where(_inside(obj, zc + 0.5, yc - 0.5, xc + 0.5), obj.label,
                               labels[box])
        mu[box] += obj.mu * _fraction_inside(obj, zc, yc, xc, offs)
    return mu.astype(np.float32), labels
