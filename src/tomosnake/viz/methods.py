"""A methods paragraph a paper can cite: what was done to each scan, with which settings,
and the references of the algorithms that were actually used.

Input per scan: its settings ``{stage: {key: value}}`` (stages ``preprocess``, ``recon``,
``segment``, ``morph``, as the scan sheet merges them), and optionally its
``center.json`` and morphology record (for the centre actually used, the sample region and
the tortuosity method). Scans with identical settings share one paragraph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tomosnake.viz.morphology import is_number, length_unit


@dataclass(frozen=True)
class Reference:
    """A citable publication."""

    key: str
    text: str
    doi: str = ""


REFERENCES: dict[str, Reference] = {
    r.key: r
    for r in (
        Reference("Dowd 1999", "Dowd, B. A. et al. Developments in synchrotron x-ray computed "
                  "microtomography at the National Synchrotron Light Source. Proc. SPIE 3772, "
                  "224-236 (1999).", "10.1117/12.363725"),
        Reference("Marone 2012", "Marone, F. & Stampanoni, M. Regridding reconstruction "
                  "algorithm for real-time tomographic imaging. J. Synchrotron Rad. 19, "
                  "1029-1037 (2012).", "10.1107/S0909049512032864"),
        Reference("Kak 1988", "Kak, A. C. & Slaney, M. Principles of Computerized Tomographic "
                  "Imaging (IEEE Press, 1988).", "10.1137/1.9780898719277"),
        Reference("Gilbert 1972", "Gilbert, P. Iterative methods for the three-dimensional "
                  "reconstruction of an object from projections. J. Theor. Biol. 36, 105-117 "
                  "(1972).", "10.1016/0022-5193(72)90180-4"),
        Reference("Hestenes 1952", "Hestenes, M. R. & Stiefel, E. Methods of conjugate "
                  "gradients for solving linear systems. J. Res. Natl. Bur. Stand. 49, 409-436 "
                  "(1952).", "10.6028/jres.049.044"),
        Reference("Vo 2018", "Vo, N. T., Atwood, R. C. & Drakopoulos, M. Superior techniques "
                  "for eliminating ring artifacts in X-ray micro-tomography. Opt. Express 26, "
                  "28396-28412 (2018).", "10.1364/OE.26.028396"),
        Reference("Münch 2009", "Münch, B., Trtik, P., Marone, F. & Stampanoni, M. Stripe and "
                  "ring artifact removal with combined wavelet-Fourier filtering. Opt. Express "
                  "17, 8567-8591 (2009).", "10.1364/OE.17.008567"),
        Reference("Titarenko 2010", "Titarenko, S., Withers, P. J. & Yagola, A. An analytical "
                  "formula for ring artefact suppression in X-ray tomography. Appl. Math. Lett. "
                  "23, 1489-1495 (2010).", "10.1016/j.aml.2010.08.022"),
        Reference("Paganin 2002", "Paganin, D., Mayo, S. C., Gureyev, T. E., Miller, P. R. & "
                  "Wilkins, S. W. Simultaneous phase and amplitude extraction from a single "
                  "defocused image of a homogeneous object. J. Microsc. 206, 33-40 (2002).",
                  "10.1046/j.1365-2818.2002.01010.x"),
        Reference("Vo 2014", "Vo, N. T., Drakopoulos, M., Atwood, R. C. & Reinhard, C. "
                  "Reliable method for calculating the center of rotation in parallel-beam "
                  "tomography. Opt. Express 22, 19078-19086 (2014).", "10.1364/OE.22.019078"),
        Reference("van Heel 2005", "van Heel, M. & Schatz, M. Fourier shell correlation "
                  "threshold criteria. J. Struct. Biol. 151, 250-262 (2005).",
                  "10.1016/j.jsb.2005.05.009"),
        Reference("Otsu 1979", "Otsu, N. A threshold selection method from gray-level "
                  "histograms. IEEE Trans. Syst. Man Cybern. 9, 62-66 (1979).",
                  "10.1109/TSMC.1979.4310076"),
        Reference("Liao 2001", "Liao, P.-S., Chen, T.-S. & Chung, P.-C. A fast algorithm for "
                  "multilevel thresholding. J. Inf. Sci. Eng. 17, 713-727 (2001)."),
        Reference("Breiman 2001", "Breiman, L. Random forests. Mach. Learn. 45, 5-32 (2001).",
                  "10.1023/A:1010933404324"),
        Reference("Ronneberger 2015", "Ronneberger, O., Fischer, P. & Brox, T. U-Net: "
                  "convolutional networks for biomedical image segmentation. MICCAI 2015, "
                  "LNCS 9351, 234-241 (2015).", "10.1007/978-3-319-24574-4_28"),
        Reference("Lorensen 1987", "Lorensen, W. E. & Cline, H. E. Marching cubes: a high "
                  "resolution 3D surface construction algorithm. SIGGRAPH Comput. Graph. 21, "
                  "163-169 (1987).", "10.1145/37402.37422"),
        Reference("Lewiner 2003", "Lewiner, T., Lopes, H., Vieira, A. W. & Tavares, G. "
                  "Efficient implementation of marching cubes' cases with topological "
                  "guarantees. J. Graph. Tools 8, 1-15 (2003).",
                  "10.1080/10867651.2003.10487582"),
        Reference("Cooper 2016", "Cooper, S. J., Bertei, A., Shearing, P. R., Kilner, J. A. & "
                  "Brandon, N. P. TauFactor: an open-source application for calculating "
                  "tortuosity factors from tomographic data. SoftwareX 5, 203-210 (2016).",
                  "10.1016/j.softx.2016.09.002"),
        Reference("Kench 2023", "Kench, S., Squires, I. & Cooper, S. J. TauFactor 2: a GPU "
                  "accelerated python tool for microstructural analysis. J. Open Source Softw. "
                  "8, 5358 (2023).", "10.21105/joss.05358"),
        Reference("Hildebrand 1997", "Hildebrand, T. & Rüegsegger, P. A new method for the "
                  "model-independent assessment of thickness in three-dimensional images. "
                  "J. Microsc. 185, 67-75 (1997).", "10.1046/j.1365-2818.1997.1340694.x"),
        Reference("Bruggeman 1935", "Bruggeman, D. A. G. Berechnung verschiedener "
                  "physikalischer Konstanten von heterogenen Substanzen. Ann. Phys. 416, "
                  "636-664 (1935).", "10.1002/andp.19354160705"),
    )
}

RECON = {
    "gridrec": ("gridrec (direct Fourier inversion)", ("Dowd 1999", "Marone 2012")),
    "fbp": ("filtered back-projection", ("Kak 1988",)),
    "sirt": ("SIRT", ("Gilbert 1972",)),
    "cgls": ("CGLS (conjugate gradients on the normal equations)", ("Hestenes 1952",)),
}
RINGS = {
    "sort": ("Vo's sorting-based stripe removal", ("Vo 2018",)),
    "large": ("Vo's large-stripe removal", ("Vo 2018",)),
    "all": ("Vo's combined stripe removal (sorting, large and dead stripes)", ("Vo 2018",)),
    "fw": ("combined wavelet-Fourier filtering", ("Münch 2009",)),
    "ti": ("Titarenko's regularisation", ("Titarenko 2010",)),
}
SEGMENT = {
    "otsu": ("multi-level Otsu thresholds", ("Otsu 1979", "Liao 2001")),
    "rf": ("a random-forest pixel classifier on filter features", ("Breiman 2001",)),
    "cnn": ("a 2-D U-Net", ("Ronneberger 2015",)),
}
FILTERS = {
    "shepp": "Shepp-Logan", "ramlak": "Ram-Lak", "hann": "Hann", "hamming": "Hamming",
    "cosine": "cosine", "parzen": "Parzen", "butterworth": "Butterworth", "none": "no",
}


class _Cite:
    """Collects the references in order of first use and numbers them."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def __call__(self, *keys: str) -> str:
        nums = []
        for key in keys:
            if key not in self.keys:
                self.keys.append(key)
            nums.append(str(self.keys.index(key) + 1))
        return "[" + ", ".join(nums) + "]"


