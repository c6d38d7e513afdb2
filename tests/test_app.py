"""The app's main flows, driven in-process with Streamlit's AppTest on the tiny test model."""

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny import TinyVL, load_tiny_set

from vlexplore import registry

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
MODEL = TinyVL()  # one instance, so the test can count forward passes


def load_counted(name="counted", **options):
    return MODEL


def load_boxless_first(name="boxless", **options):
    """Examples whose first phrase ("the park") has no gold box."""
    from tiny import make_example

    from vlexplore.records import ExampleSet

    examples = []
    for seed in range(2):
        example = make_example(seed)
        example.phrases = [example.phrases[2], *example.phrases[:2]]
        examples.append(example)
    return ExampleSet("boxless", examples)


def load_no_average(name="noaverage", **options):
    """The tiny set without a dataset average (as examples whose average cannot be formed)."""
    from vlexplore.records import ExampleSet

    class NoAverage(ExampleSet):
        def average_region_feature(self):
            return None

    return NoAverage("noaverage", load_tiny_set().examples)


def load_lxmert_shaped(name="lxmert-shaped", **options):
    """A 1,600-way region head read against 1,601 detector classes (background first), as LXMERT."""
    from tiny import TinyVL as Tiny

    from vlexplore.models.hf_lxmert import HFLxmert

    class LxmertShaped(Tiny):
        detector_targets = HFLxmert.detector_targets

    model = LxmertShaped(num_classes=1600)
    model.region_class_names = tuple(f"class{i}" for i in range(1, 1601))
    return model


def load_vg_shaped_set(name="vgset", **options):
    from tiny import make_example

    from vlexplore.records import ExampleSet

    return ExampleSet("vgset", [make_example(seed, num_classes=1601) for seed in range(2)])


@pytest.fixture(autouse=True)
def tiny_registry(monkeypatch):
    monkeypatch.setitem(registry.MODELS, "counted", registry.ModelEntry("test_app:load_counted", "test model"))
    monkeypatch.setitem(registry.MODELS, "lxmert-shaped", registry.ModelEntry("test_app:load_lxmert_shaped", "t"))
    monkeypatch.setitem(registry.DATASETS, "noaverage", registry.DatasetEntry("test_app:load_no_average", "test"))
    monkeypatch.setitem(registry.DATASETS, "vgset", registry.DatasetEntry("test_app:load_vg_shaped_set", "test"))
    monkeypatch.setitem(registry.DATASETS, "tinyset", registry.DatasetEntry("tiny:load_tiny_set", "test set"))
    monkeypatch.setitem(registry.DATASETS, "boxless", registry.DatasetEntry("test_app:load_boxless_first", "test"))


def start(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"model": "counted", "dataset": "tinyset", **query})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def chart(at, key: str) -> dict:
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        if element.proto.id and key in element.proto.id:
            return spec
    raise AssertionError(f"no chart {key}")


def bar_chart(at, key: str):
    """The Language tab's SVG chart under ``key`` (its ``views.charts`` spec is the element's data)."""
    for element in at.get("bidi_component"):
        if element.proto.id and key in element.proto.id:
            return element
    raise AssertionError(f"no bar chart {key}")


def bar_spec(at, key: str) -> dict:
    return json.loads(bar_chart(at, key).proto.json)


def image_spec(at) -> dict:
    """What the page's picture draws (``overlay.picture_spec``, as the picture component got it)."""
    return json.loads(at.get("bidi_component")[0].proto.json)


def dashed(spec) -> int:
    return sum(1 for outline in spec["outlines"] if outline["dash"] == "dash")


def query(at) -> dict:
    return dict(at.query_params)


def open_tab(at, label: str) -> AppTest:
    """Open a tab under the result (only the open one is drawn)."""
    at.session_state["result_tab"] = label
    return at.run()


def test_first_page_shows_the_paper_defaults_and_a_result():
    at = start()
    shown = metrics(at)
    assert set(shown) == {"MLM loss, Object", "MRC-KL, Phrase", "Aligned regions"}
    assert shown["Aligned regions"] == "3 of 6"  # regions 0, 1 and the whole-image box
    assert at.slider(key="threshold").value == 0.5
    assert at.radio(key="alignment").value == "iot" and at.radio(key="baseline").value == "average"
    caption = [m.value for m in at.markdown if "vlx-phrase" in m.value]
    assert caption and caption[0].count("vlx-phrase") == 3
    assert dashed(image_spec(at)) == 3
    assert query(at)["example"] == "ex0" and query(at)["model"] == "counted"
    assert not at.error


