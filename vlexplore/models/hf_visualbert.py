"""VisualBERT (``VisualBertForPreTraining``) on detector region features, MLM only.

The Hugging Face VisualBERT checkpoints take region features appended after the text
(``visual_embeds``, segment id 1, their own attention mask) and no box coordinates and no
global row: ``RegionInput.boxes`` and ``global_features`` are ignored. The pretraining
checkpoint has an MLM head and a sentence-image matching head but no region-classification
head, so Language-for-Vision (MRC-KL) is not available.

May import ``.base``, ``.common`` and ``.hf``; never the engine, views or app.
"""

from __future__ import annotations

import torch

from .base import TextAttention, VLBatch, VLOutput, split_text_attention
from .common import gather_positions
from .hf import NO_REGION_HEAD, HFBackend, HFOptions, load_checkpoint_tokenizer, load_weights

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
    feature_dim_field = "visual_embedding_dim"
    detector = "the detector VisualBERT was trained with"

    def __init__(self, model, tokenizer, name: str, device: torch.device, tokenizer_source: str):
        super().__init__(model, tokenizer, name, device)
        config = model.config
        self.description = (
            f"VisualBERT (VisualBertForPreTraining, {config.num_hidden_layers} layers, hidden "
            f"{config.hidden_size}) from {name[3:]}; {config.visual_embedding_dim}-d region features "
            f"after the text, no boxes, no global row; tokenizer: {tokenizer_source}. {NO_REGION_HEAD}"
        )

    def _encode(self, batch: VLBatch, output_attentions: bool = False):
        visual = self.regions(batch)
        input_ids, attention_mask, token_type_ids = self.text_inputs(batch)  # each (B, T)
        features = visual.features.to(self.device, dtype=torch.float32)  # (B, N, D)
        output = self.model.visual_bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            visual_embeds=features,
            visual_attention_mask=visual.mask.to(self.device, dtype=torch.long),
            visual_token_type_ids=torch.ones(
                features.shape[:2], dtype=torch.long, device=self.device
            ),
            output_attentions=output_attentions,
            return_dict=True,
        )
        return output, input_ids, features

    @torch.no_grad()
    def text_attention(self, batch: VLBatch) -> TextAttention:
        """Every layer: one softmax over [text; regions] (no global row)."""
        output, input_ids, features = self._encode(batch, output_attentions=True)
        t = input_ids.shape[1]
        collected = [(probs[:, :, :t], t) for probs in output.attentions]  # each (B, h, T, T + N)
        names = [f"layer {i}" for i in range(len(collected))]
        return split_text_attention(collected, batch.text_positions, features.shape[1], names, global_row=False)

    @torch.no_grad()
    def forward(self, batch: VLBatch) -> VLOutput:
        output, input_ids, _ = self._encode(batch)
        text = gather_positions(
            output.last_hidden_state[:, : input_ids.shape[1]], batch.text_positions
        )
        return VLOutput(text_logits=self.model.cls.predictions(text).float().cpu())
