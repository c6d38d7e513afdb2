"""The app's library side: URL state, overlays, figures, and turning user input into examples."""

import base64
import io
import json
import struct
import zlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from tiny import TinyVL, make_example

from vlexplore.diagnostics import paper_results, summarize, summary_frame
from vlexplore.engine import diagnose, diagnose_dataset
from vlexplore.protocol import PAPER
from vlexplore.records import Example, ExampleSet, Phrase, Regions
from vlexplore.views import charts, figures, overlay
from vlexplore.views import examples as ex
from vlexplore.views.state import ViewState, from_query, parse_box, to_query


def values(array_or_spec):
    """Plotly figure arrays may be typed (base64 'bdata'); give plain numbers either way."""
    if isinstance(array_or_spec, dict) and "bdata" in array_or_spec:
        return np.frombuffer(base64.b64decode(array_or_spec["bdata"]), dtype=array_or_spec["dtype"]).tolist()
    return list(np.asarray(array_or_spec, dtype=float))


@pytest.fixture(scope="module")
def model():
    return TinyVL()


@pytest.fixture(scope="module")
def diagnosis(model):
    return diagnose(model, make_example(), 0, all_regions=True)


# ------------------------------------------------------------------ state
def test_state_round_trips_through_the_query_string():
    state = ViewState(view="dataset", model="demo-gold", example="scene_0007", phrase=2, vis4lang="all",
                      lang4vis="none", threshold=0.3, alignment="iou", baseline="zero",
                      caption="a red ball", box="1,2,30,40", words="red")
    query = to_query(state)
    assert all(isinstance(v, str) for v in query.values())
    decoded, problems = from_query(query)
    assert decoded == state and problems == []


def test_default_state_gives_a_short_link_and_paper_settings():
    query = to_query(ViewState(example="x"))
    assert set(query) == {"view", "model", "example"}
    assert ViewState().settings() == PAPER


def test_bad_link_values_fall_back_and_are_reported():
    state, problems = from_query({"vis4lang": "sometimes", "threshold": "2", "phrase": "-1",
                                  "alignment": "IOU", "box": "1,2,3", "model": ""})
    assert state.vis4lang == "object" and state.threshold == 0.5 and state.phrase == 0
    assert state.alignment == "iou"  # case-insensitive
    assert state.box == "" and state.model == "demo"
    text = " ".join(problems)
    for word in ("vis4lang", "threshold", "phrase", "box", "model"):
        assert word in text
    assert len(problems) == 5


def test_volta_checkpoint_and_flickr30k_paths_ride_in_the_link():
    state = ViewState(model="volta:uniter", checkpoint="/data/ctrl_uniter/pytorch_model_9.bin",
                      dataset="flickr30k:/data/f30k", features="/data/f30k_val.tsv", images="/data/imgs")
    query = to_query(state)
    assert query["checkpoint"] == "/data/ctrl_uniter/pytorch_model_9.bin"
    assert query["features"] == "/data/f30k_val.tsv" and query["images"] == "/data/imgs"
    decoded, problems = from_query({**query, "checkpoint": "  /data/x.bin "})
    assert problems == [] and decoded == replace(state, checkpoint="/data/x.bin")  # stripped
    assert state.model_options() == {"checkpoint": "/data/ctrl_uniter/pytorch_model_9.bin"}
    assert state.dataset_options() == {"features": "/data/f30k_val.tsv", "images": "/data/imgs"}
    assert replace(state, images="").dataset_options() == {"features": "/data/f30k_val.tsv"}
    # paths belong to their spec: another model or dataset gets no options, and no link noise
    other = replace(state, model="demo", dataset="demo")
    assert other.model_options() == {} and other.dataset_options() == {}
    assert "checkpoint" not in to_query(ViewState(model="volta:uniter"))


def test_selection_box_from_a_dragged_rectangle():
    from vlexplore.views.state import selection_box

    assert selection_box([80.6, -5, 10.2, 30.4], (100, 80)) == "10,0,81,30"  # ordered, rounded, clipped
    assert selection_box([-20, 5, 500, 900], (100, 80)) == "0,5,99,79"
    assert selection_box([1, 2, 3], (100, 80)) is None
    assert selection_box([1, 2, "x", 4], (100, 80)) is None
    assert selection_box([1, 2, float("nan"), 4], (100, 80)) is None
    assert selection_box(None, (100, 80)) is None