def test_toggling_the_condition_redraws_without_running_the_model():
    at = start()
    calls = MODEL.calls
    before = metrics(at)["MRC-KL, Phrase"]
    at.segmented_control(key="vis4lang").set_value("all").run()
    assert "MLM loss, All" in metrics(at)
    assert dashed(image_spec(at)) == 6
    at.segmented_control(key="vis4lang").set_value("none").run()
    assert dashed(image_spec(at)) == 0
    at.segmented_control(key="lang4vis").set_value("all").run()
    assert metrics(at)["MRC-KL, All"] != before
    assert MODEL.calls == calls, "a display toggle must not run the model"
    assert query(at)["vis4lang"] == "none" and query(at)["lang4vis"] == "all"
    tokens = bar_spec(at, "fig_tokens")
    legend = [(item["name"], item["colour"]) for item in tokens["legend"]]
    assert [name for name, _ in legend] == ["None", "Object", "All"]  # the three alike, whichever is shown
    loss = tokens["panels"][0]["bars"]
    assert {(legend[b["slot"]][1], b["colour"]) for b in loss} == {(c, c) for _, c in legend}
    assert all("opacity" not in b and "(shown)" not in b["hover"] for b in loss)


def test_threshold_and_overlap_measure_rerun_the_model():
    at = start()
    calls = MODEL.calls
    at.slider(key="threshold").set_value(0.85).run()
    assert metrics(at)["Aligned regions"] == "2 of 6"  # region 1 covers 0.80 of the gold box
    assert MODEL.calls == calls + 1
    assert query(at)["threshold"] == "0.85"
    assert any("Not the paper" in c.value for c in at.sidebar.caption)
    at.radio(key="alignment").set_value("iou").run()
    assert MODEL.calls == calls + 2
    at.button[[b.label for b in at.button].index("Back to the paper's settings")].click().run()
    assert at.slider(key="threshold").value == 0.5 and at.radio(key="alignment").value == "iot"


def test_pick_another_example_and_phrase():
    at = start()
    first = metrics(at)["MLM loss, Object"]
    at.radio(key="phrase").set_value(1).run()
    assert metrics(at)["MLM loss, Object"] != first
    assert query(at)["phrase"] == "1"
    at.button(key="open_ex2").click().run()
    assert at.session_state["example"] == "ex2" and at.session_state["phrase"] == 0
    assert query(at)["example"] == "ex2"
    at.radio(key="phrase").set_value(2).run()  # "the park" has no gold box
    assert any("has no gold box" in html.unescape(e.value) for e in at.error)
    assert at.get("bidi_component"), "the image is still shown"


def test_link_reopens_the_same_view():
    at = start(example="ex1", phrase="1", vis4lang="all", lang4vis="none", threshold="0.7")
    assert at.session_state["example"] == "ex1" and at.radio(key="phrase").value == 1
    assert "MLM loss, All" in metrics(at) and "MRC-KL, None" in metrics(at)
    assert at.slider(key="threshold").value == 0.7
    bad = start(vis4lang="sometimes", example="nope")
    assert any("vis4lang" in html.unescape(w.value) for w in bad.warning)
    assert any("No example 'nope'" in html.unescape(w.value) for w in bad.warning)
    assert "MLM loss, Object" in metrics(bad)


@pytest.mark.parametrize(
    ("caption", "message"),
    [("   ", "caption is empty"), ("a dog sleeps", "'A tall man' is not in the caption")],
)
def test_bad_caption_shows_an_error_and_the_app_keeps_working(caption, message):
    at = start()
    at.text_input(key="caption_input").set_value(caption).run()
    assert any(message in html.unescape(e.value) for e in at.error)
    assert not at.exception
    at.text_input(key="caption_input").set_value("A tall man walks a small dog .").run()
    assert not at.error and "MLM loss, Object" in metrics(at)


def test_other_words_as_the_phrase_and_words_not_in_the_caption():
    at = start()
    at.text_input(key="words").set_value("walks").run()
    assert not at.error and query(at)["words"] == "walks"
    caption = next(m.value for m in at.markdown if "vlx-phrase" in m.value)
    assert ">walks</span>" in caption
    at.text_input(key="words").set_value("a unicorn").run()
    assert any("'a unicorn' is not in the caption" in html.unescape(e.value) for e in at.error)
    at.text_input(key="words").set_value("").run()
    assert not at.error and "MLM loss, Object" in metrics(at)


