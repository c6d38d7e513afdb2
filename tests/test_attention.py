"""Attention beside ablation: the masked phrase's attention to each region (None condition)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from test_hf import lxmert_dir, visualbert_dir  # noqa: F401  (fixtures)
from test_vlbert_positions import _examples
from tiny import TinyVL, make_example

from tests.test_volta import small_checkpoint, small_config
from vlexplore import registry
from vlexplore.attention import phrase_attention
from vlexplore.inputs import collate, prepare
from vlexplore.models.volta import VoltaBackend, load_volta


def volta(tmp_path, arch: str) -> VoltaBackend:
    return VoltaBackend(load_volta(small_checkpoint(tmp_path, arch), arch, config=small_config(arch)), arch)


def test_each_layer_and_head_sums_to_one(tmp_path):
    demo, dataset = registry.load_model("demo"), registry.load_dataset("demo")
    example = _examples(1)[0]
    for model, ex, average in ((demo, dataset[0], dataset.average_region_feature()),
                               (volta(tmp_path, "uniter"), example, None),
                               (volta(tmp_path, "lxmert"), example, None)):  # fmt: skip
        frame = phrase_attention(model, ex, 0, average_feature=average)
        sums = frame.groupby(["layer", "head"])["mass"].sum()
        np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-5)
        regions = frame[frame["key"] == "region"]
        assert regions["mass"].min() >= 0 and len(regions["region"].unique()) == len(ex.regions)
        mean = regions[regions["head"] == -1].set_index(["layer", "region"])["mass"]
        by_head = regions[regions["head"] >= 0].groupby(["layer", "region"])["mass"].mean()
        np.testing.assert_allclose(mean.sort_index().to_numpy(), by_head.sort_index().to_numpy(), atol=1e-6)
    lxmert = phrase_attention(volta(tmp_path, "lxmert"), example, 0)
    cross = lxmert[(lxmert["key"] == "text") & (lxmert["head"] == -1)]
    assert len(cross) == 1 and cross["mass"].iloc[0] == 0  # a cross-attention layer: text sees the image only


def test_region_mass_equals_a_hand_computation_from_the_attention_tensor(tmp_path):
    backend = volta(tmp_path, "uniter")
    example = _examples(1)[0]
    frame = phrase_attention(backend, example, 0)
    item = prepare(backend, example, 0)
    item = dataclasses.replace(item, rows=[item.rows[0]], region_positions=np.zeros(0, dtype=np.int64))
    inputs = backend.volta_inputs(collate([item]))
    model = backend.model
    with torch.no_grad():
        t, v = model.bert.embeddings(inputs["input_ids"], inputs["image_feat"], inputs["image_loc"],
                                     inputs["token_type_ids"])  # fmt: skip
        x = torch.cat([t, v], 1)
        n_text = t.shape[1]
        mask = torch.cat([inputs["attention_mask"], inputs["image_attention_mask"]], 1).float()
        bias = (1 - mask)[:, None, None, :] * -10000.0
        tensors = []
        for sublayer in model.bert.encoder.layer:
            attention = getattr(sublayer, "attention_self", None)
            if attention is not None:  # the attention tensor, by hand: softmax(q k^T / sqrt(d) + mask)
                heads = attention.heads
                q, k = (f(x).view(1, x.shape[1], heads, -1).transpose(1, 2) for f in (attention.query, attention.key))
                tensors.append(torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5 + bias, -1)[0])
            x = sublayer.joint(x, bias)
    phrase = list(item.encoded.phrase_positions)
    for layer, probs in enumerate(tensors):  # probs (heads, L, L)
        for head in range(probs.shape[0]):
            expected = probs[head, phrase, n_text + 1 :].mean(0).numpy()  # regions after the global row
            got = frame[(frame["layer"] == layer) & (frame["head"] == head) & (frame["key"] == "region")]
            np.testing.assert_allclose(got.sort_values("region")["mass"].to_numpy(), expected, atol=1e-5)
            glob = frame[(frame["layer"] == layer) & (frame["head"] == head) & (frame["key"] == "global")]
            assert glob["mass"].iloc[0] == pytest.approx(float(probs[head, phrase, n_text].mean()), abs=1e-5)


@pytest.mark.parametrize("arch", ["uniter", "lxmert", "vilbert"])
def test_keeping_attention_leaves_the_outputs_unchanged(tmp_path, arch):
    backend = volta(tmp_path, arch)
    item = prepare(backend, _examples(1)[0], 0)
    inputs = backend.volta_inputs(collate([item]))
    with torch.no_grad():
        fused = backend.model(**inputs)
        collected = []
        kept = backend.model(**inputs, attentions=collected)
    assert collected
    torch.testing.assert_close(kept.text_logits, fused.text_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(kept.region_logits, fused.region_logits, rtol=1e-4, atol=1e-4)


def test_builtin_layers_one_by_one_equal_the_fused_encoder():
    demo, dataset = registry.load_model("demo"), registry.load_dataset("demo")
    batch = collate([prepare(demo, dataset[0], 0)])
    from vlexplore.models.common import regions_with_global_row

    feats, boxes, mask = regions_with_global_row(batch.visual, box_dtype=torch.float32)
    args = (batch.input_ids, batch.attention_mask, feats, boxes, mask)
    with torch.no_grad():
        fused = demo.network.encode(*args)
        collected = []
        kept = demo.network.encode(*args, attentions=collected)
    assert len(collected) == demo.config.layers
    for a, b in zip(fused, kept, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_a_model_without_attention_is_named():
    with pytest.raises(ValueError, match="tiny does not expose its attention"):
        phrase_attention(TinyVL(), make_example(0), 0)


def test_hugging_face_lxmert_and_visualbert_give_their_attention(lxmert_dir, visualbert_dir):  # noqa: F811
    from test_hf import region_batch

    for directory, text_keys in ((lxmert_dir, False), (visualbert_dir, True)):
        model = registry.load_model(f"hf:{directory}", device="cpu")
        assert model.has_attention
        batch = region_batch(model.tokenizer, num_regions=5, rows=2)
        attention = model.text_attention(batch)
        total = attention.to_text + attention.to_global + attention.to_regions.sum(-1)
        torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-5)
        assert attention.to_regions.shape[-1] == 5 and (attention.to_global == 0).all()
        assert bool((attention.to_text > 0).any()) == text_keys  # LXMERT's cross layers see the image only
