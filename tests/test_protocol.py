from types import SimpleNamespace

import numpy as np
import pytest

from vlexplore.protocol import (
    BLANK_PATCH,
    PAPER,
    AblationSettings,
    PatchRow,
    align_patches,
    align_regions,
    decide_sides,
    lang4vis_regions,
    mask_text,
    paper_departures,
    protocol_label,
    resolve_baseline,
    text_for_conditions,
    vis4lang_patches,
    vis4lang_regions,
)
from vlexplore.records import Phrase, Regions

rng = np.random.default_rng(0)
FEATURES = rng.normal(size=(6, 4)).astype(np.float32)
AVERAGE = np.full(4, 7.0, dtype=np.float32)
ALIGNED = np.array([1, 4])


def test_object_replaces_exactly_the_aligned_rows():
    rows = vis4lang_regions(FEATURES, ALIGNED, AVERAGE, PAPER)
    assert np.array_equal(rows["object"].features[ALIGNED], np.tile(AVERAGE, (2, 1)))
    untouched = np.setdiff1d(np.arange(6), ALIGNED)
    assert np.array_equal(rows["object"].features[untouched], FEATURES[untouched])
    assert np.flatnonzero(rows["object"].ablated).tolist() == [1, 4]
    assert np.array_equal(rows["none"].features, FEATURES) and not rows["none"].ablated.any()
    assert np.array_equal(rows["all"].features, np.tile(AVERAGE, (6, 1))) and rows["all"].ablated.all()


def test_vis4lang_recomputes_the_global_feature():
    rows = vis4lang_regions(FEATURES, ALIGNED, AVERAGE, PAPER)
    for condition in ("none", "object", "all"):
        assert rows[condition].global_feature == pytest.approx(rows[condition].features.mean(axis=0), abs=1e-6)
    frozen = vis4lang_regions(FEATURES, ALIGNED, AVERAGE, AblationSettings(recompute_global_vis4lang=False))
    assert frozen["all"].global_feature == pytest.approx(FEATURES.mean(axis=0), abs=1e-6)


def test_zero_baseline_option():
    baseline = resolve_baseline(FEATURES, AblationSettings(baseline="zero"), AVERAGE)
    assert baseline.source == "zero" and not baseline.is_paper
    rows = vis4lang_regions(FEATURES, ALIGNED, baseline.vector)
    assert not rows["object"].features[ALIGNED].any()


def test_baseline_records_what_it_used():
    average = resolve_baseline(FEATURES, PAPER, AVERAGE)
    assert average.source == "dataset average" and average.is_paper
    assert np.array_equal(average.vector, AVERAGE)
    image_mean = resolve_baseline(FEATURES, PAPER, None)  # no dataset: the image's own mean stands in
    assert image_mean.source == "image mean" and not image_mean.is_paper
    assert image_mean.vector == pytest.approx(FEATURES.mean(axis=0), abs=1e-6)
    with pytest.raises(ValueError, match="4-d features"):
        resolve_baseline(FEATURES, PAPER, np.zeros(3))
    assert BLANK_PATCH.source == "blank patch" and not BLANK_PATCH.is_paper


def test_departures_name_settings_and_baseline():
    assert paper_departures(PAPER, "dataset average") == ()
    assert protocol_label(()) == "paper"
    assert paper_departures(PAPER, "image mean") == ("baseline image mean (paper: dataset average)",)
    zero = paper_departures(AblationSettings(baseline="zero", threshold=0.7), "zero")
    assert zero == ("baseline zero (paper: dataset average)", "threshold 0.7 (paper: 0.5)")
    assert protocol_label(zero).startswith("not the paper's protocol: baseline zero")


def test_lang4vis_zeroes_aligned_and_keeps_the_original_global():
    row = lang4vis_regions(FEATURES, ALIGNED, PAPER)
    assert not row.features[ALIGNED].any()
    assert np.array_equal(row.features[[0, 2, 3, 5]], FEATURES[[0, 2, 3, 5]])
    assert row.global_feature == pytest.approx(FEATURES.mean(axis=0), abs=1e-6)  # the paper's leak
    recomputed = lang4vis_regions(FEATURES, ALIGNED, AblationSettings(recompute_global_lang4vis=True))
    assert recomputed.global_feature == pytest.approx(row.features.mean(axis=0), abs=1e-6)
    assert row.ablated.sum() == 2


