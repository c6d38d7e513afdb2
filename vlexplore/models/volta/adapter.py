"""A VOLTA model behind the model protocol: ``VoltaBackend`` and the ``volta:ARCH`` entry.

Owns the translation from the engine's ``VLBatch`` to VOLTA's layout (the global feature
first, 5-d boxes with ``[0, 0, 1, 1, 1]`` for the global row, the 1,601-way Visual Genome
region head read at region index + 1) and the registry entry ``load_from_spec``.

May import: ``..base``, ``..common``, ``vlexplore.text`` and this package's config,
modules and checkpoint. Never the engine, the views or the app.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...assets import vg_classes
from ...text import bert_tokenizer
from ..base import ModelLoadError, TextAttention, VLBatch, VLModel, VLOutput, split_text_attention
from ..common import (
    check_region_features,
    check_region_positions,
    regions_with_global_row,
    require_regions,
    resolve_device,
    text_inputs,
)
from .checkpoint import DOWNLOAD_HINT, load_volta
from .config import ARCHS, CONFIG_FILES
from .modules import SHARED_EMBEDDINGS, VoltaForPretraining

__all__ = ["VoltaBackend", "load_from_spec", "vg_region_classes"]


def vg_region_classes() -> tuple[str, ...]:
    """The 1,601 Visual Genome classes (index 0 = background) of VOLTA's region head."""
    return vg_classes()


class VoltaBackend(VLModel):
    """A VOLTA model on detector regions: global feature first, 5-d boxes, 1,601-way head."""

    input_kind = "regions"
    max_text_length = 38

    def __init__(
        self, model: VoltaForPretraining, arch: str, source: str = "", device="cpu"
    ) -> None:
        super().__init__()
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.arch = arch
        self.name = f"volta:{arch}"
        self.tokenizer = bert_tokenizer()
        config = model.config
        if len(self.tokenizer) != config.vocab_size:
            raise ModelLoadError(
                f"{self.name}: vocab_size {config.vocab_size} differs from bert-base-uncased's {len(self.tokenizer)}"
            )
        self.region_class_names = vg_region_classes() if "0" in config.visual_targets else None
        if config.image_embeddings == "vl-bert":
            self.text_position_rules = ("per-caption", "volta-batch16")
        layout = "single-stream" if config.image_embeddings in SHARED_EMBEDDINGS else "dual-stream"
        self.description = (
            f"VOLTA controlled {arch} ({layout}, {config.depth} sublayers, hidden {config.hidden_size})"
            f"{' from ' + source if source else ''}; global region first, 5-d boxes, "
            "1,601-way Visual Genome region head."
        )

    @property
    def feature_dim(self) -> int:
        return int(self.model.config.v_feature_size)

    def volta_inputs(self, batch: VLBatch) -> dict[str, torch.Tensor]:
        """The batch in VOLTA's layout: [global; regions] features and [[0,0,1,1,1]; boxes]."""
        visual = require_regions(batch, self.name)
        check_region_features(
            visual.features, self.feature_dim, self.name, "the detector VOLTA was trained with"
        )
        input_ids, attention_mask, token_type_ids = text_inputs(
            batch, self.model.config.vocab_size, self.name, self.device
        )
        # boxes encoded in float64 then stored as float32, as geometry.encode_boxes does
        features, boxes, mask = regions_with_global_row(visual, box_dtype=torch.float64)
        return {
            "input_ids": input_ids,  # (B, T)
            "image_feat": features.to(self.device),  # (B, 1+R, D)
            "image_loc": boxes.to(self.device),  # (B, 1+R, 5)
            "token_type_ids": token_type_ids,  # (B, T)
            "attention_mask": attention_mask,  # (B, T)
            "image_attention_mask": mask.to(self.device),  # (B, 1+R)
        }

    @torch.no_grad()
    def forward(self, batch: VLBatch) -> VLOutput:
        inputs = self.volta_inputs(batch)
        if batch.region_positions is not None and self.region_class_names is not None:
            check_region_positions(batch.region_positions, inputs["image_feat"].shape[1] - 1)
            region_positions = batch.region_positions.to(self.device, dtype=torch.long) + 1  # (B, K)
        else:  # no region scored: run the region head on zero positions
            region_positions = torch.zeros(batch.size, 0, dtype=torch.long, device=self.device)
        shift_from = batch.text_shift_from
        if shift_from is not None:
            shift_from = shift_from.to(self.device, dtype=torch.long)[:, None]  # (B, 1)
        output = self.model(
            **inputs,
            text_positions=batch.text_positions.to(self.device, dtype=torch.long),
            region_positions=region_positions,
            text_shift_from=shift_from,
        )
        region_logits = None
        if batch.region_positions is not None and output.region_logits is not None:
            region_logits = output.region_logits.float().cpu()  # (B, K, 1601)
        return VLOutput(text_logits=output.text_logits.float(), region_logits=region_logits)  # text: on the device


    @torch.no_grad()
    def text_attention(self, batch: VLBatch) -> TextAttention:
        """Per sublayer whose text queries see the regions (all of a single-stream model's)."""
        inputs = self.volta_inputs(batch)
        collected: list = []
        shift_from = None if batch.text_shift_from is None else batch.text_shift_from.to(self.device)[:, None]
        self.model(**inputs, text_positions=batch.text_positions.to(self.device, dtype=torch.long),
                   region_positions=torch.zeros(batch.size, 0, dtype=torch.long, device=self.device),
                   text_shift_from=shift_from, attentions=collected)  # fmt: skip
        config = self.model.config
        names = [f"sublayer {n}" for n in range(config.depth)
                 if config.is_attention(n) and (config.is_joint(n) or n in config.tv_attn_sublayers)]  # fmt: skip
        n_regions = inputs["image_feat"].shape[1] - 1
        return split_text_attention(collected, batch.text_positions, n_regions, names)


def load_from_spec(
    arch: str, checkpoint: str | Path | None = None, device: str = "auto", **options
) -> VoltaBackend:
    """``volta:ARCH`` with ``checkpoint=PATH`` (the registry's entry point)."""
    unknown = sorted(k for k, v in options.items() if v is not None)
    if unknown:
        raise ValueError(
            f"volta: unknown option(s) {', '.join(unknown)}; known options: checkpoint, device"
        )
    if arch not in CONFIG_FILES:
        raise ModelLoadError(
            f"unknown VOLTA architecture {arch!r}; use volta:ARCH with ARCH in {', '.join(ARCHS)}"
        )
    if not checkpoint:
        raise ModelLoadError(
            f"volta:{arch} needs its weights: pass --checkpoint PATH (checkpoint=PATH in Python). To get them, "
            f"{DOWNLOAD_HINT}"
        )
    torch_device = resolve_device(device, "volta")
    model = load_volta(checkpoint, arch, device=torch_device)
    return VoltaBackend(model, arch, source=str(checkpoint), device=torch_device)
