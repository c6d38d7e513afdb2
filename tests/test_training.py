import argparse

import numpy as np
import pytest
import torch

from vlexplore.models.builtin import builtin_tokenizer, load_builtin
from vlexplore.training import (
    TrainConfig,
    add_train_demo_arguments,
    build_pool,
    mask_regions,
    mask_tokens,
    run_train_demo,
    train,
)

TINY = {"hidden": 32, "layers": 1, "heads": 2, "intermediate": 64, "dropout": 0.0, "threads": 1}


@pytest.fixture(scope="module")
def tokenizer():
    return builtin_tokenizer()


@pytest.fixture(scope="module")
def pool(tokenizer):
    return build_pool(range(40), tokenizer, 32, progress=False)


def test_a_tiny_model_learns(tokenizer, pool):
    config = TrainConfig(steps=60, batch_size=32, learning_rate=3e-3, warmup_steps=5, num_scenes=40, **TINY)
    _, history = train(config, tokenizer, pool, progress=False)
    assert len(history) == 60
    for key in ("mlm", "total"):
        first = np.mean([h[key] for h in history[:5]])
        last = np.mean([h[key] for h in history[-5:]])
        assert last < first - 0.3, (key, first, last)
    assert all(np.isfinite(h["total"]) for h in history)


def test_training_is_deterministic_for_a_seed(tokenizer, pool):
    config = TrainConfig(steps=4, batch_size=8, num_scenes=40, **TINY)
    a, history_a = train(config, tokenizer, pool, progress=False)
    b, history_b = train(config, tokenizer, pool, progress=False)
    assert history_a == history_b
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    c, history_c = train(TrainConfig(steps=4, batch_size=8, num_scenes=40, seed=1, **TINY), tokenizer, pool, progress=False)
    assert history_c != history_a


def test_gold_labels_train_on_region_classes(tokenizer, pool):
    _, history = train(TrainConfig(labels="gold", steps=3, batch_size=8, num_scenes=40, **TINY), tokenizer, pool, progress=False)
    assert np.isfinite(history[-1]["mrc"])
    with pytest.raises(ValueError, match="labels"):
        TrainConfig(labels="bronze")


def test_token_masking_follows_bert(tokenizer, pool):
    ids = pool.caption_ids.reshape(-1, pool.caption_ids.shape[-1]).repeat(20, 1)
    attention = pool.caption_mask.reshape(ids.shape[0] // 20, -1).repeat(20, 1)
    generator = torch.Generator().manual_seed(0)
    masked, labels = mask_tokens(ids, attention, tokenizer, 0.15, generator)
    chosen = labels != -100
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    assert not (chosen & special).any()  # never [CLS], [SEP] or padding
    assert chosen.any(dim=1).all()  # every row predicts something
    candidates = (~special).sum()
    assert 0.15 <= chosen.sum() / candidates < 0.22
    share_mask = (masked[chosen] == tokenizer.mask_token_id).float().mean()
    share_kept = (masked[chosen] == ids[chosen]).float().mean()
    assert 0.75 < share_mask < 0.85 and 0.07 < share_kept < 0.15
    assert torch.equal(masked[~chosen], ids[~chosen])


def test_region_masking_zeroes_most_chosen_regions():
    features = torch.ones(400, 36, 8)
    masked, chosen = mask_regions(features, 0.15, torch.Generator().manual_seed(0))
    assert 0.13 < chosen.float().mean() < 0.17
    zeroed = (masked == 0).all(dim=-1)
    assert not (zeroed & ~chosen).any()
    assert 0.86 < zeroed[chosen].float().mean() < 0.94


def test_train_demo_writes_a_loadable_checkpoint_and_card(tmp_path):
    parser = argparse.ArgumentParser()
    add_train_demo_arguments(parser)
    args = parser.parse_args(["--labels", "gold", "--steps", "3", "--scenes", "12", "--heldout-scenes", "4", "--out", str(tmp_path), "--quiet"])
    assert run_train_demo(args) == 0
    model = load_builtin(tmp_path / "demo-gold.safetensors")
    assert model.config.labels == "gold"
    assert model.config.extra["training"]["steps"] == 3
    card = (tmp_path / "MODEL_CARD-demo-gold.md").read_text()
    assert "MLM bits" in card and "gold" in card
    assert (tmp_path / "heldout.npz").is_file() and (tmp_path / "vocab.txt").is_file()


def test_whole_object_masking_zeroes_and_scores_every_aligned_region(tokenizer, pool):
    from vlexplore import geometry
    from vlexplore.training import _batch
    from vlexplore.world.detector import detect
    from vlexplore.world.scenes import make_scene

    config = TrainConfig(batch_size=64, num_scenes=40, object_mask_prob=1.0, itm_negative_prob=0.0,
                         region_mask_prob=0.0, **TINY)
    rng = np.random.default_rng(0)
    batch = _batch(pool, config, tokenizer, rng, torch.Generator().manual_seed(0))
    zeroed = (batch["features"][:, 1:] == 0).all(dim=-1)
    assert torch.equal(zeroed, batch["region_chosen"])  # only the object's regions, all scored
    rng = np.random.default_rng(0)
    scenes = rng.integers(len(pool), size=64)
    for row in range(4):
        scene = make_scene(int(scenes[row]))
        regions, _ = detect(scene)
        aligned = [set(np.flatnonzero(geometry.iot(regions.boxes, scene.object_boxes[m:m + 1])[:, 0] > 0.5))
                   for m in range(len(scene.objects))]
        assert set(np.flatnonzero(zeroed[row].numpy())) in aligned
    with pytest.raises(ValueError, match="object_mask_prob"):
        TrainConfig(object_mask_prob=1.5)
    with pytest.raises(ValueError, match="world"):
        TrainConfig(world="moon")


def test_train_demo_positive_control_writes_demo_lang(tmp_path):
    parser = argparse.ArgumentParser()
    add_train_demo_arguments(parser)
    args = parser.parse_args(["--positive-control", "--steps", "2", "--scenes", "8", "--heldout-scenes", "3",
                              "--out", str(tmp_path), "--quiet"])
    assert run_train_demo(args) == 0
    model = load_builtin(tmp_path / "demo-lang.safetensors")
    training = model.config.extra["training"]
    assert (model.config.labels, training["world"], training["object_mask_prob"]) == ("gold", "demo-lang", 0.5)
    card = (tmp_path / "MODEL_CARD-demo-lang.md").read_text()
    assert "positive control" in card and "--region-labels gold" in card
    assert (tmp_path / "heldout-lang.npz").is_file() and not (tmp_path / "heldout.npz").exists()
