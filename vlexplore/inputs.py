"""The ablated inputs of a phrase (``prepare``) and their packing into one batch (``collate``).

``prepare`` turns (example, phrase) into the rows the protocol asks for, one per condition:
the caption with the phrase masked or not, the regions (or patches) kept, replaced or
ablated; nothing here calls a model. ``collate`` pads the rows of several phrases into a
``VLBatch``. The engine runs the batches and turns the logits into scores.
May import: errors, records, images, text, protocol, models.base (never engine, views, app or cli).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import protocol
from .images import example_picture
from .models.base import PixelInput, RegionInput, VLBatch, VLModel
from .protocol import LANG4VIS, PAPER, AblationSettings, Alignment, Baseline, Condition
from .records import Example, Phrase, Regions
from .text import EncodedCaption

__all__ = ["Prepared", "prepare", "collate", "padded_length", "pad_rows"]


@dataclass
class Prepared:
    """The rows of one phrase, ready to be packed into a batch."""

    example: Example
    phrase_index: int
    encoded: EncodedCaption
    rows: list[protocol.ConditionRow]
    unit_boxes: np.ndarray  # region boxes, or patch boxes for pixel models
    alignment: Alignment
    baseline: Baseline
    sides: protocol.Sides
    settings: AblationSettings
    region_positions: np.ndarray  # scored regions (the MRC target, or all)
    detector_targets: np.ndarray | None  # (K, C) detector distribution at region_positions
    image: np.ndarray | None = None
    readout: str = "mlm"  # the model's readout ("mlm" or "causal")
    text_shift_from: int | None = None  # VL-BERT under VOLTA's batch rule (see published_shift_from)

    @property
    def phrase(self) -> Phrase:
        return self.example.phrases[self.phrase_index]

    @property
    def conditions(self) -> list[Condition]:
        return [row.condition for row in self.rows]


def _image_of(example: Example) -> np.ndarray:
    image = example_picture(example)  # decoded once: a dataset run visits an image once per phrase
    if image is not None:
        return image
    raise ValueError(
        f"example {example.example_id} has no image; pixel-input models (ViLT, generative VLMs) need the picture itself"
    )


def _regions_of(model: VLModel, example: Example) -> Regions:
    regions = example.regions
    if regions is None:
        raise ValueError(f"example {example.example_id} has no detector regions; {model.name} needs region features")
    if model.feature_dim is not None and regions.feature_dim != model.feature_dim:
        raise ValueError(
            f"example {example.example_id}: region features are {regions.feature_dim}-d but "
            f"{model.name} expects {model.feature_dim}-d; use features from this model's detector"
        )
    return regions


def prepare(
    model: VLModel,
    example: Example,
    phrase_index: int,
    settings: AblationSettings = PAPER,
    average_feature: np.ndarray | None = None,
    all_regions: bool = False,
) -> Prepared:
    """Build the ablated inputs of one phrase (no model call)."""
    if not 0 <= phrase_index < len(example.phrases):
        raise ValueError(
            f"example {example.example_id}: phrase index {phrase_index} out of range (it has "
            f"{len(example.phrases)} phrases)"
        )
    phrase = example.phrases[phrase_index]
    protocol.require_gold_boxes(phrase)
    encoded = model.encode_caption(example.caption, phrase)
    image, regions = None, None
    if model.input_kind == "pixels":
        image = _image_of(example)
        unit_boxes = np.asarray(model.patch_boxes(example.image_size), dtype=np.float64)
        under = model.patches_under_boxes(
            example.image_size, phrase.boxes, settings.patch_coverage, settings.patch_border
        )
        alignment = protocol.align_patches(unit_boxes, phrase, settings, under=under)
        baseline = model.patch_baseline(settings, average_feature)
        v4l = protocol.vis4lang_patches(len(unit_boxes), alignment.aligned)
    else:
        regions = _regions_of(model, example)
        unit_boxes = np.asarray(regions.boxes)
        alignment = protocol.align_regions(regions.boxes, phrase, settings)
        baseline = protocol.resolve_baseline(regions.features, settings, average_feature)
        v4l = protocol.vis4lang_regions(regions.features, alignment.aligned, baseline.vector, settings)
    visual = {("vis4lang", c): row for c, row in v4l.items()}
    sides = protocol.decide_sides(model, regions, alignment, settings, all_regions)
    region_positions, detector_targets = np.zeros(0, dtype=np.int64), None
    if sides.lang4vis:
        l4v = protocol.lang4vis_regions(regions.features, alignment.aligned, settings)
        visual.update({("lang4vis", c): l4v for c in LANG4VIS})
        region_positions = np.arange(len(regions)) if all_regions else np.array([alignment.target])
        region_positions = region_positions.astype(np.int64)
        detector_targets = model.detector_targets(regions.cls_prob[region_positions], regions.class_names)
    texts = protocol.text_for_conditions(
        encoded.input_ids, encoded.phrase_positions, encoded.text_positions,
        getattr(model.tokenizer, "mask_token_id", None), model.readout,
    )
    return Prepared(
        example=example,
        phrase_index=phrase_index,
        encoded=encoded,
        rows=[protocol.ConditionRow(c, texts[c], visual[c]) for c in sides.conditions],
        unit_boxes=unit_boxes,
        alignment=alignment,
        baseline=baseline,
        sides=sides,
        settings=settings,
        region_positions=region_positions,
        detector_targets=detector_targets,
        image=image,
        readout=model.readout,
    )


def pad_rows(rows: Sequence[np.ndarray], length: int, value=0) -> np.ndarray:
    first = np.asarray(rows[0])
    out = np.full((len(rows), length, *first.shape[1:]), value, dtype=first.dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def collate(items: Sequence[Prepared], pad_id: int = 0) -> VLBatch:
    """Pack the rows of several phrases into one batch (text and regions padded)."""
    rows = [(item, row) for item in items for row in item.rows]
    input_ids = [row.input_ids for _, row in rows]
    lengths = [len(ids) for ids in input_ids]
    ids = pad_rows(input_ids, max(lengths), pad_id)
    attention = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        attention[i, :n] = 1
    text_positions = [np.array(item.encoded.phrase_positions) for item, _ in rows]
    region_positions = [item.region_positions for item, _ in rows]
    visuals = [row.visual for _, row in rows]
    if all(isinstance(v, protocol.PatchRow) for v in visuals):
        sources = {item.baseline.source for item in items}
        if len(sources) != 1:
            raise ValueError(f"one batch cannot mix patch baselines ({', '.join(sorted(sources))})")
        vector = items[0].baseline.vector
        if any(not np.array_equal(item.baseline.vector, vector) for item in items[1:]):
            raise ValueError("one batch cannot mix patch baselines (two different replacement vectors)")
        visual = PixelInput(
            images=[item.image for item, _ in rows],
            patch_ablation=torch.as_tensor(pad_rows([v.ablated for v in visuals], max(len(v.ablated) for v in visuals), False)),
            baseline=sources.pop(),
            replacement=vector,
        )
    elif all(isinstance(v, protocol.RegionRow) for v in visuals):
        n = max(len(v.features) for v in visuals)
        mask = np.zeros((len(visuals), n), dtype=np.int64)
        for i, v in enumerate(visuals):
            mask[i, : len(v.features)] = 1
        visual = RegionInput(
            features=torch.from_numpy(pad_rows([v.features for v in visuals], n, 0.0)),
            global_features=torch.from_numpy(np.stack([v.global_feature for v in visuals])),
            boxes=torch.from_numpy(pad_rows([item.unit_boxes.astype(np.float32) for item, _ in rows], n, 0.0)),
            image_sizes=torch.tensor([item.example.image_size for item, _ in rows], dtype=torch.float32),
            mask=torch.from_numpy(mask),
            ablated=torch.from_numpy(pad_rows([v.ablated for v in visuals], n, False)),
        )
    else:
        raise ValueError("one batch cannot mix region rows and patch rows; prepare them with one model")
    m = max(len(p) for p in text_positions)
    k = max(len(p) for p in region_positions)
    shifts = [item.text_shift_from for item, _ in rows]
    if any(shift is not None for shift in shifts) and None in shifts:
        raise ValueError("one batch cannot mix VL-BERT position rules; prepare every phrase with the same one")
    return VLBatch(
        input_ids=torch.from_numpy(ids),
        attention_mask=torch.from_numpy(attention),
        visual=visual,
        text_positions=torch.from_numpy(pad_rows(text_positions, m, 0).astype(np.int64)),
        region_positions=torch.from_numpy(pad_rows(region_positions, k, 0).astype(np.int64)) if k else None,
        text_shift_from=None if shifts[0] is None else torch.tensor(shifts, dtype=torch.long),
    )


def padded_length(item: Prepared) -> tuple[int, int]:
    """What a batch pads: visual units (regions or patches), then tokens."""
    return len(item.unit_boxes), len(item.encoded.input_ids)