def test_text_conditions_keep_length_and_special_tokens():
    ids = [101, 11, 12, 13, 14, 102]
    texts = text_for_conditions(ids, phrase_positions=(2, 3), caption_positions=(1, 2, 3, 4), mask_id=103)
    assert texts[("vis4lang", "none")].tolist() == [101, 11, 103, 103, 14, 102]
    assert all(np.array_equal(texts[("vis4lang", c)], texts[("vis4lang", "none")]) for c in ("object", "all"))
    assert texts[("lang4vis", "none")].tolist() == ids
    assert texts[("lang4vis", "phrase")].tolist() == [101, 11, 103, 103, 14, 102]
    assert texts[("lang4vis", "all")].tolist() == [101, 103, 103, 103, 103, 102]
    assert mask_text(ids, [], 103).tolist() == ids


def test_causal_readout_keeps_the_phrase_and_has_no_lang4vis_rows():
    ids = [1, 11, 12, 13, 2]
    texts = text_for_conditions(ids, (2, 3), (1, 2, 3), mask_id=None, readout="causal")
    assert set(texts) == {("vis4lang", c) for c in ("none", "object", "all")}
    assert all(t.tolist() == ids for t in texts.values())
    with pytest.raises(ValueError, match="needs the tokenizer's \\[MASK\\] id"):
        text_for_conditions(ids, (2, 3), (1, 2, 3), mask_id=None)


def test_patches_record_coverage_not_a_mask():
    patches = np.array([[x, 0, x + 9, 9] for x in range(0, 40, 10)], dtype=float)
    phrase = Phrase("ball", 0, 1, boxes=[[0, 0, 14, 9]])  # all of patch 0, half of patch 1
    alignment = align_patches(patches, phrase, PAPER)
    assert alignment.overlap.tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert alignment.aligned.tolist() == [0, 1] and alignment.target is None
    assert alignment.measure == "patch coverage"
    rows = vis4lang_patches(len(patches), alignment.aligned)
    assert all(isinstance(row, PatchRow) for row in rows.values())
    assert rows["object"].ablated.tolist() == [True, True, False, False]
    strict = align_patches(patches, phrase, AblationSettings(patch_coverage=0.6))
    assert strict.aligned.tolist() == [0]


def _traits(**overrides):
    traits = dict(name="m", input_kind="regions", readout="mlm", has_region_head=True)
    return SimpleNamespace(**{**traits, **overrides})


def test_sides_say_why_lang4vis_does_not_apply():
    boxes = np.array([[0, 0, 9, 9], [20, 20, 29, 29]], dtype=float)
    regions = Regions(boxes=boxes, features=np.zeros((2, 4), np.float32), image_size=(40, 40),
                      cls_prob=np.full((2, 3), 1 / 3))
    phrase = Phrase("cat", 0, 1, boxes=[[0, 0, 9, 9]])
    alignment = align_regions(boxes, phrase)
    assert decide_sides(_traits(), regions, alignment).lang4vis
    both = decide_sides(_traits(), regions, alignment).conditions
    assert both == [("vis4lang", "none"), ("vis4lang", "object"), ("vis4lang", "all"),
                    ("lang4vis", "none"), ("lang4vis", "phrase"), ("lang4vis", "all")]
    causal = decide_sides(_traits(readout="causal", has_region_head=False), regions, alignment)
    assert not causal.lang4vis and "causal" in causal.lang4vis_note and len(causal.conditions) == 3
    headless = decide_sides(_traits(has_region_head=False), regions, alignment)
    assert "no region-classification head" in headless.lang4vis_note
    no_probs = Regions(boxes=boxes, features=np.zeros((2, 4), np.float32), image_size=(40, 40))
    assert "cls_prob" in decide_sides(_traits(), no_probs, alignment).lang4vis_note
    missed = align_regions(boxes, Phrase("sky", 0, 1, boxes=[[10, 10, 19, 19]]))
    assert "no detector region overlaps" in decide_sides(_traits(), regions, missed).lang4vis_note
    assert decide_sides(_traits(), regions, missed, all_regions=True).lang4vis


def test_settings_validate():
    with pytest.raises(ValueError, match="threshold"):
        AblationSettings(threshold=1.5)
    with pytest.raises(ValueError, match="baseline"):
        AblationSettings(baseline="mean")
    assert PAPER.is_paper and not AblationSettings(threshold=0.3).is_paper
