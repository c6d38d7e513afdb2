"""The detector's sizes and thresholds, read from the reference's ``config.yaml``.

The published ``unc-nlp/frcnn-vg-finetuned`` folder holds ``pytorch_model.bin`` next to a
``config.yaml`` in the layout of the Hugging Face LXMERT demo (top-level sections ``MODEL``,
``INPUT``, ``RESNETS``, ``RPN``, ``ROI_HEADS``, ``ROI_BOX_HEAD``, ``ANCHOR_GENERATOR``,
``PROPOSAL_GENERATOR`` plus ``MIN_DETECTIONS``/``MAX_DETECTIONS``). Every size the network is
built from comes from there, so a reduced-width random config builds a reduced-width network;
a key that is absent keeps the Visual Genome detector's published value. The file is read
with ``yaml.safe_load`` (no Python objects), and a config this implementation cannot build
(another backbone, grouped convolutions, FPN, class-agnostic boxes, ...) is refused with a
message that names the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

__all__ = ["CONFIG_NAME", "DetectorConfig", "DetectorConfigError"]

CONFIG_NAME = "config.yaml"
#: ResNet depth -> blocks in res2, res3, res4, res5 (res5 lives in the RoI head)
RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


class DetectorConfigError(ValueError):
    """A detector config asks for something this implementation does not build."""


@dataclass(frozen=True)
class DetectorConfig:
    # backbone: caffe-style ResNet C4 (stride in the 1x1 conv, frozen BN)
    depth: int = 101
    stem_channels: int = 64
    res2_channels: int = 256  # res3 = 2x, res4 = 4x, res5 = 8x (the 2048-d region feature)
    bottleneck_channels: int = 64  # res2's bottleneck width; doubles per stage
    stride_in_1x1: bool = True
    caffe_maxpool: bool = True  # 3x3/2 max pool without padding, ceil mode (caffe's rounding)
    res5_halve: bool = False  # False = VG head: res5 at stride 1 with dilation 2
    # input (BGR pixel means, as the caffe model was trained)
    pixel_mean: tuple[float, float, float] = (102.9801, 115.9465, 122.7717)
    pixel_std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    min_size: int = 600  # short side
    max_size: int = 1000  # long side cap
    # region proposals
    anchor_sizes: tuple[float, ...] = (64.0, 128.0, 256.0, 512.0)
    anchor_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    anchor_offset: float = 0.0
    rpn_channels: int = 512
    rpn_nms: float = 0.7
    rpn_pre_nms: int = 6000
    rpn_post_nms: int = 300
    rpn_min_size: float = 0.0
    rpn_box_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    # region head
    pool_size: int = 14
    num_classes: int = 1600  # foreground classes; the classifier has one more (background)
    num_attrs: int = 400  # attributes; the attribute head has one more ("no attribute")
    box_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    # the reference demo's post-processing (mode "hf")
    hf_nms: tuple[float, ...] = (0.6,)
    hf_min_detections: int = 10
    hf_max_detections: int = 36
    # generate_tsv.py's post-processing (mode "caffe")
    caffe_nms: float = 0.3
    caffe_conf: float = 0.2
    num_regions: int = 36

    @property
    def stride(self) -> int:
        return 16  # res4's stride: stem /4, res3 /2, res4 /2

    @property
    def res4_channels(self) -> int:
        return self.res2_channels * 4

    @property
    def feature_dim(self) -> int:
        return self.res2_channels * 8

    @property
    def num_anchors(self) -> int:
        return len(self.anchor_sizes) * len(self.anchor_ratios)

    @classmethod
    def from_yaml(cls, path: str | Path) -> DetectorConfig:
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise DetectorConfigError(
                f"{path}: cannot read the detector config ({error})"
            ) from error
        except yaml.YAMLError as error:
            raise DetectorConfigError(f"{path}: not valid YAML ({error})") from error
        if not isinstance(data, dict):
            raise DetectorConfigError(
                f"{path}: expected the reference's config.yaml (a mapping with MODEL, RESNETS, "
                f"RPN, ... sections), found a {type(data).__name__}"
            )
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> DetectorConfig:
        """Build from the reference's nested keys (``RESNETS.DEPTH`` ...); absent keys keep defaults."""
        reader = _Reader(data, source)
        r = reader.get
        depth = r("RESNETS.DEPTH", int)
        if depth is not None and depth not in RESNET_BLOCKS:
            reader.fail(
                "RESNETS.DEPTH", depth,
                f"only the bottleneck ResNets {sorted(RESNET_BLOCKS)} are built here",
            )  # fmt: skip
        name = r("BACKBONE.NAME", str)
        if name is not None and "resnet" not in name.lower():
            reader.fail("BACKBONE.NAME", name, "only the ResNet C4 backbone is built here")
        reader.require("RESNETS.NUM_GROUPS", 1, "grouped (ResNeXt) convolutions are not built here")
        reader.require("RESNETS.RES5_DILATION", 1, "res5 lives in the RoI head here")
        reader.require(
            "RESNETS.OUT_FEATURES", ["res4"], "only the C4 layout (RPN and RoI pooling on res4)"
        )
        reader.require("RPN.IN_FEATURES", ["res4"], "only the C4 layout (RPN on res4)")
        reader.require(
            "ROI_HEADS.IN_FEATURES", ["res4"], "only the C4 layout (RoI pooling on res4)"
        )
        reader.require(
            "ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG", False, "the VG head regresses per class"
        )
        reader.require("ROI_BOX_HEAD.ATTR", True, "the VG head predicts attributes")
        norm = r("RESNETS.NORM", str)
        if norm is not None and norm not in ("BN", "FrozenBN"):
            reader.fail("RESNETS.NORM", norm, "only (frozen) batch norm is built here")
        groups = r("RESNETS.NUM_GROUPS", int) or 1
        width = r("RESNETS.WIDTH_PER_GROUP", int)
        nms = r("ROI_HEADS.NMS_THRESH_TEST", (float, list))
        values = {
            "depth": depth,
            "stem_channels": r("RESNETS.STEM_OUT_CHANNELS", int),
            "res2_channels": r("RESNETS.RES2_OUT_CHANNELS", int),
            "bottleneck_channels": None if width is None else width * groups,
            "stride_in_1x1": r("RESNETS.STRIDE_IN_1X1", bool),
            "caffe_maxpool": r("MODEL.MAX_POOL", bool),
            "res5_halve": r("ROI_BOX_HEAD.RES5HALVE", bool),
            "pixel_mean": r("MODEL.PIXEL_MEAN", list, length=3),
            "pixel_std": r("MODEL.PIXEL_STD", list, length=3),
            "min_size": r("INPUT.MIN_SIZE_TEST", int),
            "max_size": r("INPUT.MAX_SIZE_TEST", int),
            "anchor_sizes": _single_level(reader, "ANCHOR_GENERATOR.SIZES"),
            "anchor_ratios": _single_level(reader, "ANCHOR_GENERATOR.ASPECT_RATIOS"),
            "anchor_offset": r("ANCHOR_GENERATOR.OFFSET", float),
            "rpn_channels": r("PROPOSAL_GENERATOR.HIDDEN_CHANNELS", int),
            "rpn_nms": r("RPN.NMS_THRESH", float),
            "rpn_pre_nms": r("RPN.PRE_NMS_TOPK_TEST", int),
            "rpn_post_nms": r("RPN.POST_NMS_TOPK_TEST", int),
            "rpn_min_size": r("PROPOSAL_GENERATOR.MIN_SIZE", float),
            "rpn_box_weights": r("RPN.BBOX_REG_WEIGHTS", list, length=4),
            "pool_size": r("ROI_BOX_HEAD.POOLER_RESOLUTION", int),
            "num_classes": r("ROI_HEADS.NUM_CLASSES", int),
            "num_attrs": r("ROI_BOX_HEAD.NUM_ATTRS", int),
            "box_weights": r("ROI_BOX_HEAD.BBOX_REG_WEIGHTS", list, length=4),
            "hf_nms": None
            if nms is None
            else tuple(float(x) for x in (nms if isinstance(nms, list) else [nms])),
            "hf_min_detections": r("MIN_DETECTIONS", int),
            "hf_max_detections": r("MAX_DETECTIONS", int),
        }
        if values["stride_in_1x1"] is False:
            reader.fail("RESNETS.STRIDE_IN_1X1", False, "the caffe ResNet strides in the 1x1 conv")
        if width is not None and width < 1:
            reader.fail("RESNETS.WIDTH_PER_GROUP", width, "must be a positive channel count")
        for key in ("stem_channels", "res2_channels", "rpn_channels", "num_classes", "num_attrs"):
            if values[key] is not None and values[key] < 1:
                reader.fail(key, values[key], "must be positive")
        for key in (
            "pixel_mean",
            "pixel_std",
            "rpn_box_weights",
            "box_weights",
            "anchor_sizes",
            "anchor_ratios",
        ):
            if values[key] is not None:
                values[key] = tuple(float(x) for x in values[key])
        return cls(**{k: v for k, v in values.items() if v is not None})

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _single_level(reader: _Reader, key: str) -> list | None:
    """Anchor sizes/ratios come per feature level (``[[64, 128, ...]]``); C4 has one level."""
    value = reader.get(key, list)
    if value is None:
        return None
    if value and isinstance(value[0], list):
        if len(value) != 1:
            reader.fail(key, value, "the C4 detector has one feature level, so one list")
        value = value[0]
    if not value or not all(isinstance(x, int | float) and x > 0 for x in value):
        reader.fail(key, value, "expected positive numbers")
    return value


class _Reader:
    """Nested-key access that names the file and key in every complaint."""

    def __init__(self, data: dict, source: str) -> None:
        self.data, self.source = data, source

    def fail(self, key: str, value, why: str):
        raise DetectorConfigError(
            f"{self.source}: {key} = {value!r} is not supported ({why}); use the config.yaml "
            "published with unc-nlp/frcnn-vg-finetuned or one with the same structure"
        )

    def get(self, key: str, kind, length: int | None = None):
        node = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(node, int) and not isinstance(node, bool):
            node = float(node)
        if bool not in kinds and isinstance(node, bool) or not isinstance(node, kinds):
            self.fail(key, node, f"expected {' or '.join(k.__name__ for k in kinds)}")
        if length is not None and len(node) != length:
            self.fail(key, node, f"expected {length} values")
        return node

    def require(self, key: str, expected, why: str) -> None:
        node = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return
            node = node[part]
        if node != expected:
            self.fail(key, node, why)
