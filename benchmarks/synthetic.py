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
