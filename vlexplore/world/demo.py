"""The shipped held-out set of the built-in world, and fresh random scenes for the app.

The held-out set lives in ``assets/demo`` as two plain files, read without pickle:
``heldout.npz`` (images, region boxes, features, detector class distributions) and
``heldout.json`` (captions, phrases, gold boxes, objects). It is regenerated
deterministically by ``write_demo_set`` (``vlexplore train-demo`` does it).

A second world, ``demo-lang``, is the positive control: one object per scene, drawn as a
blurred disc of its colour, so that only the caption tells its shape. Its held-out set is
``heldout-lang.npz`` / ``heldout-lang.json`` beside the first.

May import: assets, records, geometry, world.detector, world.scenes.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..assets import DEMO_DIR
from ..records import Example, ExampleSet, Phrase, Regions
from .detector import DetectorConfig, detect
from .scenes import CLASS_NAMES, Scene, WorldConfig, make_scene, scene_examples

__all__ = [
    "WORLDS",
    "HELDOUT_SEED_BASE",
    "HELDOUT_SCENES",
    "heldout_seeds",
    "write_demo_set",
    "load_demo_set",
    "random_scene",
    "scene_with_regions",
]

HELDOUT_SEED_BASE = 1_000_000  # training scenes use seeds below this
HELDOUT_SCENES = 48
_FORMAT = 1

#: the built-in worlds by dataset name: the shapes world, and the positive control's world in
#: which each scene's one object is a disc whose shape only the caption names
WORLDS: dict[str, WorldConfig] = {
    "demo": WorldConfig(),
    "demo-lang": WorldConfig(min_objects=1, max_objects=1, blob_prob=1.0),
}
_STEMS = {"demo": "heldout", "demo-lang": "heldout-lang"}


def _world_name(name: str) -> str:
    if name not in WORLDS:
        raise ValueError(f"unknown built-in dataset {name!r}; the built-in world ships {', '.join(WORLDS)}")
    return name


def heldout_seeds(num_scenes: int = HELDOUT_SCENES) -> list[int]:
    return [HELDOUT_SEED_BASE + i for i in range(num_scenes)]


def scene_with_regions(seed: int, world: WorldConfig | None = None,
                       detector: DetectorConfig | None = None) -> tuple[Scene, Regions]:
    scene = make_scene(seed, world)
    regions, _gold = detect(scene, detector)
    return scene, regions


def _phrase_json(phrase: Phrase) -> dict:
    return {
        "text": phrase.text,
        "first_word": phrase.first_word,
        "num_words": phrase.num_words,
        "boxes": phrase.boxes.astype(int).tolist(),
        "char_start": phrase.char_start,
        "char_end": phrase.char_end,
        "phrase_type": phrase.phrase_type,
        "entity_id": phrase.entity_id,
        "label": phrase.label,
    }


def write_demo_set(out_dir: str | Path = DEMO_DIR, num_scenes: int = HELDOUT_SCENES, progress: bool = True,
                   name: str = "demo") -> tuple[Path, Path]:
    """Render, detect and caption the held-out scenes of world ``name``; write its .npz and .json."""
    world = WORLDS[_world_name(name)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = heldout_seeds(num_scenes)
    if progress:
        from tqdm.auto import tqdm

        seeds_iter = tqdm(seeds, desc="held-out scenes", unit="scene")
    else:
        seeds_iter = seeds
    images, boxes, features, cls_prob, scenes_json = [], [], [], [], []
    for seed in seeds_iter:
        scene, regions = scene_with_regions(seed, world)
        images.append(scene.image)
        boxes.append(regions.boxes.astype(np.int16))
        features.append(regions.features)
        cls_prob.append(regions.cls_prob.astype(np.float32))
        scenes_json.append(
            {
                "seed": seed,
                "background": scene.background,
                "objects": [
                    {"shape": o.shape, "colour": o.colour, "size": o.size, "box": list(o.box)} for o in scene.objects
                ],
                "captions": [
                    {"text": c.text, "phrases": [_phrase_json(p) for p in c.phrases]} for c in scene.captions
                ],
            }
        )
    npz_path, json_path = _paths(out_dir, name)
    np.savez_compressed(
        npz_path,
        images=np.stack(images),
        boxes=np.stack(boxes),
        features=np.stack(features),
        cls_prob=np.stack(cls_prob),
    )
    import cv2

    meta = {
        "format": _FORMAT,
        "opencv": cv2.__version__,
        "description": f"held-out scenes of vlexplore's procedural world {name!r} (seeds from "
        f"{HELDOUT_SEED_BASE}; training uses seeds below it)",
        "world": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(world).items()},
        "class_names": list(CLASS_NAMES),
        "scenes": scenes_json,
    }
    json_path.write_text(json.dumps(meta, indent=1) + "\n")
    return npz_path, json_path


def _paths(directory: Path, name: str) -> tuple[Path, Path]:
    stem = _STEMS[name]
    return directory / f"{stem}.npz", directory / f"{stem}.json"


def _read(directory: Path, name: str) -> tuple[dict, dict]:
    npz_path, json_path = _paths(directory, name)
    for path in (npz_path, json_path):
        if not path.is_file():
            raise FileNotFoundError(
                f"the demo set file {path} is missing; run `vlexplore train-demo` (or restore assets/demo)"
            )
    return _read_cached(str(npz_path), str(json_path), npz_path.stat().st_mtime_ns, json_path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _read_cached(npz_path: str, json_path: str, _npz_mtime: int, _json_mtime: int) -> tuple[dict, dict]:
    """Read once per file version: the app and the CLI reopen the set often."""
    npz_path, json_path = Path(npz_path), Path(json_path)
    with np.load(npz_path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in ("images", "boxes", "features", "cls_prob")}
    for array in arrays.values():
        array.setflags(write=False)
    meta = json.loads(json_path.read_text())
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{json_path}: unknown demo set format {meta.get('format')!r}; expected {_FORMAT}")
    return arrays, meta


def _gold_cls_prob(boxes: np.ndarray, objects: list[dict], num_classes: int, class_names: tuple[str, ...]) -> np.ndarray:
    """One-hot gold class per region: the best-matching object's shape (IoU >= 0.5), else background."""
    from ..geometry import iou

    classes = np.zeros(len(boxes), dtype=np.int64)
    if objects:
        overlaps = iou(boxes, np.array([o["box"] for o in objects], dtype=np.float64))
        best, matched = overlaps.argmax(axis=1), overlaps.max(axis=1) >= 0.5
        shapes = np.array([class_names.index(o["shape"]) for o in objects])
        classes[matched] = shapes[best[matched]]
    return np.eye(num_classes)[classes]