def test_parse_box():
    assert parse_box("1, 2, 30,40").tolist() == [1, 2, 30, 40]
    with pytest.raises(ValueError, match="four"):
        parse_box("a,b,c,d")
    with pytest.raises(ValueError, match="four"):
        parse_box("1,2,3,nan")


# ------------------------------------------------------------------ overlay
def test_caption_html_colours_each_phrase_and_escapes():
    example = make_example(caption="A tall man walks a small dog in the park <b> .")
    out = overlay.caption_html(example.caption, example.phrases, selected=1)
    assert out.count('class="vlx-phrase"') == 3
    assert overlay.rgba(overlay.phrase_colour(0), 0.22) in out
    assert "&#60;b&#62;" in out and "<b>" not in out
    assert 'data-phrase="1"' in out and "font-weight:700" in out
    import html
    import re

    assert html.unescape(re.sub(r"<span[^>]*>|</span>", "", out)) == example.caption


def test_region_heat_averages_covering_regions():
    boxes = np.array([[0, 0, 49, 99], [0, 0, 99, 99]], float)
    heat = overlay.region_heat(boxes, np.array([1.0, 3.0]), (100, 100), cells=10)
    assert heat.shape == (10, 10)
    assert np.allclose(heat[:, :5], 2.0) and np.allclose(heat[:, 5:], 3.0)
    gap = overlay.region_heat(boxes[:1], np.array([1.0]), (100, 100), cells=10)
    assert np.isnan(gap[:, 5:]).all()


def test_image_figure_marks_ablated_regions_and_target(diagnosis):
    image = overlay.example_image(diagnosis.example)
    assert image.shape == (80, 100, 3)
    for condition, count in (("none", 0), ("object", 3), ("all", 6)):
        ablated = diagnosis.ablated[("vis4lang", condition)]
        fig = overlay.image_figure(image, diagnosis.example.phrases, 0, diagnosis.unit_boxes, ablated,
                                   diagnosis.alignment.target)
        dashed = [s for s in fig.layout.shapes if s.line.dash == "dash"]
        assert len(dashed) == count
    gold = [s for s in fig.layout.shapes if s.name and s.name.startswith("phrase 0")]
    assert len(gold) == 1 and gold[0].x0 == 9.5 and gold[0].x1 == 40.5 and gold[0].line.width == 4.0
    assert any(s.name == "MRC target" for s in fig.layout.shapes)


def test_the_pages_picture_draws_what_the_exported_figure_draws(diagnosis):
    image = overlay.example_image(diagnosis.example)
    ablated, target = diagnosis.ablated[("vis4lang", "all")], diagnosis.alignment.target
    fig = overlay.image_figure(image, diagnosis.example.phrases, 0, diagnosis.unit_boxes, ablated, target)
    spec = overlay.picture_spec(image, diagnosis.example.phrases, 0, diagnosis.unit_boxes, ablated, target,
                                clickable=[0, 4])
    assert json.loads(json.dumps(spec)) == spec  # plain data, as the component gets it
    assert [(o["box"], o["colour"], o["width"], o["dash"], o["name"]) for o in spec["outlines"]] == [
        ([s.x0, s.y0, s.x1, s.y1], s.line.color, s.line.width, s.line.dash, s.name) for s in fig.layout.shapes]
    badge = next(a for a in fig.layout.annotations if a.text == "target")
    assert (spec["badge"]["x"], spec["badge"]["y"]) == (badge.x, badge.y)
    assert spec["src"] == fig.data[0].source and (spec["width"], spec["height"]) == (100, 80)
    regions = {o["region"] for o in spec["outlines"] if o["region"] is not None}
    assert regions == set(range(len(diagnosis.unit_boxes))) and spec["clickable"] == [0, 4]


def drawn(panel: dict) -> list[tuple]:
    """A chart spec's panel as (category label, condition slot, value, colour), slot by slot as plotly
    draws its traces."""
    bars = sorted(panel["bars"], key=lambda b: (b["slot"], b["category"]))
    return [(panel["categories"][b["category"]], b["slot"], b["value"], b["colour"]) for b in bars]


