"""`vlexplore extract-features`: detector regions written as TSV / LMDB, read back by the readers,
resumed, bad images skipped, and the paper's diagnostic run on them end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from detector_fixture import VOLTA_SIZES, write_detector, write_images
from flickr_fixture import IMAGES, write_entities

from vlexplore import cli
from vlexplore.data.features import provenance_path, read_features
from vlexplore.detector import load_detector
from vlexplore.detector.extract import extract_features
from vlexplore.images import load_image

SIZES = {image_id: spec[:2] for image_id, spec in IMAGES.items()}  # the Flickr30k fixture's images


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("extract")
    images = write_images(root / "images", SIZES)
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg at all")
    from PIL import Image

    Image.new("RGB", (1, 1)).save(images / "tiny.png")
    (images / "notes.txt").write_text("not an image, not looked at")
    return {"root": root, "images": images, "detector": write_detector(root / "detector", **VOLTA_SIZES)}


@pytest.mark.parametrize("suffix", [".tsv", ".lmdb"])
def test_round_trip_through_the_readers(files, tmp_path, suffix):
    detector = load_detector(files["detector"])
    out = tmp_path / f"features{suffix}"
    report = extract_features(files["images"], out, detector, progress=False)
    assert sorted(report.written) == sorted(SIZES) and not report.already_there
    assert set(report.failed) == {"broken.jpg", "tiny.png"}
    assert "1x1 pixels" in report.failed["tiny.png"]
    back = read_features(out)
    assert sorted(back) == sorted(SIZES)
    for image_id, (width, height) in SIZES.items():
        direct = detector.detect(load_image(files["images"] / f"{image_id}.jpg"))
        item = back[image_id]
        assert item.image_size == (width, height)
        np.testing.assert_array_equal(item.boxes, direct.boxes)
        np.testing.assert_array_equal(item.features, direct.features)
        np.testing.assert_array_equal(item.cls_prob, direct.cls_prob)
        assert item.features.shape == (36, 2048)
        item.to_regions()  # boxes inside the image, as the readers require

    # resumable: nothing is detected twice
    again = extract_features(files["images"], out, detector, progress=False)
    assert not again.written and sorted(again.already_there) == sorted(SIZES)
    assert sorted(read_features(out)) == sorted(SIZES)


def test_an_interrupted_tsv_line_is_dropped_and_redone(files, tmp_path):
    detector = load_detector(files["detector"])
    out = tmp_path / "features.tsv"
    extract_features(files["images"], out, detector, progress=False)
    lines = out.read_text().splitlines(keepends=True)
    first_id = lines[0].split("\t", 1)[0]
    out.write_text(lines[1] + lines[0][:500])  # the run stopped halfway through a line
    report = extract_features(files["images"], out, detector, progress=False)
    assert report.written == [first_id]
    assert sorted(read_features(out)) == sorted(SIZES)


def test_a_detector_without_the_vg_classes_is_refused_before_any_work(files, tmp_path):
    small = load_detector(write_detector(tmp_path / "det", num_classes=10))
    with pytest.raises(ValueError, match="11 classes.*1,601 Visual Genome classes"):
        extract_features(files["images"], tmp_path / "out.tsv", small, progress=False)
    assert not (tmp_path / "out.tsv").exists()


def test_a_resumed_run_cannot_mix_detectors(files, tmp_path):
    out = tmp_path / "features.tsv"
    extract_features(files["images"], out, load_detector(files["detector"]), progress=False)
    with pytest.raises(ValueError, match="caffe mode.*hf mode.*mix two detectors"):
        extract_features(files["images"], out, load_detector(files["detector"], mode="hf"), progress=False)
    with pytest.raises(ValueError, match=r"caffe mode\).*caffe mode, bf16\).*mix two detectors"):
        extract_features(files["images"], out, load_detector(files["detector"], precision="bf16"), progress=False)
    note = provenance_path(out)
    made_by = json.loads(note.read_text())
    assert made_by["precision"] == "fp32"
    del made_by["precision"]  # a note written before precisions existed: its regions were fp32
    note.write_text(json.dumps(made_by))
    report = extract_features(files["images"], out, load_detector(files["detector"]), progress=False)
    assert report.written == [] and report.already_there


def test_cli_errors(files, tmp_path, capsys):
    assert cli.main(["extract-features", str(files["images"]), "--out", str(tmp_path / "x.csv"),
                     "--detector", str(files["detector"])]) == 2  # fmt: skip
    assert ".tsv" in capsys.readouterr().err
    assert cli.main(["extract-features", str(files["images"]), "--out", str(tmp_path / "x.tsv"),
                     "--detector", str(tmp_path)]) == 2  # fmt: skip
    assert "no detector weights" in capsys.readouterr().err
    assert cli.main(["extract-features", str(tmp_path), "--out", str(tmp_path / "x.tsv"),
                     "--detector", str(files["detector"])]) == 2  # fmt: skip
    assert "holds no images" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["extract-features", str(files["images"]), "--out", str(tmp_path / "x.tsv"),
                  "--detector", str(files["detector"]), "--precision", "fp16"])  # fmt: skip
    err = capsys.readouterr().err
    assert "--precision: invalid choice: 'fp16'" in err and "fp32" in err and "bf16" in err


def test_extract_then_diagnose_volta_end_to_end(files, tmp_path, monkeypatch, capsys):
    import torch
    from test_app import small_volta_config

    from vlexplore.models.volta import VoltaConfig, VoltaForPretraining

    monkeypatch.setattr(VoltaConfig, "for_arch", staticmethod(small_volta_config))
    torch.manual_seed(0)
    checkpoint = tmp_path / "pytorch_model_9.bin"
    torch.save(VoltaForPretraining(small_volta_config("uniter")).state_dict(), checkpoint)
    entities = write_entities(tmp_path / "f30k")
    out = tmp_path / "flickr30k_feat.lmdb"
    assert cli.main(["extract-features", str(files["images"]), "--out", str(out),
                     "--detector", str(files["detector"]), "--quiet"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "2 image(s) extracted" in printed and "broken.jpg" in printed and "caffe mode" in printed
    code = cli.main(["diagnose", "--model", "volta:uniter", "--checkpoint", str(checkpoint),
                     "--dataset", f"flickr30k:{entities}", "--features", str(out), "--json", "--quiet"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    table_run = cli.main(["diagnose", "--model", "volta:uniter", "--checkpoint", str(checkpoint), "--dataset",
                          f"flickr30k:{entities}", "--features", str(out), "--quiet", "--out", str(tmp_path / "run")])  # fmt: skip
    assert table_run == 0
    assert f"extracted by the detector {files['detector']} (caffe mode)" in capsys.readouterr().out
    meta = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert meta["regions_from"] == f"{files['detector']} (caffe mode)"
    assert summary["n"] >= 3 and summary["n_lang4vis"] >= 1  # "A man", "a red shirt", "Two dogs", ...
    assert all(np.isfinite(v) and v >= 0 for v in summary["vis4lang"].values())
    assert all(np.isfinite(v) and v >= 0 for v in summary["lang4vis"].values())
