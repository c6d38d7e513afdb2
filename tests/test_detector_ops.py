"""The detector's box operations against brute-force loops (the semantics of the C++/caffe kernels)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vlexplore.detector.ops import (
    cell_anchors,
    decode_boxes,
    grid_anchors,
    nms,
    pairwise_iou,
    per_class_nms,
    roi_pool,
    round_half_away,
)


def random_boxes(rng, n, extent=100.0, outside=0.0):
    xy = rng.uniform(-outside, extent + outside, (n, 2))
    wh = rng.uniform(1.0, extent / 2, (n, 2))
    return torch.tensor(np.concatenate([xy, xy + wh], axis=1), dtype=torch.float32)


def loop_iou(a, b, one):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + one)
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + one)
    inter = w * h
    area = lambda r: (r[2] - r[0] + one) * (r[3] - r[1] + one)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def loop_nms(boxes, scores, threshold, one=0.0):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        if all(loop_iou(boxes[i], boxes[k], one) <= threshold for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("plus_one", [False, True])
def test_iou_matches_loop(plus_one):
    rng = np.random.RandomState(0)
    a, b = random_boxes(rng, 7), random_boxes(rng, 5)
    got = pairwise_iou(a, b, plus_one).numpy()
    one = 1.0 if plus_one else 0.0
    want = np.array([[loop_iou(x, y, one) for y in b.tolist()] for x in a.tolist()])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("threshold, plus_one", [(0.3, False), (0.7, False), (0.3, True)])
def test_nms_matches_loop(threshold, plus_one):
    rng = np.random.RandomState(1)
    boxes, scores = random_boxes(rng, 200), torch.tensor(rng.rand(200), dtype=torch.float32)
    keep = nms(boxes, scores, threshold, plus_one=plus_one).tolist()
    assert keep == loop_nms(boxes.tolist(), scores.tolist(), threshold, 1.0 if plus_one else 0.0)
    assert 1 < len(keep) < 200
    # stopping early gives the first k of the full result
    assert nms(boxes, scores, threshold, max_keep=5, plus_one=plus_one).tolist() == keep[:5]


def test_per_class_nms_matches_a_loop_per_class():
    rng = np.random.RandomState(2)
    boxes = random_boxes(rng, 60)
    scores = torch.tensor(rng.rand(60, 9), dtype=torch.float32)
    survives = per_class_nms(boxes, scores, 0.3, plus_one=True)
    for c in range(9):
        kept = loop_nms(boxes.tolist(), scores[:, c].tolist(), 0.3, 1.0)
        want = np.zeros(60, dtype=bool)
        want[kept] = True
        np.testing.assert_array_equal(survives[:, c].numpy(), want, err_msg=f"class {c}")
    assert not survives.all() and survives.any()


def test_round_half_away_from_zero():
    x = torch.tensor([-2.5, -1.5, -0.5, -0.49, 0.0, 0.5, 1.5, 2.5, 2.49999, 3.7])
    assert round_half_away(x).tolist() == [-3, -2, -1, 0, 0, 1, 2, 3, 2, 4]


def loop_roi_pool(features, box, size, scale):
    channels, height, width = features.shape
    f32 = np.float32
    x1, y1, x2, y2 = (float(f32(v) * f32(scale)) for v in box)
    r = lambda v: int(math.copysign(math.floor(abs(v) + 0.5), v))  # noqa: E731
    sw, sh, ew, eh = r(x1), r(y1), r(x2), r(y2)
    bin_h, bin_w = f32(max(eh - sh + 1, 1)) / f32(size), f32(max(ew - sw + 1, 1)) / f32(size)
    out = np.zeros((channels, size, size), dtype=np.float32)
    for ph in range(size):
        hs = min(max(int(math.floor(f32(ph) * bin_h)) + sh, 0), height)
        he = min(max(int(math.ceil(f32(ph + 1) * bin_h)) + sh, 0), height)
        for pw in range(size):
            ws = min(max(int(math.floor(f32(pw) * bin_w)) + sw, 0), width)
            we = min(max(int(math.ceil(f32(pw + 1) * bin_w)) + sw, 0), width)
            if he > hs and we > ws:
                out[:, ph, pw] = features[:, hs:he, ws:we].max(axis=(1, 2))
    return out


def test_roi_pool_matches_loop_including_boxes_off_the_map():
    rng = np.random.RandomState(3)
    features = rng.normal(size=(3, 9, 13)).astype(np.float32)
    boxes = torch.cat([
        random_boxes(rng, 12, extent=200.0, outside=60.0),  # many poke out of the 13x9 map (x16)
        torch.tensor([[-90.0, -90.0, -40.0, -30.0], [300.0, 10.0, 400.0, 60.0],  # entirely off
                      [8.0, 8.0, 8.0, 8.0], [0.0, 0.0, 207.0, 143.0], [24.0, 40.0, 23.0, 39.0]]),
    ])  # fmt: skip
    got = roi_pool(torch.from_numpy(features), boxes, 4, 1.0 / 16).numpy()
    for i, box in enumerate(boxes.tolist()):
        np.testing.assert_array_equal(
            got[i], loop_roi_pool(features, box, 4, 1.0 / 16), err_msg=f"box {box}"
        )
    assert (
        (got[12] == 0).all() and (got[13] == 0).all() and (got[14] != 0).any()
    )  # off the map: all bins empty
    got14 = roi_pool(torch.from_numpy(features), boxes[:4], 14, 1.0 / 16).numpy()
    for i, box in enumerate(boxes[:4].tolist()):
        np.testing.assert_array_equal(got14[i], loop_roi_pool(features, box, 14, 1.0 / 16))


def test_anchors_sizes_ratios_and_grid():
    base = cell_anchors((64, 128), (0.5, 1.0, 2.0))
    widths, heights = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
    np.testing.assert_allclose((widths * heights).numpy(), [64**2] * 3 + [128**2] * 3, rtol=1e-5)
    np.testing.assert_allclose((heights / widths).numpy(), [0.5, 1, 2] * 2, rtol=1e-5)
    np.testing.assert_allclose(((base[:, 0] + base[:, 2]) / 2).numpy(), 0, atol=1e-4)
    grid = grid_anchors(base, 2, 3, 16)
    assert grid.shape == (2 * 3 * 6, 4)
    for row in range(2):
        for col in range(3):
            for a in range(6):  # anchor fastest, then column, then row
                want = base[a] + torch.tensor([16.0 * col, 16.0 * row] * 2)
                torch.testing.assert_close(grid[(row * 3 + col) * 6 + a], want)


def test_box_decoding_matches_the_formula():
    rng = np.random.RandomState(4)
    boxes = random_boxes(rng, 10)
    deltas = torch.tensor(rng.normal(0, 0.5, (10, 8)), dtype=torch.float32)
    deltas[0, 2] = 50.0  # a huge dw is clamped to log(1000/16)
    got = decode_boxes(deltas, boxes, (10.0, 10.0, 5.0, 5.0)).numpy()
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        w, h = x2 - x1, y2 - y1
        cx, cy = x1 + w / 2, y1 + h / 2
        for k in range(2):
            dx, dy, dw, dh = deltas[i, 4 * k : 4 * k + 4].tolist()
            dw, dh = min(dw / 5, math.log(1000 / 16)), min(dh / 5, math.log(1000 / 16))
            pcx, pcy = cx + dx / 10 * w, cy + dy / 10 * h
            pw, ph = math.exp(dw) * w, math.exp(dh) * h
            want = [pcx - pw / 2, pcy - ph / 2, pcx + pw / 2, pcy + ph / 2]
            np.testing.assert_allclose(got[i, 4 * k : 4 * k + 4], want, rtol=1e-4, atol=1e-3)
    assert got[0, 2] - got[0, 0] == pytest.approx(
        (boxes[0, 2] - boxes[0, 0]).item() * 1000 / 16, rel=1e-4
    )
