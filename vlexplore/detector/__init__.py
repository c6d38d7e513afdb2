"""A bottom-up-attention detector (Visual Genome Faster R-CNN) in plain PyTorch.

Turns a photo into the region features the paper's models read: 36 boxes, 2048-d
features and 1,601-way ``cls_prob`` per image, as VOLTA's Flickr30k features were made.

    from vlexplore.detector import load_detector
    detector = load_detector("path/to/frcnn-vg-finetuned")  # or the hub name, if cached
    regions = detector.detect(rgb)  # DetectedRegions

See docs/detector.md for the two post-processing modes and what differs from the
Hugging Face LXMERT demo.
May import: images, models.common (``DETECTOR_PRECISIONS``), models.hf (hub names through the Hugging Face cache), data.features
(``extract`` only).
"""

from .checkpoint import DEFAULT_DETECTOR, DetectorLoadError
from .config import DetectorConfig, DetectorConfigError
from .model import DetectedRegions, Detector, FasterRCNN, load_detector
from .postprocess import MODES
from .precision import DETECTOR_PRECISIONS

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTOR_PRECISIONS",
    "MODES",
    "DetectedRegions",
    "Detector",
    "DetectorConfig",
    "DetectorConfigError",
    "DetectorLoadError",
    "FasterRCNN",
    "load_detector",
]
