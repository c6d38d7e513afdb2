"""Records that every reader produces and every model consumes.

Boxes are pixel boxes ``x1, y1, x2, y2`` in the authors' inclusive convention
(width = x2 - x1 + 1), 0-based. Validation lives here, once, so that a bad box or a
NaN feature is reported with the field that holds it, whatever reader made it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError, check_finite
from .images import DEFAULT_MAX_PIXELS as MAX_IMAGE_PIXELS

__all__ = [
    "Phrase", "Regions", "Example", "ExampleSet", "as_boxes", "check_boxes", "check_image_size",
]  # fmt: skip


def as_boxes(boxes, name: str) -> np.ndarray:
    """Return ``boxes`` as a float64 (N, 4) array, or raise naming ``name``."""
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim == 1 and array.size == 4:
        array = array[None, :]
    if array.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{name}: expected boxes of shape (N, 4) as x1, y1, x2, y2; got shape {array.shape}")
    return array


def check_boxes(boxes: np.ndarray, image_size: tuple[int, int] | None, name: str) -> None:
    """Raise a ``ValueError`` naming ``name`` for non-finite, reversed or out-of-image boxes."""
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"{name}: boxes contain NaN or infinite coordinates")
    reversed_rows = np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
    if reversed_rows.size:
        row = int(reversed_rows[0])
        raise ValueError(
            f"{name}: box {row} {boxes[row].tolist()} is reversed (x2 < x1 or y2 < y1); "
            "boxes are x1, y1, x2, y2 with x2 >= x1 and y2 >= y1"
        )
    if image_size is None:
        return
    width, height = image_size
    outside = np.flatnonzero(
        (boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > width - 1) | (boxes[:, 3] > height - 1)
    )
    if outside.size:
        row = int(outside[0])
        raise ValueError(
            f"{name}: box {row} {boxes[row].tolist()} lies outside the {width}x{height} image "
            f"(valid pixels are 0..{width - 1} by 0..{height - 1}); clip or redraw it"
        )


def _word_spans(caption: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", caption)]


@dataclass(frozen=True)
class Phrase:
    """A phrase of a caption and the gold boxes it refers to.

    The phrase is located by whitespace words (``first_word``, ``num_words``): that is how
    the authors find its sub-tokens. ``char_start``/``char_end`` are derived for display.
    """

    text: str
    first_word: int
    num_words: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    char_start: int = -1
    char_end: int = -1
    phrase_type: str = ""
    entity_id: str = ""
    label: str = ""  # gold class name of the referent where known (LabelMatch), else ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", as_boxes(self.boxes, f"phrase {self.text!r} boxes"))
        if self.num_words < 1:
            raise ValueError(f"phrase {self.text!r}: num_words must be at least 1, got {self.num_words}")
        if self.first_word < 0:
            raise ValueError(f"phrase {self.text!r}: first_word must be >= 0, got {self.first_word}")

    @property
    def word_slice(self) -> slice:
        return slice(self.first_word, self.first_word + self.num_words)

    @classmethod
    def find(cls, caption: str, text: str, boxes=(), occurrence: int = 0, **extra) -> Phrase:
        """Locate ``text`` in ``caption`` on word boundaries (case-insensitive).

        Raises a ``ValueError`` that names the phrase and the caption when it is not there.
        """
        words = text.split()
        if not words:
            raise ValueError("phrase: empty phrase; type the words of the caption to ablate")
        caption_words = caption.split()
        lowered = [w.lower() for w in caption_words]
        target = [w.lower() for w in words]
        hits = [
            i
            for i in range(len(lowered) - len(target) + 1)
            if lowered[i : i + len(target)] == target
            or _strip_punct(lowered[i : i + len(target)]) == _strip_punct(target)
        ]
        if len(hits) <= occurrence:
            raise ValueError(
                f"phrase {text!r} is not in the caption {caption!r}; pick words that occur in it"
            )
        first = hits[occurrence]
        spans = _word_spans(caption)
        return cls(
            text=" ".join(caption_words[first : first + len(words)]),
            first_word=first,
            num_words=len(words),
            boxes=boxes,
            char_start=spans[first][0],
            char_end=spans[first + len(words) - 1][1],
            **extra,
        )


def _strip_punct(words: Sequence[str]) -> list[str]:
    return [w.strip(".,;:!?\"'()") for w in words]


@dataclass
class Regions:
    """Detector output for one image: boxes, features and the silver class distribution."""

    boxes: np.ndarray
    features: np.ndarray
    image_size: tuple[int, int]
    cls_prob: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.image_size = check_image_size(self.image_size, "regions image_size")
        self.boxes = as_boxes(self.boxes, "regions boxes")
        if len(self.boxes) == 0:
            raise InputError(
                "regions: no detector regions (0 boxes); the diagnostic needs at least one region "
                "per image"
            )
        features = np.asarray(self.features, dtype=np.float32)
        if features.ndim != 2 or features.shape[0] != len(self.boxes):
            raise ValueError(
                f"regions features: expected shape ({len(self.boxes)}, D), one row per box; got {features.shape}"
            )
        if not np.all(np.isfinite(features)):
            bad = int(np.flatnonzero(~np.isfinite(features).all(axis=1))[0])
            raise ValueError(f"regions features: row {bad} contains NaN or infinite values")
        self.features = features
        check_boxes(self.boxes, self.image_size, "regions boxes")
        if self.cls_prob is not None:
            prob = np.asarray(self.cls_prob, dtype=np.float64)
            if prob.ndim != 2 or prob.shape[0] != len(self.boxes):
                raise ValueError(
                    f"regions cls_prob: expected shape ({len(self.boxes)}, C); got {prob.shape}"
                )
            if not np.all(np.isfinite(prob)) or np.any(prob < 0):
                raise ValueError("regions cls_prob: must be finite and non-negative")
            sums = prob.sum(axis=1)
            if np.any(np.abs(sums - 1) > 1e-3):
                raise ValueError(
                    f"regions cls_prob: each row must sum to 1 (row sums range {sums.min():.4f}..{sums.max():.4f})"
                )
            self.cls_prob = prob
            if self.class_names is not None and len(self.class_names) != prob.shape[1]:
                raise ValueError(
                    f"regions class_names: {len(self.class_names)} names for {prob.shape[1]} classes in cls_prob"
                )
        if self.class_names is not None:
            self.class_names = tuple(self.class_names)

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[1])


def check_image_size(size, name: str) -> tuple[int, int]:
    """(width, height) as ints, or an ``InputError``: positive, at most ``MAX_IMAGE_PIXELS``.

    The pixel limit is the images' (``vlexplore.images``): a size read from an annotation
    or a features file also becomes a canvas, which must not take gigabytes.
    """
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name}: expected (width, height); got {size!r:.80}") from None
    if width < 1 or height < 1:
        raise InputError(f"{name}: width and height must be positive; got {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{name}: {width}x{height} is {width * height / 1e6:.4g} megapixels, over the "
            f"{MAX_IMAGE_PIXELS / 1e6:g}-megapixel limit for images; is the size right?"
        )
    return width, height



@dataclass
class Example:
    """One image with one caption and its phrases; the diagnostic runs per phrase."""

    example_id: str
    caption: str
    phrases: list[Phrase]
    image_size: tuple[int, int]
    regions: Regions | None = None
    image: np.ndarray | None = None
    image_path: str | None = None
    image_id: str = ""

    def __post_init__(self) -> None:
        self.image_size = check_image_size(self.image_size, f"example {self.example_id} image_size")
        if not self.caption or not self.caption.strip():
            raise ValueError(f"example {self.example_id}: caption is empty; type a sentence that describes the image")
        num_words = len(self.caption.split())
        for index, phrase in enumerate(self.phrases):
            if phrase.first_word + phrase.num_words > num_words:
                raise ValueError(
                    f"example {self.example_id} phrase {index} {phrase.text!r}: words "
                    f"{phrase.first_word}..{phrase.first_word + phrase.num_words - 1} lie outside the "
                    f"caption, which has {num_words} words"
                )
            check_boxes(phrase.boxes, self.image_size, f"example {self.example_id} phrase {phrase.text!r} boxes")
        if self.image is not None:
            image = np.asarray(self.image)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(
                    f"example {self.example_id} image: expected an RGB uint8 array (H, W, 3); got "
                    f"{image.dtype} {image.shape}"
                )
            if (image.shape[1], image.shape[0]) != self.image_size:
                raise ValueError(
                    f"example {self.example_id} image: pixels are {image.shape[1]}x{image.shape[0]} "
                    f"but image_size says {self.image_size[0]}x{self.image_size[1]}"
                )
        if self.regions is not None and self.regions.image_size != self.image_size:
            raise ValueError(
                f"example {self.example_id} regions: image_size {self.regions.image_size} differs from the "
                f"example's {self.image_size}"
            )
        if not self.image_id:
            self.image_id = self.example_id

    @property
    def words(self) -> list[str]:
        return self.caption.split()

    def diagnosable_phrases(self) -> list[int]:
        """Indices of phrases with at least one gold box (the protocol's data unit)."""
        return [i for i, p in enumerate(self.phrases) if len(p.boxes)]


@dataclass
class ExampleSet:
    """A named list of examples with the dataset-level ablation baseline."""

    name: str
    examples: list[Example]
    description: str = ""
    # what a reader left out and why ("2000: ... is reversed"): a damaged file costs its own
    # examples, never the whole set, and is never dropped silently
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]

    def by_id(self, example_id: str) -> Example:
        for example in self.examples:
            if example.example_id == example_id:
                return example
        raise KeyError(f"no example {example_id!r} in dataset {self.name!r}")

    def units(self) -> list[tuple[int, int]]:
        """(example index, phrase index) for every diagnosable phrase, in order."""
        return [(i, j) for i, ex in enumerate(self.examples) for j in ex.diagnosable_phrases()]

    def average_region_feature(self) -> np.ndarray | None:
        """The paper's ablation baseline: mean region feature, weighted by phrases per image."""
        total, count = None, 0
        for example in self.examples:
            weight = len(example.diagnosable_phrases())
            if example.regions is None or weight == 0:
                continue
            summed = example.regions.features.astype(np.float64).sum(axis=0) * weight
            total = summed if total is None else total + summed
            count += weight * len(example.regions)
        if total is None:
            return None
        average = (total / count).astype(np.float32)
        check_finite(average, f"dataset {self.name!r}: the average region feature")
        return average
