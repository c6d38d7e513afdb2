"""The helpers every backend shares (vlexplore.models.common), against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vlexplore.geometry import encode_boxes
from vlexplore.models.base import PixelInput, RegionInput, VLBatch
from vlexplore.models.common import (
    WHOLE_IMAGE_BOX,
    check_region_features,
    check_region_positions,
    check_token_ids,
    encode_boxes_torch,
    gather_positions,
    regions_with_global_row,
    require_regions,
    resolve_device,
    text_inputs,
)


def region_batch(features, global_features, boxes, sizes, mask) -> VLBatch:
    visual = RegionInput(
        features=torch.as_tensor(features, dtype=torch.float32),
        global_features=torch.as_tensor(global_features, dtype=torch.float32),
        boxes=torch.as_tensor(boxes, dtype=torch.float32),
        image_sizes=torch.as_tensor(sizes, dtype=torch.float32),
        mask=torch.as_tensor(mask, dtype=torch.long),
        ablated=torch.zeros(np.shape(mask), dtype=torch.bool),
    )
    ids = torch.tensor([[101, 7, 102]] * len(sizes))
    return VLBatch(ids, torch.ones_like(ids), visual, text_positions=torch.tensor([[1]] * len(sizes)))


def test_box_encoding_by_hand():
    boxes = torch.tensor([[[20.0, 10.0, 120.0, 60.0], [0.0, 0.0, 200.0, 100.0]]])
    got = encode_boxes_torch(boxes, torch.tensor([[200.0, 100.0]]))
    # x1/w, y1/h, x2/w, y2/h, (100 * 50) / (200 * 100)
    expected = [[[0.1, 0.1, 0.6, 0.6, 0.25], [0.0, 0.0, 1.0, 1.0, 1.0]]]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-7)
    assert encode_boxes_torch(boxes, torch.tensor([[200.0, 100.0]]), with_area=False).shape == (1, 2, 4)


def test_box_encoding_in_float64_is_geometry_encode_boxes_to_the_bit():
    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 300, size=(3, 7, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(1, 200, size=(3, 7, 2))], -1).astype(np.float32)
    sizes = np.array([[640.0, 480.0], [500.0, 375.0], [333.0, 517.0]], dtype=np.float32)
    got = encode_boxes_torch(torch.from_numpy(boxes).double(), torch.from_numpy(sizes).double()).float()
    for row in range(3):
        expected = encode_boxes(boxes[row], (float(sizes[row, 0]), float(sizes[row, 1])))
        assert np.array_equal(got[row].numpy(), expected)
    # float32 arithmetic (the built-in model's training) agrees to rounding
    single = encode_boxes_torch(torch.from_numpy(boxes), torch.from_numpy(sizes))
    np.testing.assert_allclose(single.numpy(), got.numpy(), rtol=1e-6)


def test_global_row_goes_first_with_the_whole_image_box():
    features = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    global_features = np.array([[9.0, 9.0, 9.0], [-1.0, -2.0, -3.0]])
    boxes = [[[20, 10, 120, 60], [0, 0, 0, 0]], [[0, 0, 50, 50], [50, 50, 100, 100]]]
    batch = region_batch(features, global_features, boxes, [[200, 100], [100, 100]], [[1, 0], [1, 1]])
    feats, encoded, mask = regions_with_global_row(batch.visual)
    assert feats.shape == (2, 3, 3) and feats.dtype == torch.float32
    np.testing.assert_array_equal(feats[:, 0].numpy(), global_features)
    np.testing.assert_array_equal(feats[:, 1:].numpy(), features)
    assert encoded.shape == (2, 3, 5) and encoded.dtype == torch.float32
    assert encoded[:, 0].tolist() == [list(WHOLE_IMAGE_BOX)] * 2
    np.testing.assert_allclose(encoded[0, 1].numpy(), [0.1, 0.1, 0.6, 0.6, 0.25], rtol=1e-7)
    np.testing.assert_allclose(encoded[1, 2].numpy(), [0.5, 0.5, 1.0, 1.0, 0.25], rtol=1e-7)
    assert mask.dtype == torch.long and mask.tolist() == [[1, 1, 0], [1, 1, 1]]


def test_gather_positions_is_indexing():
    hidden = torch.randn(3, 6, 4)
    positions = torch.tensor([[0, 5, 2], [1, 1, 3], [4, 0, 0]])
    expected = torch.stack([hidden[b, positions[b]] for b in range(3)])
    assert torch.equal(gather_positions(hidden, positions), expected)
    # negative positions are padding and read position 0 instead of failing
    padded = gather_positions(hidden, torch.tensor([[2, -1]] * 3))
    assert torch.equal(padded[:, 1], hidden[:, 0])
    assert gather_positions(hidden, torch.zeros(3, 0, dtype=torch.long)).shape == (3, 0, 4)


def test_device_resolution():
    assert resolve_device("cpu", "volta") == torch.device("cpu")
    assert resolve_device(torch.device("cpu"), "volta") == torch.device("cpu")
    expected_auto = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto", "hf").type == expected_auto
    for bad in ("banana", "gpu0", ""):
        with pytest.raises(ValueError, match=rf"volta: device '{bad}' is not a torch device.*'auto', 'cpu'"):
            resolve_device(bad, "volta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_says_to_use_cpu():
    with pytest.raises(ValueError, match="hf: device 'cuda' asked for, but no CUDA GPU"):
        resolve_device("cuda", "hf")


def test_input_checks_name_what_is_wrong():
    check_token_ids(torch.tensor([[0, 9]]), 10, "m")
    for ids in ([[0, 10]], [[-1, 3]]):
        with pytest.raises(ValueError, match="token ids outside m's vocabulary of 10"):
            check_token_ids(torch.tensor(ids), 10, "m")
    check_region_features(torch.zeros(2, 3, 8), 8, "m", "det")
    for shape in ((2, 3, 4), (3, 8)):
        with pytest.raises(ValueError, match=r"m takes 8-d region features .* Use features from det"):
            check_region_features(torch.zeros(shape), 8, "m", "det")
    check_region_positions(torch.tensor([[0, 2]]), 3)
    check_region_positions(torch.zeros(1, 0, dtype=torch.long), 0)
    for positions in ([[0, 3]], [[-1, 0]]):
        with pytest.raises(ValueError, match="region_positions point beyond the 3 regions"):
            check_region_positions(torch.tensor(positions), 3)


def test_regions_are_required_and_text_inputs_are_long():
    batch = region_batch(np.zeros((1, 1, 2)), np.zeros((1, 2)), [[[0, 0, 1, 1]]], [[2, 2]], [[1]])
    assert require_regions(batch, "m") is batch.visual
    pixels = VLBatch(
        batch.input_ids, batch.attention_mask,
        PixelInput([np.zeros((4, 4, 3), np.uint8)], torch.zeros(1, 1, dtype=torch.bool)),
        batch.text_positions,
    )
    with pytest.raises(ValueError, match="m takes detector regions"):
        require_regions(pixels, "m")
    ids, mask, types = text_inputs(batch, 200, "m", torch.device("cpu"))
    assert ids.dtype == mask.dtype == types.dtype == torch.long
    assert torch.equal(ids, batch.input_ids) and not types.any()
    with pytest.raises(ValueError, match="vocabulary of 100"):
        text_inputs(batch, 100, "m", torch.device("cpu"))


def test_models_import_nothing_downstream():
    """One-way flow: no module under vlexplore/models imports the engine, views, app or CLI."""
    import ast
    from pathlib import Path

    import vlexplore.models

    downstream = ("engine", "diagnostics", "views", "app", "cli", "registry", "training")
    root = Path(vlexplore.models.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) >= 10
    for path in files:
        package = ["vlexplore", *path.relative_to(root.parent).parent.parts]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                names = [".".join([*base, *(node.module or "").split(".")]).strip(".")]
                names += [f"{names[0]}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                assert not (parts[0] == "vlexplore" and len(parts) > 1 and parts[1] in downstream), (
                    f"{path.relative_to(root.parent)} imports {name}"
                )
                assert parts[0] not in {"streamlit", "plotly"}, f"{path} imports {name}"