def load_demo_set(name: str = "demo", directory: str | Path | None = None, with_images: bool = True,
                  limit: int | None = None, region_labels: str = "silver") -> ExampleSet:
    """The shipped held-out scenes: one Example per caption, with image, gold boxes and regions.

    ``limit`` keeps the first N scenes. ``region_labels="gold"`` replaces the detector's
    class distributions by one-hot gold classes, so that MRC-KL measures the region head
    against the truth instead of the noisy detector (not the paper's setting).
    """
    _world_name(name)
    if region_labels not in ("silver", "gold"):
        raise ValueError(f"region_labels: expected 'silver' (the detector's, as in the paper) or 'gold'; got {region_labels!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit: must be at least 1 scene; got {limit}")
    arrays, meta = _read(Path(directory) if directory else DEMO_DIR, name)
    class_names = tuple(meta["class_names"])
    examples: list[Example] = []
    scenes = meta["scenes"][:limit] if limit else meta["scenes"]
    for i, scene in enumerate(scenes):
        image = arrays["images"][i]
        size = (int(image.shape[1]), int(image.shape[0]))
        boxes = arrays["boxes"][i].astype(np.float64)
        cls_prob = arrays["cls_prob"][i].astype(np.float64)
        if region_labels == "gold":
            cls_prob = _gold_cls_prob(boxes, scene["objects"], cls_prob.shape[1], class_names)
        regions = Regions(
            boxes=boxes, features=arrays["features"][i], image_size=size, cls_prob=cls_prob, class_names=class_names
        )
        for k, caption in enumerate(scene["captions"]):
            phrases = [Phrase(**{**p, "boxes": np.asarray(p["boxes"], dtype=np.float64).reshape(-1, 4)}) for p in caption["phrases"]]
            examples.append(
                Example(
                    example_id=f"scene{scene['seed']}-{k}",
                    caption=caption["text"],
                    phrases=phrases,
                    image_size=size,
                    regions=regions,
                    image=image if with_images else None,
                    image_id=f"scene{scene['seed']}",
                )
            )
    return ExampleSet(
        name=name,
        examples=examples,
        description=f"{len(scenes)} held-out scenes of the built-in world {name!r}, {len(examples)} captions"
        + (", gold region labels" if region_labels == "gold" else ""),
    )


def random_scene(seed: int, caption: int = 0, world: WorldConfig | None = None, detector: DetectorConfig | None = None) -> Example:
    """A fresh scene (image, detector regions, one of its captions) for the app's button."""
    scene, regions = scene_with_regions(seed, world, detector)
    examples = scene_examples(scene, regions, prefix="random")
    if not 0 <= caption < len(examples):
        raise ValueError(f"caption: scene {seed} has captions 0..{len(examples) - 1}; got {caption}")
    return examples[caption]
