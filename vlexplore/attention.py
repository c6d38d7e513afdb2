"""Attention beside ablation: where the masked phrase looks, under the None condition.

For the Vision-for-Language None row (phrase masked, every region intact) this reads the
attention from the phrase's masked tokens to each region, per layer (averaged over heads)
and per head, as a tidy frame, so it can be set beside what ablating those regions does.
May import: engine, protocol, records, models.base (never views, app or cli).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .errors import InputError
from .inputs import collate, prepare
from .models.base import VLModel
from .protocol import PAPER, AblationSettings
from .records import Example

__all__ = ["phrase_attention", "ATTENTION_NOTE"]

ATTENTION_NOTE = (
    "Attention and ablation answer different questions, so they can disagree. Attention says how "
    "much of one layer's mixing weight the masked phrase tokens put on each region's *current* "
    "hidden state; by the later layers that state already carries the text and the other regions, "
    "and what a head reads is its value vector, which can be small or cancelled by the next layer. "
    "Ablation asks what the prediction loses when the regions' *input features* are replaced, "
    "which also counts paths that never pass through the phrase tokens' attention (other tokens "
    "and the whole-image row read the regions too, and pass it on) and, in the other direction, "
    "redundancy: a region the phrase attends to strongly may be replaceable by its neighbours, so "
    "ablating it costs nothing. High attention with no ablation effect, or an effect with little "
    "attention, are both expected; neither is an explanation on its own."
)


def phrase_attention(
    model: VLModel,
    example: Example,
    phrase_index: int,
    settings: AblationSettings | None = None,
    average_feature: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per (layer, head, key): the mean attention of the masked phrase tokens.

    ``head`` is a head number, or -1 for the mean over heads; ``key`` is "region" (with
    its ``region`` index, ``aligned`` and ``overlap``), "global" (the whole-image row) or
    "text" (all text tokens together), so each (layer, head)'s masses sum to 1.
    """
    if not model.has_attention:
        raise InputError(f"{model.name} does not expose its attention; attention views need a VOLTA, built-in, or Hugging Face LXMERT or VisualBERT model")
    item = prepare(model, example, phrase_index, settings or PAPER, average_feature)
    if item.example.regions is None:
        raise InputError(f"{model.name} reads pixels: attention to regions needs a region model")
    none_row = next(row for row in item.rows if row.condition == ("vis4lang", "none"))
    item = dataclasses.replace(item, rows=[none_row], region_positions=np.zeros(0, dtype=np.int64))
    attention = model.text_attention(collate([item], pad_id=model.tokenizer.pad_token_id or 0))
    m = len(item.encoded.phrase_positions)

    def per_head(values) -> np.ndarray:  # (layers, heads, M, ...) -> (layers, 1 + heads, ...), mean first
        mean_over_tokens = values[0, :, :, :m].mean(2).numpy()
        return np.concatenate([mean_over_tokens.mean(1, keepdims=True), mean_over_tokens], axis=1)

    to_regions, to_global, to_text = (per_head(a) for a in (attention.to_regions, attention.to_global, attention.to_text))
    aligned = set(item.alignment.aligned.tolist())
    rows = []
    for layer, name in enumerate(attention.layers):
        for column in range(to_regions.shape[1]):
            base = {"layer": layer, "layer_name": name, "head": column - 1}
            rows.append({**base, "key": "text", "region": -1, "mass": float(to_text[layer, column]),
                         "aligned": False, "overlap": np.nan})  # fmt: skip
            rows.append({**base, "key": "global", "region": -1, "mass": float(to_global[layer, column]),
                         "aligned": False, "overlap": np.nan})  # fmt: skip
            rows.extend(
                {**base, "key": "region", "region": r, "mass": float(mass), "aligned": r in aligned,
                 "overlap": float(item.alignment.overlap[r])}
                for r, mass in enumerate(to_regions[layer, column])
            )  # fmt: skip
    return pd.DataFrame(rows)
