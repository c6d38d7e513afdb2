"""Hugging Face checkpoints (ViLT, LXMERT, VisualBERT) behind the model protocol.

``hf:NAME_OR_PATH`` names a model directory (as written by ``save_pretrained`` or
``hf download NAME --local-dir DIR``) or a hub name. A hub name is looked up in the local
Hugging Face cache only: vlexplore never reaches for the network unless the caller passes
``allow_download=True`` (and ``HF_HUB_OFFLINE`` is not set), so a missing model fails in
well under a second with a message that says how to get it, instead of minutes of retries.
Every ``from_pretrained`` call below runs on a local directory with ``local_files_only=True``.

This module resolves the directory, reads its ``model_type`` and hands over to one backend
per file: ``hf_vilt`` (pixels), ``hf_lxmert`` and ``hf_visualbert`` (detector regions).
It owns what the three share: the ``hf:`` options, finding and checking the directory,
loading weights and tokenizer, and ``HFBackend``. May import ``..text``, ``.base`` and
``.common``; the three backend modules import this; never the engine, the views or the app.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..assets import BERT_VOCAB_SIZE
from ..text import bert_tokenizer, load_tokenizer
from .base import ModelLoadError, RegionInput, VLBatch, VLModel
from .common import (
    check_region_features,
    from_local_dir,
    require_regions,
    resolve_device,
    text_inputs,
)
from .vlm.families import FAMILIES as VLM_FAMILIES

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "HFOptions",
    "HFBackend",
    "load_from_spec",
    "resolve_model_dir",
    "read_model_type",
    "load_weights",
    "load_checkpoint_tokenizer",
    "NO_REGION_HEAD",
]

#: model_type -> (backend module, loader function, what it loads and an example checkpoint)
SUPPORTED_MODEL_TYPES: dict[str, tuple[str, str, str]] = {
    "vilt": (
        "vlexplore.models.hf_vilt",
        "load_vilt",
        "ViltForMaskedLM, e.g. dandelin/vilt-b32-mlm",
    ),
    "lxmert": (
        "vlexplore.models.hf_lxmert",
        "load_lxmert",
        "LxmertForPreTraining, e.g. unc-nlp/lxmert-base-uncased",
    ),
    "visual_bert": (
        "vlexplore.models.hf_visualbert",
        "load_visualbert",
        "VisualBertForPreTraining, e.g. uclanlp/visualbert-vqa-coco-pre",
    ),
}

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
#: files fetched when a download is allowed (weights, config, tokenizer, image processor)
DOWNLOAD_PATTERNS = ["*.json", "*.yaml", "*.safetensors", "*.txt", "pytorch_model*.bin"]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class HFOptions:
    """What ``hf:`` accepts besides the name (from the CLI, the app or Python)."""

    allow_download: bool = False  # fetch a hub name that is not cached (needs network)
    device: str = "auto"  # "auto" = cuda when available, else cpu
    cache_dir: str | None = None  # Hugging Face cache to look in (default: HF_HUB_CACHE)
    revision: str | None = None  # hub revision (branch, tag or commit)
    ablation_space: str | None = None  # generative VLMs: "tokens" (default) or "pixels"

    @classmethod
    def parse(cls, options: dict) -> HFOptions:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(k for k, v in options.items() if k not in known and v is not None)
        if "checkpoint" in unknown:
            raise ValueError(
                "hf: models take no --checkpoint; name the model directory itself: --model hf:DIR "
                "(the folder with config.json and model.safetensors)"
            )
        if unknown:
            raise ValueError(
                f"hf: unknown option(s) {', '.join(unknown)}; known options: {', '.join(sorted(known))}"
            )
        values = {k: v for k, v in options.items() if k in known and v is not None}
        if not isinstance(values.get("allow_download", False), bool):
            raise ValueError(
                f"hf: allow_download must be True or False; got {values['allow_download']!r}"
            )
        return cls(**values)

    def torch_device(self) -> torch.device:
        return resolve_device(self.device, "hf")


def load_from_spec(name_or_path: str, **options) -> VLModel:
    """A ``VLModel`` for ``hf:NAME_OR_PATH`` (the registry's entry point)."""
    parsed = HFOptions.parse(options)
    parsed.torch_device()  # a bad device fails before any weights are read
    directory = resolve_model_dir(name_or_path, parsed)
    model_type = read_model_type(directory)
    if model_type in VLM_FAMILIES:
        from .vlm import load_vlm

        return load_vlm(directory, name=f"hf:{name_or_path}", model_type=model_type, options=parsed)
    if parsed.ablation_space is not None:
        raise ModelLoadError(
            f"ablation_space applies to generative VLMs ({', '.join(VLM_FAMILIES)}); {directory} holds a "
            f"{model_type} model"
        )
    module_name, function_name, _ = SUPPORTED_MODEL_TYPES[model_type]
    loader = getattr(importlib.import_module(module_name), function_name)
    return loader(directory, name=f"hf:{name_or_path}", options=parsed)


# Finding the directory ---------------------------------------------------------------
def hub_offline() -> bool:
    """True when the environment forbids hub access (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _how_to_download(name: str, use_as: str = "--model hf:DIR") -> str:
    return (
        f"On a machine with network run `hf download {name} --local-dir DIR` "
        f"(older huggingface_hub: `huggingface-cli download {name} --local-dir DIR`), copy DIR here "
        f"and pass {use_as}"
    )


def resolve_model_dir(name_or_path: str, options: HFOptions | None = None) -> Path:
    """The local directory holding ``name_or_path``'s config and weights, or a ``ModelLoadError``."""
    options = options or HFOptions()
    text = str(name_or_path).strip()
    if not text:
        raise ModelLoadError(
            "hf: needs a model directory or a hub name, e.g. hf:/models/vilt-b32-mlm or "
            "hf:dandelin/vilt-b32-mlm"
        )
    path = Path(text).expanduser()
    if path.is_dir():
        return check_model_dir(path, text)
    if path.exists():
        raise ModelLoadError(
            f"hf:{text} is a file; hf: takes a model directory (config.json plus model.safetensors "
            "or pytorch_model.bin) or a hub name"
        )
    if not _REPO_ID.match(text) or text.startswith(("/", ".", "~")):
        raise ModelLoadError(
            f"model directory {text} does not exist; pass the folder that holds config.json and the "
            "weights (e.g. what `hf download NAME --local-dir DIR` writes)"
        )
    return check_model_dir(_from_hub(text, options), text)


def _snapshot(repo_id: str, options: HFOptions, **how) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, revision=options.revision, cache_dir=options.cache_dir, **how))