def test_redrawn_box_reruns_and_a_box_outside_is_refused():
    at = start()
    at.toggle(key="redraw").set_value(True).run()
    calls = MODEL.calls
    at.number_input(key="box_x1").set_value(12.0)
    at.number_input(key="box_x2").set_value(95.0)
    apply_box(at)
    assert query(at)["box"] == "12,10,95,60"
    assert MODEL.calls == calls + 1  # two fields typed, one run
    assert metrics(at)["Aligned regions"] != "3 of 6"
    at.number_input(key="box_y2").set_value(500.0)
    apply_box(at)
    assert any("outside the 100x80 image" in html.unescape(e.value) for e in at.error)
    assert not at.exception
    at.radio(key="phrase").set_value(1).run()  # another phrase starts from its own gold box
    assert not at.error and "box" not in query(at)
    at.toggle(key="redraw").set_value(True).run()
    assert [at.number_input(key=k).value for k in ("box_x1", "box_y1", "box_x2", "box_y2")] == [50, 20, 90, 70]


def apply_box(at) -> None:
    at.button[[b.label for b in at.button].index("Apply box")].click().run()


def test_exports_are_offered():
    at = open_tab(start(), "Tables & export")
    labels = [b.label for b in at.get("download_button")]
    for wanted in ("tokens table (CSV)", "topk table (CSV)", "regions table (CSV)", "HTML", "PNG"):
        assert wanted in labels
    frames = [d.value for d in at.dataframe]
    assert set(frames[0]["condition"]) == {"none", "object", "all"}
    assert set(frames[1]["condition"]) == {"none", "phrase", "all"}


def png(width=40, height=30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(at, file: tuple[str, bytes, str], caption: str, phrase: str, box: str) -> None:
    """Fill the "Your own image" form (file as (name, bytes, MIME type)) and press "Use this image"."""
    at.file_uploader(key="upload_file").set_value(file)
    at.text_input(key="upload_caption").set_value(caption)
    at.text_input(key="upload_phrase").set_value(phrase)
    at.text_input(key="upload_box").set_value(box)
    at.run()
    at.button[[b.label for b in at.button].index("Use this image")].click().run()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [("notes.txt", b"hello, not a picture", "not an image"), ("cut.png", png()[:50], "corrupt or truncated")],
)
def test_bad_upload_shows_an_error(name, data, message, vilt_dir):
    at = start(model=f"hf:{vilt_dir}")
    upload(at, (name, data, "application/octet-stream"), "a green field", "a green field", "0,0,10,10")
    assert any(message in html.unescape(e.value) for e in at.error), [e.value for e in at.error]
    assert at.get("bidi_component") and not at.exception  # the page still works


def test_upload_is_refused_upfront_for_a_region_model_without_its_detector():
    at = start()
    assert any("set the detector's folder" in i.value for i in at.info)
    assert at.file_uploader(key="upload_file").disabled


def test_dataset_view_lists_phrases_behind_a_bar_and_opens_one():
    at = start(view="dataset")
    assert not at.error
    assert any("6 phrases" in h.value for h in at.subheader)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {t["name"] for t in spec["data"]}
    assert "counted (this run)" in names and "LXMERT (paper)" in names
    at.radio(key="bar_side").set_value("lang4vis").run()
    at.radio(key="bar_condition").set_value("phrase").run()
    table = at.dataframe[0].value
    assert len(table) == 6 and list(table["effect"]) == sorted(table["effect"], reverse=True)
    pick = at.selectbox(key="open_row")
    expected = (table.example_id[2], int(table.phrase_index[2]))
    pick.set_value(f"{expected[0]}:{expected[1]}").run()
    assert table.phrase[2] in at.selectbox(key="open_row").format_func(at.selectbox(key="open_row").value)
    at.button[[b.label for b in at.button].index("Open in the example view")].click().run()
    assert at.session_state["view"] == "example"
    assert (at.session_state["example"], at.session_state["phrase"]) == expected
    assert load_tiny_set().by_id(expected[0])  # an id of the set, not a made-up one


def test_a_model_that_cannot_load_gives_a_message_not_a_crash():
    at = start(model="hf:/nonexistent/checkpoint")
    assert at.error and "nonexistent" in at.error[0].value
    assert not at.metric
    at.selectbox(key="model").set_value("counted").run()
    assert "MLM loss, Object" in metrics(at)


@pytest.fixture(scope="module")
def vilt_dir(tmp_path_factory):
    """A tiny random ViLT saved like a user's checkpoint directory (a pixel-input model)."""
    pytest.importorskip("transformers")
    from tiny_vilt import save_tiny_vilt

    return save_tiny_vilt(tmp_path_factory.mktemp("vilt"))


def upload_field(at) -> None:
    """Upload a 96 x 64 green picture with one phrase and its box, and use it."""
    upload(at, ("field.png", png(96, 64), "image/png"), "a green field under the sky", "a green field", "0,20,95,63")


