"""From an RGB image to the detector's input: BGR, caffe pixel means, short side 600, long <= 1000.

Two resizes, one per post-processing mode:

- ``caffe`` (generate_tsv.py / py-faster-rcnn's ``_get_image_blob``): one scale factor,
  ``short / min(H, W)`` unless that makes the long side round past ``max_size``, then
  ``max_size / max(H, W)``; means subtracted first, then OpenCV's linear resize with that
  factor on both axes (OpenCV rounds the output size).
- ``hf`` (the LXMERT demo's ``ResizeShortestEdge``): the short side set to ``short``, the
  long side scaled (capped at ``max_size``), both rounded with ``int(x + 0.5)``, torch's
  bilinear ``interpolate``, then the means subtracted; each axis keeps its own factor.

Both feed the network BGR, the order its caffe weights and pixel means are in; the demo's
channel swap (docs/detector.md) is not reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .config import DetectorConfig

__all__ = ["DetectorInput", "caffe_scale", "prepare"]

#: an image needs at least this many pixels per side to say anything about its regions
MIN_SIDE = 16


@dataclass
class DetectorInput:
    pixels: torch.Tensor  # (1, 3, h, w) float32, BGR, means subtracted (and divided by std)
    image_height: int  # the original image
    image_width: int
    scale_y: float  # input pixels per original pixel
    scale_x: float

    @property
    def input_height(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def input_width(self) -> int:
        return int(self.pixels.shape[3])


def caffe_scale(height: int, width: int, short: int, longest: int) -> float:
    """py-faster-rcnn's test scale: short side to ``short`` unless the long side would round past ``longest``."""
    small, large = min(height, width), max(height, width)
    scale = float(short) / float(small)
    if np.round(scale * large) > longest:
        scale = float(longest) / float(large)
    return scale


def hf_size(height: int, width: int, short: int, longest: int) -> tuple[int, int]:
    """The demo's ResizeShortestEdge output (height, width)."""
    scale = short * 1.0 / min(height, width)
    new_h, new_w = (short, scale * width) if height < width else (scale * height, short)
    if max(new_h, new_w) > longest:
        factor = longest * 1.0 / max(new_h, new_w)
        new_h, new_w = new_h * factor, new_w * factor
    return int(new_h + 0.5), int(new_w + 0.5)


def prepare(rgb: np.ndarray, config: DetectorConfig, mode: str) -> DetectorInput:
    """``rgb``: (H, W, 3) uint8 RGB. The network input for ``mode`` ("caffe" or "hf")."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(
            f"the detector takes an (H, W, 3) uint8 RGB image; got {rgb.dtype} {rgb.shape}"
        )
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ValueError(
            f"the image is {width}x{height} pixels; the detector needs at least {MIN_SIDE} pixels per "
            "side to find regions in it. Choose a larger photo."
        )
    bgr = np.ascontiguousarray(rgb[:, :, ::-1]).astype(np.float32)
    mean = np.asarray(config.pixel_mean, dtype=np.float32)
    std = np.asarray(config.pixel_std, dtype=np.float32)
    if mode == "caffe":
        scale = caffe_scale(height, width, config.min_size, config.max_size)
        resized = cv2.resize(
            bgr - mean, None, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR
        )
        pixels = torch.from_numpy(resized / std if (std != 1).any() else resized).permute(2, 0, 1)[
            None
        ]
        return DetectorInput(pixels.contiguous(), height, width, scale, scale)
    if mode == "hf":
        new_h, new_w = hf_size(height, width, config.min_size, config.max_size)
        chw = torch.from_numpy(bgr).permute(2, 0, 1)[None]
        resized = F.interpolate(chw, (new_h, new_w), mode="bilinear", align_corners=False)[0]
        pixels = (resized - torch.from_numpy(mean).view(3, 1, 1)) / torch.from_numpy(std).view(
            3, 1, 1
        )
        return DetectorInput(
            pixels[None].contiguous(), height, width, new_h / height, new_w / width
        )
    raise ValueError(f"unknown detector mode {mode!r}; use 'caffe' or 'hf'")