def test_the_pages_language_charts_draw_what_the_exported_figures_draw(diagnosis):
    fig, spec = figures.token_figure(diagnosis, None), charts.token_chart_spec(diagnosis)
    assert json.loads(json.dumps(spec)) == spec  # plain data, as the component gets it
    assert [(i["name"], i["colour"]) for i in spec["legend"]] == [
        (t.name, t.marker.color) for t in fig.data if t.showlegend is not False]
    for panel, axis in zip(spec["panels"], ("x", "x2"), strict=True):
        traces = [t for t in fig.data if t.xaxis == axis]
        assert drawn(panel) == [(x, slot, pytest.approx(y), t.marker.color)
                                for slot, t in enumerate(traces) for x, y in zip(t.x, t.y, strict=True)]
    assert [p["title"] for p in spec["panels"]] == [a.text for a in fig.layout.annotations]
    assert spec["panels"][1]["range"] == list(fig.layout.yaxis2.range)
    loss = spec["panels"][0]
    assert all(f"{b['value']:.2f} bits" in b["hover"] for b in loss["bars"])
    assert loss["range"][1] >= max(b["value"] for b in loss["bars"])

    token = 1
    fig, spec = figures.topk_figure(diagnosis, token, None), charts.topk_chart_spec(diagnosis, token)
    assert json.loads(json.dumps(spec)) == spec and spec["title"] == fig.layout.title.text
    assert [p["title"] for p in spec["panels"]] == [a.text for a in fig.layout.annotations]
    for panel, trace, axis in zip(spec["panels"], fig.data, ("xaxis", "xaxis2", "xaxis3"), strict=True):
        assert panel["horizontal"] and panel["range"] == pytest.approx(list(fig.layout[axis].range))
        # plotly stacks categories bottom-up; the SVG reads top-down, rank 1 first
        assert [(c, b["value"], b["colour"], b["text"]) for c, b in zip(panel["categories"], panel["bars"],
                                                                        strict=True)] == [
            (y, pytest.approx(x), colour, text) for y, x, colour, text in
            zip(trace.y[::-1], trace.x[::-1], trace.marker.color[::-1], trace.text[::-1], strict=True)]
        assert all(f"{b['value']:.3f}" in b["hover"] and trace.name in b["hover"] for b in panel["bars"])


def test_thumbnail_is_small_and_draws_boxes():
    example = make_example()
    thumb = overlay.thumbnail(example, size=50)
    assert thumb.shape == (40, 50, 3)
    assert (thumb != 200).any()  # boxes drawn over the neutral canvas


# ------------------------------------------------------------------ figures
def test_token_figure_shows_all_conditions_and_highlights_the_chosen(diagnosis):
    fig = figures.token_figure(diagnosis, selected="all")
    bits = [t for t in fig.data if t.xaxis == "x"]
    assert [t.legendgroup for t in bits] == ["none", "object", "all"]
    for trace in bits:
        expected = diagnosis.tokens[diagnosis.tokens.condition == trace.legendgroup].sort_values("token_index")
        assert np.allclose(values(trace.y), expected.mlm_bits)
    assert [t.marker.opacity for t in bits] == [figures.FADED, figures.FADED, 1.0]
    assert bits[2].name == "All (shown)"


def test_figures_without_a_chosen_condition_draw_the_three_alike(diagnosis):
    """What the page draws: one chart that does not depend on the shown condition."""
    for fig in (figures.token_figure(diagnosis, None), figures.topk_figure(diagnosis, 0, None),
                figures.region_kl_figure(diagnosis, None)):
        names = [t.name for t in fig.data]
        assert not any("(shown)" in n for n in names)
        assert all(t.marker.opacity in (None, 1.0) and not (t.marker.line and t.marker.line.width)
                   for t in fig.data)
        assert not any("(shown)" in (a.text or "") for a in fig.layout.annotations)
    assert [t.name for t in figures.token_figure(diagnosis, None).data if t.xaxis == "x"] == ["None", "Object", "All"]


def test_topk_figure_reports_change_against_none(diagnosis):
    fig = figures.topk_figure(diagnosis, token_index=0, selected="object")
    assert len(fig.data) == 3
    first = diagnosis.topk.position.min()
    none_top = diagnosis.topk[(diagnosis.topk.condition == "none") & (diagnosis.topk.position == first)]
    assert sorted(values(fig.data[0].x)) == pytest.approx(sorted(none_top.prob))
    assert any("(" in text for text in fig.data[1].text)  # object: probabilities with their change