def test_upload_with_a_pixel_model_runs_on_the_image(vilt_dir):
    at = start()
    at.text_input(key="model_custom").set_value(f"hf:{vilt_dir}").run()  # typed in the sidebar
    assert at.selectbox(key="model").value == f"hf:{vilt_dir}"
    assert not any("simulated detector" in c.value for c in at.caption)  # pixel model: no detector
    upload_field(at)
    assert not at.error and not at.exception
    assert at.session_state["example"] == "upload"
    shown = metrics(at)
    assert "MLM loss, Object" in shown and shown["MRC-KL"] == "n/a"  # ViLT has no region head
    assert any("no region-classification head" in i.value for i in at.info)
    marks = dashed(image_spec(at))
    assert marks > 0  # the patches under the box are the ones replaced
    at.segmented_control(key="vis4lang").set_value("all").run()
    assert dashed(image_spec(at)) > marks


def test_default_page_opens_the_built_in_model_or_names_what_is_missing():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if at.metric:  # the built-in model and examples are installed
        assert at.session_state["model"] == "demo" and at.session_state["example"]
        assert query(at)["example"] == at.session_state["example"]
        line = next(c for c in captions(at) if c.startswith("**Model demo**"))  # named for what it is
        line = html.unescape(line)
        assert "M parameters" in line and "synthetic shapes" in line and "not one of the paper's" in line
        token = at.radio(key="token_index")  # the phrase's content word, not its article
        assert token.format_func(token.value).lower() not in ("a", "the", "one")
    else:
        assert at.error and any("demo" in e.value or "checkpoint" in html.unescape(e.value) for e in at.error)


def test_new_random_scene_of_the_built_in_world():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"model": "demo", "dataset": "demo"})
    at.run()
    assert at.metric, [e.value for e in at.error]  # the built-in model and set ship with vlexplore
    first = at.session_state["example"]
    at.button[[b.label for b in at.button].index("New random scene")].click().run()
    example = at.session_state["example"]
    assert example.startswith("random:") and example != first
    assert query(at)["example"] == example  # a link to this very scene
    assert "MLM loss, Object" in metrics(at) and not at.error
    caption = next(m.value for m in at.markdown if "vlx-phrase" in m.value)
    again = AppTest.from_file(APP, default_timeout=120)
    again.query_params.update({"model": "demo", "dataset": "demo", "example": example})
    again.run()
    assert next(m.value for m in again.markdown if "vlx-phrase" in m.value) == caption  # same scene


def test_an_example_opens_on_its_first_phrase_with_a_box():
    at = start(dataset="boxless")
    assert at.radio(key="phrase").value == 1 and not at.error  # phrase 0 ("the park") has no box
    at.radio(key="phrase").set_value(0).run()
    assert any("has no gold box" in html.unescape(e.value) for e in at.error)
    at.button(key="open_ex1").click().run()
    assert at.radio(key="phrase").value == 1 and not at.error
    linked = start(dataset="boxless", example="ex1", phrase="0")  # a link's phrase is kept
    assert linked.radio(key="phrase").value == 0


# ------------------------------------------------------------------ VOLTA checkpoints + Flickr30k
def small_volta_config(arch: str):
    """The shipped config of ``arch`` cut to hidden 64 and its last 4 sublayers (as test_volta)."""
    from vlexplore.models.volta import CONFIG_DIR, CONFIG_FILES, VoltaConfig

    config = VoltaConfig.from_json(CONFIG_DIR / CONFIG_FILES[arch])
    changes = dict(hidden_size=64, v_hidden_size=64, num_attention_heads=4, v_num_attention_heads=4,
                   intermediate_size=128, v_intermediate_size=128, pooler_size=32, v_pooler_size=32)
    if arch == "vl-bert":
        changes.update(v_feature_size=2048, v_coordinate_embeddings_dim=256)
    return config.replace(**changes).keep_last_sublayers(4)


@pytest.fixture
def small_volta(monkeypatch):
    """volta:ARCH loads the small configs, so the app's real loading path runs on small files."""
    from vlexplore.models.volta import VoltaConfig

    monkeypatch.setattr(VoltaConfig, "for_arch", staticmethod(small_volta_config))