def _fmt(value: Any) -> str:
    return f"{value:g}" if is_number(value) else str(value)


def _preprocess(pre: Mapping[str, Any], center: Mapping[str, Any] | None, cite: _Cite) -> str:
    parts = ["Projections were normalised with the flat and dark fields"]
    if pre.get("zingers", True):
        parts.append("zingers (isolated bright pixels) were removed")
    rings = pre.get("rings", "none")
    if rings in RINGS:
        what, refs = RINGS[rings]
        parts.append(f"ring artefacts were suppressed with {what} {cite(*refs)}")
    pag = pre.get("paganin")
    if isinstance(pag, Mapping):
        parts.append(
            f"phase contrast was retrieved with Paganin's single-distance method "
            f"{cite('Paganin 2002')} (energy {_fmt(pag.get('energy_kev'))} keV, propagation "
            f"distance {_fmt(pag.get('distance_m'))} m, δ/β = {_fmt(pag.get('delta_beta'))})"
        )
    text = "; ".join(parts) + ". "
    given = pre.get("center", "auto")
    used = (center or {}).get("used") or {}
    value = (center or {}).get("center")
    if is_number(given):
        text += f"The rotation centre was set to {_fmt(given)} px. "
    else:
        method = used.get("method") or pre.get("center_method", "vo")
        how = {
            "vo": f"with Vo's method {cite('Vo 2014')}",
            "pc": "by phase correlation of opposing projections",
            "360": "from the overlap of the two halves of the 360° scan",
            "sharpness": "by maximising the sharpness of trial reconstructions",
        }.get(method, f"({method})")
        at = f" ({value:.2f} px at the middle row)" if is_number(value) else ""
        text += f"The rotation centre was found {how}{at}"
        methods = (center or {}).get("methods") or {}
        if len(methods) > 1:
            text += f", checked against {', '.join(m for m in methods if m != method)}"
        fit = (center or {}).get("fit") or {}
        if fit.get("kind") in ("line", "per_row") and is_number(fit.get("tilt_deg")):
            text += f"; a per-row centre corrected an axis tilt of {fit['tilt_deg']:.2f}°"
        text += ". "
    frc = (center or {}).get("frc") or {}
    if is_number(frc.get("resolution_um")):
        text += (
            f"The spatial resolution, from the Fourier ring correlation of two half-data "
            f"reconstructions with the half-bit threshold {cite('van Heel 2005')}, was "
            f"{frc['resolution_um']:.3g} µm. "
        )
    return text


