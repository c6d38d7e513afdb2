"""Turning what a user typed, drew or uploaded into an ``Example`` the engine accepts.

Every problem (not an image, a corrupt or huge image, an empty caption, a phrase not in the
caption, a box outside the image) surfaces as a ``ValueError`` whose text the app shows as
is, so these rules are tested here, without a browser.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ..records import Example, Phrase, Regions, as_boxes, check_boxes
from .state import parse_box

__all__ = ["edit_example", "relocate_phrases", "example_from_upload", "fingerprint", "unknown_words",
           "Detector", "MIN_IMAGE_SIDE"]

Detector = Callable[[np.ndarray], Regions]  # image (H, W, 3) uint8 -> detector regions
MIN_IMAGE_SIDE = 16  # pixels: below this an upload has no room for a phrase box and detector regions


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
    flat = np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
    if flat.size:
        x1, y1, x2, y2 = (f"{v:g}" for v in boxes[flat[0]])
        raise ValueError(f"{name}: the box {x1},{y1},{x2},{y2} has no area (x2 must be more than x1 and "
                         "y2 more than y1); drag or type a box around what the phrase refers to")
    return boxes


def _span_after_edit(old_words: list[str], new_words: list[str], first: int, count: int) -> tuple[int, int] | None:
    """Where words ``first .. first+count`` of the old caption are in the new one, when the edit
    changed words inside the phrase only ("a yellow shape" -> "a blue shape"); None when an
    edit crosses the phrase's border or removes it."""
    matcher = difflib.SequenceMatcher(None, [w.lower() for w in old_words], [w.lower() for w in new_words],
                                      autojunk=False)
    last = first + count - 1
    start = end = None
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        touches = i1 <= last and (i2 > first or (i1 == i2 and i1 > first))
        if not touches:
            continue
        if tag != "equal" and (i1 < first or i2 > last + 1):
            return None  # the edit reaches outside the phrase
        if start is None and i1 <= first < max(i2, i1 + 1):
            start = j1 + (first - i1 if tag == "equal" else 0)
        if i1 <= last < i2:
            end = j1 + (last - i1) + 1 if tag == "equal" else j2
    if start is None or end is None or end <= start:
        return None
    return start, end


def relocate_phrases(example: Example, caption: str) -> list[Phrase | None]:
    """Each phrase of ``example`` in an edited ``caption``: where its words went (an edit inside a
    phrase keeps it, with its new words), else where its text occurs; None when it is gone."""
    old_words, new_words = example.caption.split(), caption.split()
    located: list[Phrase | None] = []
    for phrase in example.phrases:
        extra = dict(boxes=phrase.boxes, phrase_type=phrase.phrase_type, entity_id=phrase.entity_id,
                     label=phrase.label)
        span = _span_after_edit(old_words, new_words, phrase.first_word, phrase.num_words)
        found = None
        if span is not None:
            text = " ".join(new_words[span[0]:span[1]])
            for occurrence in range(len(new_words)):
                found = Phrase.find(caption, text, occurrence=occurrence, **extra)
                if found.first_word >= span[0]:
                    break
        else:
            try:
                found = Phrase.find(caption, phrase.text, **extra)
            except ValueError:
                found = None
        located.append(found)
    return located


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
    relocated = relocate_phrases(example, new_caption) if new_caption != example.caption else example.phrases
    phrases: list[Phrase] = []
    new_index = -1
    for index, (phrase, located) in enumerate(zip(example.phrases, relocated, strict=True)):
        is_chosen = index == phrase_index
        if is_chosen and phrase_text:
            located = Phrase.find(new_caption, phrase_text.strip(), boxes=boxes, phrase_type=phrase.phrase_type,
                                  entity_id=phrase.entity_id)
        elif located is None:
            if is_chosen:
                raise ValueError(f"phrase {phrase.text!r} is not in the caption any more; undo the edit, pick "
                                 "another phrase, or type the words it should be under \"Other words\"")
            notes.append(f"phrase {phrase.text!r} is no longer in the caption and was dropped")
            continue
        elif located.text != phrase.text:
            notes.append(f"phrase {phrase.text!r} now reads {located.text!r}")
        if is_chosen:
            located = replace(located, boxes=boxes)
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
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ValueError(f"{name or 'the image'} is {width}x{height} pixels, too small to box a phrase in; "
                         f"upload a picture at least {MIN_IMAGE_SIDE} pixels wide and tall")
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


def unknown_words(tokenizer, text: str) -> list[str]:
    """The words of ``text`` the model's tokenizer cannot spell (they become its unknown token,
    so a loss on them measures nothing)."""
    unknown = getattr(tokenizer, "unk_token", None)
    if tokenizer is None or unknown is None:
        return []
    return [word for word in dict.fromkeys(text.split()) if unknown in tokenizer.tokenize(word)]