@pytest.fixture(scope="module")
def volta_files(tmp_path_factory):
    """Random small uniter and vilbert checkpoints, a truncated copy, Flickr30k Entities files
    and their region features (a 13-field TSV), as a user would have them on disk."""
    torch = pytest.importorskip("torch")
    from flickr_fixture import write_entities, write_tsv

    from vlexplore.models.volta import VoltaForPretraining

    folder = tmp_path_factory.mktemp("volta_app")
    paths = {}
    for arch in ("uniter", "vilbert"):
        torch.manual_seed(0)
        paths[arch] = folder / arch / "pytorch_model_9.bin"
        paths[arch].parent.mkdir()
        torch.save(VoltaForPretraining(small_volta_config(arch)).state_dict(), paths[arch])
    data = paths["uniter"].read_bytes()
    paths["truncated"] = folder / "truncated.bin"
    paths["truncated"].write_bytes(data[: len(data) // 2])
    paths["entities"] = write_entities(folder / "f30k")
    paths["features"] = write_tsv(folder / "val_features.tsv")
    return {name: str(path) for name, path in paths.items()}


def errors(at) -> str:
    return " | ".join(html.unescape(e.value) for e in at.error)  # shown literally: entities in the markdown


def test_a_volta_checkpoint_on_flickr30k_from_a_link_draws_on_a_blank_canvas(volta_files, small_volta):
    at = start(model="volta:uniter", checkpoint=volta_files["uniter"], dataset=f"flickr30k:{volta_files['entities']}",
               features=volta_files["features"])
    assert not at.error, errors(at)
    assert at.session_state["example"] == "1000_0" and at.radio(key="phrase").value == 0  # "A man"
    assert metrics(at)["MLM loss, Object"].endswith(" bits")
    assert at.text_input(key="checkpoint").value == volta_files["uniter"]
    assert at.text_input(key="features").value == volta_files["features"]
    link = query(at)
    assert link["checkpoint"] == volta_files["uniter"] and link["features"] == volta_files["features"]
    # no images folder: the example is drawn on a blank canvas of the image's size (120x80)
    source = image_spec(at)["src"]
    canvas = np.asarray(Image.open(io.BytesIO(base64.b64decode(source.partition(",")[2]))).convert("RGB"))
    assert canvas.shape == (80, 120, 3) and (canvas == canvas[0, 0]).all()


def test_volta_and_flickr30k_typed_in_the_sidebar_with_clear_errors(volta_files, small_volta):
    at = start()
    assert "checkpoint" not in [t.key for t in at.text_input]  # shown for volta:ARCH only
    at.text_input(key="dataset_custom").set_value(f"flickr30k:{volta_files['entities']}").run()
    assert at.selectbox(key="dataset").value == f"flickr30k:{volta_files['entities']}"
    assert "has no detector regions" in errors(at) and any("region features" in i.value for i in at.info)
    at.text_input(key="features").set_value(volta_files["features"]).run()
    assert "2048-d" in errors(at) and not at.exception  # the tiny test model reads 8-d features
    at.text_input(key="model_custom").set_value("volta:uniter").run()
    assert "needs its weights" in errors(at) and not at.metric
    assert any("Checkpoint" in i.value or "checkpoint" in i.value for i in at.info)
    at.text_input(key="checkpoint").set_value(volta_files["vilbert"]).run()  # another architecture
    assert "looks like a vilbert checkpoint" in errors(at) and not at.metric
    at.text_input(key="checkpoint").set_value(volta_files["truncated"]).run()
    assert "the file is truncated" in errors(at) and not at.exception
    at.text_input(key="checkpoint").set_value(volta_files["uniter"]).run()
    assert not at.error, errors(at)
    assert "MLM loss, Object" in metrics(at)
    assert query(at)["model"] == "volta:uniter" and query(at)["checkpoint"] == volta_files["uniter"]
    at.text_input(key="features").set_value("/nonexistent/features.tsv").run()
    assert "/nonexistent/features.tsv" in errors(at) and not at.exception
    at.selectbox(key="model").set_value("counted").run()  # the app keeps working on another model
    at.selectbox(key="dataset").set_value("tinyset").run()
    assert not at.error and "MLM loss, Object" in metrics(at)


def test_flickr30k_images_are_drawn_and_an_unreadable_one_falls_back_to_a_canvas(volta_files, small_volta,
                                                                                  tmp_path):
    Image.new("RGB", (120, 80), (200, 30, 30)).save(tmp_path / "1000.jpg")
    (tmp_path / "2000.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    at = start(model="volta:uniter", checkpoint=volta_files["uniter"], dataset=f"flickr30k:{volta_files['entities']}",
               features=volta_files["features"], images=str(tmp_path))
    assert not at.error and not at.warning, errors(at)
    assert at.text_input(key="images").value == str(tmp_path) and query(at)["images"] == str(tmp_path)

    def picture(at):
        source = image_spec(at)["src"]
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.partition(",")[2]))).convert("RGB"))

    assert picture(at).shape == (80, 120, 3) and picture(at)[40, 60, 0] > 150  # the red photo
    at.button(key="open_2000_0").click().run()
    assert any("2000.jpg" in w.value and "blank canvas" in w.value for w in at.warning)
    assert picture(at).shape == (100, 100, 3) and (picture(at) == picture(at)[0, 0]).all()
    assert "MLM loss, Object" in metrics(at) and not at.exception  # the model still runs on its regions