def test_region_figures(diagnosis, model):
    fig = figures.region_kl_figure(diagnosis, "phrase")
    assert len(fig.data) == 3 and len(values(fig.data[0].y)) == 6
    assert list(fig.data[0].x) == ["r0*T", "r1*", "r2", "r3", "r4", "r5*"]
    change = figures.region_change(diagnosis, "all")
    table = diagnosis.regions.pivot_table(index="region", columns="condition", values="mrc_kl_bits")
    assert np.allclose(change, (table["all"] - table["none"]).to_numpy())
    classes = figures.class_distribution_figure(diagnosis, 0, "phrase", k=3, model=model)
    detector = classes.data[0]
    assert np.allclose(sorted(values(detector.x), reverse=True),
                       np.sort(diagnosis.example.regions.cls_prob[0])[::-1][:3])
    assert len(classes.data) == 4
    heat = figures.heat_figure(diagnosis, overlay.example_image(diagnosis.example), "all")
    assert any(t.type == "heatmap" for t in heat.data)


def test_class_figure_shows_what_mrc_kl_compared_for_an_lxmert_shaped_head():
    """1,601 detector classes (background first) against a 1,600-way head, as LXMERT: the
    figure plots the model's bars and the detector's renormalised distribution over the
    model's classes, the two whose KL is the MRC-KL in the regions table."""
    from vlexplore.models.hf_lxmert import HFLxmert

    class LxmertShaped(TinyVL):
        detector_targets = HFLxmert.detector_targets

    lxmert = LxmertShaped(num_classes=1600)
    lxmert.region_class_names = tuple(f"class{i}" for i in range(1, 1601))  # the detector's without class0
    example = make_example(num_classes=1601)
    diagnosis = diagnose(lxmert, example, 0, all_regions=True)
    fig = figures.class_distribution_figure(diagnosis, 0, "phrase", k=4, model=lxmert)
    assert [t.name for t in fig.data] == ["detector (target)", "None", "Phrase (shown)", "All"]
    target = example.regions.cls_prob[0, 1:] / example.regions.cls_prob[0, 1:].sum()
    order = np.argsort(-target, kind="stable")[:4]
    assert list(fig.data[0].y) == [f"class{i + 1}" for i in order]
    assert np.allclose(values(fig.data[0].x), target[order])
    column = list(diagnosis.region_positions).index(0)
    for trace, condition in zip(fig.data[1:], ("none", "phrase", "all"), strict=True):
        probs = diagnosis.region_probs[condition][column]
        assert np.allclose(values(trace.x), probs[order])
        kl = float(np.sum(target * np.log2(target / probs)))
        row = diagnosis.regions[(diagnosis.regions.region == 0) & (diagnosis.regions.condition == condition)]
        assert kl == pytest.approx(float(row.mrc_kl_bits.iloc[0]), rel=1e-3)


def test_target_badge_keeps_its_font(diagnosis):
    image = overlay.example_image(diagnosis.example)
    fig = overlay.image_figure(image, diagnosis.example.phrases, 0, diagnosis.unit_boxes, None,
                               diagnosis.alignment.target)
    badge = next(a for a in fig.layout.annotations if a.text == "target")
    assert badge.font.color == "white" and badge.font.size == 11


def test_dataset_figure_labels_the_paper(model):
    results = list(diagnose_dataset(model, ExampleSet("s", [make_example(0), make_example(1)]), progress=False))
    summary = summarize(results)
    fig = figures.dataset_figure(summary_frame(summary, "tiny"), paper_results(), model="tiny (this run)")
    run = [t for t in fig.data if t.name == "tiny (this run)"]
    assert len(run) == 2
    assert np.allclose(values(run[0].y), [summary["vis4lang"][c] for c in ("none", "object", "all")])
    paper = [t for t in fig.data if t.name.endswith("(paper)")]
    assert {t.name for t in paper} == {f"{m} (paper)" for m in ("LXMERT", "ViLBERT", "VL-BERT", "VisualBERT", "UNITER")}
    lxmert = next(t for t in paper if t.name == "LXMERT (paper)" and t.xaxis == "x")
    assert values(lxmert.y) == pytest.approx([4.681, 4.996, 5.717], abs=5e-4)  # the headline rounds to 3 places