def _recon(rec: Mapping[str, Any], cite: _Cite) -> str:
    algo = rec.get("algorithm", "gridrec")
    what, refs = RECON.get(algo, (algo, ()))
    text = f"Slices were reconstructed with {what}{' ' + cite(*refs) if refs else ''}"
    if algo in ("gridrec", "fbp"):
        text += f" and the {FILTERS.get(rec.get('filter', 'shepp'), rec.get('filter'))} filter"
    if rec.get("crop"):
        text += f", keeping the central {rec['crop']} × {rec['crop']} pixels"
    return text + ". "


def _segment(seg: Mapping[str, Any], cite: _Cite) -> str:
    method = seg.get("method", "otsu")
    what, refs = SEGMENT.get(method, (method, ()))
    text = f"Voxels were classified into pore, carbon-binder domain (CBD) and NMC with {what} "
    text += cite(*refs) if refs else ""
    if method in ("cnn", "rf"):
        slices = seg.get("train_slices") or []
        text += f", trained on {len(slices)} labelled slices"
        if seg.get("train_scans"):
            text += f" of {', '.join(seg['train_scans'])}"
        if method == "cnn" and seg.get("epochs"):
            text += f" for {seg['epochs']} epochs"
    return text + ". "


def _morph(morph: Mapping[str, Any], rec: Mapping[str, Any] | None, cite: _Cite) -> str:
    metrics = list(morph.get("metrics") or (rec or {}).get("metrics") or [])
    sample = (rec or {}).get("sample") or {}
    where = "the whole volume"
    if sample.get("mode") not in (None, "none"):
        where = (
            f"the sample region ({sample['mode']}, {sample.get('voxels', 0):,} voxels, "
            f"{100 * sample.get('fraction_of_volume', 1):.0f} % of the volume)"
        )
    items = []
    if "fractions" in metrics:
        items.append("volume fractions")
    if "surface" in metrics:
        items.append(
            f"specific surface and interface areas from marching-cubes surfaces "
            f"{cite('Lorensen 1987', 'Lewiner 2003')}"
        )
    if "connectivity" in metrics:
        items.append("connectivity (6-connected components, percolating fractions)")
    if "tortuosity" in metrics:
        sub = any(
            isinstance(t, Mapping) and t.get("method") == "subvolumes"
            for per in ((rec or {}).get("tortuosity") or {}).values()
            for t in (per or {}).values()
        )
        items.append(
            "tortuosity factors τ from steady-state diffusion simulations as defined in "
            f"TauFactor {cite('Cooper 2016', 'Kench 2023')}"
            + (" (mean and spread over sub-volumes)" if sub else "")
            + ", with D_eff/D_0 = ε/τ and MacMullin numbers N_M = τ/ε"
        )
    if "sizes" in metrics:
        items.append(f"local thickness {cite('Hildebrand 1997')} and watershed-separated "
                     "particle diameters")
    if not items:
        return ""
    unit = "µm" if length_unit(rec or {}) == "µm" else "voxel units (no voxel size known)"
    return f"Within {where} we computed {', '.join(items)}; lengths are in {unit}. "


