"""Models and datasets by name, for the CLI and the app.

Entries point at ``module:function`` strings and are imported on first use, so naming a
model never imports the code (or the weights) of the others.
May import: errors only at import time (entries are imported when named).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from .errors import InputError

__all__ = [
    "ModelEntry",
    "DatasetEntry",
    "MODELS",
    "DATASETS",
    "register_model",
    "register_dataset",
    "load_model",
    "load_dataset",
    "accepts_option",
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
    "demo-lang": ModelEntry(
        "vlexplore.models.builtin:load_shipped",
        "positive control: built-in model (gold labels) from the demo-lang world, where only words tell a shape",
    ),
    "volta": ModelEntry(
        "vlexplore.models.volta:load_from_spec",
        "volta:ARCH with --checkpoint PATH; ARCH in lxmert, vilbert, vl-bert, visualbert, uniter",
        prefix=True,
    ),
    "hf": ModelEntry(
        "vlexplore.models.hf:load_from_spec",
        "hf:NAME_OR_PATH, a Hugging Face LXMERT, VisualBERT or ViLT checkpoint, or a generative VLM "
        "(LLaVA, LLaVA-OneVision, SmolVLM/Idefics3, SmolVLM2, Qwen2-VL, Qwen2.5-VL) with its processor (hub name or local dir)",
        prefix=True,
    ),
}

DATASETS: dict[str, DatasetEntry] = {
    "demo": DatasetEntry(
        "vlexplore.world.demo:load_demo_set",
        "held-out scenes of the built-in world, with captions, gold boxes and detector regions",
    ),
    "demo-lang": DatasetEntry(
        "vlexplore.world.demo:load_demo_set",
        "held-out scenes of the positive control's world: one object per scene, drawn as a disc (shape only in words)",
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
            raise InputError(f"unknown {kind} {spec!r}; known {kind}s: {known}")
        if not argument:
            raise InputError(f"{kind} {spec!r} needs an argument after the colon: {entry.help}")
    module_name, _, function_name = entry.target.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    return function, argument


def _refuse_unknown_options(function: Callable, spec: str, kind: str, options: dict) -> None:
    """An ``InputError`` naming the options ``function`` does not take (e.g. demo --features)."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return  # the loader checks its options itself
    unknown = sorted(set(options) - set(list(parameters)[1:]))
    if unknown:
        takes = ", ".join(list(parameters)[1:]) or "no options"
        raise InputError(
            f"{kind} {spec!r} does not take {', '.join(unknown)} (it takes {takes}); "
            f"leave {'it' if len(unknown) == 1 else 'them'} out"
        )


def accepts_option(spec: str, kind: str, option: str) -> bool:
    """Whether the ``kind`` ("model" or "dataset") named ``spec`` takes ``option``."""
    function, _ = _resolve(spec, MODELS if kind == "model" else DATASETS, kind)
    parameters = inspect.signature(function).parameters
    return option in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def load_model(spec: str, **options):
    """A ``VLModel`` by registry name, e.g. ``demo``, ``volta:uniter``, ``hf:path/to/dir``."""
    function, argument = _resolve(spec, MODELS, "model")
    _refuse_unknown_options(function, spec, "model", options)
    return function(argument, **options)


def load_dataset(spec: str, **options):
    """An ``ExampleSet`` by registry name, e.g. ``demo`` or ``flickr30k:/data/flickr30k``."""
    function, argument = _resolve(spec, DATASETS, "dataset")
    _refuse_unknown_options(function, spec, "dataset", options)
    return function(argument, **options)

