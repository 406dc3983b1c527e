"""Class probabilities of normalised slices: U-Net sliding windows and random-forest features.

Slices are processed one at a time (all tiles of a slice in one or more fixed
batches), so the result of a slice never depends on which other slices are
processed with it.
"""

from __future__ import annotations

import numpy as np
import torch

from tomosnake.segment.modelfile import SegmentModel

#: largest window (pixels); slices that fit (with their border) are one window
MAX_TILE = 1024
OVERLAP = 64
#: reflected border added around every slice so that no image pixel lies on a tile edge
BORDER = 16
MAX_BATCH = 4


def default_device() -> torch.device:
    """CUDA if available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _starts(length: int, tile: int, stride: int) -> list[int]:
    starts = list(range(0, max(length - tile, 0) + 1, stride))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def _window(tile: int, overlap: int) -> np.ndarray:
    """2-D blending weight: 1 in the middle, a cosine ramp over ``overlap`` at each edge."""
    ramp = np.ones(tile, np.float32)
    r = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)
    ramp[:overlap] = r
    ramp[-overlap:] = r[::-1]
    return np.outer(ramp, ramp)


def _tta_variants(x: torch.Tensor, tta: bool) -> list[tuple[torch.Tensor, tuple[int, ...]]]:
    if not tta:
        return [(x, ())]
    return [(x.flip(dims) if dims else x, dims) for dims in ((), (-1,), (-2,), (-2, -1))]


@torch.no_grad()
def unet_probabilities(
    model: SegmentModel, planes: np.ndarray, tta: bool = False, device: torch.device | None = None
) -> np.ndarray:
    """Class probabilities (classes, y, x) float32 of one normalised (2c+1, y, x) context stack.

    The slice, with a reflected border, is one window if it fits in ``MAX_TILE``,
    else overlapping windows whose softmax outputs are blended with a cosine
    ramp; with ``tta`` the four flips are averaged.
    """
    device = device or default_device()
    net = model.network.to(device).eval()
    c, ny, nx = planes.shape
    mult = net.multiple
    tile_y = min(MAX_TILE, -(-(ny + 2 * BORDER) // mult) * mult)
    tile_x = min(MAX_TILE, -(-(nx + 2 * BORDER) // mult) * mult)
    pad_y = max(tile_y - ny - BORDER, BORDER)
    pad_x = max(tile_x - nx - BORDER, BORDER)
    img = np.pad(planes, ((0, 0), (BORDER, pad_y), (BORDER, pad_x)), mode="reflect")
    hy, hx = img.shape[1:]
    ov_y, ov_x = min(OVERLAP, tile_y // 4), min(OVERLAP, tile_x // 4)
    weight = _window(tile_y, ov_y)[:, :1] * _window(tile_x, ov_x)[:1, :]
    weight = np.maximum(weight / weight.max(), 1e-3).astype(np.float32)
    boxes = [
        (y, x)
        for y in _starts(hy, tile_y, tile_y - ov_y)
        for x in _starts(hx, tile_x, tile_x - ov_x)
    ]
    k = len(model.phases)
    acc = np.zeros((k, hy, hx), np.float32)
    norm = np.zeros((hy, hx), np.float32)
    use_amp = device.type == "cuda"
    for i in range(0, len(boxes), MAX_BATCH):
        chunk = boxes[i : i + MAX_BATCH]
        batch = torch.from_numpy(
            np.stack([img[:, y : y + tile_y, x : x + tile_x] for y, x in chunk])
        ).to(device)
        prob = torch.zeros((len(chunk), k, tile_y, tile_x), device=device)
        variants = _tta_variants(batch, tta)
        for xb, dims in variants:
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                out = net(xb)
            out = torch.softmax(out.float(), dim=1)
            prob += out.flip(dims) if dims else out
        prob = (prob / len(variants)).cpu().numpy()
        for (y, x), p in zip(chunk, prob, strict=True):
            acc[:, y : y + tile_y, x : x + tile_x] += p * weight
            norm[y : y + tile_y, x : x + tile_x] += weight
    acc /= norm
    return acc[:, BORDER : BORDER + ny, BORDER : BORDER + nx]


def forest_probabilities(model: SegmentModel, plane: np.ndarray) -> np.ndarray:
    """Class probabilities (classes, y, x) float32 of one normalised (1, y, x) slice."""
    from tomosnake.segment.classical import pixel_features

    feats = pixel_features(plane[-1 - model.context])
    ny, nx = plane.shape[1:]
    prob = model.forest.predict_proba(feats.reshape(-1, feats.shape[-1]))
    return prob.T.reshape(len(model.phases), ny, nx).astype(np.float32)