def test_effect_table_sorts_by_effect():
    frame = pd.DataFrame({
        "example_id": ["a", "b", "c"], "phrase_index": [0, 1, 0], "phrase": ["x", "y", "z"],
        "mlm_bits_none": [1.0, 1.0, 1.0], "mlm_bits_object": [1.5, 3.0, 0.5], "mlm_bits_all": [2, 2, 2],
        "mrc_kl_bits_none": [np.nan, 1.0, 1.0], "mrc_kl_bits_phrase": [np.nan, 1.1, 1.3],
        "mrc_kl_bits_all": [np.nan, 1.0, 1.0],
    })
    table = figures.effect_table(frame, "vis4lang", "object")
    assert table.example_id.tolist() == ["b", "a", "c"]
    assert table.effect.tolist() == pytest.approx([2.0, 0.5, -0.5])
    assert figures.effect_table(frame, "lang4vis", "phrase").example_id.tolist() == ["c", "b"]


# ------------------------------------------------------------------ user input -> Example
def png_bytes(width=64, height=48, colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def huge_png_header(width=20000, height=20000) -> bytes:
    """A PNG whose header claims width x height (its pixels are missing): a decompression bomb."""
    data = png_bytes(1, 1)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    start = 8
    return data[:start] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[start + 25:]


def fake_detector(image):
    height, width = image.shape[:2]
    boxes = np.array([[0, 0, width - 1, height - 1], [5, 5, 30, 30]], float)
    return Regions(boxes=boxes, features=np.ones((2, 8), np.float32), image_size=(width, height),
                   cls_prob=np.full((2, 5), 0.2), class_names=tuple(f"class{i}" for i in range(5)))


def test_upload_builds_an_example_through_the_detector(model):
    example = ex.example_from_upload(io.BytesIO(png_bytes()), "a red square on white",
                                     [("a red square", [2, 2, 40, 40])], detector=fake_detector)
    assert example.image.shape == (48, 64, 3) and example.image_size == (64, 48)
    assert example.phrases[0].text == "a red square" and len(example.regions) == 2
    result = diagnose(model, example, 0)
    assert np.isfinite(result.scores["vis4lang"]["object"])
    pixels = ex.example_from_upload(png_bytes(), "a red square", [("red", "1,1,9,9")], input_kind="pixels")
    assert pixels.regions is None


@pytest.mark.parametrize(
    ("data", "caption", "phrase", "box", "message"),
    [
        (b"name,value\n1,2\n", "a cat", "a cat", [0, 0, 5, 5], "not an image"),
        (png_bytes()[:60], "a cat", "a cat", [0, 0, 5, 5], "corrupt or truncated"),
        (huge_png_header(), "a cat", "a cat", [0, 0, 5, 5], "too large"),
        (png_bytes(), "   ", "a cat", [0, 0, 5, 5], "caption is empty"),
        (png_bytes(), "a cat on a mat", "a dog", [0, 0, 5, 5], "not in the caption"),
        (png_bytes(), "a cat on a mat", "a cat", [0, 0, 100, 5], "outside the 64x48 image"),
        (png_bytes(), "a cat on a mat", "a cat", [], "draw a box"),
    ],
)
def test_bad_uploads_raise_clear_errors(data, caption, phrase, box, message):
    with pytest.raises(ValueError, match=message):
        ex.example_from_upload(data, caption, [(phrase, box)], detector=fake_detector, name="upload 'x'")


def test_upload_for_a_region_model_needs_a_detector():
    with pytest.raises(ValueError, match="detector"):
        ex.example_from_upload(png_bytes(), "a cat", [("a cat", [0, 0, 5, 5])], input_kind="regions")


def test_edit_example_caption_phrase_and_box():
    example = make_example()
    edited, index, notes = ex.edit_example(example, 1, caption="a small dog sleeps")
    assert edited.caption == "a small dog sleeps" and index == 0
    assert [p.text for p in edited.phrases] == ["a small dog"]
    assert len(notes) == 2 and "A tall man" in notes[0]
    assert np.array_equal(edited.phrases[0].boxes, example.phrases[1].boxes)
    boxed, index, _ = ex.edit_example(example, 0, box=[1, 2, 30, 40])
    assert index == 0 and boxed.phrases[0].boxes.tolist() == [[1, 2, 30, 40]]
    assert boxed.phrases[1].boxes.tolist() == example.phrases[1].boxes.tolist()
    assert ex.fingerprint(boxed) != ex.fingerprint(example) == ex.fingerprint(make_example())
    retyped, index, _ = ex.edit_example(example, 0, phrase_text="man", box=[1, 2, 30, 40])
    assert retyped.phrases[index].text == "man" and retyped.phrases[index].first_word == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(caption=""), "caption is empty"),
        (dict(caption="a cat sleeps"), "'A tall man' is not in the caption"),
        (dict(box=[0, 0, 120, 10]), "outside the 100x80 image"),
        (dict(box=[30, 0, 10, 10]), "reversed"),
    ],
)
def test_edit_example_rejects_bad_edits(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ex.edit_example(make_example(), 0, **kwargs)


def test_simulated_regions_for_an_upload_find_the_colourful_objects():
    pytest.importorskip("vlexplore.world.detector")
    import cv2

    from vlexplore.views.sources import simulated_regions

    image = np.full((300, 400, 3), 200, np.uint8)
    cv2.circle(image, (100, 100), 50, (220, 30, 30), -1)
    cv2.rectangle(image, (250, 150), (350, 260), (30, 30, 220), -1)
    regions = simulated_regions(image)
    assert len(regions) == 36 and regions.image_size == (400, 300)
    assert regions.features.shape == (36, 128) and np.allclose(regions.cls_prob.sum(1), 1)
    boxes = regions.boxes.tolist()
    assert [50, 50, 150, 150] in boxes and [250, 150, 350, 260] in boxes
    assert np.array_equal(simulated_regions(image).boxes, regions.boxes)  # deterministic
    large = cv2.resize(image, (4000, 3000), interpolation=cv2.INTER_NEAREST)
    scaled = simulated_regions(large)
    assert scaled.image_size == (4000, 3000) and scaled.boxes.max() <= 3999
    assert np.allclose(scaled.boxes[0], np.array(boxes[0]) * 10, atol=12)


def test_an_edit_inside_a_phrase_keeps_it_and_an_edit_across_its_border_drops_it():
    example = make_example()
    moved = ex.relocate_phrases(example, "A short man walks a small dog in the park .")
    assert [p.text for p in moved] == ["A short man", "a small dog", "the park"]
    edited, index, notes = ex.edit_example(example, 0, caption="A very tall man walks a small dog in the park .")
    assert edited.phrases[index].text == "A very tall man" and notes == ["phrase 'A tall man' now reads 'A very tall man'"]
    assert np.array_equal(edited.phrases[index].boxes, example.phrases[0].boxes)
    crossed = ex.relocate_phrases(example, "A tall man walks a small cat .")  # "dog in the park" -> "cat"
    assert crossed[0].text == "A tall man" and crossed[1] is None and crossed[2] is None
    twins = Example("t", "a red shape left of a red shape", [
        Phrase.find("a red shape left of a red shape", "a red shape", occurrence=k, boxes=[[0, 0, 5, 5]])
        for k in (0, 1)], (10, 10))
    assert [(p.text, p.first_word) for p in ex.relocate_phrases(twins, "a red shape left of a blue shape")] == [
        ("a red shape", 0), ("a blue shape", 5)]


def test_a_box_needs_area_and_an_upload_a_few_pixels():
    with pytest.raises(ValueError, match="has no area"):
        ex.edit_example(make_example(), 0, box=[40, 10, 40, 60])
    with pytest.raises(ValueError, match="1x1 pixels, too small"):
        ex.example_from_upload(png_bytes(1, 1), "a dot", [("a dot", [0, 0, 0, 0])], detector=fake_detector)


def test_unknown_words_are_the_ones_the_tokenizer_cannot_spell():
    from vlexplore.text import bert_tokenizer

    assert ex.unknown_words(bert_tokenizer(), "a tall ☃ walks a ☃ dog") == ["☃"]
    assert ex.unknown_words(None, "anything") == []


def test_library_advice_is_said_in_the_apps_words():
    from vlexplore.views.text import in_app_words

    assert in_app_words("looks like an lxmert checkpoint; pass --model volta:lxmert") == (
        "looks like an lxmert checkpoint; type volta:lxmert as the model in the sidebar")
    assert "allow_download" not in in_app_words("not cached: pass allow_download=True to fetch it here")
    assert in_app_words("invalid literal for int() with base 10: 'x'") == "'x' is not a whole number"


def test_a_threshold_above_the_slider_is_clamped_and_the_deck_round_trips():
    state, problems = from_query({"threshold": "0.97", "present": "1", "deck": "ex0:1, ex2:0,bad:x"})
    assert state.threshold == 0.95 and "0.97" in problems[0] and "0.95" in problems[0]
    assert state.present is True and state.deck == "ex0:1,ex2:0" and "'bad:x'" in problems[1]
    assert from_query(to_query(state))[0] == state and to_query(state)["present"] == "1"


def test_the_change_map_is_symmetric_in_bits_with_a_noise_floor(diagnosis):
    heat = figures.heat_figure(diagnosis, overlay.example_image(diagnosis.example), "phrase")
    trace = next(t for t in heat.data if t.type == "heatmap")
    change = figures.region_change(diagnosis, "phrase")
    assert trace.zmin == -trace.zmax and trace.zmax >= max(figures.HEAT_MIN_RANGE_BITS, np.nanmax(np.abs(change)))
    floor = figures.noise_floor_bits(diagnosis)
    assert floor > 0 and "bits" in trace.colorbar.title.text and f"{floor:.3f}" in trace.colorbar.title.text
    z = np.asarray(trace.z, dtype=float)
    if np.all(np.abs(change[np.isfinite(change)]) <= floor):
        assert np.isnan(z).all()  # nothing above the noise: nothing painted


def test_the_story_says_loses_or_gains_in_bits():
    from vlexplore.views.text import story_line

    line = story_line("a pink star", 0.1, -0.0021)
    assert line == ("Without its regions, the model loses **0.10 bits** on \u201ca pink star\u201d; "
                    "without the words, it gains **0.002 bits** on this region.")
    assert "cannot be measured" in story_line("x", 1.0, float("nan"))


def test_exports_fit_slides_and_have_file_names_without_spaces(diagnosis):
    import zipfile

    from vlexplore.views import export

    assert export.file_name("random:12_p0", "top predictions", ext="png") == "random-12_p0_top-predictions.png"
    fig = figures.topk_figure(diagnosis, 1)
    slide = export.slide_figure(fig)
    assert (slide.layout.width, slide.layout.height) == export.SLIDE_SIZE
    assert slide.layout.margin.l >= 60 and slide.layout.font.size >= 18
    assert all(axis.automargin for axis in (slide.layout.yaxis, slide.layout.yaxis2, slide.layout.yaxis3))
    assert fig.layout.font.size is None  # the page's figure is left as it was
    archive = zipfile.ZipFile(io.BytesIO(export.phrase_zip({"top predictions": fig},
                                                           {"tokens": diagnosis.tokens}, "ex0_p0")))
    assert sorted(archive.namelist()) == ["ex0_p0_tokens.csv", "ex0_p0_top-predictions.html",
                                          "ex0_p0_top-predictions.png", "plotly.min.js"]
    assert b'src="plotly.min.js"' in archive.read("ex0_p0_top-predictions.html")
    png = archive.read("ex0_p0_top-predictions.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size == (2 * export.SLIDE_SIZE[0], 2 * export.SLIDE_SIZE[1])


def test_png_exports_from_two_threads_get_their_own_picture():
    """kaleido's shared renderer hands results back from one queue: renders must not swap."""
    import threading

    import plotly.graph_objects as go

    from vlexplore.views import export

    results: dict[float, bytes] = {}

    def render(scale: float) -> None:
        results[scale] = export.png_bytes(go.Figure(go.Bar(y=[1, 2, 3])), scale=scale)

    threads = [threading.Thread(target=render, args=(scale,)) for scale in (0.25, 0.5, 0.25, 0.5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    for scale, png in results.items():
        width = Image.open(io.BytesIO(png)).size[0]
        assert width == round(scale * export.SLIDE_SIZE[0])


def test_png_export_restarts_a_renderer_whose_browser_died():
    import threading
    from queue import Queue

    import kaleido
    import plotly.graph_objects as go

    from vlexplore.views import export

    export.warm_renderer()
    kaleido.stop_sync_server(silence_warnings=True)
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    server = kaleido._global_server  # the state kaleido leaves when its browser fails to start:
    server._initialized, server._thread = True, dead  # "running", with a thread that has ended
    server._task_queue, server._return_queue = Queue(), Queue()
    png = export.png_bytes(go.Figure(go.Bar(y=[1])), scale=0.1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert kaleido._global_server._thread is not dead and kaleido._global_server._thread.is_alive()
