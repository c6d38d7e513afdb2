"""Turning what a user typed, drew or uploaded into an ``Example`` the engine accepts.

Every problem (not an image, a corrupt or huge image, an empty caption, a phrase not in the
caption, a box outside the image) surfaces as a ``ValueError`` whose text the app shows as
is, so these rules are tested here, without a browser.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ..records import Example, Phrase, Regions, as_boxes, check_boxes
from .state import parse_box

__all__ = ["edit_example", "example_from_upload", "fingerprint", "Detector"]

Detector = Callable[[np.ndarray], Regions]  # image (H, W, 3) uint8 -> detector regions


def _check_caption(caption: str) -> str:
    if caption is None or not caption.strip():
        raise ValueError("caption is empty; type a sentence that describes the image")
    return " ".join(caption.split())


def _box(box, image_size: tuple[int, int], name: str) -> np.ndarray:
    if isinstance(box, str):
        if not box.strip():
            raise ValueError(f"{name}: draw a box around what the phrase refers to (x1,y1,x2,y2)")
        box = parse_box(box)
    boxes = as_boxes(box, name)
    if len(boxes) == 0:
        raise ValueError(f"{name}: draw a box around what the phrase refers to")
    check_boxes(boxes, image_size, name)
    return boxes


def edit_example(example: Example, phrase_index: int, caption: str | None = None,
                 box=None, phrase_text: str | None = None) -> tuple[Example, int, list[str]]:
    """The example with an edited caption, a new phrase and/or the phrase's box redrawn.

    A new caption re-locates every phrase by its words; phrases no longer in it are dropped
    (listed in the returned notes). ``phrase_text`` replaces the chosen phrase by other words
    of the caption (its box is ``box``, or the old phrase's boxes). Returns the new example,
    the index of the chosen phrase in it, and notes for the user.
    """
    notes: list[str] = []
    if not 0 <= phrase_index < len(example.phrases):
        raise ValueError(f"phrase {phrase_index} does not exist; the example has {len(example.phrases)} phrases")
    new_caption = example.caption if caption is None else _check_caption(caption)
    chosen = example.phrases[phrase_index]
    boxes = chosen.boxes if box is None else _box(box, example.image_size, f"box of phrase {chosen.text!r}")
    phrases: list[Phrase] = []
    new_index = -1
    for index, phrase in enumerate(example.phrases):
        is_chosen = index == phrase_index
        text = phrase_text.strip() if is_chosen and phrase_text else phrase.text
        extra = dict(phrase_type=phrase.phrase_type, entity_id=phrase.entity_id, label=phrase.label)
        if is_chosen and phrase_text:
            extra["label"] = ""
        if new_caption == example.caption and not (is_chosen and phrase_text):
            located = replace(phrase, boxes=boxes) if is_chosen else phrase
        else:
            try:
                located = Phrase.find(new_caption, text, boxes=boxes if is_chosen else phrase.boxes, **extra)
            except ValueError:
                if is_chosen:
                    raise
                notes.append(f"phrase {phrase.text!r} is no longer in the caption and was dropped")
                continue
        if is_chosen:
            new_index = len(phrases)
        phrases.append(located)
    edited = Example(example_id=example.example_id, caption=new_caption, phrases=phrases,
                     image_size=example.image_size, regions=example.regions, image=example.image,
                     image_path=example.image_path, image_id=example.image_id)
    return edited, new_index, notes


def example_from_upload(source, caption: str, phrases: Sequence[tuple[str, object]],
                        input_kind: str = "regions", detector: Detector | None = None,
                        name: str | None = None, example_id: str = "upload") -> Example:
    """An example from an uploaded image, a typed caption and (phrase, box) pairs.

    Region models need detector regions: ``detector`` computes them from the pixels (the
    built-in world's simulated detector for the built-in model). Pixel models (ViLT) take
    the image as is.
    """
    from ..images import load_image

    image = load_image(source, name=name)
    height, width = image.shape[:2]
    caption = _check_caption(caption)
    if not phrases:
        raise ValueError("no phrase given; type words of the caption and draw their box")
    located = []
    for text, box in phrases:
        if not text or not text.strip():
            raise ValueError("phrase is empty; type words of the caption to ablate")
        boxes = _box(box, (width, height), f"box of phrase {text!r}")
        located.append(Phrase.find(caption, text, boxes=boxes))
    regions = None
    if input_kind == "regions":
        if detector is None:
            raise ValueError(
                "this model reads detector regions, and no detector is available for uploaded "
                "images; pick a model that takes raw images (ViLT) or use the built-in model"
            )
        regions = detector(image)
    return Example(example_id=example_id, caption=caption, phrases=located, image_size=(width, height),
                   regions=regions, image=image)


def fingerprint(example: Example) -> str:
    """A short content hash of an example (caption, boxes, features), a cache key for it."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(example.example_id.encode())
    digest.update(example.caption.encode())
    for phrase in example.phrases:
        digest.update(f"{phrase.text}|{phrase.first_word}|{phrase.num_words}".encode())
        digest.update(np.ascontiguousarray(phrase.boxes, dtype=np.float64).tobytes())
    if example.regions is not None:
        digest.update(np.ascontiguousarray(example.regions.boxes).tobytes())
        digest.update(np.ascontiguousarray(example.regions.features).tobytes())
    if example.image is not None:
        digest.update(np.ascontiguousarray(example.image[::7, ::7]).tobytes())
    return digest.hexdigest()
