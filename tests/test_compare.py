"""Models side by side: one phrase under several models, and what each takes in memory."""

from __future__ import annotations

import pytest
from tiny import TinyVL

from vlexplore import registry
from vlexplore.compare import compare_models, memory_bytes, scores_frame
from vlexplore.engine import diagnose


def test_each_model_scores_the_phrase_as_alone_and_a_misfit_is_reported():
    dataset = registry.load_dataset("demo")
    average = dataset.average_region_feature()
    models = {"demo": registry.load_model("demo"), "demo-gold": registry.load_model("demo-gold"), "tiny": TinyVL()}
    done, failed = compare_models(models, dataset[0], 0, average_feature=average)
    assert set(done) == {"demo", "demo-gold"} and "tiny" in failed and "8-d" in failed["tiny"]
    scores = scores_frame(done)
    assert len(scores) == 12
    for name in done:
        alone = diagnose(models[name], dataset[0], 0, average_feature=average)
        mine = scores[scores["model"] == name].set_index(["side", "condition"])["bits"]
        for side in ("vis4lang", "lang4vis"):
            for condition, bits in alone.scores[side].items():
                assert mine[(side, condition)] == pytest.approx(bits, abs=1e-6)


def test_memory_counts_weights_and_buffers_once():
    demo = registry.load_model("demo")
    network = demo.network
    expected = sum(p.numel() * p.element_size() for p in network.parameters())
    expected += sum(b.numel() * b.element_size() for b in network.buffers())
    assert memory_bytes(demo) == expected
    tiny = TinyVL()  # several modules as attributes, the MLM decoder among them
    parts = [tiny.words, tiny.positions, tiny.image, tiny.location, tiny.layer, tiny.mlm, tiny.mrc]
    assert memory_bytes(tiny) == sum(p.numel() * 4 for part in parts for p in part.parameters())
