"""Where the app gets models, example sets, random scenes and a detector for uploads.

Kept in one place so that the app has one small function per source, and so that a missing
piece (say the built-in world in a partial install) becomes a clear ``ValueError`` rather
than an ImportError deep inside the page.
"""

from __future__ import annotations

import importlib

import numpy as np

from .. import registry
from ..records import Example, ExampleSet, Regions
from .examples import Detector

__all__ = [
    "DEFAULT_MODEL",
    "BUILTIN_MODELS",
    "DEFAULT_DATASET",
    "model_choices",
    "dataset_choices",
    "load_model",
    "load_dataset",
    "random_example",
    "upload_detector",
    "average_feature",
]

DEFAULT_MODEL = "demo"
BUILTIN_MODELS = ("demo", "demo-gold")  # their regions come from the world's simulated detector
DEFAULT_DATASET = "demo"


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
    return ValueError(f"{what} {spec!r} could not be loaded ({type(error).__name__}: {error})")


def load_model(spec: str):
    try:
        return registry.load_model(spec)
    except Exception as error:  # shown to the user; the app must keep working
        raise _friendly(error, "model", spec) from error


def load_dataset(spec: str) -> ExampleSet:
    try:
        return registry.load_dataset(spec)
    except Exception as error:
        raise _friendly(error, "dataset", spec) from error


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
    for name in ("detect_image", "detect", "run_detector"):
        function = getattr(detector, name, None)
        if callable(function):
            return function
    raise ValueError("the built-in world's detector offers no function to detect regions in an image")


def average_feature(dataset: ExampleSet | None, regions: Regions | None) -> np.ndarray | None:
    """The dataset-average region feature when it fits these regions (else None: the engine
    then uses the image's own mean, and the app says so)."""
    if dataset is None or regions is None:
        return None
    average = dataset.average_region_feature()
    if average is None or average.shape != (regions.feature_dim,):
        return None
    return average
