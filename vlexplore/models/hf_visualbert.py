"""VisualBERT (``VisualBertForPreTraining``) on detector region features, MLM only.

The Hugging Face VisualBERT checkpoints take region features appended after the text
(``visual_embeds``, segment id 1, their own attention mask) and no box coordinates and no
global row: ``RegionInput.boxes`` and ``global_features`` are ignored. The pretraining
checkpoint has an MLM head and a sentence-image matching head but no region-classification
head, so Language-for-Vision (MRC-KL) is not available.
"""

from __future__ import annotations

import torch

from .base import RegionInput, VLBatch, VLOutput
from .hf import HFBackend, HFOptions, gather_positions, load_checkpoint_tokenizer, load_weights

__all__ = ["HFVisualBert", "load_visualbert"]


def load_visualbert(directory, name: str, options: HFOptions) -> HFVisualBert:
    from transformers import VisualBertForPreTraining

    model, _ = load_weights(
        VisualBertForPreTraining, directory, {"cls.predictions.": "the MLM head (cls.predictions)"}
    )
    tokenizer, tokenizer_source = load_checkpoint_tokenizer(directory, model.config.vocab_size)
    return HFVisualBert(model, tokenizer, name, options.torch_device(), tokenizer_source)


class HFVisualBert(HFBackend):
    input_kind = "regions"
    region_class_names = None

    def __init__(self, model, tokenizer, name: str, device: torch.device, tokenizer_source: str):
        super().__init__(model, tokenizer, name, device)
        config = model.config
        self.max_text_length = min(38, int(config.max_position_embeddings))
        self.description = (
            f"VisualBERT (VisualBertForPreTraining, {config.num_hidden_layers} layers, hidden "
            f"{config.hidden_size}) from {name[3:]}; {config.visual_embedding_dim}-d region features "
            "after the text, no boxes, no global row; tokenizer: "
            f"{tokenizer_source}. No region head: Language-for-Vision (MRC-KL) is not available."
        )

    @property
    def feature_dim(self) -> int:
        return int(self.model.config.visual_embedding_dim)

    @torch.no_grad()
    def forward(self, batch: VLBatch) -> VLOutput:
        visual = batch.visual
        if not isinstance(visual, RegionInput):
            raise ValueError(f"{self.name} takes detector regions (RegionInput), not raw images")
        features = visual.features
        if features.ndim != 3 or features.shape[-1] != self.feature_dim:
            raise ValueError(
                f"{self.name} takes {self.feature_dim}-d region features (B, N, {self.feature_dim}); got "
                f"shape {tuple(features.shape)}. Use features from the detector VisualBERT was trained with"
            )
        input_ids, attention_mask, token_type_ids = self.text_inputs(batch)
        features = features.to(self.device, dtype=torch.float32)
        output = self.model.visual_bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            visual_embeds=features,
            visual_attention_mask=visual.mask.to(self.device, dtype=torch.long),
            visual_token_type_ids=torch.ones(
                features.shape[:2], dtype=torch.long, device=self.device
            ),
            return_dict=True,
        )
        text = gather_positions(
            output.last_hidden_state[:, : input_ids.shape[1]], batch.text_positions
        )
        return VLOutput(text_logits=self.model.cls.predictions(text).float().cpu())
