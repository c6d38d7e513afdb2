"""Finding and loading the detector's weights: a folder, a hub name, ``.bin`` or legacy ``.pkl``.

A detector folder holds ``config.yaml`` (the reference's layout, config.py) and the weights:
``pytorch_model.bin`` (a state dict, read with ``torch.load(weights_only=True)``) or the
detectron2-era ``.pkl`` (``{"model": {name: numpy array}}``), read with an unpickler that
rebuilds numpy arrays and nothing else. The key check is strict: every parameter and
statistic the network has must be there with its shape, and nothing else may be, so a
checkpoint of another network is refused with a message naming the file, not half-loaded.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch

from .config import CONFIG_NAME

__all__ = [
    "WEIGHTS_NAMES",
    "DetectorLoadError",
    "resolve_detector_dir",
    "find_weights",
    "read_state_dict",
    "load_state_dict_strict",
]

WEIGHTS_NAMES = ("pytorch_model.bin", "model.pkl", "frcnn.pkl")
#: where the published detector lives on the hub
DEFAULT_DETECTOR = "unc-nlp/frcnn-vg-finetuned"
#: keys a checkpoint may carry that are not weights (torch's BN counters, anchors rebuilt from the config)
_OPTIONAL = ("num_batches_tracked", "anchor_generator.cell_anchors")


class DetectorLoadError(ValueError):
    """The detector could not be loaded; the message names the file and says what to do."""


def resolve_detector_dir(name_or_dir: str | Path, allow_download: bool = False) -> Path:
    """The local folder for ``name_or_dir``: the folder itself, or a hub name from the HF cache."""
    text = str(name_or_dir).strip()
    if not text:
        raise DetectorLoadError(
            f"no detector given; pass a folder with {CONFIG_NAME} and pytorch_model.bin, "
            f"or the hub name {DEFAULT_DETECTOR}"
        )
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise DetectorLoadError(
            f"{path} is a file; the detector is a folder holding {CONFIG_NAME} and pytorch_model.bin"
        )
    if text.startswith(("/", ".", "~")) or text.count("/") != 1:
        raise DetectorLoadError(
            f"detector folder {path} does not exist; pass a folder holding {CONFIG_NAME} and "
            f"pytorch_model.bin (e.g. what `hf download {DEFAULT_DETECTOR} --local-dir DIR` writes)"
        )
    from ..models.base import ModelLoadError
    from ..models.hf import HFOptions, _from_hub

    try:
        return _from_hub(text, HFOptions(allow_download=allow_download), use_as="--detector DIR")
    except ModelLoadError as error:
        raise DetectorLoadError(f"detector {error}") from None


def find_weights(directory: Path) -> Path:
    for name in WEIGHTS_NAMES:
        if (directory / name).is_file():
            return directory / name
    pickles = sorted(directory.glob("*.pkl"))
    if len(pickles) == 1:
        return pickles[0]
    raise DetectorLoadError(
        f"{directory} holds no detector weights (looked for {', '.join(WEIGHTS_NAMES)}"
        f"{' and found several .pkl files' if pickles else ''}); put the checkpoint of "
        f"{DEFAULT_DETECTOR} (pytorch_model.bin) there"
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits the globals numpy needs to rebuild an array, refuses every other class or function."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not a numpy array")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.bin`` (torch, weights only) or ``.pkl`` (numpy arrays only) checkpoint."""
    try:
        if path.suffix == ".pkl":
            data = _NumpyOnlyUnpickler(io.BytesIO(path.read_bytes())).load()
            if isinstance(data, dict) and isinstance(data.get("model"), dict):
                data = data["model"]
            state = {
                k: torch.from_numpy(np.ascontiguousarray(v))
                for k, v in data.items()
                if isinstance(v, np.ndarray)
            }
            if not isinstance(data, dict) or len(state) != len(data):
                raise DetectorLoadError(
                    f"{path}: expected a detectron2 .pkl ({{'model': {{name: numpy array}}}}); found other content"
                )
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(data, dict) and isinstance(data.get("model"), dict):
                data = data["model"]
            if not isinstance(data, dict) or not all(
                isinstance(v, torch.Tensor) for v in data.values()
            ):
                raise DetectorLoadError(f"{path}: expected a state dict (parameter name -> tensor)")
            state = dict(data)
    except DetectorLoadError:
        raise
    except pickle.UnpicklingError as error:
        raise DetectorLoadError(
            f"{path}: refused to unpickle it ({error}); detector weights are tensors or numpy arrays only"
        ) from error
    except Exception as error:
        raise DetectorLoadError(
            f"{path}: not a readable checkpoint ({type(error).__name__}: {error})"
        ) from error
    renamed = {}
    for key, value in state.items():  # caffe2-era names
        renamed[key.replace("gamma", "weight").replace("beta", "bias")] = value
    return renamed


def load_state_dict_strict(
    model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, config_path: str
) -> None:
    """Copy ``state`` into ``model``; refuse missing, unexpected or wrongly shaped keys."""
    expected = model.state_dict()
    given = {k: v for k, v in state.items() if not any(part in k for part in _OPTIONAL)}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    if missing or unexpected:
        if len(missing) > len(expected) // 2:
            head = (
                f"{path} is not a checkpoint of this detector (a Faster R-CNN ResNet C4 with attribute "
                f"head): {len(missing)} of its {len(expected)} weights are missing"
            )
        else:
            head = f"{path} does not match the detector built from {config_path}"
        parts = [head]
        if missing:
            parts.append(f"missing {len(missing)} key(s), e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s), e.g. {', '.join(unexpected[:3])}")
        raise DetectorLoadError("; ".join(parts))
    wrong = [
        (k, tuple(given[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if given[k].shape != v.shape
    ]
    if wrong:
        listed = "; ".join(f"{k}: {a} in the file, {b} expected" for k, a, b in wrong[:3])
        raise DetectorLoadError(
            f"{path}: {len(wrong)} weight(s) have the wrong shape for the sizes in {config_path} ({listed}); "
            "the config.yaml and the weights must come from the same detector"
        )
    model.load_state_dict({k: given[k].to(v.dtype) for k, v in expected.items()})