# ------------------------------------------------------------------ issue 9: baseline, figures, caches
def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def test_the_page_says_which_baseline_the_result_used_and_never_calls_the_image_mean_the_paper():
    paper = start()
    def shown(at):
        return [c for c in captions(at) if c.startswith("Baseline:")]

    assert shown(paper) == ["Baseline: the dataset's average region feature (the paper's)."]
    own_mean = start(dataset="noaverage")
    assert shown(own_mean) == ["Baseline: this image's mean region feature (not the paper's dataset average)."]
    assert metrics(own_mean)["MLM loss, Object"] != metrics(paper)["MLM loss, Object"]  # another baseline ran
    paper.radio(key="baseline").set_value("zero").run()
    assert shown(paper) == ["Baseline: zeros (not the paper's dataset average)."]
    assert shown(start(view="dataset")) == ["Baseline: the dataset's average region feature (the paper's)."]
    zero_set = start(view="dataset", baseline="zero")
    assert shown(zero_set) == ["Baseline: zeros (not the paper's dataset average)."]


def test_the_class_figure_shows_the_models_bars_for_an_lxmert_shaped_head():
    at = start(model="lxmert-shaped", dataset="vgset")
    assert not at.error, errors(at)
    names = [t["name"] for t in chart(open_tab(at, "Vision (MRC-KL)"), "fig_classes")["data"]]
    assert names == ["detector (target)", "None", "Phrase", "All"]


def test_the_target_is_dotted_and_badged():
    spec = image_spec(start())
    assert spec["badge"]["text"] == "target" and spec["font_px"] == 11
    dotted = [o for o in spec["outlines"] if o["dash"] == "dot"]
    assert len(dotted) == 1 and dotted[0]["box"][:2] == [spec["badge"]["x"] - 0.5, spec["badge"]["y"] - 0.5]


def test_whole_set_runs_are_a_bounded_cache():
    from vlexplore.views.page.session import RecentRuns

    runs = RecentRuns(limit=2)
    runs.remember("a", 1)
    runs.remember("b", 2)
    assert runs.get_recent("a") == 1  # a is now the most recent
    runs.remember("c", 3)
    assert list(runs) == ["a", "c"] and runs.get_recent("b") is None


def _tiny_vlm(tmp_path_factory, family: str):
    pytest.importorskip("transformers")
    import tiny_vlm

    return getattr(tiny_vlm, f"save_tiny_{family}")(tmp_path_factory.mktemp(family))


@pytest.fixture(scope="module")
def smolvlm_dir(tmp_path_factory):
    """A tiny random SmolVLM-style (Idefics3) model saved with its processor."""
    return _tiny_vlm(tmp_path_factory, "idefics3")


def test_generative_vlm_on_a_built_in_scene_draws_the_cells_of_each_view(smolvlm_dir):
    at = start(model=f"hf:{smolvlm_dir}", dataset="demo")
    assert not at.error
    shown = metrics(at)
    assert "Phrase NLL, Object" in shown and shown["MRC-KL"] == "n/a"
    assert any("left context" in c.value for c in at.caption)  # how the readout differs from the paper's
    assert any("causal" in i.value and "language-for-vision" in i.value for i in at.info)
    views = at.segmented_control(key="patch_view")
    assert views.options[-1] == "global" and views.options[0] == "tile r1 c1"
    assert dashed(image_spec(at)) > 0  # the cells under the box, in the view that loses them
    at.segmented_control(key="patch_view").set_value("global").run()
    at.segmented_control(key="vis4lang").set_value("all").run()
    assert dashed(image_spec(at)) == 16  # all 4 x 4 cells of the global view
    assert "Phrase NLL, All" in metrics(at)


def test_upload_with_a_generative_vlm(smolvlm_dir):
    at = start()
    at.text_input(key="model_custom").set_value(f"hf:{smolvlm_dir}").run()
    upload_field(at)
    assert not at.error and not at.exception
    assert at.session_state["example"] == "upload"
    assert "Phrase NLL, Object" in metrics(at) and dashed(image_spec(at)) > 0


def test_dataset_view_runs_a_generative_vlm_and_says_mrc_is_na(smolvlm_dir):
    at = start(model=f"hf:{smolvlm_dir}", dataset="demo", view="dataset")
    assert not at.error and not at.exception
    assert any("phrases" in h.value for h in at.subheader)
    assert any(i.value.startswith("MRC-KL n/a:") for i in at.info)
    assert any("left context only" in c.value for c in at.caption)


