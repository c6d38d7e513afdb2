"""The detector end to end: equality with the reference, the two modes' rules, loading errors.

``tests/data/detector_golden.npz`` holds the Hugging Face LXMERT demo's own outputs
(huggingface/transformers-research-projects ``lxmert/modeling_frcnn.py`` + ``processing_image.py``
+ ``utils.py`` at commit fccd0cd of 2026-04-15) for the detector ``detector_fixture.write_detector(**GOLDEN_SIZES)`` and the
image ``detector_fixture.photo()``. They were made outside this project: the reference ran
unmodified under /tmp with loop-based stand-ins for ``torchvision.ops`` (nms, batched_nms,
RoIPool, written from the C++ kernels' semantics), given the image as a BGR float tensor so
that its channel-order bug (docs/detector.md) did not apply, and its returned boxes,
roi_features, obj_ids/probs, attr_ids/probs and the RPN proposals were saved.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import yaml
from detector_fixture import GOLDEN_SIZES, photo, random_state_dict, small_config, write_detector
from test_detector_ops import loop_nms

from vlexplore.detector import DetectorConfig, DetectorLoadError, FasterRCNN, load_detector
from vlexplore.detector.heads import HeadOutputs
from vlexplore.detector.ops import roi_pool
from vlexplore.detector.postprocess import select_caffe
from vlexplore.detector.preprocess import DetectorInput, caffe_scale, hf_size, prepare

GOLDEN = "tests/data/detector_golden.npz"


@pytest.fixture(scope="module")
def golden_dir(tmp_path_factory):
    return write_detector(tmp_path_factory.mktemp("detector"), **GOLDEN_SIZES)


def test_hf_mode_equals_the_reference(golden_dir):
    golden = np.load(GOLDEN)
    detector = load_detector(golden_dir, mode="hf")
    image = photo()
    inputs = prepare(image, detector.config, "hf")
    assert (inputs.input_height, inputs.input_width) == tuple(golden["input_size"])
    with torch.inference_mode():
        res4 = detector.model.backbone(inputs.pixels)
        proposals, _ = detector.model.proposal_generator(
            res4, inputs.input_height, inputs.input_width
        )
    np.testing.assert_allclose(proposals.numpy(), golden["proposals"], atol=1e-4)
    regions = detector.detect(image)
    assert regions.num_boxes == len(golden["boxes"]) and regions.mode == "hf"
    np.testing.assert_allclose(regions.boxes, golden["boxes"], atol=1e-4)
    np.testing.assert_allclose(regions.features, golden["features"], atol=1e-4)
    foreground = regions.cls_prob[:, 1:]  # the demo drops background before its max
    np.testing.assert_array_equal(foreground.argmax(1), golden["obj_ids"])
    np.testing.assert_allclose(foreground.max(1), golden["obj_probs"], atol=1e-4)
    attributes = regions.attr_prob[:, 1:] / regions.attr_prob[:, 1:].sum(1, keepdims=True)
    np.testing.assert_array_equal(attributes.argmax(1), golden["attr_ids"])
    np.testing.assert_allclose(attributes.max(1), golden["attr_probs"], atol=1e-4)


def test_caffe_mode_regions(golden_dir):
    regions = load_detector(golden_dir).detect(photo())
    assert regions.mode == "caffe" and regions.num_boxes == 36 and regions.num_proposals == 300
    assert regions.features.shape == (36, 128) and regions.cls_prob.shape == (36, 101)
    np.testing.assert_allclose(regions.cls_prob.sum(1), 1, atol=1e-5)
    # proposals are clipped to the resized input, whose rounded size may exceed the image by < 1 px
    assert (regions.boxes[:, :2] >= 0).all() and (regions.boxes[:, 2] <= 241).all()
    assert (regions.boxes[:, 3] <= 181).all()


def generate_tsv_selection(boxes, scores, conf=0.2, count=36):
    """generate_tsv.py's loop, literally: per-class NMS 0.3 on the proposals, max surviving score."""
    max_conf = np.zeros(len(boxes))
    for c in range(scores.shape[1]):
        keep = loop_nms(boxes.tolist(), scores[:, c].tolist(), 0.3, 1.0)
        max_conf[keep] = np.maximum(max_conf[keep], scores[keep, c])
    passing = np.where(max_conf >= conf)[0]
    if len(passing) != count:
        passing = np.argsort(-max_conf, kind="stable")[:count]
    return passing


