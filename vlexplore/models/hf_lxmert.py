"""LXMERT (``LxmertForPreTraining``) on detector regions, with its object head.

LXMERT reads the 36 regions as they are: no global feature row (``RegionInput.
global_features`` is ignored) and 4-d boxes ``[x1/w, y1/h, x2/w, y2/h]``. Its pretraining
object head (``obj_predict_head``, 1,600 Visual Genome classes) gives the region
distribution Q for MRC-KL. ``LxmertForPreTraining.forward`` only uses that head inside the
loss, so we call it ourselves on the vision output, and only at the requested regions.

The detector's ``cls_prob`` has 1,601 classes (index 0 = background); the head has 1,600,
so ``detector_targets`` drops the background column and renormalises.

May import ``..text``, ``.base``, ``.common`` and ``.hf``; never the engine, views or app.
"""

from __future__ import annotations

import numpy as np
import torch

from ..assets import vg_classes
from .base import RegionInput, TextAttention, VLBatch, VLOutput, split_text_attention
from .common import check_region_positions, encode_boxes_torch, gather_positions
from .hf import HFBackend, HFOptions, load_checkpoint_tokenizer, load_weights

__all__ = ["HFLxmert", "load_lxmert", "vg_object_classes"]



def vg_object_classes() -> tuple[str, ...]:
    """The 1,600 Visual Genome object classes of LXMERT's head (the detector's, minus background)."""
    return vg_classes()[1:]


def load_lxmert(directory, name: str, options: HFOptions) -> HFLxmert:
    from transformers import LxmertForPreTraining

    model, missing = load_weights(
        LxmertForPreTraining, directory, {"cls.predictions.": "the MLM head (cls.predictions)"}
    )
    tokenizer, tokenizer_source = load_checkpoint_tokenizer(directory, model.config.vocab_size)
    return HFLxmert(model, tokenizer, name, options.torch_device(), tokenizer_source, missing)


class HFLxmert(HFBackend):
    input_kind = "regions"
    max_text_length = 38  # the protocol's limit; LXMERT's position table holds 512
    feature_dim_field = "visual_feat_dim"
    detector = "the detector LXMERT was trained with"

    def __init__(
        self, model, tokenizer, name: str, device: torch.device, tokenizer_source: str, missing=()
    ):
        super().__init__(model, tokenizer, name, device)
        config = model.config
        head = getattr(model, "obj_predict_head", None)
        head_loaded = (
            head is not None
            and "obj" in head.decoder_dict
            and not any(k.startswith("obj_predict_head.") for k in missing)
        )
        why_no_head = ""
        if not head_loaded:
            why_no_head = "the checkpoint has no trained object head (obj_predict_head)"
        elif config.num_object_labels != 1600:
            why_no_head = (
                f"its object head has {config.num_object_labels} classes, not Visual Genome's 1,600"
            )
        self.region_class_names = vg_object_classes() if not why_no_head else None
        head_text = (
            "object head: 1,600 Visual Genome classes (detector background dropped, renormalised)"
            if not why_no_head
            else f"no region head: {why_no_head}, so Language-for-Vision (MRC-KL) is not available"
        )
        self.description = (
            f"LXMERT (LxmertForPreTraining, {config.l_layers}/{config.r_layers}/{config.x_layers} "
            f"language/vision/cross layers, hidden {config.hidden_size}) from {name[3:]}; regions without "
            f"a global row, 4-d boxes; {head_text}; tokenizer: {tokenizer_source}."
        )

    def detector_targets(
        self, cls_prob: np.ndarray, class_names: tuple[str, ...] | None
    ) -> np.ndarray:
        """The detector's 1,601-way distribution over LXMERT's 1,600 classes (no background).

        A region whose whole mass was on background gets the uniform distribution.
        """
        if self.region_class_names is None:
            raise ValueError(f"{self.name} has no region-classification head")
        prob = np.asarray(cls_prob, dtype=np.float64)
        ours = self.region_class_names
        if prob.shape[-1] == len(ours) + 1:
            if class_names is not None and tuple(class_names)[1:] != ours:
                raise ValueError(
                    "regions class names differ from the Visual Genome 1,601 classes LXMERT was trained "
                    "with; use bottom-up-attention features"
                )
            prob = prob[..., 1:]
        elif prob.shape[-1] == len(ours):
            if class_names is not None and tuple(class_names) != ours:
                raise ValueError(
                    "regions class names differ from LXMERT's 1,600 Visual Genome classes"
                )
        else:
            raise ValueError(
                f"regions cls_prob has {prob.shape[-1]} classes; {self.name} needs the detector's 1,601 "
                "Visual Genome classes (or the 1,600 without background)"
            )
        total = prob.sum(axis=-1, keepdims=True)
        uniform = np.full_like(prob, 1.0 / prob.shape[-1])
        return np.where(total > 0, prob / np.where(total > 0, total, 1.0), uniform)

    def visual_inputs(self, visual: RegionInput) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features, 4-d normalised boxes and the region mask on the model's device."""
        # encoded in float64 then stored as float32, as geometry.encode_boxes does
        boxes = encode_boxes_torch(
            visual.boxes.detach().cpu().double(), visual.image_sizes.double(), with_area=False
        ).float()  # (B, N, 4)
        return (
            visual.features.to(self.device, dtype=torch.float32),  # (B, N, D)
            boxes.to(self.device),
            visual.mask.to(self.device, dtype=torch.float32),  # (B, N)
        )

    @torch.no_grad()
    def forward(self, batch: VLBatch) -> VLOutput:
        output, features = self._encode(batch)
        text = gather_positions(output.language_output, batch.text_positions)
        text_logits = self.model.cls.predictions(text).float().cpu()
        region_logits = None
        if batch.region_positions is not None and self.region_class_names is not None:
            check_region_positions(batch.region_positions, features.shape[1])
            vision = gather_positions(output.vision_output, batch.region_positions)
            head = self.model.obj_predict_head
            region_logits = head.decoder_dict["obj"](head.transform(vision)).float().cpu()
        return VLOutput(text_logits=text_logits, region_logits=region_logits)

    def _encode(self, batch: VLBatch, output_attentions: bool = False):
        input_ids, attention_mask, token_type_ids = self.text_inputs(batch)
        features, boxes, mask = self.visual_inputs(self.regions(batch))
        output = self.model.lxmert(
            input_ids=input_ids, visual_feats=features, visual_pos=boxes, attention_mask=attention_mask,
            visual_attention_mask=mask, token_type_ids=token_type_ids, output_attentions=output_attentions,
            return_dict=True,
        )
        return output, features

    @torch.no_grad()
    def text_attention(self, batch: VLBatch) -> TextAttention:
        """The cross-modality layers, where the text queries see the regions only (no global row)."""
        output, features = self._encode(batch, output_attentions=True)
        collected = [(probs, 0) for probs in output.cross_encoder_attentions]  # each (B, h, T, N)
        names = [f"cross layer {i}" for i in range(len(collected))]
        return split_text_attention(collected, batch.text_positions, features.shape[1], names, global_row=False)
