"""Flickr30k-sized synthetic inputs shared by the benchmarks (random, seeded, nothing downloaded)."""

from __future__ import annotations

import numpy as np

from vlexplore.assets import vg_classes
from vlexplore.records import Example, Phrase, Regions

CAPTION = "a young man in a red shirt throws a frisbee to a brown dog on the beach"
IMAGE_SIZE = (500, 375)  # a typical Flickr30k image


def phrases() -> list[Phrase]:
    return [
        Phrase.find(CAPTION, "a young man", boxes=[[40, 30, 200, 360]]),
        Phrase.find(CAPTION, "a brown dog", boxes=[[300, 200, 460, 350]]),
    ]


def pixel_example(i: int) -> Example:
    rng = np.random.default_rng(i)
    image = rng.integers(0, 256, size=(IMAGE_SIZE[1], IMAGE_SIZE[0], 3), dtype=np.uint8)
    return Example(f"p{i}", CAPTION, phrases(), image_size=IMAGE_SIZE, image=image)


def region_example(i: int) -> Example:
    """36 random 2048-d regions, two of them on the phrases' boxes, a 1,601-way cls_prob."""
    rng = np.random.default_rng(i)
    x1, y1 = rng.uniform(0, 300, 36), rng.uniform(0, 200, 36)
    boxes = np.stack([x1, y1, x1 + rng.uniform(20, 199, 36), y1 + rng.uniform(20, 174, 36)], 1)
    boxes[0] = [40, 30, 200, 360]
    boxes[1] = [300, 200, 460, 350]
    regions = Regions(
        boxes=boxes,
        features=rng.random((36, 2048), dtype=np.float32),
        image_size=IMAGE_SIZE,
        cls_prob=rng.dirichlet(np.ones(1601), size=36),
        class_names=vg_classes(),
    )
    return Example(f"r{i}", CAPTION, phrases(), image_size=IMAGE_SIZE, regions=regions)



class SizedSet:
    """A set of Flickr30k Entities val's shape, generated as it is read (nothing kept).

    ``n_images`` images of 36 regions (random ``feature_dim``-d features, a detector
    distribution over ``class_names``), 5 captions each, 2 or 3 phrases per caption so that
    the set has ``n_phrases`` phrases (Flickr30k Entities val: 1,000 images, 14,433). The
    five captions of an image share its ``Regions``, as a real reader's do. Captions use
    colour and shape words, which both the built-in world's and BERT's vocabularies hold.
    """

    COLOURS = ("red", "green", "blue", "yellow", "orange")
    SHAPES = ("circle", "square", "triangle", "star", "diamond")

    def __init__(self, class_names, feature_dim: int, image_size: tuple[int, int],
                 n_images: int = 1000, n_phrases: int = 14433):
        if not 2 * 5 * n_images <= n_phrases <= 3 * 5 * n_images:
            raise ValueError(f"{n_phrases} phrases do not fit 2-3 per caption of {n_images} images x 5 captions")
        self.class_names, self.feature_dim, self.image_size = tuple(class_names), feature_dim, image_size
        self.n_images, self.n_phrases = n_images, n_phrases

    def __len__(self) -> int:
        return 5 * self.n_images

    def _regions(self, i: int) -> Regions:
        rng = np.random.default_rng(i)
        w, h = self.image_size
        x1, y1 = rng.uniform(0, 0.75 * w, 36), rng.uniform(0, 0.75 * h, 36)
        boxes = np.stack([x1, y1, x1 + rng.uniform(0.05, 0.25, 36) * w, y1 + rng.uniform(0.05, 0.25, 36) * h], 1)
        boxes = np.minimum(boxes, [w - 1, h - 1, w - 1, h - 1])  # inside the image's pixels
        boxes[:3] = np.array([[0.05, 0.05, 0.3, 0.3], [0.4, 0.1, 0.7, 0.4], [0.2, 0.5, 0.5, 0.9]]) * [w, h, w, h]
        return Regions(
            boxes=boxes,
            features=rng.random((36, self.feature_dim), dtype=np.float32),
            image_size=self.image_size,
            cls_prob=rng.dirichlet(np.ones(len(self.class_names)), size=36),
            class_names=self.class_names,
        )

    def __iter__(self):
        three = self.n_phrases - 2 * len(self)  # captions with a third phrase
        for i in range(self.n_images):
            regions = self._regions(i)
            for c in range(5):
                k = 5 * i + c
                n = 3 if k < three else 2
                parts = [f"a {self.COLOURS[(k + j) % 5]} {self.SHAPES[(k + 2 * j) % 5]}" for j in range(n)]
                caption = " , ".join(parts[:-1]) + f" and {parts[-1]} on a dark background ."
                phrases = [Phrase.find(caption, part, boxes=[regions.boxes[j].tolist()]) for j, part in enumerate(parts)]
                yield Example(f"s{i}_{c}", caption, phrases, image_size=self.image_size, regions=regions)

    def average_region_feature(self) -> np.ndarray:
        """The paper's baseline over this set, in one streaming pass (weighted by phrases)."""
        total, count = np.zeros(self.feature_dim), 0
        for example in self:
            weight = len(example.phrases)
            total += example.regions.features.astype(np.float64).sum(axis=0) * weight
            count += weight * len(example.regions)
        return (total / count).astype(np.float32)


def world_sized(class_names, n_images: int = 1000, n_phrases: int = 14433) -> SizedSet:
    """For the built-in model: 128-d features in 192x192 scenes."""
    return SizedSet(class_names, 128, (192, 192), n_images, n_phrases)


def flickr_sized(n_images: int = 1000, n_phrases: int = 14433) -> SizedSet:
    """For VOLTA models: 2048-d features, 1,601 Visual Genome classes, 500x375 images."""
    return SizedSet(vg_classes(), 2048, IMAGE_SIZE, n_images, n_phrases)


_WORDS = (
    "a man woman child dog in on with red blue shirt jacket throws holds frisbee ball to near the "
    "brown black white beach park street old young sits stands runs while another looks at"
)
VOCABULARY = _WORDS.split()


def varied_region_examples(n: int, seed: int = 0) -> list[Example]:
    """``n`` captions of 5 to 25 words (Flickr30k's usual range) on 36 random regions each.

    Every caption starts with "a man" (the phrase, with a box on region 0); the rest are
    random words, so caption lengths, and with them VL-BERT's text positions, vary.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = ["a", "man", *rng.choice(VOCABULARY, size=int(rng.integers(3, 24))).tolist()]
        caption = " ".join(words)
        example = region_example(seed * 100_000 + i)
        phrase = Phrase.find(caption, "a man", boxes=[[40, 30, 200, 360]])
        out.append(Example(f"v{i}", caption, [phrase], image_size=IMAGE_SIZE, regions=example.regions))
    return out
