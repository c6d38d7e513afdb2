"""The cross-modal input ablation protocol, in one place (Frank, Bugliarello & Elliott, 2021).

- ``settings``: ``AblationSettings``, the ``PAPER`` preset, the condition names, and
  ``paper_departures`` (how a run differs from the paper).
- ``alignment``: which regions (or patches) a phrase owns, and the MRC target.
- ``baseline``: what replaces an ablated region, recorded as ``Baseline(vector, source)``.
- ``conditions``: the six condition rows as small records (``RegionRow``, ``PatchRow``).
- ``sides``: whether Language-for-Vision applies to a model and phrase, and why not.
- ``scoring``: the readouts in bits (MLM, MRC-KL).

May import: records, geometry. Never models, the engine or views: they import this.
"""

from .alignment import Alignment, align_patches, align_regions, require_gold_boxes
from .baseline import (
    BLANK_PATCH,
    DATASET_TOKEN_MEAN,
    IMAGE_TOKEN_MEAN,
    MEAN_COLOUR,
    ZERO_TOKEN,
    Baseline,
    BaselineSource,
    dataset_token_mean,
    resolve_baseline,
)
from .conditions import (
    ConditionRow,
    PatchRow,
    RegionRow,
    global_feature,
    lang4vis_regions,
    mask_text,
    replace_rows,
    text_for_conditions,
    vis4lang_patches,
    vis4lang_regions,
)
from .settings import (
    BASELINES,
    LANG4VIS,
    PAPER,
    PAPER_BASELINE,
    VIS4LANG,
    AblationSettings,
    Condition,
    paper_departures,
    protocol_label,
)
from .sides import ModelTraits, Sides, decide_sides

__all__ = [  # grouped by the module that owns each name
    "VIS4LANG", "LANG4VIS", "Condition", "AblationSettings", "PAPER", "PAPER_BASELINE", "BASELINES",
    "paper_departures", "protocol_label",
    "Alignment", "align_regions", "align_patches", "require_gold_boxes",
    "Baseline", "BaselineSource", "BLANK_PATCH", "IMAGE_TOKEN_MEAN", "ZERO_TOKEN", "MEAN_COLOUR", "resolve_baseline",
    "DATASET_TOKEN_MEAN", "dataset_token_mean",
    "RegionRow", "PatchRow", "ConditionRow", "mask_text", "replace_rows", "global_feature",
    "vis4lang_regions", "lang4vis_regions", "vis4lang_patches", "text_for_conditions",
    "ModelTraits", "Sides", "decide_sides",
]  # fmt: skip
