"""Preprocessing benchmark: tomosnake.preprocess against algotom (Vo's reference package).

Run: ``.venv/bin/python benchmarks/bench_preprocess.py`` (needs ``pip install algotom``).
On the real 360-degree neutron sinogram (459 x 503, ../shared/data/real_scans) it times the
stripe-removal and centre-finding functions of both packages and prints, per function, our
time / algotom's time, the relative RMS difference of the outputs (or the centre difference)
and the stripe metric after removal. tomopy itself cannot be installed here; agreement with its
stored outputs is asserted in tests/test_preprocess_*.py.

Then the workflow's centre analysis (:func:`tomosnake.preprocess.centering.analyse_center`: Vo,
sharpness and FRC on the 15 rows of :func:`center_rows`) on exact line integrals of a tilted
NMC pillar with photon-like noise, 512 and 2048 columns: wall and CPU seconds, the methods'
spread, and the largest per-row centre error against the truth.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tifffile

from tomosnake.preprocess import (
    find_center,
    find_center_vo,
    half_pair,
    minus_log,
    remove_all_stripe,
    remove_large_stripe,
    remove_stripe_fw,
    remove_stripe_sort,
    stripe_metric,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real_scans"


def timed(fn, *args, repeat: int = 3, **kwargs):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    import algotom.prep.calculation as acalc
    import algotom.prep.removal as arem

    raw = tifffile.imread(DATA / "neutron_sinogram_360_stripes.tif").astype(np.float32)
    sino = minus_log(raw / np.percentile(raw, 99, axis=1, keepdims=True))
    theta = np.arange(sino.shape[0]) * 2 * np.pi / sino.shape[0]
    rows = []
    before = stripe_metric(sino)
    pairs = [
        ("sort (size 21)", lambda s: remove_stripe_sort(s, 21),
         lambda s: arem.remove_stripe_based_sorting(s, 21)),
        ("large (snr 3, 51)", lambda s: remove_large_stripe(s, 3.0, 51),
         lambda s: arem.remove_large_stripe(s, 3.0, 51)),
        ("all (3, 51, 21)", lambda s: remove_all_stripe(s, 3.0, 51, 21),
         lambda s: arem.remove_all_stripe(s, 3.0, 51, 21)),
        ("fw (db5, level 6, sigma 2)", lambda s: remove_stripe_fw(s, level=6),
         lambda s: arem.remove_stripe_based_wavelet_fft(s, level=6, size=1, wavelet_name="db5")),
    ]
    for name, ours, theirs in pairs:
        a, ta = timed(ours, sino)
        b, tb = timed(theirs, sino)
        diff = np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2))
        metrics = f"metric {before:.3f} -> {stripe_metric(a):.2e} (algotom {stripe_metric(b):.2e})"
        rows.append((name, ta, tb, f"rel. RMS diff {diff:.2e}", metrics))
    clean = remove_all_stripe(sino)
    first, second = half_pair(clean, theta)
    c_ours, ta = timed(find_center_vo, first, repeat=1)
    c_theirs, tb = timed(acalc.find_center_vo, first, repeat=1)
    rows.append(("centre vo (180 half)", ta, tb, f"ours {c_ours:.2f}",
                 f"algotom {c_theirs + 0.5:.2f} (+0.5: tomopy convention)"))
    c_ours, ta = timed(find_center, clean, theta, "360", repeat=1)
    res, tb = timed(acalc.find_center_360, clean, 100, repeat=1)
    rows.append(("centre 360 overlap", ta, tb, f"ours {c_ours:.2f}",
                 f"algotom {res[0] + 0.5:.2f} (+0.5: tomopy convention)"))
    print(f"{'function':<28} {'ours s':>8} {'algotom s':>10} {'ratio':>6}  agreement")
    for name, ta, tb, agree, extra in rows:
        print(f"{name:<28} {ta:8.3f} {tb:10.3f} {ta / tb:6.2f}  {agree}; {extra}")


def centre_analysis() -> None:
    from tomosnake.preprocess.centering import analyse_center, center_rows
    from tomosnake.synth.analytic import project
    from tomosnake.synth.presets import nmc_pillar

    print("\ncentre analysis (5 heights x 3 rows, Vo + sharpness + FRC), tilted axis "
          "0.004 px/row, 900 angles over 180 deg, noise 1 % of the line integrals\n")
    print("| columns | rows | wall s | CPU s | spread px | used | max per-row error px |")
    print("|---------|------|--------|-------|-----------|------|----------------------|")
    rng = np.random.default_rng(0)
    for n_cols, n_rows in ((512, 128), (2048, 512)):
        ph = nmc_pillar(n_rows, n_cols, seed=3)
        theta = np.linspace(0, np.pi, 900, endpoint=False)
        c0 = n_cols / 2 + 7.3
        true = lambda z, c0=c0, n=n_rows: c0 + 0.004 * (z - n / 2)  # noqa: E731
        rows = center_rows(n_rows)
        sinos = {}
        for z in rows:
            s = project(ph, theta, n_rows, n_cols, true, rows=(z, z + 1))[:, 0]
            sinos[z] = s + 0.01 * s.std() * rng.standard_normal(s.shape).astype(np.float32)
        t0, c_0 = time.perf_counter(), time.process_time()
        rec = analyse_center(sinos, theta, n_rows, pixel_size_um=0.05)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c_0
        per_row = np.asarray(rec["per_row"] or [rec["center"]] * n_rows)
        err = np.abs(per_row - true(np.arange(n_rows) + 0.5)).max()
        print(f"| {n_cols:7d} | {n_rows:4d} | {wall:6.1f} | {cpu:5.1f} | "
              f"{rec['agreement']['spread_px']:9.2f} | {rec['used']['method']} | {err:20.3f} |")


if __name__ == "__main__":
    main()
    centre_analysis()
