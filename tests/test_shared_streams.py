"""Dual-stream VOLTA models (LXMERT, ViLBERT) compute each distinct unimodal input once:
results equal the unshared computation to 1e-5."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from vlexplore.assets import vg_classes
from vlexplore.engine import diagnose_dataset
from vlexplore.inputs import collate, prepare
from vlexplore.models.volta import VoltaBackend, VoltaConfig, VoltaForPretraining
from vlexplore.models.volta import modules as volta_modules
from vlexplore.models.volta.modules import distinct_rows
from vlexplore.protocol import AblationSettings
from vlexplore.records import Example, ExampleSet, Phrase, Regions

SCORES = ("mlm_bits_none", "mlm_bits_object", "mlm_bits_all", "mrc_kl_bits_none", "mrc_kl_bits_phrase", "mrc_kl_bits_all")
CAPTIONS = (
    "a man in a red shirt throws a frisbee to a brown dog on the beach .",
    "the dog jumps over a small fence near a woman .",
)


def small_model(arch: str) -> VoltaBackend:
    """Every sublayer of the layout (so the text-only and vision-only prefix is there), small widths."""
    config = VoltaConfig.for_arch(arch).replace(
        hidden_size=32, v_hidden_size=32, num_attention_heads=2, v_num_attention_heads=2,
        intermediate_size=64, v_intermediate_size=64, pooler_size=16, v_pooler_size=16, v_feature_size=24,
    )  # fmt: skip
    torch.manual_seed(0)
    network = VoltaForPretraining(config).eval()
    with torch.no_grad():  # LayerNorm gains of 1 and zero biases would hide wiring mistakes
        for parameter in network.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return VoltaBackend(network, arch, source="random", device="cpu")


def examples() -> list[Example]:
    """3 images x 2 captions x 3 phrases: several phrases per sentence and per image."""
    out = []
    for image in range(3):
        rng = np.random.default_rng(image)
        boxes = np.array([[10, 10, 60, 90], [200, 100, 300, 200], [100, 50, 180, 160], [0, 0, 319, 239],
                          [250, 150, 310, 230], [20, 120, 90, 220]], dtype=float)  # fmt: skip
        regions = Regions(boxes=boxes, features=rng.random((6, 24), dtype=np.float32), image_size=(320, 240),
                          cls_prob=rng.dirichlet(np.ones(1601), size=6), class_names=vg_classes())
        for c, caption in enumerate(CAPTIONS):
            words = ("a man", "a frisbee", "a brown dog") if c == 0 else ("the dog", "a small fence", "a woman")
            phrases = [Phrase.find(caption, w, boxes=[boxes[i].tolist()]) for i, w in enumerate(words)]
            out.append(Example(f"i{image}c{c}", caption, phrases, image_size=(320, 240), regions=regions))
    return out


def _scores(model: VoltaBackend, shared: bool, **options) -> np.ndarray:
    model.model.bert.share_unimodal = shared
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = list(diagnose_dataset(model, ExampleSet("s", examples()), progress=False, batch_size=6, **options))
    assert len(results) == 18
    return np.array([[getattr(r, s) for s in SCORES] for r in results])


@pytest.mark.parametrize("arch", ["lxmert", "vilbert"])
@pytest.mark.parametrize("baseline", ["average", "zero"])
def test_shared_streams_equal_the_unshared_computation(arch, baseline):
    model = small_model(arch)
    settings = AblationSettings(baseline=baseline)
    shared, unshared = _scores(model, True, settings=settings), _scores(model, False, settings=settings)
    assert np.isfinite(shared).all()
    np.testing.assert_allclose(shared, unshared, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["lxmert", "vilbert"])
def test_each_distinct_unimodal_input_runs_once(arch):
    model = small_model(arch)
    bert = model.model.bert
    items = [prepare(model, ex, j) for ex in examples()[:2] for j in range(3)]  # one image, two sentences
    batch = collate(items)
    seen = {}
    hook = bert.encoder.layer[0].register_forward_hook(lambda m, i, o: seen.update(t=i[0].shape[0], v=i[1].shape[0]))
    try:
        with torch.no_grad():
            out_shared = model.forward(batch)
            rows = dict(seen)
            bert.share_unimodal = False
            out_plain = model.forward(batch)
    finally:
        hook.remove()
    assert batch.size == 36 and seen == {"t": 36, "v": 36}
    # texts: per sentence the unmasked, the all-masked and one phrase-masked caption per phrase
    assert rows["t"] == 2 * (2 + 3)
    # regions: the unablated, the all-replaced, and per phrase the object-replaced and the
    # aligned-zeroed ones (the two sentences' phrases align with the same three regions)
    assert rows["v"] == 2 + 3 * 2
    torch.testing.assert_close(out_shared.text_logits, out_plain.text_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_shared.region_logits, out_plain.region_logits, rtol=1e-5, atol=1e-5)


def test_single_stream_models_do_not_take_the_shared_path():
    config = VoltaConfig.for_arch("uniter").keep_last_sublayers(2)
    assert not VoltaForPretraining(config).bert.share_unimodal
    assert VoltaForPretraining(VoltaConfig.for_arch("lxmert").keep_last_sublayers(4)).bert.encoder.unimodal_depth == 1
    assert VoltaForPretraining(VoltaConfig.for_arch("lxmert")).bert.encoder.unimodal_depth == 18


def test_distinct_rows_groups_exact_inputs_in_order_of_first_appearance():
    features = torch.rand(3, 4, 5)
    features[2, 1, 3] = features[0, 1, 3] + 1e-7  # differs from row 0 in one element only
    rows = torch.tensor([1, 0, 1, 2, 0])
    boxes = torch.rand(3, 4, 2)[rows]
    first, inverse = distinct_rows(features[rows], boxes, torch.ones(5, 4, dtype=torch.long))
    assert first.tolist() == [0, 1, 3] and inverse.tolist() == [0, 1, 0, 2, 1]
    zeros = torch.tensor([[0.0], [-0.0], [float("nan")], [float("nan")]])  # compared bit for bit
    assert distinct_rows(zeros)[1].tolist() == [0, 1, 2, 2]


def test_distinct_rows_survives_hash_collisions(monkeypatch):
    """Every row hashed alike: the check against each group's first row falls back to whole rows."""
    monkeypatch.setattr(volta_modules, "_row_hash", lambda bits: torch.zeros(bits[0].shape[0], dtype=torch.long))
    ids = torch.tensor([[5, 6, 7], [5, 6, 8], [5, 6, 7], [1, 2, 3]])
    first, inverse = distinct_rows(ids, torch.ones_like(ids))
    assert first.tolist() == [0, 1, 3] and inverse.tolist() == [0, 1, 0, 2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a lent GPU machine)")
@pytest.mark.parametrize("arch", ["uniter", "lxmert"])
def test_a_gpu_run_at_fp32_equals_the_cpu_run(arch):
    """The GPU path: logits scored on the device, the next window prepared on a second thread."""
    model = small_model(arch)
    dataset = ExampleSet("gpu", examples() * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_cpu = list(diagnose_dataset(model, dataset, batch_size=2, progress=False))
        on_gpu = list(diagnose_dataset(model, dataset, batch_size=2, progress=False, device="cuda"))
    assert model.device.type == "cuda" and len(on_gpu) == len(on_cpu) == 72
    assert [(r.example_id, r.phrase_index) for r in on_gpu] == [(r.example_id, r.phrase_index) for r in on_cpu]
    got, want = ([[getattr(r, s) for s in SCORES] for r in rs] for rs in (on_gpu, on_cpu))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