def test_a_generative_vlm_with_the_examples_mean_image_token(tmp_path_factory):
    smolvlm2_dir = _tiny_vlm(tmp_path_factory, "smolvlm")  # SmolVLM2, saved as the hub checkpoints are
    at = start(model=f"hf:{smolvlm2_dir}", dataset="demo")
    assert not at.error
    assert "Phrase NLL, Object" in metrics(at)
    assert any("this picture's mean image token" in c.value for c in at.caption)
    at.radio(key="baseline").set_value("dataset-mean").run()
    assert not at.error and not at.exception, [e.value for e in at.error]
    assert any("the examples' mean image token" in c.value for c in at.caption)  # as the result records it
    assert "Phrase NLL, Object" in metrics(at)  # the scores themselves: tests/test_vlm.py
    at = start(model=f"hf:{smolvlm2_dir}", dataset="demo", view="dataset", baseline="dataset-mean")
    assert not at.error and not at.exception
    assert any("the examples' mean image token" in c.value for c in at.caption)


def test_precision_and_device_in_the_sidebar_and_the_link():
    at = start()
    fp32 = metrics(at)["MLM loss, Object"]
    calls = MODEL.calls
    at.radio(key="precision").set_value("bf16").run()
    assert not at.exception and MODEL.calls == calls + 1  # another precision is another run
    assert query(at)["precision"] == "bf16" and "MLM loss, Object" in metrics(at)
    at.radio(key="precision").set_value("fp32").run()
    assert metrics(at)["MLM loss, Object"] == fp32 and MODEL.calls == calls + 1  # cached, exact
    again = start(precision="fp16", device="cpu")
    assert again.radio(key="precision").value == "fp16" and again.radio(key="device").value == "cpu"
    bad = start(precision="fp64")
    assert any("precision" in w.value and "fp64" in w.value and "not one of" in w.value for w in bad.warning)
    assert bad.radio(key="precision").value == "fp32"
    if not torch.cuda.is_available():
        at.radio(key="device").set_value("cuda").run()
        assert not at.exception and at.error and "no CUDA GPU" in at.error[0].value
        at.radio(key="device").set_value("cpu").run()
        assert metrics(at)["MLM loss, Object"] == fp32


# ---------------------------------------------------------------- issue 13: never a wrong view
def test_a_link_above_the_sliders_maximum_is_clamped_with_a_warning():
    at = start(threshold="0.97")
    assert any("threshold=0.97" in w.value and "0.95" in w.value for w in at.warning)
    assert at.slider(key="threshold").value == 0.95
    assert query(at)["threshold"] == "0.95"  # the view and the URL agree
    assert metrics(at) == metrics(start(threshold="0.95"))  # computed at the threshold shown
    assert metrics(at)["Aligned regions"] == "2 of 6"  # region 0 is the gold box; region 5 the whole image
    at.run()
    assert at.slider(key="threshold").value == 0.95 and query(at)["threshold"] == "0.95"


def test_editing_the_phrases_own_words_re_finds_the_phrase():
    at = start()
    at.text_input(key="caption_input").set_value("A short man walks a small dog in the park .").run()
    assert not at.error and "MLM loss, Object" in metrics(at)
    assert at.radio(key="phrase").format_func(0) == "A short man"  # the list says what is scored
    assert any("now reads 'A short man'" in c for c in captions(at) + [m.value for m in at.markdown])
    caption = next(m.value for m in at.markdown if "vlx-phrase" in m.value)
    assert ">A short man</span>" in caption
    at.text_input(key="caption_input").set_value("A short man walks a small cat in the park .").run()
    assert at.radio(key="phrase").format_func(1) == "a small cat"
    at.text_input(key="caption_input").set_value("A short man walks a small dog .").run()
    assert at.radio(key="phrase").format_func(2) == "the park (not in the caption) (no box)"
    assert not at.error and "MLM loss, Object" in metrics(at)


def test_whole_set_choice_opens_the_phrase_it_shows_after_the_list_changes():
    at = start(view="dataset")
    first = at.dataframe[0].value
    at.selectbox(key="open_row").set_value(f"{first.example_id[2]}:{first.phrase_index[2]}").run()
    at.radio(key="bar_side").set_value("lang4vis").run()  # another bar: another list
    table = at.dataframe[0].value
    pick = at.selectbox(key="open_row")
    shown = pick.format_func(pick.value)
    assert shown.startswith(f"{table.example_id[0]} · {table.phrase[0]}")  # its top row, not row 2
    at.button[[b.label for b in at.button].index("Open in the example view")].click().run()
    assert (at.session_state["example"], at.session_state["phrase"]) == (table.example_id[0],
                                                                          int(table.phrase_index[0]))
    assert at.radio(key="phrase").format_func(at.radio(key="phrase").value) == table.phrase[0]