def _from_hub(repo_id: str, options: HFOptions, use_as: str = "--model hf:DIR") -> Path:
    """The cached snapshot of ``repo_id``; a miss fails at once (or downloads, if allowed).

    ``use_as`` completes the message's advice (the models' ``--model hf:DIR``, the
    detector's ``--detector DIR``)."""
    try:
        return _snapshot(repo_id, options, local_files_only=True)
    except Exception:  # not cached (LocalEntryNotFoundError) or a name the hub rejects
        pass
    offline = hub_offline()
    if not options.allow_download or offline:
        reason = (
            "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set in this environment, so nothing is "
            "downloaded; unset it and pass allow_download=True to fetch it here"
            if offline
            else "vlexplore does not download unless asked: pass allow_download=True to fetch it here"
        )
        raise ModelLoadError(
            f"{repo_id!r} is neither a local directory nor in the local Hugging Face cache. "
            f"{_how_to_download(repo_id, use_as)}. Or: {reason}."
        )
    try:
        return _snapshot(repo_id, options, allow_patterns=DOWNLOAD_PATTERNS)
    except Exception as error:
        raise ModelLoadError(
            f"could not download {repo_id!r} ({type(error).__name__}: {error}). {_how_to_download(repo_id, use_as)}."
        ) from error


def check_model_dir(directory: Path, label: str) -> Path:
    """Raise a ``ModelLoadError`` unless ``directory`` has a config and weights."""
    if not (directory / "config.json").is_file():
        raise ModelLoadError(
            f"{directory} (from hf:{label}) has no config.json, so it is not a Hugging Face model "
            "directory; point at the folder written by save_pretrained or `hf download NAME --local-dir DIR`"
        )
    if not any((directory / name).is_file() for name in WEIGHT_FILES):
        raise ModelLoadError(
            f"{directory} (from hf:{label}) has config.json but no weights ({', '.join(WEIGHT_FILES[::2])}); "
            f"fetch them with `hf download NAME --local-dir {directory}` on a machine with network"
        )
    return directory


