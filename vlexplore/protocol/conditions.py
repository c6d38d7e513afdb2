"""The six input conditions of the protocol, one small record per condition row.

Vision-for-language (MLM readout): the phrase is masked in all three; regions are left
alone (None), the aligned ones replaced by the baseline (Object), or all replaced (All).
Language-for-vision (MRC readout): the aligned regions are zeroed in all three; the text is
left alone (None), the phrase masked (Phrase), or the whole caption masked (All).
Causal (generative) models read the phrase out by teacher forcing, so their
Vision-for-Language rows keep the phrase unmasked.
May import: protocol.settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .settings import PAPER, VIS4LANG, AblationSettings, Condition

__all__ = [
    "RegionRow",
    "PatchRow",
    "ConditionRow",
    "mask_text",
    "replace_rows",
    "global_feature",
    "vis4lang_regions",
    "lang4vis_regions",
    "vis4lang_patches",
    "text_for_conditions",
]


@dataclass(frozen=True)
class RegionRow:
    """The visual input of one condition for a region model."""

    features: np.ndarray  # (N, D) float32, ablated rows replaced
    global_feature: np.ndarray  # (D,) whole-image feature (recomputed or not, as the settings say)
    ablated: np.ndarray  # (N,) bool, the regions this condition replaced


@dataclass(frozen=True)
class PatchRow:
    """The visual input of one condition for a pixel model: which patches the backend blanks."""

    ablated: np.ndarray  # (P,) bool


@dataclass(frozen=True)
class ConditionRow:
    """One row of the batch: a condition, its token ids and its visual input."""

    condition: Condition
    input_ids: np.ndarray  # (T,) int64
    visual: RegionRow | PatchRow


def mask_text(input_ids, positions, mask_id: int) -> np.ndarray:
    """A copy of ``input_ids`` with ``positions`` replaced by [MASK] (length unchanged)."""
    ids = np.array(input_ids, dtype=np.int64)
    ids[list(positions)] = mask_id
    return ids


def replace_rows(features: np.ndarray, rows: np.ndarray, replacement: np.ndarray | float) -> np.ndarray:
    out = np.array(features, dtype=np.float32, copy=True)
    out[rows] = replacement
    return out


def global_feature(features: np.ndarray) -> np.ndarray:
    return features.astype(np.float64).mean(axis=0).astype(np.float32)


def _marked(n: int, rows: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


def _ablated_rows(n: int, aligned: np.ndarray) -> dict[str, np.ndarray]:
    return {"none": np.zeros(0, dtype=np.int64), "object": np.asarray(aligned, dtype=np.int64), "all": np.arange(n)}


def vis4lang_regions(
    features: np.ndarray, aligned: np.ndarray, baseline: np.ndarray, settings: AblationSettings = PAPER
) -> dict[str, RegionRow]:
    """None / Object / All: no region, the aligned ones, or every one replaced by ``baseline`` (D,)."""
    original_global = global_feature(features)
    out = {}
    for condition, rows in _ablated_rows(len(features), aligned).items():
        ablated_features = replace_rows(features, rows, baseline)
        glob = global_feature(ablated_features) if settings.recompute_global_vis4lang else original_global
        out[condition] = RegionRow(ablated_features, glob, _marked(len(features), rows))
    return out


def lang4vis_regions(features: np.ndarray, aligned: np.ndarray, settings: AblationSettings = PAPER) -> RegionRow:
    """The visual input of all three lang4vis conditions: the aligned regions zeroed."""
    zeroed = replace_rows(features, aligned, 0.0)
    glob = global_feature(zeroed) if settings.recompute_global_lang4vis else global_feature(features)
    return RegionRow(zeroed, glob, _marked(len(features), aligned))


def vis4lang_patches(n_patches: int, aligned: np.ndarray) -> dict[str, PatchRow]:
    """None / Object / All for a pixel model: which of its ``n_patches`` patches are blanked."""
    return {c: PatchRow(_marked(n_patches, rows)) for c, rows in _ablated_rows(n_patches, aligned).items()}


def text_for_conditions(
    input_ids: Sequence[int],
    phrase_positions: Sequence[int],
    caption_positions: Sequence[int],
    mask_id: int | None,
    readout: Literal["mlm", "causal"] = "mlm",
) -> dict[Condition, np.ndarray]:
    """Token ids per condition: ("vis4lang", c) and, for MLM models, ("lang4vis", c).

    A causal model keeps the phrase in its input (it predicts each phrase token from the
    tokens to its left) and has no Language-for-Vision rows.
    """
    original = np.array(input_ids, dtype=np.int64)
    if readout == "causal":
        return {("vis4lang", c): original for c in VIS4LANG}
    if readout != "mlm":
        raise ValueError(f"readout must be 'mlm' or 'causal'; got {readout!r}")
    if mask_id is None:
        raise ValueError("an MLM readout needs the tokenizer's [MASK] id; this tokenizer has none")
    masked_phrase = mask_text(input_ids, phrase_positions, mask_id)
    out = {("vis4lang", c): masked_phrase for c in VIS4LANG}
    out[("lang4vis", "none")] = original
    out[("lang4vis", "phrase")] = masked_phrase
    out[("lang4vis", "all")] = mask_text(input_ids, caption_positions, mask_id)
    return out
