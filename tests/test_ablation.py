import numpy as np
import pytest

from vlexplore.ablation import (
    PAPER,
    AblationSettings,
    lang4vis_regions,
    mask_text,
    text_for_conditions,
    vis4lang_regions,
)

rng = np.random.default_rng(0)
FEATURES = rng.normal(size=(6, 4)).astype(np.float32)
AVERAGE = np.full(4, 7.0, dtype=np.float32)
ALIGNED = np.array([1, 4])


def test_object_replaces_exactly_the_aligned_rows():
    rows = vis4lang_regions(FEATURES, ALIGNED, PAPER, AVERAGE)
    features, _, ablated = rows["object"]
    assert np.array_equal(features[ALIGNED], np.tile(AVERAGE, (2, 1)))
    untouched = np.setdiff1d(np.arange(6), ALIGNED)
    assert np.array_equal(features[untouched], FEATURES[untouched])
    assert np.flatnonzero(ablated).tolist() == [1, 4]
    assert np.array_equal(rows["none"][0], FEATURES)
    assert np.array_equal(rows["all"][0], np.tile(AVERAGE, (6, 1)))


def test_vis4lang_recomputes_the_global_feature():
    rows = vis4lang_regions(FEATURES, ALIGNED, PAPER, AVERAGE)
    for condition in ("none", "object", "all"):
        features, glob, _ = rows[condition]
        assert glob == pytest.approx(features.mean(axis=0), abs=1e-6)
    frozen = vis4lang_regions(FEATURES, ALIGNED, AblationSettings(recompute_global_vis4lang=False), AVERAGE)
    assert frozen["all"][1] == pytest.approx(FEATURES.mean(axis=0), abs=1e-6)


def test_zero_baseline_option():
    rows = vis4lang_regions(FEATURES, ALIGNED, AblationSettings(baseline="zero"))
    assert not rows["object"][0][ALIGNED].any()


def test_average_baseline_needs_the_average():
    with pytest.raises(ValueError, match="average_feature"):
        vis4lang_regions(FEATURES, ALIGNED, PAPER, None)
    with pytest.raises(ValueError, match="4-d features"):
        vis4lang_regions(FEATURES, ALIGNED, PAPER, np.zeros(3))


def test_lang4vis_zeroes_aligned_and_keeps_the_original_global():
    features, glob, ablated = lang4vis_regions(FEATURES, ALIGNED, PAPER)
    assert not features[ALIGNED].any()
    assert np.array_equal(features[[0, 2, 3, 5]], FEATURES[[0, 2, 3, 5]])
    assert glob == pytest.approx(FEATURES.mean(axis=0), abs=1e-6)  # the paper's leak
    _, recomputed, _ = lang4vis_regions(FEATURES, ALIGNED, AblationSettings(recompute_global_lang4vis=True))
    assert recomputed == pytest.approx(features.mean(axis=0), abs=1e-6)
    assert ablated.sum() == 2


def test_text_conditions_keep_length_and_special_tokens():
    ids = [101, 11, 12, 13, 14, 102]
    texts = text_for_conditions(ids, phrase_positions=(2, 3), caption_positions=(1, 2, 3, 4), mask_id=103)
    assert texts[("vis4lang", "none")].tolist() == [101, 11, 103, 103, 14, 102]
    assert all(np.array_equal(texts[("vis4lang", c)], texts[("vis4lang", "none")]) for c in ("object", "all"))
    assert texts[("lang4vis", "none")].tolist() == ids
    assert texts[("lang4vis", "phrase")].tolist() == [101, 11, 103, 103, 14, 102]
    assert texts[("lang4vis", "all")].tolist() == [101, 103, 103, 103, 103, 102]
    assert mask_text(ids, [], 103).tolist() == ids


def test_settings_validate():
    with pytest.raises(ValueError, match="threshold"):
        AblationSettings(threshold=1.5)
    with pytest.raises(ValueError, match="baseline"):
        AblationSettings(baseline="mean")
    assert PAPER.is_paper and not AblationSettings(threshold=0.3).is_paper