def read_model_type(directory: Path) -> str:
    """The ``model_type`` of ``directory/config.json``, checked against the supported ones."""
    config_file = directory / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{config_file} is not a readable JSON config ({error})") from error
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in SUPPORTED_MODEL_TYPES and model_type not in VLM_FAMILIES:
        supported = "; ".join(
            [f"{k} ({v[2]})" for k, v in SUPPORTED_MODEL_TYPES.items()]
            + [f"{k} ({v[2]}, e.g. {v[3]})" for k, v in VLM_FAMILIES.items()]
        )
        architectures = config.get("architectures") if isinstance(config, dict) else None
        named = f" ({', '.join(architectures)})" if architectures else ""
        raise ModelLoadError(
            f"{config_file} has model_type {model_type!r}{named}, which vlexplore does not support yet; "
            f"supported are: {supported}. VOLTA checkpoints load with --model volta:ARCH --checkpoint PATH"
        )
    return model_type


# Loading weights and tokenizer ---------------------------------------------------------
def load_weights(model_class, directory: Path, required: dict[str, str]):
    """``model_class.from_pretrained(directory)`` in float32, eval mode, plus its missing keys.

    ``required`` maps parameter-name prefixes to what they are ("mlm_score." -> "the MLM
    head"); a checkpoint without them (a fine-tuned VQA model, say) is refused, since its
    heads would be random.
    """
    check_safetensors_dtypes(directory)
    try:
        model, info = model_class.from_pretrained(
            str(directory), local_files_only=True, output_loading_info=True, dtype=torch.float32
        )
    except Exception as error:
        if "weights_only" in str(error) or "weights only" in str(error).lower():
            # never relay torch's advice to rerun with weights_only=False: that runs the file's code
            raise ModelLoadError(
                f"{directory}: the weights file holds objects other than tensors, which vlexplore "
                "refuses to unpickle; use a checkpoint saved as model.safetensors"
            ) from None
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise ModelLoadError(
            f"could not load {model_class.__name__} weights from {directory} "
            f"({type(error).__name__}: {first_line[:300]})"
        ) from error
    missing = set(info.get("missing_keys") or ())
    mismatched = info.get("mismatched_keys") or ()
    if mismatched:
        raise ModelLoadError(
            f"{directory}: weights do not fit the config ({len(mismatched)} shape mismatches, e.g. "
            f"{list(mismatched)[0]}); the config.json and the weights come from different models"
        )
    for prefix, what in required.items():
        absent = sorted(k for k in missing if k.startswith(prefix))
        if absent:
            raise ModelLoadError(
                f"{directory} has no weights for {what} (missing {absent[0]} and {len(absent) - 1} more); "
                "vlexplore needs the pretraining checkpoint with its heads, not a fine-tuned one"
            )
    model.eval()
    return model, missing


#: integer buffers that checkpoints legitimately store (everything else is a float weight)
INTEGER_BUFFERS = ("position_ids", "token_type_ids", "num_batches_tracked")
FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}


