"""A condition switch needs no computing: the model does not run again, each figure is built
once per result and shown condition, and the page draws the condition that was chosen."""

from collections import Counter

import pytest
from test_app import (  # noqa: F401
    MODEL,
    bar_chart,
    bar_spec,
    chart,
    dashed,
    image_spec,
    metrics,
    open_tab,
    query,
    start,
    tiny_registry,
)

from vlexplore.views import charts, figures, overlay

FIGURES = ("token_figure", "topk_figure", "region_kl_figure", "class_distribution_figure", "heat_figure")


@pytest.fixture
def builds(monkeypatch) -> Counter:
    """How many times each per-example figure (and the picture's drawing) is built."""
    counts = Counter()

    def counting(name, build):
        def counted(*args, **kwargs):
            counts[name] += 1
            return build(*args, **kwargs)
        return counted

    for name in FIGURES:
        monkeypatch.setattr(figures, name, counting(name, getattr(figures, name)))
    monkeypatch.setattr(overlay, "picture_spec", counting("picture_spec", overlay.picture_spec))
    for name in ("token_chart_spec", "topk_chart_spec"):  # the page's SVG charts of the first two
        monkeypatch.setattr(charts, name, counting(name, getattr(charts, name)))
    return counts


def picture_id(at) -> str:
    return at.get("bidi_component")[0].proto.id


def test_a_condition_switch_runs_no_model_and_builds_each_figure_once(builds):
    at = start()
    calls = MODEL.calls
    assert builds == Counter({"token_chart_spec": 1, "topk_chart_spec": 1, "picture_spec": 1})
    # closed tabs are not drawn; the Language tab's plotly figures wait for the export
    # Regions replaced (MLM): the image's dashed outlines and the metric follow, in the same
    # picture (its element id stays: the browser updates it in place); the token and
    # top-prediction charts compare the three conditions alike and stay exactly as they were
    # (a changed chart is a new chart to the browser)
    tokens, topk, picture = bar_spec(at, "fig_tokens"), bar_spec(at, "fig_topk"), picture_id(at)
    ids = bar_chart(at, "fig_tokens").proto.id, bar_chart(at, "fig_topk").proto.id
    assert [item["name"] for item in tokens["legend"]] == ["None", "Object", "All"]
    for condition, label, outlined in (("all", "All", 6), ("none", "None", 0), ("object", "Object", 3),
                                       ("all", "All", 6)):
        at.segmented_control(key="vis4lang").set_value(condition).run()
        assert not at.exception
        assert f"MLM loss, {label}" in metrics(at)
        assert dashed(image_spec(at)) == outlined and picture_id(at) == picture
        assert (bar_spec(at, "fig_tokens"), bar_spec(at, "fig_topk")) == (tokens, topk)
        assert (bar_chart(at, "fig_tokens").proto.id, bar_chart(at, "fig_topk").proto.id) == ids
        assert query(at)["vis4lang"] == condition if condition != "object" else "vis4lang" not in query(at)
    assert builds["picture_spec"] == 3  # once per condition shown: Object, All, None
    # Words masked (MRC-KL), on the vision tab: the metric and the change map follow, the region
    # and class charts and the picture stay
    open_tab(at, "Vision (MRC-KL)")
    regions, maps, image = chart(at, "fig_regions"), [], image_spec(at)
    for condition, label in (("all", "All"), ("none", "None"), ("phrase", "Phrase"), ("all", "All")):
        at.segmented_control(key="lang4vis").set_value(condition).run()
        assert f"MRC-KL, {label}" in metrics(at)
        assert chart(at, "fig_regions") == regions and image_spec(at) == image
        maps.append(chart(at, "fig_heat"))
    assert maps[0] == maps[3] != maps[2] == maps[1]  # All's map, then Phrase's (None shows Phrase's)
    assert MODEL.calls == calls, "a condition switch must not run the model"
    # each figure built once for the result; the change map once per condition it shows
    assert builds["token_chart_spec"] == builds["topk_chart_spec"] == 1
    assert builds["token_figure"] == builds["topk_figure"] == 0
    assert builds["region_kl_figure"] == builds["class_distribution_figure"] == 1
    assert builds["heat_figure"] == 2  # All's and Phrase's (the change map of None is Phrase's)
    assert builds["picture_spec"] == 3
    open_tab(at, "Tables & export")  # the export builds the Language tab's plotly figures, once
    open_tab(at, "Language (MLM)")
    open_tab(at, "Tables & export")
    assert builds["token_figure"] == builds["topk_figure"] == 1
    assert MODEL.calls == calls


def test_a_closed_tab_keeps_its_choices_and_the_export_has_both_sides():
    at = open_tab(start(), "Vision (MRC-KL)")
    region = at.selectbox(key="class_region")
    other = next(r for r in range(len(region.options)) if r != region.value)  # regions 0..5 are scored
    region.set_value(other).run()
    open_tab(at, "Language (MLM)")
    at.radio(key="token_index").set_value(1).run()
    open_tab(at, "Vision (MRC-KL)")
    assert at.selectbox(key="class_region").value == other and not at.warning
    open_tab(at, "Tables & export")
    assert at.selectbox(key="export_figure").options == ["tokens", "top predictions", "region KL", "classes",
                                                         "change map"]
    open_tab(at, "Language (MLM)")
    assert at.radio(key="token_index").value == 1


def test_another_phrase_is_a_new_result_with_its_own_figures(builds):
    at = start()
    before = builds["token_chart_spec"]
    at.radio(key="phrase").set_value(1).run()
    assert builds["token_chart_spec"] == before + 1  # another result: its own chart
    calls = MODEL.calls
    at.radio(key="phrase").set_value(0).run()  # the first phrase's result and charts are still kept
    assert MODEL.calls == calls and builds["token_chart_spec"] == before + 1
