"""The app's own-image flow for the paper's region models: upload -> detect -> pick a region -> scores."""

from __future__ import annotations

import html
import io

import numpy as np
import pytest
from detector_fixture import VOLTA_SIZES, photo, write_detector
from PIL import Image
from test_app import errors, metrics, small_volta, small_volta_config, start, tiny_registry  # noqa: F401 (fixtures)

pytest.importorskip("streamlit")


def jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import torch

    from vlexplore.models.volta import VoltaForPretraining

    root = tmp_path_factory.mktemp("app_detector")
    torch.manual_seed(0)
    checkpoint = root / "pytorch_model_9.bin"
    torch.save(VoltaForPretraining(small_volta_config("uniter")).state_dict(), checkpoint)
    return {"checkpoint": str(checkpoint), "detector": str(write_detector(root / "detector", **VOLTA_SIZES))}


def upload_errors(at) -> list[str]:
    """Errors other than the opening example's (the tiny test set's 8-d regions do not fit VOLTA)."""
    shown = [html.unescape(e.value) for e in at.error]  # the page escapes its messages
    return [e for e in shown if "region features are 8-d" not in e]


def open_upload(files, data: bytes, name: str = "photo.jpg"):
    at = start(model="volta:uniter", checkpoint=files["checkpoint"])
    at.text_input(key="detector").set_value(files["detector"]).run()
    at.file_uploader(key="upload_file").set_value((name, data, "image/jpeg"))
    at.run()
    return at


def test_upload_detect_pick_a_region_and_see_the_six_scores(files, small_volta):  # noqa: F811
    at = open_upload(files, jpeg(photo(200, 150)))
    assert not at.exception, [e.value for e in at.exception]
    assert not upload_errors(at)
    picker = at.selectbox(key="upload_region")
    assert len(picker.options) == 36 and picker.options[0].startswith("#1 ")
    from vlexplore.views.state import parse_box

    for index in range(36):  # every detected region gives a box inside the 200x150 image
        at.selectbox(key="upload_region").set_value(index).run()
        x1, y1, x2, y2 = parse_box(at.text_input(key="upload_box").value)
        assert 0 <= x1 < x2 <= 199 and 0 <= y1 < y2 <= 149, (index, x1, y1, x2, y2)
    picker.set_value(4).run()  # region #5 becomes the phrase's box
    box = at.text_input(key="upload_box").value
    x1, y1, x2, y2 = (float(v) for v in box.split(","))
    assert 0 <= x1 < x2 <= 200 and 0 <= y1 < y2 <= 150
    at.text_input(key="upload_caption").set_value("a red box next to a green circle")
    at.text_input(key="upload_phrase").set_value("a red box")
    at.run()
    at.button[[b.label for b in at.button].index("Use this image")].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, errors(at)
    assert at.session_state["example"] == "upload"
    shown = metrics(at)
    assert shown["MLM loss, Object"].endswith(" bits") and shown["MRC-KL, Phrase"].endswith(" bits")
    at.session_state["result_tab"] = "Tables & export"  # only the open tab is drawn
    frames = [d.value for d in at.run().dataframe]
    assert set(frames[0]["condition"]) == {"none", "object", "all"}  # the six scores
    assert set(frames[1]["condition"]) == {"none", "phrase", "all"}
    assert any("36 regions by the detector" in i.value and "caffe mode" in i.value for i in at.info)


def test_detection_is_cached_by_content(files, small_volta, monkeypatch):  # noqa: F811
    from vlexplore.detector import Detector

    data = jpeg(photo(180, 120, seed=3))
    at = open_upload(files, data)
    assert not upload_errors(at)
    calls = []
    detect = Detector.detect
    monkeypatch.setattr(Detector, "detect", lambda self, image: calls.append(1) or detect(self, image))
    at.text_input(key="upload_caption").set_value("a picture").run()
    at.selectbox(key="upload_region").set_value(0).run()
    assert calls == []  # reruns reuse the regions of this image


@pytest.mark.parametrize(
    "name, data, message",
    [("broken.jpg", b"\xff\xd8 not a jpeg", "not an image"),
     ("dot.png", None, "1x1 pixels"),
     ("huge.png", "huge", "too large")],
)  # fmt: skip
def test_bad_uploads_get_a_clear_message(files, small_volta, name, data, message):  # noqa: F811
    if data is None:
        buffer = io.BytesIO()
        Image.new("RGB", (1, 1), (200, 10, 10)).save(buffer, format="PNG")
        data = buffer.getvalue()
    elif data == "huge":
        buffer = io.BytesIO()
        Image.new("1", (9000, 5000)).save(buffer, format="PNG")  # 45 megapixels, a small file
        data = buffer.getvalue()
    at = open_upload(files, data, name)
    assert not at.exception, [e.value for e in at.exception]
    assert any(message in e for e in upload_errors(at)), errors(at)
    assert at.button[[b.label for b in at.button].index("Use this image")].disabled


def test_the_sidebar_says_which_detector_made_a_features_file(tmp_path):
    import json

    from flickr_fixture import write_entities, write_tsv

    entities, features = write_entities(tmp_path / "f30k"), write_tsv(tmp_path / "val.tsv")
    (tmp_path / "val.tsv.detector.json").write_text(json.dumps({"detector": "/models/frcnn", "mode": "caffe"}))
    at = start(dataset=f"flickr30k:{entities}", features=str(features))
    assert any("extracted by the detector /models/frcnn (caffe mode)" in c.value for c in at.caption)


def test_a_detector_folder_outside_the_data_folders_is_refused(files, small_volta, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("VLEXPLORE_DATA_DIRS", str(tmp_path))
    at = open_upload(files, jpeg(photo(120, 90)))
    assert not at.exception, [e.value for e in at.exception]
    assert any("not found in the folders this app reads" in e for e in upload_errors(at)), errors(at)
