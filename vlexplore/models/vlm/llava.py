"""LLaVA (``LlavaForConditionalGeneration``), e.g. llava-1.5 or llava-interleave-qwen-0.5b.

Geometry of its image processors (``LlavaImageProcessor``, ``CLIPImageProcessor``,
``SiglipImageProcessor``) for a picture of W x H pixels:

1. ``do_pad`` (LLaVA's own processor): pad to a square of the longest side, picture centred;
2. resize (shortest edge to S keeping the aspect ratio, or straight to height x width);
3. ``do_center_crop``: the central crop_height x crop_width window.

The result is one view, a grid of patch_size squares; with ``vision_feature_select_strategy
"full"`` on a CLIP tower the CLS token comes first (no cell). Cells in the padding, or cut
away by the crop, show nothing of the picture: the crop's window is mapped back to original
pixels, so a box outside it covers no token at all.
"""

from __future__ import annotations

import numpy as np

from .base import VLMBackend
from .geometry import ImageLayout, ImageView, join_views

__all__ = ["LlavaBackend"]


def _size(size, *keys):
    get = size.get if isinstance(size, dict) else lambda k: getattr(size, k, None)
    return [get(k) for k in keys]


class LlavaBackend(VLMBackend):
    family = "LLaVA"

    def frame(self, width: int, height: int) -> tuple[tuple[float, float, float, float], tuple[int, int]]:
        """The crop window in original pixels [x0, y0, x1, y1), and the crop's (width, height)."""
        processor = self.processor.image_processor
        pad_x = pad_y = 0.0
        canvas_w, canvas_h = width, height
        if getattr(processor, "do_pad", False):
            side = max(width, height)
            pad_x, pad_y = (side - width) // 2, (side - height) // 2
            canvas_w = canvas_h = side
        resized_w, resized_h = canvas_w, canvas_h
        if processor.do_resize:
            # the processor's own resize decides the size (shortest edge, height x width, ...)
            blank = np.zeros((3, canvas_h, canvas_w), dtype=np.uint8)
            from transformers.image_utils import SizeDict

            size = processor.size if isinstance(processor.size, SizeDict) else SizeDict(**processor.size)
            resized_h, resized_w = processor.resize(blank, size=size).shape[-2:]
        crop_w, crop_h = resized_w, resized_h
        left = top = 0
        if getattr(processor, "do_center_crop", False):
            crop_h, crop_w = (int(v) for v in _size(processor.crop_size, "height", "width"))
            top = (resized_h - crop_h) // 2 if resized_h >= crop_h else -((crop_h - resized_h) // 2)
            left = (resized_w - crop_w) // 2 if resized_w >= crop_w else -((crop_w - resized_w) // 2)
        sx, sy = canvas_w / resized_w, canvas_h / resized_h
        window = (left * sx - pad_x, top * sy - pad_y, (left + crop_w) * sx - pad_x, (top + crop_h) * sy - pad_y)
        return window, (crop_w, crop_h)

    def layout(self, image_size: tuple[int, int], processed) -> ImageLayout:
        width, height = image_size
        window, (crop_w, crop_h) = self.frame(width, height)
        if tuple(processed["pixel_values"].shape[-2:]) != (crop_h, crop_w):
            raise RuntimeError(
                f"{self.name}: the geometry expects {crop_w}x{crop_h} processed pixels, the image processor "
                f"made {tuple(processed['pixel_values'].shape[-2:])[::-1]}"
            )
        patch = int(self.model.config.vision_config.patch_size)
        rows, columns = crop_h // patch, crop_w // patch
        # the patch embedding covers rows * patch pixels (SigLIP/14 on 384 px drops the last 6)
        x0, y0, x1, y1 = window
        window = (x0, y0, x0 + (x1 - x0) * columns * patch / crop_w, y0 + (y1 - y0) * rows * patch / crop_h)
        view = ImageView("image", rows, columns, window)
        tokens = list(processed["input_ids"][0].tolist()).count(self.image_token_id)
        extra = tokens - view.rows * view.columns
        if extra not in (0, 1):
            raise RuntimeError(
                f"{self.name}: {tokens} image tokens for a {view.rows}x{view.columns} patch grid; "
                "vlexplore expects the patches, optionally after one CLS token"
            )
        return join_views(image_size, [view], extra_before=extra)

    def vision_kwargs(self, processed) -> dict:
        config = self.model.config
        return {
            **super().vision_kwargs(processed),
            "vision_feature_layer": config.vision_feature_layer,
            "vision_feature_select_strategy": config.vision_feature_select_strategy,
        }
