import math
import warnings

import numpy as np
import pytest
import torch
from tiny import TinyVL, make_example

from vlexplore.diagnostics import label_agreement, results_frame, summarize, summary_frame
from vlexplore.engine import diagnose, diagnose_dataset
from vlexplore.protocol import AblationSettings
from vlexplore.records import Example, ExampleSet, Phrase


@pytest.fixture(scope="module")
def model():
    return TinyVL()


def test_six_conditions_come_from_one_forward(model):
    example = make_example()
    model.calls = 0
    result = diagnose(model, example, 0)
    assert model.calls == 1
    batch = model.last_batch
    assert batch.size == 6
    mask = model.tokenizer.mask_token_id
    ids = batch.input_ids
    phrase_positions = batch.text_positions[0].tolist()
    assert phrase_positions == [1, 2, 3]  # "a tall man" after [CLS]
    for row in range(3):  # vis4lang: phrase masked in all three
        assert (ids[row, phrase_positions] == mask).all()
    assert not (ids[3] == mask).any()  # lang4vis none
    assert torch.equal(ids[4], ids[0])  # lang4vis phrase == masked phrase
    n = int(batch.attention_mask[5].sum())
    assert (ids[5, 1 : n - 1] == mask).all() and ids[5, 0] != mask and ids[5, n - 1] != mask
    assert set(result.scores) == {"vis4lang", "lang4vis"}
    assert all(math.isfinite(v) for side in result.scores.values() for v in side.values())


def test_regions_in_each_condition(model):
    example = make_example()
    average = np.full(8, 3.0, dtype=np.float32)
    result = diagnose(model, example, 0, average_feature=average)
    visual = model.last_batch.visual
    aligned = result.alignment.aligned.tolist()
    assert aligned == [0, 1, 5]
    original = torch.from_numpy(example.regions.features)
    assert torch.equal(visual.features[0], original)
    assert torch.equal(visual.features[1, aligned], torch.full((3, 8), 3.0))
    others = [2, 3, 4]
    assert torch.equal(visual.features[1, others], original[others])
    assert torch.equal(visual.features[2], torch.full((6, 8), 3.0))
    for row in (3, 4, 5):
        assert not visual.features[row, aligned].any()
        assert torch.allclose(visual.global_features[row], original.mean(0), atol=1e-6)
    assert torch.allclose(visual.global_features[1], visual.features[1].mean(0), atol=1e-6)
    assert result.alignment.target == 0
    assert model.last_batch.region_positions[:, 0].tolist() == [0] * 6


def test_frames_are_tidy(model):
    result = diagnose(model, make_example(), 1, all_regions=True)
    assert set(result.tokens["condition"]) == {"none", "object", "all"}
    assert len(result.tokens) == 3 * result.result.n_tokens
    assert result.tokens.groupby("condition")["mlm_bits"].mean().to_dict() == pytest.approx(
        result.scores["vis4lang"])
    assert len(result.regions) == 3 * 6  # every region under each lang4vis condition
    target_rows = result.regions[result.regions["target"]]
    assert target_rows.set_index("condition")["mrc_kl_bits"].to_dict() == pytest.approx(result.scores["lang4vis"])
    assert (result.topk.groupby(["position", "condition"]).size() == 5).all()


def test_phrase_without_box_is_refused(model):
    with pytest.raises(ValueError, match="'the park' has no gold box"):
        diagnose(model, make_example(), 2)


def test_no_aligned_region_explains_missing_lang4vis(model):
    example = make_example()
    example.phrases[0] = Phrase.find(example.caption, "A tall man", boxes=[[60, 70, 99, 79]])
    result = diagnose(model, example, 0, settings=AblationSettings(alignment="iou"))
    assert "no detector region overlaps" in result.lang4vis_note
    assert math.isnan(result.scores["lang4vis"]["none"])
    assert model.last_batch.size == 3


def test_long_caption_truncates_with_warning(model):
    long_caption = "A tall man walks a small dog " + " ".join(["very"] * 60) + " happily ."
    example = make_example(caption=long_caption)
    result = diagnose(model, example, 0)
    assert any("more than this model's limit of 38" in w for w in result.warnings)
    example.phrases.append(Phrase.find(long_caption, "happily", boxes=[[0, 0, 5, 5]]))
    with pytest.raises(ValueError, match="falls beyond the model's 38-token limit"):
        diagnose(model, example, len(example.phrases) - 1)


def test_wrong_feature_size_is_named(model):
    with pytest.raises(ValueError, match="region features are 4-d but tiny expects 8-d"):
        diagnose(model, make_example(feature_dim=4), 0)


def test_dataset_loop_matches_single_calls_and_skips_loudly(model):
    examples = [make_example(seed) for seed in range(4)]
    long_caption = "A tall man walks a small dog " + " ".join(["very"] * 60) + " in the park ."
    bad = make_example(9, caption=long_caption)
    bad.phrases = [Phrase.find(long_caption, "the park", boxes=[[0, 0, 5, 5]])]
    dataset = ExampleSet("tiny", examples + [bad])
    skipped = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.calls = 0
        results = list(diagnose_dataset(model, dataset, batch_size=3, progress=False, skipped=skipped))
    assert model.calls == 3  # 8 phrases in batches of 3
    assert len(results) == 8 and len(skipped) == 1 and "ex9 phrase 0" in skipped[0]
    average = dataset.average_region_feature()
    single = diagnose(model, examples[2], 1, average_feature=average)
    batched = next(r for r in results if r.example_id == "ex2" and r.phrase_index == 1)
    assert batched.mlm_bits_object == pytest.approx(single.result.mlm_bits_object, rel=1e-4)
    assert batched.mrc_kl_bits_all == pytest.approx(single.result.mrc_kl_bits_all, rel=1e-4)
    summary = summarize(results)
    assert summary["n"] == 8
    assert summary["vis4lang"]["all"] == pytest.approx(np.mean([r.mlm_bits_all for r in results]))
    assert len(results_frame(results)) == 8
    assert len(summary_frame(summary)) == 6
    agreement = label_agreement(results)
    assert agreement["n"] == 8 and 0 <= agreement["top1"] <= agreement["top5"] <= 1


