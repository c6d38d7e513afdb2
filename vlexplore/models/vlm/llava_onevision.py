"""LLaVA-OneVision (``LlavaOnevisionForConditionalGeneration``), e.g. llava-onevision-qwen2-0.5b-ov-hf.

Geometry of ``LlavaOnevisionImageProcessor`` ("anyres") and of the model's feature packing,
for a picture of W x H pixels (S = the vision tower's image size, p = its patch size,
g = S // p cells per crop side):

1. the **global view** comes first: the whole picture stretched to S x S, g x g tokens (the
   patch embedding covers g * p pixels: SigLIP/14 on 384 px leaves the last 6 out);
2. the **high-resolution view**: the grid pinpoint that fits the picture best
   (``select_best_resolution``) is filled with the picture resized with its aspect kept and
   centred on padding, cut into S x S crops; their tokens form one (crops_h * g) x
   (crops_w * g) grid, from which ``unpad_image`` removes the padding rows or columns; when
   that is still more than ``anyres_max_N`` crops' worth, the grid is downscaled (bilinear,
   so a token then mixes its neighbours: its cell is the area it was interpolated from);
3. each row of the high-resolution grid ends with a learned ``image_newline`` token, which
   shows nothing of the picture and is never ablated.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .base import ImageOnlyProcessor, VLMBackend, processor_or_image_half
from .geometry import ImageLayout, ImageView, join_views

__all__ = ["LlavaOnevisionBackend", "onevision_views"]


def _crop_spans(crops: int, cells: int, crop: int, patch: int) -> np.ndarray:
    """(crops * cells, 2) canvas [start, end) of each token column (or row) across the crops."""
    index = np.arange(crops * cells)
    start = (index // cells) * crop + (index % cells) * patch
    return np.stack([start, start + patch], axis=1).astype(np.float64)


def _resample_spans(spans: np.ndarray, count: int) -> np.ndarray:
    """Spans of ``count`` cells that bilinearly resample the ``spans`` grid: the area each was
    interpolated from (fractional grid positions mapped through the cells' edges)."""
    n = len(spans)
    edges_index = np.arange(n + 1)
    edges = np.concatenate([spans[:, 0], spans[-1:, 1]])
    bounds = np.interp(np.linspace(0, n, count + 1), edges_index, edges)
    return np.stack([bounds[:-1], bounds[1:]], axis=1)


def onevision_views(config, width: int, height: int) -> list[ImageView]:
    """The global and high-resolution views of a W x H picture, in the model's token order."""
    from transformers.image_processing_utils import get_patch_output_size, select_best_resolution
    from transformers.image_utils import ChannelDimension
    from transformers.models.llava_onevision.modeling_llava_onevision import unpad_image

    size, patch = int(config.vision_config.image_size), int(config.vision_config.patch_size)
    cells = size // patch
    scale_x, scale_y = width / size, height / size  # the global view stretches the picture to S x S
    base = ImageView(
        "global", cells, cells, (0.0, 0.0, float(width), float(height)),
        column_spans=tuple(map(tuple, _crop_spans(1, cells, size, patch) * scale_x)),
        row_spans=tuple(map(tuple, _crop_spans(1, cells, size, patch) * scale_y)),
    )
    best_h, best_w = select_best_resolution((height, width), config.image_grid_pinpoints)
    crops_h, crops_w = best_h // size, best_w // size
    dummy = np.zeros((1, height, width), dtype=np.uint8)
    resized_h, resized_w = get_patch_output_size(dummy, (best_h, best_w), input_data_format=ChannelDimension.FIRST)
    pad_y, pad_x = (best_h - resized_h) // 2, (best_w - resized_w) // 2
    rows = _crop_spans(crops_h, cells, size, patch)
    columns = _crop_spans(crops_w, cells, size, patch)
    # which rows and columns unpad_image keeps: run it on a grid of their indices
    grid = torch.stack(torch.meshgrid(torch.arange(len(rows)), torch.arange(len(columns)), indexing="ij"))
    kept = unpad_image(grid.float(), (height, width))
    rows, columns = rows[kept[0, :, 0].long().numpy()], columns[kept[1, 0, :].long().numpy()]
    aspect = str(getattr(config, "vision_aspect_ratio", "anyres_max_9"))
    max_crops = int(aspect.removeprefix("anyres_max_"))  # the model strips the same prefix
    ratio = math.sqrt(len(rows) * len(columns) / (max_crops * cells**2))
    if ratio > 1.1:  # the model downscales the grid (pack_image_features)
        rows = _resample_spans(rows, int(len(rows) // ratio))
        columns = _resample_spans(columns, int(len(columns) // ratio))
    # canvas pixels -> original pixels: undo the centring padding, then the resize
    columns = (columns - pad_x) * width / resized_w
    rows = (rows - pad_y) * height / resized_h
    high = ImageView(
        "high-res", len(rows), len(columns),
        (columns[0, 0], rows[0, 0], columns[-1, 1], rows[-1, 1]),
        row_end_tokens=1,
        column_spans=tuple(map(tuple, columns)),
        row_spans=tuple(map(tuple, rows)),
    )
    return [base, high]


class LlavaOnevisionBackend(VLMBackend):
    family = "LLaVA-OneVision"

    @classmethod
    def load_processor(cls, directory: Path, model_type: str):
        """transformers' processor where it loads, else its image half (its video half needs torchvision)."""
        import json

        from transformers import LlavaOnevisionImageProcessorPil

        def image_half() -> ImageOnlyProcessor:
            config = json.loads((directory / "config.json").read_text(encoding="utf-8"))

            class _Config:  # what onevision_views reads, from the saved config
                image_grid_pinpoints = config["image_grid_pinpoints"]
                vision_aspect_ratio = config.get("vision_aspect_ratio", "anyres_max_9")

                class vision_config:  # noqa: N801
                    image_size = config["vision_config"]["image_size"]
                    patch_size = config["vision_config"]["patch_size"]

            def count(image_processor, image_inputs, index: int) -> int:
                height, width = (int(v) for v in image_inputs["image_sizes"][index])
                return sum(v.rows * (v.columns + v.row_end_tokens) for v in onevision_views(_Config, width, height))

            return ImageOnlyProcessor.from_directory(
                directory, LlavaOnevisionImageProcessorPil, "<image>", count, token_types=False
            )

        return processor_or_image_half(directory, model_type, image_half)

    def layout(self, image_size: tuple[int, int], processed) -> ImageLayout:
        width, height = image_size
        if tuple(int(v) for v in processed["image_sizes"][0]) != (height, width):
            raise RuntimeError(f"{self.name}: the image processor saw {processed['image_sizes'][0]}, not {image_size}")
        return join_views(image_size, onevision_views(self.model.config, width, height))

    def vision_kwargs(self, processed) -> dict:
        return {**super().vision_kwargs(processed), "image_sizes": processed["image_sizes"].to(self.device)}
