"""A small random-weight detector folder and a generated photo, built deterministically.

``write_detector(root)`` writes ``config.yaml`` (in the layout of the published
``unc-nlp/frcnn-vg-finetuned`` config) with reduced widths and a ``pytorch_model.bin`` of
seeded random weights whose batch-norm statistics keep activations in a sane range (stem
outputs of order one, residual branches damped), so class scores are neither flat nor
saturated. ``photo()`` is a textured 240x180 RGB picture (shapes over noise, so no two
feature cells tie). numpy's ``RandomState`` makes both identical on every machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml

from vlexplore.detector import DetectorConfig, FasterRCNN

#: the sizes of the equivalence test (tests/data/detector_golden.npz was made with these)
GOLDEN_SIZES = {"num_classes": 100, "num_attrs": 40, "min_size": 320, "max_size": 480}


def reference_yaml(config: DetectorConfig) -> dict:
    """``config`` in the reference's config.yaml layout (top-level sections, detectron2 names)."""
    return {
        "MODEL": {
            "DEVICE": "cpu",
            "MAX_POOL": config.caffe_maxpool,
            "PIXEL_MEAN": list(config.pixel_mean),
            "PIXEL_STD": list(config.pixel_std),
            "LOAD_PROPOSALS": False,
        },
        "INPUT": {
            "MIN_SIZE_TEST": config.min_size,
            "MAX_SIZE_TEST": config.max_size,
            "FORMAT": "BGR",
        },
        "BACKBONE": {"FREEZE_AT": 2},
        "RESNETS": {
            "DEPTH": config.depth,
            "NORM": "BN",
            "NUM_GROUPS": 1,
            "OUT_FEATURES": ["res4"],
            "RES2_OUT_CHANNELS": config.res2_channels,
            "RES5_DILATION": 1,
            "STEM_OUT_CHANNELS": config.stem_channels,
            "STRIDE_IN_1X1": True,
            "WIDTH_PER_GROUP": config.bottleneck_channels,
        },
        "ANCHOR_GENERATOR": {
            "SIZES": [list(config.anchor_sizes)],
            "ASPECT_RATIOS": [list(config.anchor_ratios)],
            "OFFSET": config.anchor_offset,
        },
        "PROPOSAL_GENERATOR": {
            "HIDDEN_CHANNELS": config.rpn_channels,
            "MIN_SIZE": config.rpn_min_size,
        },
        "RPN": {
            "IN_FEATURES": ["res4"],
            "NMS_THRESH": config.rpn_nms,
            "PRE_NMS_TOPK_TEST": config.rpn_pre_nms,
            "POST_NMS_TOPK_TEST": config.rpn_post_nms,
            "PRE_NMS_TOPK_TRAIN": 12000,
            "POST_NMS_TOPK_TRAIN": 2000,
            "BBOX_REG_WEIGHTS": list(config.rpn_box_weights),
            "BATCH_SIZE_PER_IMAGE": 256,
            "POSITIVE_FRACTION": 0.5,
            "BOUNDARY_THRESH": -1,
            "IOU_THRESHOLDS": [0.3, 0.7],
            "IOU_LABELS": [0, -1, 1],
            "SMOOTH_L1_BETA": 0.0,
            "LOSS_WEIGHT": 1.0,
        },
        "ROI_HEADS": {
            "IN_FEATURES": ["res4"],
            "NUM_CLASSES": config.num_classes,
            "NMS_THRESH_TEST": list(config.hf_nms),
            "SCORE_THRESH_TEST": 0.2,
            "POSITIVE_FRACTION": 0.25,
            "PROPOSAL_APPEND_GT": True,
            "IOU_THRESHOLDS": [0.5],
            "IOU_LABELS": [0, 1],
        },
        "ROI_BOX_HEAD": {
            "POOLER_RESOLUTION": config.pool_size,
            "POOLER_SAMPLING_RATIO": 0,
            "BBOX_REG_WEIGHTS": list(config.box_weights),
            "RES5HALVE": config.res5_halve,
            "ATTR": True,
            "NUM_ATTRS": config.num_attrs,
            "CLS_AGNOSTIC_BBOX_REG": False,
            "SMOOTH_L1_BETA": 0.0,
        },
        "MIN_DETECTIONS": config.hf_min_detections,
        "MAX_DETECTIONS": config.hf_max_detections,
        "PAD_VALUE": 0.0,
        "SIZE_DIVISIBILITY": 0,
    }


