"""Idefics3 and SmolVLM (``Idefics3ForConditionalGeneration``), e.g. SmolVLM-256M-Instruct.

Geometry of ``Idefics3ImageProcessor`` for one picture of W x H pixels (M = the
``max_image_size`` longest edge, 512 for SmolVLM):

- without image splitting: the picture is stretched to M x M, one view;
- with splitting: its longest edge is resized to ``size["longest_edge"]`` (aspect kept,
  capped at 4096), both sides are then stretched up to multiples of M, and the canvas is cut
  into rows x columns tiles of M x M, row-major, followed by a global view (the whole picture
  stretched to M x M). A picture that fits in one tile gets only that one view.

Inside a view the SigLIP encoder cuts M/p x M/p patches, and the connector's pixel shuffle
folds each ``scale_factor`` x ``scale_factor`` block of patches into one token, row-major over
the blocks (checked in the tests against ``Idefics3Connector.pixel_shuffle``). So a token is a
cell of (p * scale_factor)^2 view pixels.
"""

from __future__ import annotations

import math

from .base import VLMBackend
from .geometry import ImageLayout, ImageView, join_views

__all__ = ["Idefics3Backend", "canvas_size"]


def _edge(size, key: str) -> int:
    value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
    if value is None:
        raise ValueError(f"the image processor's size {size!r} has no {key!r}")
    return int(value)


def canvas_size(image_processor, width: int, height: int) -> tuple[int, int]:
    """(width, height) of the canvas the tiles are cut from (``Idefics3ImageProcessor``'s steps)."""
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        MAX_IMAGE_SIZE,
        _resize_output_size_rescale_to_max_len,
        _resize_output_size_scale_below_upper_bound,
    )

    tile = _edge(image_processor.max_image_size, "longest_edge")
    if image_processor.do_resize:
        longest = _edge(image_processor.size, "longest_edge")
        height, width = _resize_output_size_rescale_to_max_len(height, width, max_len=longest)
        height, width = _resize_output_size_scale_below_upper_bound(height, width, max_len=MAX_IMAGE_SIZE)
    # resize_for_vision_encoder: both sides up to multiples of the tile size
    aspect_ratio = width / height
    if width >= height:
        width = math.ceil(width / tile) * tile
        height = math.ceil(int(width / aspect_ratio) / tile) * tile
    else:
        height = math.ceil(height / tile) * tile
        width = math.ceil(int(height * aspect_ratio) / tile) * tile
    return width, height


class Idefics3Backend(VLMBackend):
    family = "Idefics3 / SmolVLM"

    def layout(self, image_size: tuple[int, int], processed) -> ImageLayout:
        width, height = image_size
        image_processor = self.processor.image_processor
        config = self.model.config
        tile = _edge(image_processor.max_image_size, "longest_edge")
        per_side = tile // config.vision_config.patch_size // config.scale_factor
        frames = int(processed["pixel_values"].shape[1])
        whole = ImageView("image", per_side, per_side, (0.0, 0.0, float(width), float(height)))
        views = [whole]
        if image_processor.do_image_splitting:
            canvas_width, canvas_height = canvas_size(image_processor, width, height)
            rows, columns = canvas_height // tile, canvas_width // tile
            if rows * columns > 1:
                sx, sy = width / canvas_width, height / canvas_height
                views = [
                    ImageView(
                        f"tile r{r + 1} c{c + 1}",
                        per_side,
                        per_side,
                        (c * tile * sx, r * tile * sy, (c + 1) * tile * sx, (r + 1) * tile * sy),
                    )
                    for r in range(rows)
                    for c in range(columns)
                ]
                views.append(ImageView("global", per_side, per_side, whole.frame))
        if len(views) != frames:
            raise RuntimeError(
                f"{self.name}: the geometry expects {len(views)} views of a {width}x{height} picture but "
                f"the image processor made {frames}; its settings are not Idefics3's"
            )
        return join_views(image_size, views)

    def vision_kwargs(self, processed) -> dict:
        kwargs = super().vision_kwargs(processed)
        if "pixel_attention_mask" in processed:
            kwargs["pixel_attention_mask"] = processed["pixel_attention_mask"].to(self.device)
        return kwargs
