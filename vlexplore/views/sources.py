"""Where the app gets models, example sets, random scenes and a detector for uploads.

Kept in one place so that the app has one small function per source, and so that a missing
piece (say the built-in world in a partial install) becomes a clear ``ValueError`` rather
than an ImportError deep inside the page.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np

from .. import registry
from ..assets import ASSETS
from ..errors import internal_error_message, log_internal_error
from ..records import Example, ExampleSet, Regions
from .examples import Detector

__all__ = [
    "BUILTIN_MODELS",
    "model_choices",
    "dataset_choices",
    "load_model",
    "load_dataset",
    "random_example",
    "upload_detector",
    "simulated_regions",
    "detected_regions",
    "region_labels",
    "load_detector",
    "features_made_by",
    "DATA_DIRS_ENV",
    "data_dirs",
    "readable_path",
]

BUILTIN_MODELS = ("demo", "demo-gold", "demo-lang")  # their regions come from the world's simulated detector
DATA_DIRS_ENV = "VLEXPLORE_DATA_DIRS"  # folders the app may read typed paths from (os.pathsep-separated)
PATH_PREFIXES = {"model": ("hf",), "dataset": ("flickr30k",)}  # specs whose argument is a path
PATH_OPTIONS = ("checkpoint", "features", "images", "detector")  # spec options that name a file or folder


def data_dirs() -> tuple[Path, ...]:
    """The folders whose files the app opens when a path is typed or comes in a link:
    ``VLEXPLORE_DATA_DIRS`` (``vlexplore app --data-dir``), else the directory the app was
    started in and the package's assets. Symlinks resolved."""
    configured = [p.strip() for p in os.environ.get(DATA_DIRS_ENV, "").split(os.pathsep) if p.strip()]
    roots = [Path(p).expanduser() for p in configured] or [Path.cwd(), ASSETS]
    return tuple(Path(os.path.realpath(root)) for root in roots)


def readable_path(text: str, what: str) -> str:
    """``text`` when it names an existing file or folder under one of ``data_dirs()`` (after
    resolving ``..`` and symlinks); otherwise the same "not found" whether the path is missing or
    outside, so that the page never tells which server paths exist."""
    try:
        path = Path(os.path.realpath(Path(text).expanduser()))
        found = path.exists() and any(path.is_relative_to(root) for root in data_dirs())
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a symlink loop, an unknown ~user
        found = False
    if not found:
        raise ValueError(
            f"{what} {text!r} not found in the folders this app reads; the app opens files only under "
            f"its data folders (start it with `vlexplore app --data-dir FOLDER` or set {DATA_DIRS_ENV})"
        )
    return text


def _looks_like_path(argument: str) -> bool:
    return argument.startswith(("/", ".", "~")) or (os.sep in argument and Path(argument).exists())


def _checked_paths(kind: str, spec: str, options: dict) -> None:
    """Every path in a spec (``flickr30k:PATH``, ``hf:PATH`` but not a hub name) and its options."""
    prefix, sep, argument = spec.partition(":")
    if sep and prefix in PATH_PREFIXES[kind] and (kind == "dataset" or _looks_like_path(argument)):
        readable_path(argument, f"{kind} folder")
    for name in PATH_OPTIONS:
        if options.get(name):
            readable_path(options[name], f"{name} path")


def model_choices() -> list[str]:
    """Registry names that need no argument (the others are typed in full, e.g. hf:PATH)."""
    return [name for name, entry in registry.MODELS.items() if not entry.prefix]


def dataset_choices() -> list[str]:
    return [name for name, entry in registry.DATASETS.items() if not entry.prefix]


def _friendly(error: Exception, what: str, spec: str) -> ValueError:
    if isinstance(error, ValueError):
        return error
    if isinstance(error, ImportError):
        return ValueError(
            f"{what} {spec!r} is not available in this installation ({error}); pick another {what}"
        )
    # anything else is a bug in vlexplore: shown in place (the app keeps working) and logged
    return ValueError(
        f"{what} {spec!r} could not be loaded: "
        + internal_error_message(error, log_internal_error(f"loading {what} {spec!r}"))
    )


def load_model(spec: str, **options):
    """The model ``spec`` names; ``options`` (e.g. ``checkpoint=PATH`` for ``volta:ARCH``) go to
    its loader. Any failure becomes a ValueError with the loader's own message."""
    options = {k: v for k, v in options.items() if v}
    _checked_paths("model", spec, options)
    try:
        if options.get("checkpoint") and Path(options["checkpoint"]).expanduser().is_dir():
            return _first_seed(spec, options)
        return registry.load_model(spec, **options)
    except Exception as error:  # shown to the user; the app must keep working
        raise _friendly(error, "model", spec) from error


def _first_seed(spec: str, options: dict):
    """A folder of seeds: the example view shows the first; the whole-set view runs them all."""
    from ..seeds import checkpoint_family

    family = checkpoint_family(options["checkpoint"])
    seed, path = family[0]
    model = registry.load_model(spec, **{**options, "checkpoint": str(path)})
    model.description = (f"seed {seed} (the first of {len(family)} in {options['checkpoint']}; the whole-set "
                         f"view runs them all). " + model.description)
    return model


def load_dataset(spec: str, **options) -> ExampleSet:
    """The example set ``spec`` names; ``options`` (``features=``, ``images=`` for
    ``flickr30k:PATH``) go to its loader."""
    options = {k: v for k, v in options.items() if v}
    _checked_paths("dataset", spec, options)
    try:
        return registry.load_dataset(spec, **options)
    except Exception as error:
        raise _friendly(error, "dataset", spec) from error


