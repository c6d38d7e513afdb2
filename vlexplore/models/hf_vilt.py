"""ViLT (``ViltForMaskedLM``) on raw pixels, with patch ablation.

ViLT has no detector: it cuts the resized image into ``patch_size`` squares, and
``patch_boxes`` says where each one lies in the original image. "Object" ablation (chosen
by the engine with ``geometry.patches_under_boxes``) removes the patches under the
phrase's gold boxes (a patch counts when a box covers at least half of it; a box inside a
single patch claims that patch), and "All" removes every patch.

Two departures from ``ViltEmbeddings.visual_embed``, both for a clean measurement:

- Determinism. transformers samples the image tokens with ``torch.multinomial`` (a random
  subset when there are more than ``max_image_length`` patches, a random order otherwise).
  Here we embed the image ourselves and keep **every** patch, in row-major order: no
  sampling, no randomness, identical logits on every run.
- Ablation. An ablated patch's embedding is replaced by the embedding of a blank patch (all
  zeros after normalisation, i.e. a patch of the processor's mean colour, mid-grey for
  ViLT's 0.5/0.5 normalisation); its position and modality embeddings are kept, so the
  model still sees where a patch was but not what was in it.

There is no region-classification head, so Language-for-Vision (MRC-KL) is not available.

May import ``.base``, ``.common`` and ``.hf``; never the engine, views or app (the engine
picks the patches with ``geometry.patches_under_boxes``, this module only says where they are).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from .base import ModelLoadError, PixelInput, VLBatch, VLOutput
from .common import gather_positions
from .hf import NO_REGION_HEAD, HFBackend, HFOptions, load_checkpoint_tokenizer, load_weights

__all__ = ["HFVilt", "load_vilt"]

# ViltImageProcessor caps the longer side at 1333/800 times the shorter one (COCO aspect ratio).
_LONGER_PER_SHORTER = 1333 / 800


def load_vilt(directory, name: str, options: HFOptions) -> HFVilt:
    from transformers import ViltForMaskedLM

    model, _ = load_weights(ViltForMaskedLM, directory, {"mlm_score.": "the MLM head (mlm_score)"})
    tokenizer, tokenizer_source = load_checkpoint_tokenizer(directory, model.config.vocab_size)
    processor = _image_processor(directory)
    return HFVilt(model, tokenizer, processor, name, options.torch_device(), tokenizer_source)


def _image_processor(directory):
    """The checkpoint's image processor, or ViLT's defaults (384 shorter side), offline.

    The PIL-backed processor is used: it needs no torchvision and gives the same output size
    as the torchvision one (pixel values may differ slightly in the bicubic resampling).
    """
    from transformers import ViltImageProcessorPil

    if (directory / "preprocessor_config.json").is_file():
        try:
            return ViltImageProcessorPil.from_pretrained(str(directory), local_files_only=True)
        except Exception as error:
            raise ModelLoadError(
                f"could not read {directory / 'preprocessor_config.json'} ({type(error).__name__}: "
                f"{error}); remove it to use ViLT's default image processing"
            ) from error
    return ViltImageProcessorPil()


class HFVilt(HFBackend):
    input_kind = "pixels"
    region_class_names = None
    text_limit = 40

    def __init__(
        self, model, tokenizer, processor, name: str, device: torch.device, tokenizer_source: str
    ):
        super().__init__(model, tokenizer, name, device)
        config = model.config
        self.processor = processor
        self.patch_size = int(config.patch_size)
        self.description = (
            f"ViLT (ViltForMaskedLM, {config.num_hidden_layers} layers, hidden {config.hidden_size}) from "
            f"{name[3:]}; raw pixels cut into {self.patch_size}px patches, all patches kept in order "
            "(no random sampling); ablated patches become a blank mean-colour patch; tokenizer: "
            f"{tokenizer_source}. {NO_REGION_HEAD}"
        )

    # Geometry --------------------------------------------------------------------------
    def resized_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) the image processor resizes an image of ``image_size`` to."""
        width, height = (int(v) for v in image_size)
        if width < 1 or height < 1:
            raise ValueError(f"image_size must be positive (width, height); got {image_size}")
        processor = self.processor
        divisor = int(processor.size_divisor or 1)
        if not processor.do_resize:
            return width // divisor * divisor, height // divisor * divisor
        shorter = int(processor.size.shortest_edge)
        longer = int(_LONGER_PER_SHORTER * shorter)
        scale = shorter / min(height, width)
        if height < width:
            new_height, new_width = shorter, scale * width
        else:
            new_height, new_width = scale * height, shorter
        if max(new_height, new_width) > longer:
            scale = longer / max(new_height, new_width)
            new_height, new_width = scale * new_height, scale * new_width
        new_height, new_width = int(new_height + 0.5), int(new_width + 0.5)
        return new_width // divisor * divisor, new_height // divisor * divisor

    def patch_grid(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(rows, columns) of patches for an image of ``image_size``."""
        new_width, new_height = self.resized_size(image_size)
        rows, columns = new_height // self.patch_size, new_width // self.patch_size
        if rows < 1 or columns < 1:
            raise ValueError(
                f"an image of {image_size} resizes to less than one {self.patch_size}px patch"
            )
        return rows, columns

    def patch_boxes(self, image_size: tuple[int, int]) -> np.ndarray:
        """(P, 4) inclusive pixel boxes of the patches, row-major, in ORIGINAL image coordinates.

        The processor stretches the image to (new_width, new_height) without cropping, so a
        patch's box is its resized-image square scaled back by width/new_width, height/new_height.
        """
        width, height = (int(v) for v in image_size)
        rows, columns = self.patch_grid(image_size)
        new_width, new_height = self.resized_size(image_size)
        scale_x, scale_y = width / new_width, height / new_height
        row, column = np.meshgrid(np.arange(rows), np.arange(columns), indexing="ij")
        row, column = row.ravel(), column.ravel()
        size = self.patch_size
        boxes = np.stack(
            [
                column * size * scale_x,
                row * size * scale_y,
                (column + 1) * size * scale_x - 1,
                (row + 1) * size * scale_y - 1,
            ],
            axis=1,
        )
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width - 1)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height - 1)
        return boxes

    # Embedding -------------------------------------------------------------------------
    def pixel_values(self, image: np.ndarray) -> torch.Tensor:
        """(1, 3, H', W') normalised pixels of one RGB uint8 image."""
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            raise ValueError(
                f"{self.name} takes RGB uint8 images of shape (H, W, 3); got {array.dtype} {array.shape} "
                "(vlexplore.images.load_image converts files to that)"
            )
        processed = self.processor(images=array, return_tensors="pt")
        values = processed["pixel_values"].to(self.device, dtype=torch.float32)
        rows, columns = self.patch_grid((array.shape[1], array.shape[0]))
        if values.shape[-2:] != (rows * self.patch_size, columns * self.patch_size):
            raise RuntimeError(
                f"image processor produced {tuple(values.shape[-2:])} pixels, expected "
                f"{(rows * self.patch_size, columns * self.patch_size)}; its settings are not ViLT's"
            )
        return values

    def blank_patch_embedding(self) -> torch.Tensor:
        """(hidden,) patch embedding of an all-zero normalised patch: the ablation baseline."""
        projection = self.model.vilt.embeddings.patch_embeddings.projection
        blank = torch.zeros(
            1, projection.in_channels, self.patch_size, self.patch_size, device=self.device
        )
        return projection(blank).flatten()

    def image_tokens(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(P, hidden) patch embeddings and (P, hidden) position embeddings, row-major.

        Position embeddings are interpolated to the patch grid exactly as ViltEmbeddings does.
        """
        embeddings = self.model.vilt.embeddings
        patches = embeddings.patch_embeddings(pixel_values)  # (1, hidden, rows, columns)
        hidden, rows, columns = patches.shape[1:]
        grid = self.model.config.image_size // self.patch_size
        spatial = (
            embeddings.position_embeddings[:, 1:, :].transpose(1, 2).view(1, hidden, grid, grid)
        )
        positions = F.interpolate(
            spatial, size=(rows, columns), mode="bilinear", align_corners=True
        )
        return patches.flatten(2)[0].T, positions.flatten(2)[0].T

    def visual_embeddings(self, visual: PixelInput) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1 + P, hidden) image embeddings ([CLS] first) and their (B, 1 + P) mask.

        Rows of one example share an image array: each distinct image is embedded once.
        Rows whose images have fewer patches than the longest are padded and masked.
        """
        embeddings = self.model.vilt.embeddings
        if len(visual.images) != visual.patch_ablation.shape[0]:
            raise ValueError(
                f"PixelInput has {len(visual.images)} images but {visual.patch_ablation.shape[0]} ablation rows"
            )
        blank = self.blank_patch_embedding()
        cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        rows_out = []
        for image, ablate in zip(visual.images, visual.patch_ablation, strict=True):
            key = id(image)
            if key not in cache:
                cache[key] = self.image_tokens(self.pixel_values(image))
            patches, positions = cache[key]
            count = patches.shape[0]
            ablate = ablate.to(self.device, dtype=torch.bool)
            if ablate.shape[0] < count or bool(ablate[count:].any()):
                raise ValueError(
                    f"patch_ablation has {ablate.shape[0]} entries for an image of {count} patches; "
                    "build it from this model's patch_boxes(image_size)"
                )
            patches = torch.where(ablate[:count, None], blank[None, :], patches)
            tokens = torch.cat([embeddings.cls_token[0], patches], dim=0)
            tokens = tokens + torch.cat([embeddings.position_embeddings[0, :1], positions], dim=0)
            rows_out.append(tokens)
        length = max(t.shape[0] for t in rows_out)
        hidden = rows_out[0].shape[1]
        image_embeds = torch.zeros(len(rows_out), length, hidden, device=self.device)
        image_mask = torch.zeros(len(rows_out), length, dtype=torch.long, device=self.device)
        for i, tokens in enumerate(rows_out):
            image_embeds[i, : tokens.shape[0]] = tokens
            image_mask[i, : tokens.shape[0]] = 1
        return image_embeds, image_mask

    @torch.no_grad()
    def forward(self, batch: VLBatch) -> VLOutput:
        if not isinstance(batch.visual, PixelInput):
            raise ValueError(f"{self.name} takes images (PixelInput), not detector regions")
        input_ids, attention_mask, token_type_ids = self.text_inputs(batch)
        image_embeds, image_mask = self.visual_embeddings(batch.visual)
        output = self.model.vilt(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            image_embeds=image_embeds,
            pixel_mask=image_mask,  # with image_embeds given, ViLT takes this as the token mask
            return_dict=True,
        )
        text_hidden = output.last_hidden_state[:, : input_ids.shape[1]]
        logits = self.model.mlm_score(gather_positions(text_hidden, batch.text_positions))
        return VLOutput(text_logits=logits.float().cpu())