def test_words_outside_the_vocabulary_are_flagged_before_the_scores():
    at = start()
    at.text_input(key="caption_input").set_value("A tall ☃ walks a small dog in the ⌘ .").run()
    flagged = [html.unescape(w.value) for w in at.warning]
    assert any("'☃' not in counted's vocabulary" in w and "measures nothing" in w for w in flagged), flagged
    assert any("'⌘'" in html.unescape(i.value) for i in at.info)
    at.text_input(key="caption_input").set_value("A tall man walks a small dog in the park .").run()
    assert not any("vocabulary" in w.value for w in at.warning)


def test_a_box_without_area_is_refused_and_zero_aligned_regions_say_why():
    at = start()
    at.toggle(key="redraw").set_value(True).run()
    at.number_input(key="box_x1").set_value(40.0)
    at.number_input(key="box_x2").set_value(40.0)
    apply_box(at)
    assert any("has no area" in e.value for e in at.error)
    assert not at.metric and not at.exception and at.get("bidi_component")
    none = start(alignment="iou", threshold="0.9", box="60,0,70,10")
    assert metrics(none)["Aligned regions"] == "0 of 6" and metrics(none)["MRC-KL"] == "n/a"
    assert any("MRC-KL n/a: no detector region overlaps the phrase's box by more than 0.9 (IOU)" in c
               for c in captions(none))
    open_tab(none, "Vision (MRC-KL)")
    assert not any("(target)" in none.selectbox(key="class_region").format_func(r)
                   for r in none.selectbox(key="class_region").options)


def test_a_phrase_number_beyond_the_example_warns():
    at = start(phrase="99")
    assert any("no phrase 99" in w.value for w in at.warning)
    assert at.radio(key="phrase").value == 0 and "MLM loss, Object" in metrics(at)


def test_a_tiny_upload_gets_its_own_message(vilt_dir):
    at = start(model=f"hf:{vilt_dir}")
    upload(at, ("dot.png", png(1, 1), "image/png"), "a green dot", "a green dot", "0,0,0,0")
    assert any("1x1 pixels, too small" in e.value for e in at.error), [e.value for e in at.error]
    assert not any("detector" in e.value for e in at.error) and not at.exception


# ---------------------------------------------------------------- issue 13: tells the story by itself
def test_the_page_opens_on_a_content_word_and_names_the_model_and_paper():
    at = start()
    token = at.radio(key="token_index")
    assert token.format_func(token.value).lower() in ("tall", "man")  # never the determiner "a"
    topk = bar_spec(at, "fig_topk")
    assert f"masked token {token.value + 1}" in topk["title"]
    line = next(c for c in captions(at) if c.startswith("**Model counted**"))
    assert "aclanthology.org/2021.emnlp-main.775" in line
    at.radio(key="phrase").set_value(1).run()  # another phrase: its own best word
    token = at.radio(key="token_index")
    assert token.format_func(token.value).lower() in ("small", "dog")


def test_the_whole_set_figure_names_each_paper_model_on_its_bars():
    at = start(view="dataset")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    paper = [t for t in spec["data"] if t["name"].endswith("(paper)")]
    assert len(paper) == 10  # five models, two panels
    assert all(set(t["text"]) == {t["name"].removesuffix(" (paper)")} for t in paper)


# ---------------------------------------------------------------- issue 13: presenter mode
def test_presenter_mode_from_a_link_steps_through_its_deck():
    at = start(present="1", deck="ex1:1,ex2:0", example="ex1", phrase="1")
    assert at.toggle(key="present").value is True
    story = next(m.value for m in at.markdown if m.value.startswith("Without its regions"))
    assert "a small dog" in story and "bits" in story
    assert "Deck: **1 of 2**" in [m.value for m in at.markdown]
    assert "MLM loss, Object" in metrics(at) and chart(at, "fig_tokens")["layout"]["font"]["size"] >= 16
    at.button(key="deck_next").click().run()
    assert (at.session_state["example"], at.session_state["phrase"]) == ("ex2", 0)
    assert query(at)["deck"] == "ex1:1,ex2:0" and query(at)["present"] == "1"
    at.button(key="deck_next").click().run()  # round again
    assert (at.session_state["example"], at.session_state["phrase"]) == ("ex1", 1)
    at.button(key="deck_previous").click().run()
    assert at.session_state["example"] == "ex2"


def test_the_presenter_builds_and_shares_a_deck():
    at = start()
    at.toggle(key="present").set_value(True).run()
    assert "Deck: 0 views; this one is not in it" in [m.value for m in at.markdown]
    at.button(key="deck_edit").click().run()
    at.button(key="open_ex2").click().run()
    at.button(key="deck_edit").click().run()
    assert query(at)["deck"] == "ex0:0,ex2:0" and query(at)["present"] == "1"
    at.button(key="deck_edit").click().run()  # take ex2 out again
    assert query(at)["deck"] == "ex0:0"
