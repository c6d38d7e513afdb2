"""Flickr30k Entities, as the paper reads it, into ``Example`` records.

The dataset folder holds ``Sentences/IMAGE_ID.txt`` (five captions per image with the
phrase markup ``[/EN#18/people A man]``), ``Annotations/IMAGE_ID.xml`` (image size and
the boxes of each entity) and the split lists ``train.txt``, ``val.txt``, ``test.txt``.

Following the authors' code: a phrase is located by the whitespace-word index of its
first word; its gold boxes are every box of its entity, read as ``[xmin-1, ymin-1,
xmax-1, ymax-1]``. Phrases of entities without a box (``scene``/``nobndbox`` entries, or
the ``EN#0`` "not visual" ones) are kept with no boxes, so they are shown but never
diagnosed. One ``Example`` per image and sentence; region features come from
``vlexplore.data.features`` (TSV, VOLTA's LMDB or .npz), images are optional: without
them the app draws on a blank canvas of the size the XML gives.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, parse_number
from ..records import Example, ExampleSet, Phrase, check_image_size
from .features import read_features
from .labelmatch import label_match

__all__ = [
    "Annotation",
    "SentencePhrase",
    "parse_sentence",
    "read_sentences",
    "read_annotation",
    "read_split",
    "load_flickr30k",
    "load_from_spec",
]

_PHRASE_START = re.compile(r"^\[/EN#(\d+)((?:/[^/\s]+)*)$")


@dataclass(frozen=True)
class SentencePhrase:
    text: str
    first_word: int
    num_words: int
    entity_id: str
    phrase_types: tuple[str, ...]


@dataclass
class Annotation:
    image_size: tuple[int, int]  # width, height
    boxes: dict[str, list[list[float]]] = field(default_factory=dict)  # entity id -> boxes
    scene: set[str] = field(default_factory=set)
    nobox: set[str] = field(default_factory=set)


def parse_sentence(line: str, where: str = "sentence") -> tuple[str, list[SentencePhrase]]:
    """Caption words and phrases of one marked-up line, e.g. ``[/EN#18/people A man] sits .``."""
    words: list[str] = []
    phrases: list[SentencePhrase] = []
    current: list[str] | None = None
    entity, types, first = "", (), 0
    for token in line.split():
        if current is not None and token.startswith("[/EN#"):
            raise InputError(
                f"{where}: phrase marker {token!r} inside the phrase for entity {entity}; "
                "phrases cannot be nested (close the first with ']')"
            )
        if "]" in token[:-1] or (current is None and token.endswith("]")):
            raise InputError(
                f"{where}: stray ']' in {token!r}; ']' may only close a phrase, at the end of its last word"
            )
        if current is None:
            match = _PHRASE_START.match(token)
            if match:
                entity, types = match.group(1), tuple(t for t in match.group(2).split("/") if t)
                current, first = [], len(words)
            elif token.startswith("[/EN#"):
                raise InputError(f"{where}: malformed phrase marker {token!r}")
            else:
                words.append(token)
            continue
        closes = token.endswith("]")
        word = token[:-1] if closes else token
        if word:
            current.append(word)
            words.append(word)
        if closes:
            if not current:
                raise InputError(f"{where}: empty phrase for entity {entity}")
            phrases.append(SentencePhrase(" ".join(current), first, len(current), entity, types))
            current = None
    if current is not None:
        raise InputError(f"{where}: phrase for entity {entity} is not closed with ']'")
    if not words:
        raise InputError(f"{where}: empty sentence")
    return " ".join(words), phrases


def read_sentences(path: str | Path) -> list[tuple[str, list[SentencePhrase]]]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the sentence file ({error})") from None
    return [
        parse_sentence(line, f"{path} line {number}")
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]


#: the largest coordinate or size an annotation may give (Flickr30k images are <= 500 px)
MAX_COORDINATE = 100_000


def _int(element, tag: str, path: Path) -> int:
    node = element.find(tag)
    if node is None or node.text is None:
        raise InputError(f"{path}: <{tag}> is missing")
    return parse_number(node.text, f"{path}: <{tag}>", -MAX_COORDINATE, MAX_COORDINATE)


def read_annotation(path: str | Path) -> Annotation:
    """Image size and entity boxes of one ``Annotations/IMAGE_ID.xml`` (0-based boxes)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise InputError(f"{path}: the annotation XML does not parse ({error})") from error
    except OSError as error:
        raise InputError(f"{path}: cannot read the annotation ({error})") from error
    size = root.find("size")
    if size is None:
        raise InputError(f"{path}: no <size> element, so the image size is unknown")
    image_size = check_image_size(
        (_int(size, "width", path), _int(size, "height", path)), f"{path}: <size>"
    )
    annotation = Annotation(image_size=image_size)
    for obj in root.findall("object"):
        names = [n.text.strip() for n in obj.findall("name") if n.text]
        box = obj.find("bndbox")
        for name in names:
            if box is not None:
                coords = [_int(box, tag, path) - 1 for tag in ("xmin", "ymin", "xmax", "ymax")]
                _check_gold_box(coords, image_size, f"{path}: the box of entity {name}")
                annotation.boxes.setdefault(name, []).append(coords)
            else:
                if obj.find("nobndbox") is not None and _int(obj, "nobndbox", path) > 0:
                    annotation.nobox.add(name)
                if obj.find("scene") is not None and _int(obj, "scene", path) > 0:
                    annotation.scene.add(name)
    return annotation


def _check_gold_box(coords: list[int], image_size: tuple[int, int], name: str) -> None:
    """An ``InputError`` for a reversed box or one wholly outside the image (clipping it
    would leave a 1-pixel corner box that the diagnostic would happily use)."""
    x1, y1, x2, y2 = coords
    width, height = image_size
    if x2 < x1 or y2 < y1:
        raise InputError(f"{name} {coords} is reversed (xmax < xmin or ymax < ymin)")
    if x1 > width - 1 or y1 > height - 1 or x2 < 0 or y2 < 0:
        raise InputError(
            f"{name} {coords} lies entirely outside the {width}x{height} image; "
            "fix the annotation or its <size>"
        )


def read_split(root: str | Path, split: str) -> list[str]:
    path = Path(root) / f"{split}.txt"
    if not path.is_file():
        raise InputError(
            f"split list {path} does not exist; the Flickr30k Entities folder should hold "
            "train.txt, val.txt and test.txt beside Annotations/ and Sentences/"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"split list {path} is not UTF-8 text ({error.reason} at byte {error.start}); "
            "it should list one image id per line"
        ) from None
    except OSError as error:
        raise InputError(f"split list {path} cannot be read ({error.strerror})") from None
    image_ids = [line.strip() for line in text.splitlines() if line.strip()]
    if not image_ids:
        raise InputError(f"split list {path} is empty; it should list one image id per line")
    bad = next((i for i in image_ids if not re.fullmatch(r"[\w.-]{1,64}", i)), None)
    if bad is not None:
        raise InputError(
            f"split list {path}: {bad[:80]!r} is not an image id (letters, digits, '_', '-', '.')"
        )
    return image_ids


def _gold_boxes(boxes: list[list[float]], image_size: tuple[int, int]) -> np.ndarray:
    """Boxes clipped into the image (a few annotations reach pixel 0 or past the edge)."""
    if not boxes:
        return np.zeros((0, 4))
    width, height = image_size
    return np.clip(
        np.asarray(boxes, dtype=np.float64), 0, [width - 1, height - 1, width - 1, height - 1]
    )


def _phrases(caption: str, parsed: list[SentencePhrase], annotation: Annotation) -> list[Phrase]:
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", caption)]
    return [
        Phrase(
            text=p.text,
            first_word=p.first_word,
            num_words=p.num_words,
            boxes=_gold_boxes(annotation.boxes.get(p.entity_id, []), annotation.image_size),
            char_start=spans[p.first_word][0],
            char_end=spans[p.first_word + p.num_words - 1][1],
            phrase_type="/".join(p.phrase_types),
            entity_id=p.entity_id,
            label=label_match(p.text),
        )
        for p in parsed
    ]


def load_flickr30k(
    root: str | Path,
    features: str | Path | None = None,
    images: str | Path | None = None,
    split: str = "val",
    limit: int | None = None,
    feature_dim: int | None = 2048,
    progress: bool = True,
) -> ExampleSet:
    """Flickr30k Entities ``split`` (first ``limit`` images) with region features if given."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputError(f"Flickr30k Entities folder {root} does not exist")
    image_ids = read_split(root, split)
    if limit is not None:
        if int(limit) < 1:
            raise InputError(f"limit must be a positive number of images, got {limit}")
        image_ids = image_ids[: int(limit)]
    image_dir = None
    if images is not None:
        image_dir = Path(images).expanduser()
        if not image_dir.is_dir():
            raise InputError(f"images folder {image_dir} does not exist")
    regions = read_features(features, image_ids, feature_dim, progress=progress) if features else {}

    examples: list[Example] = []
    skipped: list[str] = []
    first_error: InputError | None = None
    for image_id in image_ids:
        try:
            annotation = read_annotation(root / "Annotations" / f"{image_id}.xml")
            sentences = read_sentences(root / "Sentences" / f"{image_id}.txt")
        except InputError as error:  # one damaged annotation costs its image, not the set
            first_error = first_error or error
            skipped.append(f"image {image_id} skipped: {error}")
            continue
        image_regions = None
        if image_id in regions:
            item = regions[image_id]
            if tuple(item.image_size) != annotation.image_size:
                raise InputError(
                    f"{item.source}, image {image_id}: features were extracted from a "
                    f"{item.image_size[0]}x{item.image_size[1]} image but {root}/Annotations/{image_id}.xml "
                    f"says {annotation.image_size[0]}x{annotation.image_size[1]}"
                )
            image_regions = item.to_regions()
        image_path = None
        if image_dir is not None:
            candidates = [image_dir / f"{image_id}{ext}" for ext in (".jpg", ".jpeg", ".png")]
            found = [c for c in candidates if c.is_file()]
            if not found:
                raise InputError(f"images folder {image_dir} has no {image_id}.jpg")
            image_path = str(found[0])
        for index, (caption, parsed) in enumerate(sentences):
            examples.append(
                Example(
                    example_id=f"{image_id}_{index}",
                    caption=caption,
                    phrases=_phrases(caption, parsed, annotation),
                    image_size=annotation.image_size,
                    regions=image_regions,
                    image_path=image_path,
                    image_id=image_id,
                )
            )
    if not examples and first_error is not None:
        raise first_error
    units = sum(len(e.diagnosable_phrases()) for e in examples)
    return ExampleSet(
        name=f"flickr30k-{split}",
        examples=examples,
        description=(
            f"Flickr30k Entities {split}: {len(image_ids) - len(skipped)} images, {len(examples)} captions, "
            f"{units} phrases with gold boxes"
            + (f"; {len(skipped)} image(s) skipped for damaged annotations" if skipped else "")
            + ("" if features else "; no region features given (--features)")
        ),
        skipped=skipped,
    )


def load_from_spec(
    path: str,
    features: str | Path | None = None,
    images: str | Path | None = None,
    split: str = "val",
    limit: int | None = None,
    **options,
) -> ExampleSet:
    """``flickr30k:PATH`` (the registry's entry point)."""
    known = {"feature_dim", "progress"}
    unknown = sorted(k for k, v in options.items() if k not in known and v is not None)
    if unknown:
        raise InputError(
            f"flickr30k: unknown option(s) {', '.join(unknown)}; known: features, images, split, limit, "
            + ", ".join(sorted(known))
        )
    return load_flickr30k(
        path, features=features, images=images, split=split, limit=limit, **options
    )