def test_settings_change_alignment(model):
    example = make_example()
    strict = diagnose(model, example, 0, settings=AblationSettings(threshold=0.9))
    assert strict.alignment.aligned.tolist() == [0, 5]


def test_pixel_model_gets_patch_masks():
    from vlexplore.models.base import VLModel, VLOutput

    class Pixels(VLModel):
        name = "pixels"
        input_kind = "pixels"

        def __init__(self):
            super().__init__()
            from vlexplore.text import bert_tokenizer

            self.tokenizer = bert_tokenizer()
            self.batch = None

        def patch_boxes(self, image_size):
            w, h = image_size
            return np.array([[x, y, x + 9, y + 9] for y in range(0, h, 10) for x in range(0, w, 10)], float)

        def forward(self, batch):
            self.batch = batch
            return VLOutput(torch.zeros(batch.size, batch.text_positions.shape[1], len(self.tokenizer)))

    model = Pixels()
    image = np.zeros((20, 40, 3), dtype=np.uint8)
    example = Example("p", "a red ball", [Phrase("red ball", 1, 2, boxes=[[0, 0, 19, 9]])], (40, 20), image=image)
    result = diagnose(model, example, 0)
    masks = model.batch.visual.patch_ablation
    assert masks.shape == (3, 8)
    assert masks[0].sum() == 0 and masks[2].all()
    assert np.flatnonzero(masks[1].numpy()).tolist() == [0, 1]
    assert "no region-classification head" in result.lang4vis_note


def test_baseline_recorded_for_each_path(model):
    example = make_example()
    average = np.full(8, 3.0, dtype=np.float32)
    paper = diagnose(model, example, 0, average_feature=average)
    assert paper.baseline.source == "dataset average" and paper.result.baseline == "dataset average"
    assert paper.is_paper and paper.protocol_label == "paper"
    own = diagnose(model, example, 0)  # no dataset average: the image's own mean stands in
    assert own.baseline.source == "image mean" and own.result.baseline == "image mean"
    assert own.settings.is_paper and not own.is_paper  # paper settings, yet not the paper's baseline
    assert own.protocol_label == "not the paper's protocol: baseline image mean (paper: dataset average)"
    assert torch.allclose(model.last_batch.visual.features[2], torch.from_numpy(example.regions.features).mean(0))
    zero = diagnose(model, example, 0, settings=AblationSettings(baseline="zero"), average_feature=average)
    assert zero.baseline.source == "zero" and not zero.is_paper
    assert not model.last_batch.visual.features[2].any()


def test_dataset_run_records_its_baseline(model):
    examples = [make_example(seed) for seed in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_set = list(diagnose_dataset(model, ExampleSet("tiny", examples), progress=False))
        from_list = list(diagnose_dataset(model, examples, progress=False))
        zero = list(diagnose_dataset(model, ExampleSet("tiny", examples), AblationSettings(baseline="zero"),
                                     progress=False))
    assert {r.baseline for r in from_set} == {"dataset average"} and all(r.is_paper for r in from_set)
    assert {r.baseline for r in from_list} == {"image mean"} and not any(r.is_paper for r in from_list)
    assert {r.baseline for r in zero} == {"zero"} and not any(r.is_paper for r in zero)
    assert summarize(from_set)["is_paper"] and summarize(from_set)["baseline"] == "dataset average"
    summary = summarize(from_list)
    assert not summary["is_paper"] and summary["baseline"] == "image mean"
    assert summary["departures"] == ["baseline image mean (paper: dataset average)"]
    frame = results_frame(from_list)
    assert set(frame["baseline"]) == {"image mean"} and not frame["is_paper"].any()


class CausalFake(TinyVL):
    """A generative-style model: causal readout, no region head, its own prompt around the caption."""

    name = "causal-fake"
    readout = "causal"

    def __init__(self):
        super().__init__()
        self.region_class_names = None
        self.encoded_captions = []

    def encode_caption(self, caption, phrase):
        from vlexplore.text import encode_caption

        self.encoded_captions.append(caption)
        return encode_caption(self.tokenizer, "describe : " + caption, Phrase(
            phrase.text, phrase.first_word + 2, phrase.num_words, boxes=phrase.boxes), self.max_text_length)


def test_causal_model_reads_the_phrase_unmasked_through_its_own_encoding():
    model = CausalFake()
    example = make_example()
    result = diagnose(model, example, 0, average_feature=np.zeros(8, np.float32))
    assert model.encoded_captions == [example.caption]  # the engine asked the model to encode
    batch = model.last_batch
    assert batch.size == 3  # vis4lang only
    tokens = model.tokenizer.convert_ids_to_tokens(batch.input_ids[0].tolist())
    assert tokens[1:3] == ["describe", ":"]
    positions = batch.text_positions[0].tolist()
    assert [tokens[p] for p in positions] == ["a", "tall", "man"]
    assert not (batch.input_ids == model.tokenizer.mask_token_id).any()  # teacher forcing: nothing masked
    assert torch.equal(batch.input_ids[0], batch.input_ids[2])
    assert "causal" in result.lang4vis_note and math.isnan(result.scores["lang4vis"]["none"])
    assert result.tokens["token"].tolist()[:3] == ["a", "tall", "man"]
