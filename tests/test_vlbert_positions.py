"""VL-BERT's text positions as the published runs had them (``--vlbert-positions volta-batch16``).

VOLTA writes ``text_position_ids[text_position_ids >= text_end] += num_boxes`` into an
expanded (broadcast) tensor, so the rows of a batch share one position row. The tests
compute that line literally and compare.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from tests.test_volta import small_checkpoint, small_config, volta_inputs
from vlexplore.assets import vg_classes
from vlexplore.engine import PUBLISHED_BATCH_SIZE, diagnose_dataset
from vlexplore.inputs import collate, prepare
from vlexplore.models.volta import VoltaBackend, load_volta
from vlexplore.models.volta.modules import box_sinusoids, volta_shift_from
from vlexplore.records import Example, ExampleSet, Phrase, Regions

WORDS = ["a", "man", "in", "a", "red", "shirt", "throws", "a", "frisbee", "to", "a", "brown", "dog", "on", "the", "sunny", "beach", "near", "the", "old", "pier"]


def voltas_text_positions(token_ids: torch.Tensor, num_boxes: int) -> torch.Tensor:
    """VOLTA's three lines (volta/embeddings.py, VLBertEmbeddings.forward), verbatim."""
    seq_length = token_ids.size(1)
    text_end = (token_ids != 0).sum(1, keepdim=True)
    text_position_ids = torch.arange(seq_length, dtype=torch.long, device=token_ids.device)
    text_position_ids = text_position_ids.unsqueeze(0).expand_as(token_ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch deprecates writes into expanded tensors
        text_position_ids[text_position_ids >= text_end] += num_boxes
    return text_position_ids


@pytest.fixture(scope="module")
def vlbert(tmp_path_factory):
    path = small_checkpoint(tmp_path_factory.mktemp("vlbert"), "vl-bert")
    return load_volta(path, "vl-bert", config=small_config("vl-bert"))


def test_batch_rule_equals_voltas_in_place_write(vlbert):
    ids, feat, loc, types, _, image_mask = volta_inputs(batch=3, text=12, regions=4)
    ids[1, 7], ids[1, 8:] = 102, 0  # captions of 12, 8 and 5 tokens
    ids[2, 4], ids[2, 5:] = 102, 0
    embeddings = vlbert.bert.embeddings
    num_boxes = feat.shape[1]
    expected_positions = voltas_text_positions(ids, num_boxes)
    # every row is shifted from the shortest caption (5), the longer ones' tokens included
    assert expected_positions[0].tolist() == list(range(5)) + [p + num_boxes for p in range(5, 12)]
    assert torch.equal(expected_positions[1], expected_positions[0])

    with torch.no_grad():
        text, vision = embeddings(ids, feat, loc, types, shift_from=volta_shift_from(ids))
        own_text, own_vision = embeddings(ids, feat, loc, types)
        # VL-BERT's text embedding, by hand, at VOLTA's positions
        objects = embeddings.obj_downsample(
            torch.cat([box_sinusoids(loc, embeddings.coordinate_dim), feat], -1)
        )
        by_hand = embeddings.LayerNorm(
            embeddings.word_embeddings(ids)
            + embeddings.visual_ln_text(objects[:, -1])[:, None, :]
            + embeddings.position_embeddings(expected_positions)
            + embeddings.token_type_embeddings(types)
        )
    torch.testing.assert_close(text, by_hand)
    torch.testing.assert_close(vision, own_vision)  # region positions use each row's own length
    torch.testing.assert_close(text[2], own_text[2])  # the shortest caption is read as before
    assert not torch.allclose(text[0, 5:12], own_text[0, 5:12])  # the others are not


def _examples(n: int, seed: int = 0) -> ExampleSet:
    """``n`` captions of varied lengths on 36 random 2048-d regions, one phrase with a box each."""
    rng = np.random.default_rng(seed)
    examples = []
    size = (500, 375)
    for i in range(n):
        caption = " ".join(WORDS[: int(rng.integers(4, len(WORDS) + 1))])
        phrases = [Phrase.find(caption, "a man", boxes=[[40, 30, 200, 360]])]
        if "frisbee" in caption:
            phrases.append(Phrase.find(caption, "a frisbee", boxes=[[300, 20, 380, 90]]))
        x1, y1 = rng.uniform(0, 300, 36), rng.uniform(0, 200, 36)
        boxes = np.stack([x1, y1, x1 + rng.uniform(20, 199, 36), y1 + rng.uniform(20, 174, 36)], 1)
        boxes[0] = [40, 30, 200, 360]
        regions = Regions(
            boxes=boxes, features=rng.random((36, 2048), dtype=np.float32), image_size=size,
            cls_prob=rng.dirichlet(np.ones(1601), size=36), class_names=vg_classes(),
        )  # fmt: skip
        examples.append(Example(f"e{i}", caption, phrases, image_size=size, regions=regions, image_id=str(i)))
    return ExampleSet("varied", examples)


def test_dataset_run_reads_each_caption_as_the_authors_batches_did(vlbert):
    """The authors' batches (16 phrases in dataset order, padded to 38) vs the engine's own."""
    backend = VoltaBackend(vlbert, "vl-bert")
    dataset = _examples(14)
    units = [(ex, j) for ex in dataset.examples for j in ex.diagnosable_phrases()]
    assert PUBLISHED_BATCH_SIZE < len(units) < 2 * PUBLISHED_BATCH_SIZE
    average = dataset.average_region_feature()
    runs = {
        rule: list(diagnose_dataset(backend, dataset, batch_size=5, progress=False, vlbert_positions=rule))
        for rule in ("per-caption", "volta-batch16")
    }
    expected = []
    for start in range(0, len(units), PUBLISHED_BATCH_SIZE):
        items = [prepare(backend, ex, j, average_feature=average) for ex, j in units[start : start + 16]]
        batch = collate(items)
        pad = 38 - batch.input_ids.shape[1]
        batch.input_ids = torch.nn.functional.pad(batch.input_ids, (0, pad))
        batch.attention_mask = torch.nn.functional.pad(batch.attention_mask, (0, pad))
        # VOLTA's rule over this batch: the position row shared by all its rows
        shared = voltas_text_positions(batch.input_ids, 37)[0]
        first_shifted = int((shared != torch.arange(38)).nonzero()[0])
        batch.text_shift_from = torch.full((batch.size,), first_shifted)
        logits = backend.forward(batch).text_logits
        row = 0
        for item in items:
            gold = torch.tensor([item.encoded.input_ids[p] for p in item.encoded.phrase_positions])
            m = len(gold)
            bits = -torch.log_softmax(logits[row : row + 6, :m], -1)[:, torch.arange(m), gold] / np.log(2)
            expected.append(bits.mean(1)[:3].numpy())  # the three vis4lang rows
            row += len(item.rows)
    got = np.array([[r.mlm_bits_none, r.mlm_bits_object, r.mlm_bits_all] for r in runs["volta-batch16"]])
    per_caption = np.array([[r.mlm_bits_none, r.mlm_bits_object, r.mlm_bits_all] for r in runs["per-caption"]])
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-4, atol=1e-4)
    assert np.abs(got - per_caption).max() > 1e-3  # the rule changes what the model reads


def test_limit_keeps_the_published_batches(vlbert):
    backend = VoltaBackend(vlbert, "vl-bert")
    dataset = _examples(14)
    full = list(diagnose_dataset(backend, dataset, progress=False, vlbert_positions="volta-batch16"))
    first = list(diagnose_dataset(backend, dataset, progress=False, vlbert_positions="volta-batch16", limit=17))
    for a, b in zip(first, full, strict=False):
        assert a.mlm_bits_none == pytest.approx(b.mlm_bits_none, abs=1e-4)


def test_other_models_refuse_the_option(tmp_path):
    uniter = VoltaBackend(load_volta(small_checkpoint(tmp_path, "uniter"), "uniter", config=small_config("uniter")), "uniter")
    with pytest.raises(ValueError, match=r"volta:vl-bert.*volta:uniter"):
        next(diagnose_dataset(uniter, _examples(2), progress=False, vlbert_positions="volta-batch16"))
    with pytest.raises(ValueError, match="must be one of per-caption, volta-batch16"):
        next(diagnose_dataset(uniter, _examples(2), progress=False, vlbert_positions="batch"))
