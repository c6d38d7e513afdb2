"""Region features for a folder of images, written as the paper's data has them.

``extract_features(images_dir, out, detector)`` runs the detector on every image of the
folder (image id = file name without extension, as in Flickr30k) and appends each to a
13-field TSV or a VOLTA LMDB (``data.features.FeatureWriter``), which the feature readers
read back unchanged. It is resumable (ids already in the output are skipped) and one bad
image never stops it: it is reported and the next one runs. A note beside the output
(``provenance_path``) records which detector and mode made the regions, so that
``diagnose`` can say so and a resumed run cannot mix two detectors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..data.features import FeatureWriter, provenance_path, provenance_text, read_provenance, row_13
from .model import DetectedRegions, Detector

__all__ = ["IMAGE_SUFFIXES", "ExtractionReport", "extract_features", "extraction_note", "regions_row"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


@dataclass
class ExtractionReport:
    written: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # file name -> why

    def summary(self) -> str:
        text = f"{len(self.written)} image(s) extracted, {len(self.already_there)} already in the output"
        if self.failed:
            text += f", {len(self.failed)} skipped:\n" + "\n".join(f"  {k}: {v}" for k, v in self.failed.items())
        return text


def regions_row(image_id: str, regions: DetectedRegions) -> dict:
    return row_13(
        image_id, regions.image_width, regions.image_height, regions.boxes, regions.features,
        regions.cls_prob, regions.attr_prob,
    )  # fmt: skip


def extraction_note(detector: Detector) -> dict[str, str]:
    """Who makes the regions: the detector, its mode and its precision (a resumed run must match)."""
    return {"detector": detector.name, "mode": detector.mode, "precision": detector.precision}


def extract_features(images_dir: str | Path, out: str | Path, detector: Detector, progress: bool = True) -> ExtractionReport:
    from ..images import load_image

    images_dir = Path(images_dir).expanduser()
    if not images_dir.is_dir():
        raise ValueError(f"{images_dir} is not a folder of images")
    files = sorted(p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{images_dir} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    num_classes = detector.config.num_classes + 1
    if num_classes != 1601:
        raise ValueError(
            f"detector {detector.name} predicts {num_classes} classes; the bottom-up-attention TSV and "
            "LMDB carry the 1,601 Visual Genome classes (use the Visual Genome detector)"
        )
    made_by = extraction_note(detector)
    earlier = read_provenance(out)
    if earlier is not None:
        earlier = {"precision": "fp32"} | earlier  # notes written before precisions existed
        if {k: earlier.get(k) for k in made_by} != made_by:
            raise ValueError(
                f"{out} holds regions by {provenance_text(earlier)}; adding regions by {provenance_text(made_by)} "
                "would mix two detectors: write to another output"
            )
    report = ExtractionReport()
    with FeatureWriter(out) as writer:
        provenance_path(out).write_text(json.dumps(made_by | {"config": detector.config.to_dict()}, indent=1) + "\n")
        seen: set[str] = set()
        todo = []
        for file in files:
            if file.stem in seen:
                report.failed[file.name] = f"another image already has the id {file.stem}"
            elif file.stem in writer.done:
                report.already_there.append(file.stem)
            else:
                todo.append(file)
            seen.add(file.stem)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(todo, desc=f"regions ({detector.mode})", unit="img")
        for file in bar if bar is not None else todo:
            try:
                regions = detector.detect(load_image(file))
                row = regions_row(file.stem, regions)
            except (KeyboardInterrupt, MemoryError):
                raise
            except Exception as error:  # one bad image: report, go on
                report.failed[file.name] = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
                if bar is not None:
                    bar.write(f"skipped {file.name}: {report.failed[file.name]}")
                continue
            writer.add(row)
            report.written.append(file.stem)
    return report
