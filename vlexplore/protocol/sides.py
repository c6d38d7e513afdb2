"""Which sides of the diagnostic apply to a model and a phrase, and why a side does not.

Vision-for-Language always runs. Language-for-Vision needs a region-classification head
(so no pixel or causal model), the detector's class distribution, and a target region.
May import: records, protocol.settings, protocol.alignment (never models: a model is
described here by the few traits the decision reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..records import Regions
from .alignment import Alignment
from .settings import LANG4VIS, PAPER, VIS4LANG, AblationSettings, Condition

__all__ = ["ModelTraits", "Sides", "decide_sides"]


class ModelTraits(Protocol):
    """What the decision reads from a model (``VLModel`` has all of it)."""

    name: str
    input_kind: str  # "regions" or "pixels"
    readout: str  # "mlm" or "causal"

    @property
    def has_region_head(self) -> bool: ...


@dataclass(frozen=True)
class Sides:
    """The sides that run for one phrase; ``lang4vis_note`` says why Language-for-Vision does not."""

    lang4vis: bool
    lang4vis_note: str | None = None
    vis4lang: bool = True

    @property
    def conditions(self) -> list[Condition]:
        """The condition rows, in batch order."""
        out = [("vis4lang", c) for c in VIS4LANG] if self.vis4lang else []
        return out + ([("lang4vis", c) for c in LANG4VIS] if self.lang4vis else [])


def decide_sides(
    model: ModelTraits,
    regions: Regions | None,
    alignment: Alignment,
    settings: AblationSettings = PAPER,
    all_regions: bool = False,
) -> Sides:
    """``all_regions``: MRC is scored at every region, so no target is needed."""
    if model.readout == "causal":
        note = (
            f"{model.name} reads the phrase out as a causal (generative) model and has no "
            "region-classification head, so language-for-vision cannot be measured"
        )
    elif model.input_kind == "pixels" or not model.has_region_head:
        note = f"{model.name} has no region-classification head, so language-for-vision cannot be measured"
    elif regions is None or regions.cls_prob is None:
        note = "these regions carry no detector class distribution (cls_prob), so MRC-KL cannot be computed"
    elif alignment.target is None and not all_regions:
        note = (
            f"no detector region overlaps the phrase's boxes by more than {settings.threshold:g} "
            f"({settings.alignment.upper()}), so there is no target region to score"
        )
    else:
        return Sides(lang4vis=True)
    return Sides(lang4vis=False, lang4vis_note=note)
