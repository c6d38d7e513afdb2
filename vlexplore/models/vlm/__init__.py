"""Generative vision-language models (LLaVA, LLaVA-OneVision, Idefics3 / SmolVLM, SmolVLM2, Qwen2-VL, Qwen2.5-VL).

``hf:DIR`` hands a directory whose ``model_type`` is listed in ``FAMILIES`` to ``load_vlm``;
the processor must be saved beside the weights. See ``prompt.py`` for the causal readout and
``geometry.py`` for how a box becomes image tokens.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..base import ModelLoadError
from .base import ABLATION_SPACES, VLMBackend
from .families import FAMILIES
from .prompt import PROMPT, READOUT_NOTE

__all__ = ["FAMILIES", "load_vlm", "VLMBackend", "READOUT_NOTE", "PROMPT", "ABLATION_SPACES"]


def load_vlm(directory: Path, name: str, model_type: str, options) -> VLMBackend:
    """Load weights and processor of a generative VLM directory (options: ``hf.HFOptions``)."""
    import torch
    import transformers

    module_name, backend_name, class_name, _ = FAMILIES[model_type]
    backend_class = getattr(importlib.import_module(f"{__name__}.{module_name}"), backend_name)
    processor = backend_class.load_processor(directory, model_type)
    model_class = getattr(transformers, class_name)
    try:
        model = model_class.from_pretrained(str(directory), local_files_only=True, dtype=torch.float32)
    except Exception as error:
        raise ModelLoadError(
            f"could not load {class_name} weights from {directory} ({type(error).__name__}: {error})"
        ) from error
    return backend_class(
        model,
        processor,
        name,
        options.torch_device(),
        ablation_space=getattr(options, "ablation_space", None) or "tokens",
    )
