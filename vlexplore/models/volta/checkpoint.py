"""Reading VOLTA checkpoints safely and saying what is wrong with one that does not fit.

Owns: ``read_state_dict`` (``torch.load(..., weights_only=True)``, never arbitrary
pickles; DataParallel "module." prefixes dropped), the strict key-and-shape check with its
forensics (a fine-tuned checkpoint without the pretraining heads, or a checkpoint that
looks like another of the five architectures, is named as such), and ``load_volta``.

May import: torch, ``.config``, ``.modules`` and ``..base`` (``ModelLoadError``, ``checked_weights``).
Never the protocol adapter, the engine, the views or the app.
"""

from __future__ import annotations

import pickle
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import torch

from ..base import ModelLoadError, checked_weights
from .config import ARCHS, CONFIG_FILES, VoltaConfig
from .modules import VoltaForPretraining

__all__ = ["DOWNLOAD_HINT", "expected_shapes", "read_state_dict", "check_state_dict", "load_volta"]

DOWNLOAD_HINT = (
    "download the VOLTA controlled checkpoints (ctrl_lxmert, ctrl_vilbert, ctrl_vl-bert, "
    "ctrl_visualbert, ctrl_uniter; the file is pytorch_model_9.bin) from the model list in the "
    "VOLTA project's MODELS.md (https://github.com/e-bug/volta/blob/main/MODELS.md)"
)


def expected_shapes(config: VoltaConfig) -> dict[str, tuple[int, ...]]:
    """State-dict names and shapes of ``config``'s model, without allocating its weights."""
    with torch.device("meta"):
        model = VoltaForPretraining(config)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors, read safely (``weights_only``), "module." prefixes dropped."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ModelLoadError(
            f"VOLTA checkpoint {path} is a directory; pass the file itself (pytorch_model_9.bin)"
        )
    if not path.is_file():
        raise ModelLoadError(f"VOLTA checkpoint {path} does not exist; {DOWNLOAD_HINT}")
    with open(path, "rb") as handle:
        start = handle.read(4)
    if not start.startswith((b"PK\x03\x04", b"\x80\x02")):  # torch.save: a zip, or (before 1.6) pickle protocol 2
        raise ModelLoadError(
            f"{path} is not a PyTorch checkpoint (it starts with bytes {start!r}, not a torch.save "
            f"archive); {DOWNLOAD_HINT}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for a damaged file
        first_line = str(error).splitlines()[0] if str(error) else ""
        if (
            isinstance(error, pickle.UnpicklingError)
            and "weights only load failed" in str(error).lower()
        ):
            raise ModelLoadError(
                f"{path} holds objects other than tensors, which vlexplore refuses to unpickle "
                "(weights_only=True); save the model's state_dict() instead"
            ) from error
        raise ModelLoadError(
            f"could not read {path}: the file is truncated, corrupt or not a PyTorch checkpoint "
            f"({type(error).__name__}: {first_line}); download it again"
        ) from error
    if isinstance(state, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(state.get(wrapper), dict) and not any(
                isinstance(v, torch.Tensor) for v in state.values()
            ):
                state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"{path} is not a state dict (a mapping from names to tensors)")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _sample(names: Iterable[str], count: int = 5) -> str:
    names = sorted(names)
    shown = ", ".join(names[:count])
    return f"{shown}, ... ({len(names)} in all)" if len(names) > count else shown


def _closest_arch(state: dict[str, torch.Tensor]) -> tuple[str, float]:
    """The architecture whose key set (and shapes) the checkpoint matches best."""
    given = {k: tuple(v.shape) for k, v in state.items()}
    best, best_score = "", -1.0
    for arch in ARCHS:
        wanted = expected_shapes(VoltaConfig.for_arch(arch))
        same = sum(1 for k, shape in given.items() if wanted.get(k) == shape)
        score = same / len(set(given) | set(wanted))
        if score > best_score:
            best, best_score = arch, score
    return best, best_score


def check_state_dict(state: dict[str, torch.Tensor], config: VoltaConfig, arch: str, path) -> None:
    """Raise a ``ModelLoadError`` unless ``state`` has exactly the keys and shapes of ``config``."""
    wanted = expected_shapes(config)
    missing = set(wanted) - set(state)
    unexpected = set(state) - set(wanted)
    wrong = sorted(k for k in set(wanted) & set(state) if tuple(state[k].shape) != wanted[k])
    if not (missing or unexpected or wrong):
        return
    lines = [f"{path} does not fit volta:{arch}:"]
    if missing:
        lines.append(f"  {len(missing)} missing keys: {_sample(missing)}")
    if unexpected:
        lines.append(f"  {len(unexpected)} unexpected keys: {_sample(unexpected)}")
    if wrong:
        shown = "; ".join(
            f"{k} is {tuple(state[k].shape)}, expected {wanted[k]}" for k in wrong[:3]
        )
        lines.append(f"  {len(wrong)} shape mismatches: {shown}")
    if missing and not wrong and all(k.startswith("cls.") for k in missing):
        lines.append(
            "It has the encoder but not the pretraining heads (cls.*): a fine-tuned task checkpoint. "
            f"The diagnostic reads the pretraining heads; {DOWNLOAD_HINT}"
        )
    elif config == VoltaConfig.for_arch(arch):
        guess, score = _closest_arch(state)
        if guess != arch and score > 0.5:
            article = "an" if guess[0] in "aeiol" else "a"  # "an lxmert", "a vilbert"
            lines.append(
                f"This checkpoint looks like {article} {guess} checkpoint; pass --model volta:{guess}"
            )
        else:
            lines.append(
                f"Use a VOLTA pretraining checkpoint (pytorch_model_9.bin): {DOWNLOAD_HINT}"
            )
    raise ModelLoadError("\n".join(lines))


def load_volta(
    checkpoint_path: str | Path,
    arch: str,
    config: VoltaConfig | None = None,
    device: str | torch.device = "cpu",
) -> VoltaForPretraining:
    """A VOLTA model with the checkpoint's weights, strictly loaded, in eval mode.

    ``config`` defaults to the shipped controlled-setup config of ``arch``.
    """
    if arch not in CONFIG_FILES:
        raise ModelLoadError(
            f"unknown VOLTA architecture {arch!r}; choose one of {', '.join(ARCHS)}"
        )
    config = config or VoltaConfig.for_arch(arch)
    state = read_state_dict(checkpoint_path)
    check_state_dict(state, config, arch, checkpoint_path)
    with torch.device("meta"):  # no random init of weights about to be replaced
        model = VoltaForPretraining(config)
    state = checked_weights(state, model.state_dict(), checkpoint_path)  # fp16 -> fp32, no NaN
    tied: dict[int, list[str]] = defaultdict(list)
    for name, tensor in model.state_dict(keep_vars=True).items():
        tied[id(tensor)].append(name)
    for names in tied.values():
        if any(not torch.equal(state[names[0]], state[other]) for other in names[1:]):
            raise ModelLoadError(
                f"{checkpoint_path}: {names[0]} and {names[1]} differ, but VOLTA ties them (one tensor); "
                "the checkpoint was edited or comes from another model"
            )
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    return model.to(device).eval()


