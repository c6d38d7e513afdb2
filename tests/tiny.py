"""A tiny randomly initialised single-stream model that implements the protocol, for tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vlexplore.geometry import encode_boxes
from vlexplore.models.base import RegionInput, VLBatch, VLModel, VLOutput
from vlexplore.records import Example, Phrase, Regions
from vlexplore.text import bert_tokenizer


class TinyVL(VLModel):
    name = "tiny"

    def __init__(self, feature_dim: int = 8, num_classes: int = 5, hidden: int = 16, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.tokenizer = bert_tokenizer()
        self.region_class_names = tuple(f"class{i}" for i in range(num_classes))
        self._feature_dim = feature_dim
        self.words = nn.Embedding(len(self.tokenizer), hidden)
        self.positions = nn.Embedding(64, hidden)
        self.image = nn.Linear(feature_dim, hidden)
        self.location = nn.Linear(5, hidden)
        self.layer = nn.TransformerEncoderLayer(hidden, 2, 32, dropout=0.0, batch_first=True)
        self.mlm = nn.Linear(hidden, len(self.tokenizer))
        self.mrc = nn.Linear(hidden, num_classes)
        self.calls = 0
        self.last_batch: VLBatch | None = None

    @property
    def feature_dim(self) -> int:
        return self._feature_dim

    def forward(self, batch: VLBatch) -> VLOutput:
        self.calls += 1
        self.last_batch = batch
        visual: RegionInput = batch.visual
        b, t = batch.input_ids.shape
        text = self.words(batch.input_ids) + self.positions(torch.arange(t))[None]
        feats = torch.cat([visual.global_features[:, None], visual.features], dim=1)
        boxes = torch.stack([
            torch.from_numpy(np.concatenate([[[0, 0, 1, 1, 1]], encode_boxes(bx.numpy(), tuple(sz.int().tolist()))]).astype(np.float32))
            for bx, sz in zip(visual.boxes, visual.image_sizes, strict=True)
        ])
        vis = self.image(feats) + self.location(boxes)
        mask = torch.cat([batch.attention_mask, torch.ones(b, 1, dtype=torch.long), visual.mask], dim=1)
        hidden = self.layer(torch.cat([text, vis], dim=1), src_key_padding_mask=mask == 0)
        text_h = hidden[:, :t].gather(1, batch.text_positions[..., None].expand(-1, -1, hidden.shape[-1]))
        region_logits = None
        if batch.region_positions is not None:
            vis_h = hidden[:, t + 1 :]
            idx = batch.region_positions[..., None].expand(-1, -1, hidden.shape[-1])
            region_logits = self.mrc(vis_h.gather(1, idx))
        return VLOutput(self.mlm(text_h), region_logits)


def make_example(seed: int = 0, feature_dim: int = 8, num_classes: int = 5, caption: str | None = None) -> Example:
    """A 100x80 image with 6 regions; region 0 and 1 sit on the man, region 5 covers all."""
    rng = np.random.default_rng(seed)
    boxes = np.array([
        [10, 10, 40, 60],   # on the man
        [12, 12, 38, 58],   # on the man
        [50, 20, 90, 70],   # on the dog
        [55, 25, 85, 65],   # on the dog
        [0, 0, 20, 20],     # background
        [0, 0, 99, 79],     # whole image
    ], dtype=float)
    probs = rng.dirichlet(np.ones(num_classes), size=len(boxes))
    regions = Regions(boxes=boxes, features=rng.normal(size=(len(boxes), feature_dim)).astype(np.float32),
                      image_size=(100, 80), cls_prob=probs, class_names=tuple(f"class{i}" for i in range(num_classes)))
    caption = caption or "A tall man walks a small dog in the park ."
    phrases = [
        Phrase.find(caption, "A tall man", boxes=[[10, 10, 40, 60]], label="class1"),
        Phrase.find(caption, "a small dog", boxes=[[50, 20, 90, 70]], label="class2"),
    ]
    if "the park" in caption:
        phrases.append(Phrase.find(caption, "the park", boxes=[]))
    return Example(example_id=f"ex{seed}", caption=caption, phrases=phrases, image_size=(100, 80), regions=regions)


def load_tiny(name: str = "tiny", **options) -> TinyVL:
    """Registry target for CLI tests."""
    return TinyVL()


def load_tiny_set(name: str = "tinyset", **options):
    from vlexplore.records import ExampleSet

    return ExampleSet("tinyset", [make_example(seed) for seed in range(3)])
