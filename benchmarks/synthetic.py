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


class WorldSizedSet:
    """Flickr30k val's shape for the built-in model, generated as it is read (nothing kept).

    ``n_images`` images of 36 regions (128-d features, boxes in 192x192, a detector
    distribution over ``class_names``), 5 captions each, 2 or 3 phrases per caption so that
    the set has ``n_phrases`` phrases (Flickr30k Entities val: 1,000 images, 14,433).
    The five captions of an image share its ``Regions``, as a real reader's do.
    """

    COLOURS = ("red", "green", "blue", "yellow", "orange")
    SHAPES = ("circle", "square", "triangle", "star", "diamond")

    def __init__(self, class_names: tuple[str, ...], n_images: int = 1000, n_phrases: int = 14433):
        if not 2 * 5 * n_images <= n_phrases <= 3 * 5 * n_images:
            raise ValueError(f"{n_phrases} phrases do not fit 2-3 per caption of {n_images} images x 5 captions")
        self.class_names, self.n_images, self.n_phrases = tuple(class_names), n_images, n_phrases

    def __len__(self) -> int:
        return 5 * self.n_images

    def _regions(self, i: int) -> Regions:
        rng = np.random.default_rng(i)
        x1, y1 = rng.uniform(0, 150, 36), rng.uniform(0, 150, 36)
        boxes = np.stack([x1, y1, x1 + rng.uniform(8, 42, 36), y1 + rng.uniform(8, 42, 36)], 1)
        boxes[:3] = [[10, 10, 60, 60], [80, 20, 140, 80], [40, 100, 100, 170]]  # the phrases' boxes
        return Regions(
            boxes=boxes,
            features=rng.normal(size=(36, 128)).astype(np.float32),
            image_size=(192, 192),
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
                yield Example(f"w{i}_{c}", caption, phrases, image_size=(192, 192), regions=regions)

    def average_region_feature(self) -> np.ndarray:
        """The paper's baseline over this set, in one streaming pass (weighted by phrases)."""
        total, count = np.zeros(128), 0
        for example in self:
            weight = len(example.phrases)
            total += example.regions.features.astype(np.float64).sum(axis=0) * weight
            count += weight * len(example.regions)
        return (total / count).astype(np.float32)