def load_detector(folder: str, mode: str):
    """The bottom-up-attention detector in ``folder`` (own images for region models)."""
    readable_path(folder, "detector folder")
    from ..detector import load_detector as load

    try:
        return load(folder, mode=mode)
    except ValueError:
        raise
    except Exception as error:
        raise _friendly(error, "detector", folder) from error


def features_made_by(features: str) -> dict | None:
    """Which detector and mode wrote a features file (its extract-features note), if readable here."""
    from ..data.features import read_provenance

    try:
        readable_path(features, "features path")
    except ValueError:
        return None  # the dataset loader says why; no hint about what exists
    return read_provenance(features)


def _world(module: str):
    try:
        return importlib.import_module(f"vlexplore.world.{module}")
    except ImportError as error:
        raise ValueError(
            f"the built-in world (vlexplore.world.{module}) is not part of this installation; "
            "random scenes and uploads through the simulated detector need it"
        ) from error


def random_example(seed: int) -> Example:
    """A fresh scene of the built-in world, rendered with its caption, boxes and regions."""
    problem = None
    for module in ("demo", "scenes"):
        try:
            world = _world(module)
        except ValueError as error:
            problem = problem or error
            continue
        if hasattr(world, "random_scene"):
            return world.random_scene(int(seed))
    raise problem or ValueError("the built-in world offers no random_scene(seed) in this installation")


def upload_detector() -> Detector:
    """The built-in world's simulated detector as image -> Regions, for uploads with region models."""
    detector = _world("detector")
    function = getattr(detector, "detect_image", None)
    return function if callable(function) else simulated_regions


def simulated_regions(image: np.ndarray, num_regions: int = 36) -> Regions:
    """Regions for a picture that is not a world scene, from the world detector's own features.

    The world's detector places boxes from the scene's objects, which an upload does not have;
    here boxes come from the pixels: colourful blobs (the world's objects are colourful on grey)
    with jittered copies, then random background boxes up to ``num_regions``. The class
    distribution is uniform: there is no classifier for real pictures, so MRC-KL on an upload
    measures how far the model's guess is from "no idea" (the app says so).
    """
    detector = _world("detector")
    scenes = _world("scenes")
    import cv2

    full_height, full_width = image.shape[:2]
    scale = min(1.0, 512 / max(full_width, full_height))  # large photos: detect on a 512 px copy
    if scale < 1.0:
        image = cv2.resize(image, (max(2, round(full_width * scale)), max(2, round(full_height * scale))),
                           interpolation=cv2.INTER_AREA)
    height, width = image.shape[:2]
    rng = np.random.default_rng(int.from_bytes(np.ascontiguousarray(image[::17, ::17]).tobytes()[:8].ljust(8, b"\0"), "little"))
    chroma = image.max(axis=2).astype(np.int16) - image.min(axis=2).astype(np.int16)
    mask = (chroma > 40).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    blobs = sorted((stats[i] for i in range(1, count) if stats[i][4] >= 0.002 * width * height),
                   key=lambda row: -row[4])[:8]

    def clip(x1, y1, x2, y2):
        x1, y1 = float(np.clip(round(x1), 0, width - 2)), float(np.clip(round(y1), 0, height - 2))
        return [x1, y1, float(np.clip(round(x2), x1 + 1, width - 1)), float(np.clip(round(y2), y1 + 1, height - 1))]

    boxes = []
    for x, y, w, h, _ in blobs:
        boxes.append(clip(x, y, x + w - 1, y + h - 1))
        for _ in range(2):
            shift = rng.normal(0, 0.12, 4) * np.array([w, h, w, h])
            boxes.append(clip(x + shift[0], y + shift[1], x + w - 1 + shift[2], y + h - 1 + shift[3]))
    boxes = boxes[:num_regions]
    while len(boxes) < num_regions:
        bw, bh = rng.uniform(0.12, 0.7) * width, rng.uniform(0.12, 0.7) * height
        bx, by = rng.uniform(0, width - bw), rng.uniform(0, height - bh)
        boxes.append(clip(bx, by, bx + bw, by + bh))
    boxes = np.array(boxes, dtype=np.float64)
    features = detector.region_features(image, boxes)
    if scale < 1.0:
        boxes = np.round(boxes / scale)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, full_width - 1)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, full_height - 1)
    classes = scenes.CLASS_NAMES
    return Regions(boxes=boxes, features=features, image_size=(full_width, full_height),
                   cls_prob=np.full((len(boxes), len(classes)), 1.0 / len(classes)), class_names=classes)


def detected_regions(detected) -> Regions:
    """``vlexplore.detector.DetectedRegions`` as validated ``Regions`` (the readers' own path:
    boxes within a pixel or two of the border are clipped, classes are the 1,601 VG names)."""
    from ..data.features import ImageFeatures

    item = ImageFeatures(image_id="upload", image_size=(detected.image_width, detected.image_height),
                         boxes=detected.boxes, features=detected.features, cls_prob=detected.cls_prob,
                         source=detected.description)  # fmt: skip
    return item.to_regions()


def region_labels(detected) -> list[str]:
    """"#3 man 0.82" per detected region: its number, best Visual Genome class, probability."""
    from ..assets import vg_classes

    names = vg_classes()
    ids, probs = detected.objects
    return [f"#{i + 1} {names[c] if c < len(names) else c} {p:.2f}" for i, (c, p) in enumerate(zip(ids, probs, strict=True))]
