"""Models and datasets by name, for the CLI and the app.

Entries point at ``module:function`` strings and are imported on first use, so naming a
model never imports the code (or the weights) of the others.
May import: nothing from vlexplore at import time (entries are imported when named).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "ModelEntry",
    "DatasetEntry",
    "MODELS",
    "DATASETS",
    "register_model",
    "register_dataset",
    "load_model",
    "load_dataset",
]


@dataclass(frozen=True)
class ModelEntry:
    target: str  # "module:function"; called as function(argument, **options)
    help: str
    prefix: bool = False  # True: the name is "prefix:ARGUMENT"


@dataclass(frozen=True)
class DatasetEntry:
    target: str
    help: str
    prefix: bool = False


MODELS: dict[str, ModelEntry] = {
    "demo": ModelEntry(
        "vlexplore.models.builtin:load_shipped",
        "built-in model pretrained on the procedural world with silver (detector) labels; offline",
    ),
    "demo-gold": ModelEntry(
        "vlexplore.models.builtin:load_shipped",
        "built-in model pretrained on the procedural world with gold labels; offline",
    ),
    "volta": ModelEntry(
        "vlexplore.models.volta:load_from_spec",
        "volta:ARCH with --checkpoint PATH; ARCH in lxmert, vilbert, vl-bert, visualbert, uniter",
        prefix=True,
    ),
    "hf": ModelEntry(
        "vlexplore.models.hf:load_from_spec",
        "hf:NAME_OR_PATH, a Hugging Face LXMERT, VisualBERT or ViLT checkpoint, or a generative VLM "
        "(LLaVA, SmolVLM/Idefics3, Qwen2-VL, Qwen2.5-VL) with its processor (hub name or local dir)",
        prefix=True,
    ),
}

DATASETS: dict[str, DatasetEntry] = {
    "demo": DatasetEntry(
        "vlexplore.world.demo:load_demo_set",
        "held-out scenes of the built-in world, with captions, gold boxes and detector regions",
    ),
    "flickr30k": DatasetEntry(
        "vlexplore.data.flickr30k:load_from_spec",
        "flickr30k:PATH with --features PATH [--images DIR]; Flickr30k Entities val split",
        prefix=True,
    ),
}


def register_model(name: str, target: str, help: str = "", prefix: bool = False) -> None:
    MODELS[name] = ModelEntry(target, help, prefix)


def register_dataset(name: str, target: str, help: str = "", prefix: bool = False) -> None:
    DATASETS[name] = DatasetEntry(target, help, prefix)


def _resolve(spec: str, table: dict, kind: str) -> tuple[Callable, str]:
    if spec in table and not table[spec].prefix:
        entry, argument = table[spec], spec
    else:
        prefix, sep, argument = spec.partition(":")
        entry = table.get(prefix) if sep else None
        if entry is None or not entry.prefix:
            known = ", ".join(f"{k}:..." if v.prefix else k for k, v in table.items())
            raise ValueError(f"unknown {kind} {spec!r}; known {kind}s: {known}")
        if not argument:
            raise ValueError(f"{kind} {spec!r} needs an argument after the colon: {entry.help}")
    module_name, _, function_name = entry.target.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    return function, argument


def load_model(spec: str, **options):
    """A ``VLModel`` by registry name, e.g. ``demo``, ``volta:uniter``, ``hf:path/to/dir``."""
    function, argument = _resolve(spec, MODELS, "model")
    return function(argument, **options)


def load_dataset(spec: str, **options):
    """An ``ExampleSet`` by registry name, e.g. ``demo`` or ``flickr30k:/data/flickr30k``."""
    function, argument = _resolve(spec, DATASETS, "dataset")
    return function(argument, **options)