def small_config(**sizes) -> DetectorConfig:
    """A ResNet-50-deep detector a few hundred times narrower than the real one."""
    values = dict(
        depth=50, stem_channels=8, res2_channels=16, bottleneck_channels=4, rpn_channels=16,
        hf_nms=(0.3, 0.5, 0.7),
    )  # fmt: skip
    values.update(sizes)
    return DetectorConfig(**values)


def random_state_dict(config: DetectorConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.RandomState(seed)
    state = {}
    for name, tensor in FasterRCNN(config).state_dict().items():
        shape = tuple(tensor.shape)
        if name.endswith("running_mean"):
            value = rng.normal(0.0, 0.05, shape)
        elif name.endswith("running_var"):
            value = rng.uniform(0.8, 1.2, shape)
        elif name.endswith("norm.weight"):
            damp = 0.25 if ".conv3." in name else 1.0  # residual branches add little
            value = damp * rng.uniform(0.7, 1.0, shape)
        elif name.endswith("norm.bias"):
            value = rng.normal(0.0, 0.05, shape)
        elif name.endswith(".bias"):
            value = rng.normal(0.0, 0.01, shape)
        elif "cls_embedding" in name:
            value = rng.normal(0.0, 1.0, shape)
        elif tensor.ndim >= 2:
            fan_in = int(np.prod(shape[1:]))
            gain = 1.0 / 64.0 if name.startswith("backbone.stem") else 1.0  # raw pixels are +-128
            if "anchor_deltas" in name or "bbox_pred" in name:
                gain = 0.1  # proposals stay near their anchors, boxes near proposals
            if "cls_score" in name or "attr_score" in name:
                gain = 3.0  # scores spread enough to pass 0.2 now and then
            value = rng.normal(0.0, gain * np.sqrt(2.0 / fan_in), shape)
        else:
            value = rng.normal(0.0, 0.01, shape)
        state[name] = torch.from_numpy(np.asarray(value, dtype=np.float32))
    return state


def write_detector(root: Path, seed: int = 0, **sizes) -> Path:
    """A detector folder (config.yaml + pytorch_model.bin) under ``root``; returns it."""
    config = small_config(**sizes)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(yaml.safe_dump(reference_yaml(config), sort_keys=False))
    torch.save(random_state_dict(config, seed), root / "pytorch_model.bin")
    return root


def photo(width: int = 240, height: int = 180, seed: int = 0) -> np.ndarray:
    """(height, width, 3) uint8 RGB: coloured rectangles and discs over smooth noise."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack(
        [96 + 60 * np.sin(x / 17.0 + c) * np.cos(y / 23.0 - c) for c in range(3)], axis=-1
    )
    image += rng.normal(0, 12, image.shape)
    for _ in range(6):
        x0, y0 = rng.randint(0, width - 20), rng.randint(0, height - 20)
        w, h = rng.randint(15, width // 2), rng.randint(15, height // 2)
        image[y0 : y0 + h, x0 : x0 + w] = rng.randint(0, 256, 3) + rng.normal(
            0, 8, (min(h, height - y0), min(w, width - x0), 3)
        )
    for _ in range(3):
        cx, cy, r = rng.randint(0, width), rng.randint(0, height), rng.randint(10, 40)
        image[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.randint(0, 256, 3)
    return np.clip(image, 0, 255).astype(np.uint8)


#: a detector whose regions the VOLTA models read: 2048-d features, the 1,601 VG classes;
#: kept cheap by few proposals, a 7x7 pool and a small input
VOLTA_SIZES = {
    "res2_channels": 256, "num_classes": 1600, "num_attrs": 400, "rpn_post_nms": 40, "pool_size": 7,
    "min_size": 160, "max_size": 240,
}  # fmt: skip


def write_images(folder: Path, sizes: dict[str, tuple[int, int]]) -> Path:
    """``IMAGE_ID.jpg`` photos of the given (width, height) in ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for seed, (image_id, (width, height)) in enumerate(sizes.items()):
        Image.fromarray(photo(width, height, seed)).save(folder / f"{image_id}.jpg", quality=95)
    return folder
