"""What replaces an ablated region in Vision-for-Language, and a record of which one was used.

The paper replaces it by the dataset-average region feature. Without a dataset (one
uploaded image, a plain list of examples) the image's own mean region feature stands in;
``settings.baseline="zero"`` asks for zeros; pixel models replace a patch by a blank one.
Generative VLMs replace an ablated image token by the picture's mean token, zero, or, with
``settings.baseline="dataset-mean"``, the set's mean image token (``dataset_token_mean``):
the paper's dataset average, taken in the VLM's token space.
Whichever it was travels with every result, so nothing is labelled "paper" that is not.
May import: errors, protocol.settings, protocol.conditions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import check_finite
from .conditions import global_feature
from .settings import PAPER, PAPER_BASELINE, AblationSettings

__all__ = [
    "BaselineSource", "Baseline", "resolve_baseline", "dataset_token_mean", "BLANK_PATCH", "IMAGE_TOKEN_MEAN",
    "ZERO_TOKEN", "MEAN_COLOUR", "DATASET_TOKEN_MEAN",
]

BaselineSource = Literal[
    "dataset average", "image mean", "zero", "blank patch", "image token mean", "mean colour",
    "dataset image token mean",
]
#: generative VLMs: the set's mean projected image token (``settings.baseline="dataset-mean"``)
DATASET_TOKEN_MEAN = "dataset image token mean"


@dataclass(frozen=True)
class Baseline:
    """The replacement feature and where it came from."""

    vector: np.ndarray | None  # (D,) float32; None for pixel models (the backend owns its blank patch)
    source: BaselineSource

    @property
    def is_paper(self) -> bool:
        return self.source == PAPER_BASELINE


#: pixel models: an ablated patch becomes a blank (mean-colour) patch, inside the backend
BLANK_PATCH = Baseline(None, "blank patch")
#: generative VLMs: ablated image tokens become the image's mean projected token ...
IMAGE_TOKEN_MEAN = Baseline(None, "image token mean")
#: ... or zero vectors ...
ZERO_TOKEN = Baseline(None, "zero")
#: ... or (pixel-space variant) the tokens of the picture with those cells in their mean colour
MEAN_COLOUR = Baseline(None, "mean colour")


def dataset_token_mean(vector: np.ndarray) -> Baseline:
    """The set's mean projected image token as the replacement of ablated image tokens."""
    vector = np.asarray(vector, dtype=np.float32)
    if vector.ndim != 1:
        raise ValueError(f"the dataset image-token mean must be one vector; got shape {vector.shape}")
    check_finite(vector, "the dataset image-token mean (the Vision-for-Language baseline)")
    return Baseline(vector, DATASET_TOKEN_MEAN)


def resolve_baseline(
    features: np.ndarray, settings: AblationSettings = PAPER, average_feature: np.ndarray | None = None
) -> Baseline:
    """The Vision-for-Language replacement for an image's ``features`` (N, D).

    ``average_feature`` is the dataset-average region feature; when it is missing, the mean
    of ``features`` stands in and the record says "image mean".
    """
    features = np.asarray(features)
    if settings.baseline == "zero":
        return Baseline(np.zeros(features.shape[1], dtype=np.float32), "zero")
    if average_feature is None:
        return Baseline(global_feature(features), "image mean")
    average_feature = np.asarray(average_feature, dtype=np.float32)
    if average_feature.shape != (features.shape[1],):
        raise ValueError(
            f"average_feature has shape {average_feature.shape}; the regions have {features.shape[1]}-d features"
        )
    check_finite(average_feature, "average_feature (the Vision-for-Language baseline)")
    return Baseline(average_feature, "dataset average")
