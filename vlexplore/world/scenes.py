"""A procedural world of coloured shapes, rendered with OpenCV, with grounded captions.

Each scene has a few objects (shape, colour, size, position; some overlap) on a grey or
beige background, and several captions from a small grammar (attributes, relations,
counts). Every caption's phrases are linked to their gold boxes in the Flickr30k Entities
style: a phrase may refer to several boxes ("two red circles") and scene phrases
("the picture", "a dark background") refer to none. The words that matter (colour, shape,
size, count) are drawn from the picture, so only the image can tell them.

Everything is a pure function of a seed and a ``WorldConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..records import Example, Phrase

__all__ = [
    "COLOURS",
    "SHAPES",
    "BACKGROUNDS",
    "CLASS_NAMES",
    "WorldConfig",
    "SceneObject",
    "Caption",
    "Scene",
    "make_scene",
    "scene_examples",
    "world_words",
]

#: object colours (RGB); saturated, so that a pixel's saturation tells object from background
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (45, 85, 220),
    "yellow": (235, 205, 30),
    "purple": (135, 55, 185),
    "orange": (245, 135, 25),
    "pink": (240, 110, 190),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "diamond", "cross")
#: background name -> (top RGB, bottom RGB) of a vertical gradient; low saturation
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "light": ((236, 236, 232), (206, 206, 202)),
    "dark": ((78, 78, 84), (44, 44, 50)),
    "beige": ((232, 222, 200), (210, 198, 176)),
}
SIZES: dict[str, tuple[float, float]] = {"small": (0.06, 0.085), "large": (0.12, 0.16)}  # half-extent / side
COUNT_WORDS = ("zero", "one", "two", "three", "four", "five")
RELATIONS = ("left of", "right of", "above", "below", "next to")
#: region classes of the world (index 0 = background, as in Visual Genome)
CLASS_NAMES: tuple[str, ...] = ("__background__", *SHAPES)
MIN_IMAGE_SIDE = 64


@dataclass(frozen=True)
class WorldConfig:
    """What a scene may contain. Bad values raise a ``ValueError`` naming the parameter."""

    image_size: tuple[int, int] = (192, 192)  # width, height
    min_objects: int = 2
    max_objects: int = 4
    colours: tuple[str, ...] = tuple(COLOURS)
    shapes: tuple[str, ...] = SHAPES
    duplicate_prob: float = 0.35  # chance that a new object repeats an earlier colour+shape
    overlap_prob: float = 0.3  # chance that a new object may overlap earlier ones
    captions_per_scene: int = 3
    #: share of objects drawn as a blurred disc of their colour: the pixels hide the shape, the
    #: caption still names it (the positive control's world, where words are needed for vision)
    blob_prob: float = 0.0

    def __post_init__(self) -> None:
        width, height = (int(v) for v in self.image_size)
        if min(width, height) < MIN_IMAGE_SIDE:
            raise ValueError(
                f"image_size: each side must be at least {MIN_IMAGE_SIDE} pixels; got {width}x{height}"
            )
        object.__setattr__(self, "image_size", (width, height))
        if self.min_objects < 1:
            raise ValueError(f"min_objects: a scene needs at least one object; got {self.min_objects}")
        if self.max_objects < self.min_objects:
            raise ValueError(
                f"max_objects ({self.max_objects}) must be at least min_objects ({self.min_objects})"
            )
        if self.max_objects > len(COUNT_WORDS) - 1:
            raise ValueError(f"max_objects: at most {len(COUNT_WORDS) - 1} objects fit the grammar; got {self.max_objects}")
        if not self.colours:
            raise ValueError("colours: give at least one colour")
        unknown = [c for c in self.colours if c not in COLOURS]
        if unknown:
            raise ValueError(f"colours: unknown colour {unknown[0]!r}; known colours: {', '.join(COLOURS)}")
        if not self.shapes:
            raise ValueError("shapes: give at least one shape")
        unknown = [s for s in self.shapes if s not in SHAPES]
        if unknown:
            raise ValueError(f"shapes: unknown shape {unknown[0]!r}; known shapes: {', '.join(SHAPES)}")
        for name in ("duplicate_prob", "overlap_prob", "blob_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: must be a probability in [0, 1]; got {value}")
        if self.captions_per_scene < 1:
            raise ValueError(f"captions_per_scene: must be at least 1; got {self.captions_per_scene}")


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str  # "small" | "large"
    center: tuple[float, float]
    box: tuple[int, int, int, int]  # tight inclusive pixel box of the drawn shape

    @property
    def class_index(self) -> int:
        return CLASS_NAMES.index(self.shape)

    def describe(self, form: str) -> list[str]:
        """Words naming this object: "shape", "colour" (+ "shape" as a generic noun), "colour shape", "size colour shape"."""
        return {
            "shape": [self.shape],
            "colour": [self.colour, "shape"],
            "colour shape": [self.colour, self.shape],
            "size colour shape": [self.size, self.colour, self.shape],
        }[form]


@dataclass
class Caption:
    text: str
    phrases: list[Phrase]


@dataclass
class Scene:
    seed: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    background: str
    objects: list[SceneObject]
    captions: list[Caption] = field(default_factory=list)

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    @property
    def object_boxes(self) -> np.ndarray:
        return np.array([o.box for o in self.objects], dtype=np.float64).reshape(-1, 4)

    @property
    def object_classes(self) -> np.ndarray:
        return np.array([o.class_index for o in self.objects], dtype=np.int64)


# Rendering ---------------------------------------------------------------------------------

def _polygon(shape: str, cx: float, cy: float, r: float) -> np.ndarray | None:
    """Vertices of a polygonal shape of half-extent ``r``; None for the circle."""
    if shape == "circle":
        return None
    if shape == "square":
        s = r * 0.9
        points = [(-s, -s), (s, -s), (s, s), (-s, s)]
    elif shape == "triangle":
        points = [(0, -r), (r, r * 0.8), (-r, r * 0.8)]
    elif shape == "diamond":
        points = [(0, -r), (r * 0.8, 0), (0, r), (-r * 0.8, 0)]
    elif shape == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -np.pi / 2 + k * np.pi / 5
            points.append((radius * np.cos(angle), radius * np.sin(angle)))
    elif shape == "cross":
        a, b = r, r * 0.33
        points = [(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b), (-a, b), (-a, -b), (-b, -b)]
    else:  # pragma: no cover - WorldConfig validates shapes
        raise ValueError(f"shape: unknown shape {shape!r}")
    return np.array([(cx + x, cy + y) for x, y in points], dtype=np.float64)


def _draw(mask: np.ndarray, shape: str, cx: float, cy: float, r: float) -> None:
    shift = 4  # sub-pixel precision for OpenCV's anti-aliased drawing
    scale = 1 << shift
    polygon = _polygon(shape, cx, cy, r)
    if polygon is None:
        cv2.circle(mask, (round(cx * scale), round(cy * scale)), round(r * scale), 255, -1, cv2.LINE_AA, shift)
    else:
        cv2.fillPoly(mask, [np.round(polygon * scale).astype(np.int32)], 255, cv2.LINE_AA, shift)


def _background(name: str, width: int, height: int) -> np.ndarray:
    top, bottom = (np.array(c, dtype=np.float64) for c in BACKGROUNDS[name])
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    rows = top * (1 - t) + bottom * t
    return np.repeat(rows, width, axis=1)


def _place_objects(rng: np.random.Generator, config: WorldConfig) -> list[tuple[str, str, str, float, float, float]]:
    width, height = config.image_size
    side = min(width, height)
    count = int(rng.integers(config.min_objects, config.max_objects + 1))
    placed: list[tuple[str, str, str, float, float, float]] = []
    for _ in range(count):
        if placed and rng.random() < config.duplicate_prob:
            _, colour, shape, *_rest = placed[int(rng.integers(len(placed)))]
        else:
            colour = config.colours[int(rng.integers(len(config.colours)))]
            shape = config.shapes[int(rng.integers(len(config.shapes)))]
        size = "small" if rng.random() < 0.5 else "large"
        may_overlap = rng.random() < config.overlap_prob
        low, high = SIZES[size]
        for _attempt in range(60):
            r = float(rng.uniform(low, high)) * side
            cx = float(rng.uniform(r + 2, width - r - 3))
            cy = float(rng.uniform(r + 2, height - r - 3))
            gaps = [np.hypot(cx - x, cy - y) - (r + pr) for _, _, _, x, y, pr in placed]
            limit = -0.6 * r if may_overlap else 4.0  # overlapping ones still show most of themselves
            if all(g > limit for g in gaps):
                placed.append((size, colour, shape, cx, cy, r))
                break
    return placed


def render(seed: int, config: WorldConfig) -> tuple[np.ndarray, str, list[SceneObject]]:
    """The image, background name and objects of scene ``seed`` (painted in order)."""
    rng = np.random.default_rng([seed, 7919])
    width, height = config.image_size
    background = tuple(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    canvas = _background(background, width, height)
    objects = []
    for size, colour, shape, cx, cy, r in _place_objects(rng, config):
        mask = np.zeros((height, width), dtype=np.uint8)
        rgb = np.clip(np.array(COLOURS[colour]) + rng.integers(-12, 13, size=3), 0, 255)
        # Drawn only when asked, so that the default world's scenes stay as they were.
        blob = config.blob_prob > 0 and rng.random() < config.blob_prob
        _draw(mask, "circle" if blob else shape, cx, cy, r * 0.9 if blob else r)
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
        if blob:  # a soft-edged disc: every shape looks the same
            mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=max(1.0, r / 5))
        alpha = (mask.astype(np.float64) / 255.0)[..., None]
        canvas = canvas * (1 - alpha) + rgb[None, None, :] * alpha
        objects.append(SceneObject(shape, colour, size, (cx, cy), box))
    return np.round(canvas).clip(0, 255).astype(np.uint8), background, objects


# Captions ----------------------------------------------------------------------------------

def _relation(a: SceneObject, b: SceneObject, side: int) -> str:
    """How ``a`` sits relative to ``b``: the dominant axis, or 'next to' when they are close."""
    dx, dy = a.center[0] - b.center[0], a.center[1] - b.center[1]
    distance = float(np.hypot(dx, dy))
    if distance < 0.28 * side and abs(abs(dx) - abs(dy)) < 0.15 * side:
        return "next to"
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


class _CaptionBuilder:
    """Collects words and the word spans of phrases while a caption is written."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.spans: list[tuple[int, int, np.ndarray, str, str]] = []

    def add(self, *words: str) -> None:
        for w in words:
            self.words.extend(w.split())

    def phrase(self, words: list[str], boxes, phrase_type: str, label: str = "") -> None:
        start = len(self.words)
        self.add(*words)
        self.spans.append((start, len(self.words) - start, np.asarray(boxes, dtype=np.float64).reshape(-1, 4), phrase_type, label))

    def build(self, entity_prefix: str) -> Caption:
        text = " ".join(self.words)
        offsets, position = [], 0
        for w in self.words:
            offsets.append(position)
            position += len(w) + 1
        phrases = []
        for k, (first, count, boxes, phrase_type, label) in enumerate(self.spans):
            last = first + count - 1
            phrases.append(
                Phrase(
                    text=" ".join(self.words[first : first + count]),
                    first_word=first,
                    num_words=count,
                    boxes=boxes,
                    char_start=offsets[first],
                    char_end=offsets[last] + len(self.words[last]),
                    phrase_type=phrase_type,
                    entity_id=f"{entity_prefix}{k}",
                    label=label,
                )
            )
        return Caption(text, phrases)