@pytest.mark.parametrize("spread", [0.5, 2.0, 6.0])  # few / some / many proposals pass 0.2
def test_caffe_selection_matches_generate_tsv(spread):
    rng = np.random.RandomState(int(spread * 10))
    n, classes = 80, 6
    xy = rng.uniform(0, 300, (n, 2))
    proposals = torch.tensor(
        np.concatenate([xy, xy + rng.uniform(20, 150, (n, 2))], 1), dtype=torch.float32
    )
    logits = torch.tensor(rng.normal(0, spread, (n, classes + 1)), dtype=torch.float32)
    head = HeadOutputs(torch.zeros(n, 4), logits, torch.zeros(n, 3), torch.zeros(n, classes * 4))
    inputs = DetectorInput(torch.zeros(1, 3, 450, 450), 300, 300, 1.5, 1.5)
    chosen = select_caffe(head, proposals, inputs, DetectorConfig(num_classes=classes))
    scores = torch.softmax(logits, -1)[:, :-1].numpy()  # background is the checkpoint's last column
    want = generate_tsv_selection((proposals / 1.5).numpy(), scores)
    assert chosen.index.tolist() == want.tolist()
    torch.testing.assert_close(chosen.boxes, proposals[want] / 1.5)


def test_background_reaches_column_0(golden_dir):
    detector = load_detector(golden_dir)
    detector.model.roi_heads.box_predictor.cls_score.bias[-1] = 100.0  # the checkpoint's background
    regions = detector.detect(photo())
    assert (regions.cls_prob[:, 0] > 0.999).all()


@pytest.mark.parametrize(
    "height, width, short, longest",
    [(375, 500, 600, 1000), (500, 375, 600, 1000), (100, 1000, 600, 1000), (300, 501, 600, 1000),
     (600, 1000, 600, 1000), (50, 51, 600, 1000), (180, 240, 320, 480), (2000, 3001, 600, 1000)],
)  # fmt: skip
def test_600_1000_rule(height, width, short, longest):
    config = DetectorConfig(min_size=short, max_size=longest)
    rgb = np.zeros((height, width, 3), np.uint8)
    scale = caffe_scale(height, width, short, longest)
    brute = short / min(height, width)
    if round(brute * max(height, width)) > longest:
        brute = longest / max(height, width)
    assert scale == pytest.approx(brute)
    caffe = prepare(rgb, config, "caffe")
    assert (
        abs(caffe.input_height - height * scale) <= 0.5
        and abs(caffe.input_width - width * scale) <= 0.5
    )
    assert (
        min(caffe.input_height, caffe.input_width) <= short
        and max(caffe.input_height, caffe.input_width) <= longest
    )
    new_h, new_w = hf_size(height, width, short, longest)
    assert min(new_h, new_w) == short or max(new_h, new_w) == longest
    assert prepare(rgb, config, "hf").pixels.shape[2:] == (new_h, new_w)


@pytest.mark.parametrize("mode", ["caffe", "hf"])
def test_bgr_order_a_red_image_reaches_channel_2(mode):
    config = DetectorConfig(min_size=64, max_size=100)
    red = np.zeros((40, 50, 3), np.uint8)
    red[..., 0] = 255  # RGB red
    pixels = prepare(red, config, mode).pixels[0]
    mean = config.pixel_mean  # B, G, R
    torch.testing.assert_close(pixels[2], torch.full_like(pixels[2], 255 - mean[2]))
    torch.testing.assert_close(pixels[0], torch.full_like(pixels[0], -mean[0]))


# Precision -----------------------------------------------------------------------------
def test_fp32_regions_are_the_float32_modules_own(golden_dir):
    """fp32 runs the model's own float32 res5: every feature is, bit for bit, res5 of a proposal."""
    detector = load_detector(golden_dir)
    regions = detector.detect(photo())
    model, config = detector.model, detector.config
    inputs = prepare(photo(), config, "caffe")
    with torch.inference_mode():
        res4 = model.backbone(inputs.pixels)
        proposals, _ = model.proposal_generator(res4, inputs.input_height, inputs.input_width)
        features = torch.cat([
            model.roi_heads.res5(roi_pool(res4[0], proposals[i : i + 32], config.pool_size, 1 / config.stride)).mean((2, 3))
            for i in range(0, len(proposals), 32)
        ]).numpy()  # fmt: skip
    assert regions.precision == "fp32" and "bf16" not in regions.description
    for row in regions.features:
        assert (features == row).all(axis=1).any()


def test_bf16_detection(golden_dir):
    fp32 = load_detector(golden_dir)
    bf16 = fp32.with_precision("bf16")
    assert bf16.with_mode("hf").precision == "bf16" and bf16.with_precision("fp32").precision == "fp32"
    regions, reference = bf16.detect(photo()), fp32.detect(photo())
    assert regions.precision == "bf16" and "bf16" in regions.description
    assert regions.num_boxes == 36 and regions.num_proposals == 300
    assert regions.boxes.shape == (36, 4) and regions.features.shape == (36, 128)
    assert regions.cls_prob.shape == (36, 101) and regions.attr_prob.shape == (36, 41)
    assert regions.features.dtype == np.float32 and np.isfinite(regions.features).all()
    np.testing.assert_allclose(regions.cls_prob.sum(1), 1, atol=1e-5)
    # the same proposals (the backbone stays float32), so most chosen boxes are the fp32 ones
    same = (regions.boxes[:, None, :] == reference.boxes[None, :, :]).all(-1)  # (36, 36)
    assert same.any(1).sum() >= 24
    mine, theirs = np.nonzero(same)
    a, b = regions.features[mine], reference.features[theirs]
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() > 0.99 and not np.array_equal(a, b)  # close, and really bfloat16