def check_safetensors_dtypes(directory: Path) -> None:
    """A ``ModelLoadError`` for a weight whose safetensors header says it is not floating point.

    ``from_pretrained`` would copy an I32-labelled tensor into a float parameter without a
    word (the relabelled bytes become huge integers); the header is read, not the tensors.
    """
    for file in sorted(directory.glob("*.safetensors")):
        try:
            with open(file, "rb") as handle:
                size = int.from_bytes(handle.read(8), "little")
                if not 2 <= size <= 100 * 2**20:
                    raise ValueError(f"a header of {size} bytes")
                header = json.loads(handle.read(size))
            entries = {k: v for k, v in header.items() if k != "__metadata__"}
            dtypes = {k: v["dtype"] for k, v in entries.items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            raise ModelLoadError(f"{file} is not a readable safetensors file ({error})") from None
        for name, dtype in dtypes.items():
            if dtype not in FLOAT_DTYPES and not name.endswith(INTEGER_BUFFERS):
                raise ModelLoadError(
                    f"{file}: weight {name} is stored as {dtype}, not floating point; the file's "
                    "header was altered or it is not a model checkpoint"
                )


def load_checkpoint_tokenizer(directory: Path, vocab_size: int):
    """The checkpoint's own tokenizer if it ships one, else bert-base-uncased; size checked.

    Returns (tokenizer, where it came from).
    """
    if (directory / "tokenizer.json").is_file() or (directory / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = from_local_dir(
            AutoTokenizer, directory, "tokenizer", "remove its tokenizer files to fall back to bert-base-uncased"
        )
        source = f"the checkpoint's tokenizer ({directory.name})"
    elif (directory / "vocab.txt").is_file():
        tokenizer = load_tokenizer(directory / "vocab.txt")
        source = f"the checkpoint's vocab.txt ({directory.name})"
    else:
        tokenizer = bert_tokenizer()
        source = f"the shipped bert-base-uncased vocabulary ({BERT_VOCAB_SIZE} entries)"
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"{source} is a slow tokenizer; vlexplore needs a fast one (tokenizer.json or vocab.txt)"
        )
    if len(tokenizer) != vocab_size:
        raise ModelLoadError(
            f"{source} has {len(tokenizer)} entries but the model's vocab_size is {vocab_size}; put the "
            f"checkpoint's own tokenizer files (tokenizer.json or vocab.txt) in {directory}"
        )
    if tokenizer.mask_token_id is None:
        raise ModelLoadError(f"{source} has no [MASK] token, so MLM cannot be read out")
    return tokenizer, source


# Shared by the backends -----------------------------------------------------------------
#: the end of the description of a backend without a region-classification head
NO_REGION_HEAD = "No region head: Language-for-Vision (MRC-KL) is not available."


class HFBackend(VLModel):
    """What the three backends share: the torch module, its device and the text inputs."""

    #: the protocol's caption limit for this family (capped by the checkpoint's position table)
    text_limit: int = 38
    #: the config field holding the region feature size (None: the model takes pixels)
    feature_dim_field: str | None = None
    #: the detector whose features the model needs, for the message on wrong features
    detector: str = "the detector this model was trained with"

    def __init__(self, model: torch.nn.Module, tokenizer, name: str, device: torch.device) -> None:
        super().__init__()
        self.model = model.to(device)
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.max_text_length = min(self.text_limit, int(model.config.max_position_embeddings))

    def text_inputs(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """input_ids, attention_mask and (all-zero) token_type_ids on the model's device."""
        return text_inputs(batch, self.model.config.vocab_size, self.name, self.device)

    @property
    def feature_dim(self) -> int | None:
        if self.feature_dim_field is None:
            return None
        return int(getattr(self.model.config, self.feature_dim_field))

    def regions(self, batch: VLBatch) -> RegionInput:
        """The batch's detector regions, their feature size checked against the model's."""
        visual = require_regions(batch, self.name)
        check_region_features(visual.features, self.feature_dim, self.name, self.detector)
        return visual