def scan_paragraph(
    settings: Mapping[str, Mapping[str, Any]],
    cite: _Cite,
    center: Mapping[str, Any] | None = None,
    morphology: Mapping[str, Any] | None = None,
) -> str:
    """The methods text of one scan's processing (references numbered by ``cite``)."""
    text = _preprocess(settings.get("preprocess") or {}, center, cite)
    text += _recon(settings.get("recon") or {}, cite)
    text += _segment(settings.get("segment") or {}, cite)
    text += _morph(settings.get("morph") or {}, morphology, cite)
    vs = (morphology or {}).get("voxel_size_um")
    if is_number(vs):
        text += f"The voxel size was {vs:g} µm. "
    return text.strip()


@dataclass(frozen=True)
class Methods:
    """Paragraphs (scan ids, text), closing text, and the cited references in order."""

    paragraphs: list[tuple[list[str], str]]
    closing: str
    references: list[Reference]


def methods_text(
    scans: Sequence[tuple[str, Mapping[str, Any], Mapping | None, Mapping | None]],
    versions: Mapping[str, str] | None = None,
    bruggeman_fit: bool = False,
    commit: str | None = None,
) -> Methods:
    """Methods for ``scans`` = [(scan id, settings, center record, morphology record)].

    Scans whose text is identical share a paragraph. ``versions`` (package -> version)
    and ``commit`` (of the workflow) name the software; ``bruggeman_fit`` adds the
    across-scan fit.
    """
    cite = _Cite()
    groups: dict[str, list[str]] = {}
    for scan, settings, center, morph in scans:
        groups.setdefault(scan_paragraph(settings, cite, center, morph), []).append(scan)
    closing = ""
    if bruggeman_fit:
        closing += (
            "Across scans, the Bruggeman relation τ = ε^(1-α) "
            f"{cite('Bruggeman 1935')} was fitted by least squares in log-log space to the "
            "percolating tortuosity factors of scans passing quality control. "
        )
    if versions:
        names = ", ".join(f"{k} {v}" for k, v in versions.items())
        at = f" (workflow commit {commit})" if commit else ""
        closing += f"Software{at}: {names}."
    return Methods(
        paragraphs=[(ids, text) for text, ids in groups.items()],
        closing=closing.strip(),
        references=[REFERENCES[k] for k in cite.keys],
    )
