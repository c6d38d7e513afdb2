"""The bottom-up-attention Faster R-CNN, end to end: image -> 36 regions with 2048-d features.

``FasterRCNN`` is the network (module names = the published checkpoint's keys);
``Detector`` adds the config, the post-processing mode and a name, and turns an RGB image
into ``DetectedRegions``. One image at a time, as generate_tsv.py ran it (batching pads
images to a common size, which changes border proposals).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import (
    DetectorLoadError,
    find_weights,
    load_state_dict_strict,
    read_state_dict,
    resolve_detector_dir,
)
from .config import CONFIG_NAME, DetectorConfig, DetectorConfigError
from .heads import RegionHead
from .postprocess import MODES, background_first, select_caffe, select_hf
from .precision import Bf16Convs, check_precision
from .preprocess import prepare
from .resnet import ResNetC4
from .rpn import RegionProposals

__all__ = ["FasterRCNN", "DetectedRegions", "Detector", "load_detector"]


class FasterRCNN(nn.Module):
    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = ResNetC4(config)
        self.proposal_generator = RegionProposals(config)
        self.roi_heads = RegionHead(config)
        self.eval()
        for parameter in self.parameters():
            parameter.requires_grad_(False)


@dataclass(frozen=True)
class DetectedRegions:
    """One image's regions, in the layout of VOLTA's features (background in column 0)."""

    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2 in the original image's pixels
    features: np.ndarray  # (N, D) float32 mean-pooled res5 (D = 2048 for the published detector)
    cls_prob: np.ndarray  # (N, num_classes + 1) float32, column 0 = background
    attr_prob: np.ndarray  # (N, num_attrs + 1) float32, column 0 = no attribute
    image_width: int
    image_height: int
    detector: str  # which detector (folder or hub name)
    mode: str  # "caffe" or "hf"
    precision: str = field(default="fp32")  # "fp32" (what VOLTA's features are) or "bf16"
    num_proposals: int = field(default=0)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage

    @property
    def num_boxes(self) -> int:
        return len(self.boxes)

    @property
    def objects(self) -> tuple[np.ndarray, np.ndarray]:
        """Best foreground class per region (a row of the 1,601-line vocabulary, 1 = first object) and its probability."""
        return _best_non_background(self.cls_prob)

    @property
    def attributes(self) -> tuple[np.ndarray, np.ndarray]:
        """Best attribute per region (1-based, column 0 being "no attribute") and its probability."""
        return _best_non_background(self.attr_prob)

    @property
    def description(self) -> str:
        arithmetic = "" if self.precision == "fp32" else f", {self.precision}"
        return f"{self.detector} ({self.mode} mode{arithmetic}, {self.num_boxes} regions)"


def _best_non_background(prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return prob[:, 1:].argmax(axis=1) + 1, prob[:, 1:].max(axis=1)


class Detector:
    """A loaded detector with its post-processing mode; ``detect(rgb)`` gives ``DetectedRegions``.

    ``precision``: ``"fp32"`` (the default: float32 throughout, what VOLTA's features are) or
    ``"bf16"`` (res5, 93 % of the work, in bfloat16: res5 about twice as fast on a CPU with
    bfloat16 instructions; the same proposals, a slightly different choice among them and
    slightly different features, see ``precision.py``).
    """

    def __init__(
        self, model: FasterRCNN, name: str, mode: str = "caffe", precision: str = "fp32"
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown detector mode {mode!r}; use one of {', '.join(MODES)}")
        self.model, self.name, self.mode = model, name, mode
        self.precision = check_precision(precision)
        self.config = model.config
        self._bf16_res5: Bf16Convs | None = None  # made on first use

    def with_mode(self, mode: str) -> Detector:
        return self._copy(mode, self.precision)

    def with_precision(self, precision: str) -> Detector:
        return self._copy(self.mode, precision)

    def _copy(self, mode: str, precision: str) -> Detector:
        other = Detector(self.model, self.name, mode, precision)
        other._bf16_res5 = self._bf16_res5  # the bfloat16 copy is shared, made once
        return other

    def _res5(self) -> Bf16Convs | None:
        """res5 to run instead of the model's own float32 one (None: the model's own)."""
        if self.precision == "fp32":
            return None
        if self._bf16_res5 is None:
            self._bf16_res5 = Bf16Convs(self.model.roi_heads.res5)
        return self._bf16_res5

    @torch.inference_mode()
    def detect(self, image) -> DetectedRegions:
        """``image``: an (H, W, 3) uint8 RGB array, or a path / bytes / upload read by ``load_image``."""
        if not isinstance(image, np.ndarray):
            from ..images import load_image

            image = load_image(image)
        config = self.config
        res5 = self._res5()
        clock = _Stopwatch()
        inputs = prepare(image, config, self.mode)
        res4 = clock.lap("resize + backbone", self.model.backbone, inputs.pixels)
        proposals, _ = clock.lap(
            "proposals",
            self.model.proposal_generator,
            res4,
            inputs.input_height,
            inputs.input_width,
        )
        head = clock.lap("region head", self.model.roi_heads, res4, proposals, res5)
        select = select_caffe if self.mode == "caffe" else select_hf
        chosen = clock.lap("selection", select, head, proposals, inputs, config)
        index = chosen.index
        cls_prob = background_first(torch.softmax(head.class_logits[index], dim=-1))
        attr_prob = background_first(torch.softmax(head.attr_logits[index], dim=-1))
        return DetectedRegions(
            boxes=chosen.boxes.numpy().astype(np.float32),
            features=head.features[index].numpy().astype(np.float32),
            cls_prob=cls_prob.numpy().astype(np.float32),
            attr_prob=attr_prob.numpy().astype(np.float32),
            image_width=inputs.image_width,
            image_height=inputs.image_height,
            detector=self.name,
            mode=self.mode,
            precision=self.precision,
            num_proposals=len(proposals),
            seconds=clock.seconds,
        )


class _Stopwatch:
    """Wall time of each stage since the previous one ended."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.start = time.perf_counter()

    def lap(self, name: str, function, *args):
        out = function(*args)
        now = time.perf_counter()
        self.seconds[name] = now - self.start
        self.start = now
        return out


def load_detector(
    name_or_dir: str | Path,
    mode: str = "caffe",
    allow_download: bool = False,
    precision: str = "fp32",
) -> Detector:
    """The detector in folder ``name_or_dir`` (``config.yaml`` + weights) or cached under that hub name."""
    if mode not in MODES:
        raise ValueError(f"unknown detector mode {mode!r}; use one of {', '.join(MODES)}")
    check_precision(precision)
    directory = resolve_detector_dir(name_or_dir, allow_download=allow_download)
    config_path = directory / CONFIG_NAME
    try:
        config = (
            DetectorConfig.from_yaml(config_path) if config_path.is_file() else DetectorConfig()
        )
    except DetectorConfigError as error:
        raise DetectorLoadError(str(error)) from None
    weights = find_weights(directory)
    model = FasterRCNN(config)
    source = (
        str(config_path)
        if config_path.is_file()
        else f"the default sizes (no {CONFIG_NAME} in {directory})"
    )
    load_state_dict_strict(model, read_state_dict(weights), weights, source)
    return Detector(model, str(name_or_dir), mode, precision)
