"""SmolVLM2 (``SmolVLMForConditionalGeneration``, ``model_type`` "smolvlm"), e.g. SmolVLM2-256M-Video-Instruct.

For still pictures SmolVLM2 is Idefics3 again: its image processor, SigLIP tower, pixel shuffle
connector and image-token layout (``<fake_token_around_image><row_r_col_c>`` + image tokens per
tile, a newline after each row of tiles, then ``<fake_token_around_image><global-img>`` + the
global view's tokens) are the same code in transformers 5.x, so the geometry is
``Idefics3Backend``'s. What differs is the processor: ``SmolVLMProcessor`` carries a video
processor that needs torchvision (and the ``num2words`` package), so where it does not load
the backend loads the tokenizer, image processor and chat template alone and expands the image
placeholder with transformers' own ``get_image_prompt_string``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .base import ImageOnlyProcessor, processor_or_image_half
from .idefics3 import Idefics3Backend

__all__ = ["SmolVLMBackend", "image_seq_len"]


def image_seq_len(directory: Path) -> int:
    """Image tokens per view: the saved processor's ``image_seq_len``, else from the model config."""
    processor_config = directory / "processor_config.json"
    if processor_config.is_file():
        value = json.loads(processor_config.read_text(encoding="utf-8")).get("image_seq_len")
        if value is not None:
            return int(value)
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    vision = config.get("vision_config", {})
    per_side = int(vision.get("image_size", 512)) // int(vision.get("patch_size", 16))
    return per_side**2 // int(config.get("scale_factor", 4)) ** 2


class SmolVLMBackend(Idefics3Backend):
    family = "SmolVLM2"

    @classmethod
    def load_processor(cls, directory: Path, model_type: str):
        """transformers' processor where it loads, else its image half (its video half needs torchvision)."""
        from transformers import SmolVLMImageProcessorPil

        def image_half() -> ImageOnlyProcessor:
            from transformers.models.smolvlm.processing_smolvlm import get_image_prompt_string

            tokens_per_view = image_seq_len(directory)

            def expand(image_processor, image_inputs, index: int) -> str:
                tokenizer = processor.tokenizer  # SmolVLMProcessor reads the special tokens from it
                return get_image_prompt_string(
                    int(image_inputs["rows"][index][0]),
                    int(image_inputs["cols"][index][0]),
                    tokens_per_view,
                    fake_token_around_image=getattr(tokenizer, "fake_image_token", "<fake_token_around_image>"),
                    image_token=getattr(tokenizer, "image_token", "<image>"),
                    global_image_token=getattr(tokenizer, "global_image_token", "<global-img>"),
                )

            processor = ImageOnlyProcessor.from_directory(
                directory, SmolVLMImageProcessorPil, "<image>", token_types=False, expand=expand,
                image_kwargs={"return_row_col_info": True},
            )
            return processor

        return processor_or_image_half(directory, model_type, image_half)