#: how often a noun phrase names an object by shape only, colour only, colour+shape, size+colour+shape.
#: Short phrases matter: their one content word is what a 15% token mask hides in pretraining,
#: so the model learns to read it off the picture, as it must when the diagnostic masks a phrase.
NP_FORMS = ("shape", "colour", "colour shape", "size colour shape")
NP_FORM_PROBS = (0.3, 0.25, 0.25, 0.2)


def _noun_phrase(builder: _CaptionBuilder, obj: SceneObject, rng: np.random.Generator) -> None:
    form = NP_FORMS[int(rng.choice(len(NP_FORMS), p=NP_FORM_PROBS))]
    builder.phrase(["a", *obj.describe(form)], [obj.box], "shapes", obj.shape)


def _caption(scene_objects: list[SceneObject], background: str, side: int, rng: np.random.Generator) -> _CaptionBuilder:
    builder = _CaptionBuilder()
    kinds = ["relation", "count", "pair", "shows"] if len(scene_objects) > 1 else ["count", "single"]
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "count":
        pick = scene_objects[int(rng.integers(len(scene_objects)))]
        same = [o for o in scene_objects if o.shape == pick.shape and o.colour == pick.colour]
        n = len(same)
        noun = pick.shape + ("s" if n > 1 else "")
        builder.add("there are" if n > 1 else "there is")
        builder.phrase([COUNT_WORDS[n], pick.colour, noun], [o.box for o in same], "shapes", pick.shape)
        builder.add("in")
        builder.phrase(["the", "picture"], [], "scene")
    elif kind == "single":
        builder.phrase(["the", "picture"], [], "scene")
        builder.add("shows")
        _noun_phrase(builder, scene_objects[0], rng)
        builder.add("on")
        builder.phrase(["a", background, "background"], [], "scene")
    else:
        i, j = rng.choice(len(scene_objects), size=2, replace=False)
        a, b = scene_objects[int(i)], scene_objects[int(j)]
        if kind == "relation":
            _noun_phrase(builder, a, rng)
            builder.add("is", _relation(a, b, side))
            _noun_phrase(builder, b, rng)
        elif kind == "pair":
            _noun_phrase(builder, a, rng)
            builder.add("and")
            _noun_phrase(builder, b, rng)
            builder.add("on")
            builder.phrase(["a", background, "background"], [], "scene")
        else:  # shows
            builder.phrase(["the", "picture"], [], "scene")
            builder.add("shows")
            _noun_phrase(builder, a, rng)
            builder.add(_relation(a, b, side))
            _noun_phrase(builder, b, rng)
    builder.add(".")
    return builder


