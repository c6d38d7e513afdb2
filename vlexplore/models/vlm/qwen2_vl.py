"""Qwen2-VL and Qwen2.5-VL (``Qwen2VLForConditionalGeneration``, ``Qwen2_5_VLForConditionalGeneration``).

Geometry of ``Qwen2VLImageProcessor``: ``smart_resize`` stretches the whole picture (no crop,
no padding) to a height and width that are multiples of patch_size x merge_size (28 px) with
the pixel count within [min_pixels, max_pixels]; the vision tower cuts patch_size squares and
its merger folds each 2 x 2 block into one token, row-major over the blocks
(``image_grid_thw`` = (1, rows, columns) in patches). Qwen2.5-VL runs its window attention on
a reordered sequence but puts the merged tokens back in row-major order before returning them,
so the ablation (on the returned, projected tokens) sees the same grid in both models.

The language model takes 3-D (M-RoPE) positions, computed by the model from the token types
and ``image_grid_thw`` that ``language_kwargs`` passes along.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .base import ImageEncoding, ImageOnlyProcessor, VLMBackend, processor_or_image_half
from .geometry import ImageLayout, ImageView, join_views

__all__ = ["Qwen2VLBackend", "qwen_token_count"]


def qwen_token_count(image_processor, image_inputs, index: int) -> int:
    """``Qwen2VLProcessor``'s count: grid_t * grid_h * grid_w / merge_size^2."""
    return int(image_inputs["image_grid_thw"][index].prod()) // image_processor.merge_size**2


class Qwen2VLBackend(VLMBackend):
    family = "Qwen2-VL"

    def __init__(self, model, *args, **kwargs):
        if model.config.model_type == "qwen2_5_vl":
            self.family = "Qwen2.5-VL"
        super().__init__(model, *args, **kwargs)

    @classmethod
    def load_processor(cls, directory: Path, model_type: str):
        """transformers' processor where it loads, else its image half (its video half needs torchvision)."""
        from transformers import Qwen2VLImageProcessorPil

        return processor_or_image_half(
            directory, model_type,
            lambda: ImageOnlyProcessor.from_directory(
                directory, Qwen2VLImageProcessorPil, "<|image_pad|>", qwen_token_count
            ),
        )

    def layout(self, image_size: tuple[int, int], processed) -> ImageLayout:
        width, height = image_size
        frames, rows, columns = (int(v) for v in processed["image_grid_thw"][0].tolist())
        merge = int(self.model.config.vision_config.spatial_merge_size)
        if frames != 1 or rows % merge or columns % merge:
            raise RuntimeError(f"{self.name}: unexpected image grid {(frames, rows, columns)} for one picture")
        view = ImageView("image", rows // merge, columns // merge, (0.0, 0.0, float(width), float(height)))
        return join_views(image_size, [view])

    def vision_kwargs(self, processed) -> dict:
        return {**super().vision_kwargs(processed), "image_grid_thw": processed["image_grid_thw"].to(self.device)}

    def image_extras(self, processed) -> dict:
        return {"image_grid_thw": processed["image_grid_thw"]}

    def language_kwargs(self, input_ids: torch.Tensor, encodings: list[ImageEncoding]) -> dict:
        return {
            "image_grid_thw": torch.cat([e.extras["image_grid_thw"] for e in encodings]).to(self.device),
            "mm_token_type_ids": (input_ids == self.image_token_id).int(),
        }