def test_bad_precision_is_a_clear_error(golden_dir):
    with pytest.raises(ValueError, match="unknown detector precision 'fp16'.*fp32.*bf16"):
        load_detector(golden_dir, precision="fp16")
    with pytest.raises(ValueError, match="unknown detector precision 'tf32'"):
        load_detector(golden_dir).with_precision("tf32")


def test_a_tiny_image_gets_a_clear_message(golden_dir):
    with pytest.raises(ValueError, match="1x1 pixels.*larger photo"):
        load_detector(golden_dir).detect(np.zeros((1, 1, 3), np.uint8))


# Loading -------------------------------------------------------------------------------
def test_legacy_pkl_loads_the_same_weights(golden_dir, tmp_path):
    state = torch.load(golden_dir / "pytorch_model.bin", weights_only=True)
    (tmp_path / "config.yaml").write_bytes((golden_dir / "config.yaml").read_bytes())
    with open(tmp_path / "model.pkl", "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in state.items()}, "__author__": "test"}, f)
    a = load_detector(golden_dir).detect(photo())
    b = load_detector(tmp_path).detect(photo())
    np.testing.assert_array_equal(a.features, b.features)


def test_a_pickle_with_code_is_refused(tmp_path):
    write_detector(tmp_path)
    (tmp_path / "pytorch_model.bin").unlink()

    class Payload:
        def __reduce__(self):
            return (print, ("unpickled!",))

    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"model": {"w": Payload()}}))
    with pytest.raises(DetectorLoadError, match=r"model\.pkl.*refused.*builtins\.print"):
        load_detector(tmp_path)


def test_folder_without_weights(tmp_path):
    write_detector(tmp_path)
    (tmp_path / "pytorch_model.bin").unlink()
    with pytest.raises(
        DetectorLoadError, match=f"{tmp_path}.*no detector weights.*pytorch_model.bin"
    ):
        load_detector(tmp_path)


def test_checkpoint_of_another_network(tmp_path):
    write_detector(tmp_path)
    torch.save(torch.nn.Linear(3, 4).state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(
        DetectorLoadError, match=r"pytorch_model\.bin is not a checkpoint of this detector"
    ):
        load_detector(tmp_path)


def test_wrong_key_shapes(tmp_path):
    write_detector(tmp_path)
    torch.save(random_state_dict(small_config(num_classes=7)), tmp_path / "pytorch_model.bin")
    with pytest.raises(
        DetectorLoadError,
        match=r"pytorch_model\.bin: \d+ weight\(s\) have the wrong shape.*cls_score",
    ):
        load_detector(tmp_path)


@pytest.mark.parametrize(
    "section, key, value, needle",
    [("RESNETS", "DEPTH", 34, "RESNETS.DEPTH = 34"), ("BACKBONE", "NAME", "build_vit_backbone", "BACKBONE.NAME"),
     ("RESNETS", "NUM_GROUPS", 32, "RESNETS.NUM_GROUPS"), ("RESNETS", "OUT_FEATURES", ["res2", "res5"], "RESNETS.OUT_FEATURES")],
)  # fmt: skip
def test_config_asking_for_an_unknown_backbone(tmp_path, section, key, value, needle):
    write_detector(tmp_path)
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config[section][key] = value
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(DetectorLoadError, match=rf"config\.yaml: {needle}.*not supported"):
        load_detector(tmp_path)


def test_hub_name_offline_fails_at_once_with_the_download_command(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(DetectorLoadError, match="hf download unc-nlp/frcnn-vg-finetuned"):
        load_detector("unc-nlp/frcnn-vg-finetuned")


def test_missing_folder(tmp_path):
    with pytest.raises(DetectorLoadError, match="does not exist"):
        load_detector(tmp_path / "nope")


def test_config_sizes_are_honoured(golden_dir):
    model = load_detector(golden_dir).model
    config = model.config
    assert (config.num_classes, config.num_attrs, config.min_size, config.max_size) == (
        100,
        40,
        320,
        480,
    )
    assert config.anchor_sizes == (64, 128, 256, 512) and config.depth == 50
    assert isinstance(model, FasterRCNN)
    assert model.roi_heads.box_predictor.cls_score.out_features == 101