def make_scene(seed: int, config: WorldConfig | None = None) -> Scene:
    """Scene ``seed``: image, objects and captions, the same on every call."""
    config = config or WorldConfig()
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer; got {seed!r}")
    image, background, objects = render(int(seed), config)
    if not objects:  # pragma: no cover - placement always fits the first object
        raise ValueError(f"scene {seed}: no object could be placed; use a larger image_size")
    rng = np.random.default_rng([int(seed), 104729])
    side = min(config.image_size)
    captions = [
        _caption(objects, background, side, rng).build(f"{seed}:{k}:")
        for k in range(config.captions_per_scene)
    ]
    return Scene(int(seed), image, background, objects, captions)


def scene_examples(scene: Scene, regions=None, with_image: bool = True, prefix: str = "scene") -> list:
    """One ``Example`` per caption of ``scene`` (the diagnostic's unit is a caption's phrase)."""
    return [
        Example(
            example_id=f"{prefix}{scene.seed}-{k}",
            caption=caption.text,
            phrases=caption.phrases,
            image_size=scene.image_size,
            regions=regions,
            image=scene.image if with_image else None,
            image_id=f"{prefix}{scene.seed}",
        )
        for k, caption in enumerate(scene.captions)
    ]


def world_words() -> list[str]:
    """Every word the grammar can write, for the tokenizer's vocabulary."""
    words = {
        "a", "is", "are", "there", "in", "the", "picture", "shows", "and", "on", "background", "shape", ".",
        *COUNT_WORDS, *COLOURS, *SHAPES, *(s + "s" for s in SHAPES), *SIZES, *BACKGROUNDS,
    }
    for relation in RELATIONS:
        words.update(relation.split())
    return sorted(words)
