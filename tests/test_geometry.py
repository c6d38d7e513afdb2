import numpy as np
import pytest

from vlexplore import geometry
from vlexplore.protocol import PAPER, AblationSettings, align_regions
from vlexplore.records import Phrase


def test_boxes_touching_at_one_pixel_share_that_pixel():
    a, b = [[0, 0, 9, 9]], [[9, 9, 18, 18]]
    assert geometry.intersection(a, b)[0, 0] == 1
    assert geometry.iou(a, b)[0, 0] == pytest.approx(1 / 199)
    assert geometry.iot(a, b)[0, 0] == pytest.approx(1 / 100)


def test_adjacent_boxes_do_not_overlap():
    assert geometry.iou([[0, 0, 9, 9]], [[10, 0, 19, 9]])[0, 0] == 0


def test_nested_boxes():
    inner, outer = [[0, 0, 9, 9]], [[0, 0, 19, 19]]
    assert geometry.iou(inner, outer)[0, 0] == pytest.approx(100 / 400)
    assert geometry.iot(outer, inner)[0, 0] == 1.0  # the region covers the whole target
    assert geometry.iot(inner, outer)[0, 0] == pytest.approx(0.25)


def test_shapes_are_n_by_k():
    regions = np.array([[0, 0, 9, 9], [5, 5, 14, 14], [20, 20, 29, 29]])
    targets = np.array([[0, 0, 9, 9], [20, 20, 24, 24]])
    assert geometry.iou(regions, targets).shape == (3, 2)
    assert geometry.iot(regions, targets).shape == (3, 2)
    # intersection of [5,5,14,14] and [0,0,9,9] is 5x5
    assert geometry.iot(regions, targets)[1, 0] == pytest.approx(25 / 100)


def test_threshold_is_strict():
    target = [[0, 0, 9, 9]]
    half = [[0, 0, 4, 9]]  # covers exactly 50 of the target's 100 pixels
    assert geometry.iot(half, target)[0, 0] == 0.5
    assert geometry.aligned_regions(half, target, 0.5).tolist() == []
    assert geometry.aligned_regions(half, target, 0.49).tolist() == [0]


def test_several_gold_boxes_align_to_any():
    regions = np.array([[0, 0, 9, 9], [50, 50, 59, 59], [100, 100, 109, 109]])
    gold = np.array([[0, 0, 9, 9], [50, 50, 59, 59]])  # "two men"
    assert geometry.aligned_regions(regions, gold).tolist() == [0, 1]


def test_target_is_highest_iou_among_aligned():
    gold = np.array([[10, 10, 19, 19]])
    regions = np.array([
        [0, 0, 99, 99],    # covers the target fully but IoU is tiny
        [9, 9, 20, 20],    # covers it with a small margin: high IoU
        [10, 10, 14, 19],  # covers half: not aligned
    ])
    aligned = geometry.aligned_regions(regions, gold)
    assert aligned.tolist() == [0, 1]
    assert geometry.target_region(regions, gold, aligned) == 1
    assert geometry.target_region(regions, gold, np.array([], dtype=int)) is None


def test_iou_alignment_option():
    gold = [[10, 10, 19, 19]]
    regions = np.array([[0, 0, 99, 99], [9, 9, 20, 20]])
    phrase = Phrase("x", 0, 1, boxes=gold)
    assert align_regions(regions, phrase, PAPER).aligned.tolist() == [0, 1]
    assert align_regions(regions, phrase, AblationSettings(alignment="iou")).aligned.tolist() == [1]


def test_encode_boxes_matches_volta_layout():
    encoded = geometry.encode_boxes([[0, 0, 49, 19]], (100, 40))
    assert encoded[0].tolist() == pytest.approx([0.0, 0.0, 0.49, 19 / 40, 49 * 19 / 4000])
    assert geometry.encode_boxes([[0, 0, 49, 19]], (100, 40), with_area=False).shape == (1, 4)


def test_patches_under_boxes_rule():
    # a 4x4 grid of 10-pixel patches over a 40x40 image
    patches = np.array([[x, y, x + 9, y + 9] for y in range(0, 40, 10) for x in range(0, 40, 10)])
    mask = geometry.patches_under_boxes(patches, [[0, 0, 14, 9]])  # one full patch, half of the next
    assert np.flatnonzero(mask).tolist() == [0, 1]
    small = geometry.patches_under_boxes(patches, [[22, 22, 24, 24]])  # inside patch 10
    assert np.flatnonzero(small).tolist() == [10]
