"""On the page: threshold sweeps, attention beside ablation, seeds, and models side by side."""

import json

import numpy as np
import pytest
from test_app import MODEL, bar_spec, chart, open_tab, start, tiny_registry  # noqa: F401  (the fixture registers the tiny model)
from tiny import load_tiny_set

from vlexplore import registry
from vlexplore.diagnostics import summarize
from vlexplore.engine import diagnose, diagnose_dataset
from vlexplore.sweep import sweep_dataset, sweep_summary
from vlexplore.views.page.sweep import THRESHOLDS

pytest.importorskip("streamlit")


def test_the_phrase_sweep_shows_which_regions_join():
    at = start()
    with pytest.raises(AssertionError, match="no chart"):
        chart(at, "fig_phrase_sweep")  # on demand: the example view runs one forward by default
    calls = MODEL.calls
    at.toggle(key="phrase_sweep_on").set_value(True).run()
    assert not at.error and MODEL.calls == calls + 1
    at.slider(key="threshold").set_value(0.35).run()
    assert MODEL.calls == calls + 2  # the diagnosis reruns; the sweep does not depend on the threshold
    spec = chart(at, "fig_phrase_sweep")
    object_trace = next(t for t in spec["data"] if t["name"] == "Object")
    assert object_trace["x"] == list(THRESHOLDS)
    joined = [t for t in object_trace["text"] if t]
    assert joined and all(t.startswith("+r") for t in joined)
    regions = chart(at, "fig_sweep_regions")
    assert any("joins at t" in t.get("name", "") for t in regions["data"])


def test_the_whole_set_sweep_runs_on_demand_and_equals_the_library():
    at = start(view="dataset")
    with pytest.raises(AssertionError, match="no chart"):
        chart(at, "fig_sweep")  # not before it is asked for
    button = next(b for b in at.button if b.label.startswith("Sweep "))
    assert button.label == "Sweep 6 phrases"
    button.click().run()
    assert not at.exception and not at.error
    spec = chart(at, "fig_sweep")
    shown = next(t for t in spec["data"] if t["name"] == "Object")
    dataset = load_tiny_set()
    expected = sweep_summary(sweep_dataset(MODEL, dataset, THRESHOLDS, progress=False))
    np.testing.assert_allclose(shown["y"], expected["mlm_bits_object"], atol=1e-5)
    assert json.dumps(spec)  # a plain plotly spec


def test_attention_beside_ablation_in_the_example_view():
    at = start(model="demo", dataset="demo")
    at.toggle(key="attention_on").set_value(True).run()
    assert not at.exception and not at.error
    attention = chart(at, "fig_attention")
    assert "mean over heads" in attention["layout"]["title"]["text"]
    assert any(t["type"] == "heatmap" for t in attention["data"])
    effect = chart(at, "fig_object_effect")
    assert "Object ablation: MLM" in effect["layout"]["title"]["text"]
    layers = chart(at, "fig_attention_layers")
    assert {t["name"] for t in layers["data"] if t["type"] == "bar"} == {
        "aligned regions", "other regions", "whole image", "text"}
    assert any("Why attention and ablation can disagree" in m.value for m in at.markdown)
    at.select_slider(key="attention_layer").set_value(0).run()
    assert "layer 0" in chart(at, "fig_attention")["layout"]["title"]["text"]


def test_models_without_attention_show_no_attention_section():
    at = start()
    with pytest.raises(AssertionError, match="no chart"):
        chart(at, "fig_attention")


def test_a_failed_whole_set_sweep_says_why_caches_nothing_and_retries(monkeypatch):
    from vlexplore.views.page import session
    from vlexplore.views.page import sweep as page_sweep

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory in layer 3")

    session.dataset_runs.clear()  # the process's whole-set runs: an earlier test's sweep would be reused
    at = start(view="dataset")
    monkeypatch.setattr(page_sweep, "sweep_dataset", broken)
    next(b for b in at.button if b.label.startswith("Sweep ")).click().run()
    assert not at.exception
    assert any("could not be swept" in e.value and "out of memory in layer 3" in e.value for e in at.error)
    assert [s.label for s in at.status] == ["The sweep failed"]
    with pytest.raises(AssertionError, match="no chart"):
        chart(at, "fig_sweep")
    monkeypatch.setattr(page_sweep, "sweep_dataset", sweep_dataset)  # nothing was cached: it can run again
    next(b for b in at.button if b.label.startswith("Sweep ")).click().run()
    assert not at.exception and not at.error and chart(at, "fig_sweep")


def test_a_folder_of_seeds_runs_as_one_family_in_the_whole_set_view(tmp_path):
    for seed in ("ctrl_s1.bin", "ctrl_s2.bin"):
        (tmp_path / seed).write_bytes(b"weights")  # the test model ignores its checkpoint
    at = start(view="dataset", checkpoint=str(tmp_path))
    assert not at.exception and not at.error
    button = next(b for b in at.button if b.label.startswith("Run 2 seeds"))
    button.click().run()
    assert not at.exception and not at.error
    spec = chart(at, "fig_seeds")
    mine = [t for t in spec["data"] if t.get("name") == "your runs"]
    assert len(mine) == 6  # one panel per condition of each side
    assert all(len(t["text"]) == 2 for t in mine) and "counted s2" in mine[0]["text"][1]
    published = [t for t in spec["data"] if (t.get("meta") or {}).get("source") == "paper"]
    assert published  # the published seeds beside them


def test_two_models_side_by_side_in_the_example_view():
    at = open_tab(start(model="demo", dataset="demo"), "Models side by side")
    at.multiselect(key="compare_models").set_value(["demo-gold"]).run()
    assert not at.exception and not at.error
    assert not [w.value for w in at.warning if "demo-gold" in w.value]  # it loaded (a bad source said so here)
    spec = chart(at, "fig_models")
    assert {t["name"] for t in spec["data"]} == {"demo", "demo-gold"}
    table = next(d.value for d in at.dataframe if "memory (MB)" in d.value.columns)
    assert list(table.index) == ["demo", "demo-gold"] and (table["memory (MB)"] > 2).all()
    dataset = registry.load_dataset("demo")
    gold = diagnose(registry.load_model("demo-gold"), dataset[0], 0, average_feature=dataset.average_region_feature())
    assert table.loc["demo-gold", "MLM object"] == pytest.approx(gold.scores["vis4lang"]["object"], abs=1e-5)
    # the current model was not evicted: its own view still shows, and both stay loaded
    assert bar_spec(open_tab(at, "Language (MLM)"), "fig_tokens")["panels"][0]["bars"]


def test_every_loaded_model_on_the_whole_set_grouped_like_the_paper(monkeypatch):
    from vlexplore.views.page import dataset as page_dataset
    from vlexplore.views.page import session

    calls = []  # the model of every whole-set run, in order
    real = page_dataset.diagnose_dataset

    def counted(model, *args, **kwargs):
        calls.append(model.name)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(page_dataset, "diagnose_dataset", counted)
    session.dataset_runs.clear()
    at = open_tab(start(model="demo", dataset="demo"), "Models side by side")
    at.multiselect(key="compare_models").set_value(["demo-gold"]).run()  # loaded beside demo in the example view
    at.radio(key="view").set_value("dataset").run()
    assert not at.exception and not at.error and calls == ["demo"]  # the current model's own run
    assert at.multiselect(key="compare_models").value == ["demo-gold"]  # the choice outlived the other view
    with pytest.raises(AssertionError, match="no chart"):
        chart(at, "fig_grouped")  # demo-gold runs only when asked
    at.button(key="group_run").click().run()
    assert not at.exception and not at.error and not at.warning
    assert calls == ["demo", "demo-gold"]  # demo came from the run cache, not run again
    spec = chart(at, "fig_grouped")
    mine = [t for t in spec["data"] if t["meta"]["source"] == "run"]
    dataset = registry.load_dataset("demo")
    for name in ("demo", "demo-gold"):
        traces = [t for t in mine if t["meta"]["run"] == f"{name} · demo"]
        assert len(traces) == 6 and all(t["x"] == [f"{name}<br>demo<br>(your run)"] for t in traces)
        results = list(diagnose_dataset(registry.load_model(name), dataset, progress=False,
                                        average_feature=dataset.average_region_feature()))
        summary = summarize(results)
        for t in traces:
            side = "vis4lang" if t["meta"]["metric"] == "MLM" else "lang4vis"
            assert t["y"][0] == pytest.approx(summary[side][t["meta"]["condition"]], abs=1e-6)
    assert any(t["meta"]["source"] == "paper" for t in spec["data"])  # the published bars for scale
    at.toggle(key="group_all_paper").set_value(False).run()  # neither is a published model: no hatched bars
    assert calls == ["demo", "demo-gold"] and not [t for t in chart(at, "fig_grouped")["data"]
                                                   if t["meta"]["source"] == "paper"]
    at.text_input(key="compare_extra").input("nosuch").run()  # a third that cannot load: asked for, it says why
    at.button(key="group_run").click().run()
    assert not at.exception and [w.value for w in at.warning if "nosuch" in w.value]
    assert calls == ["demo", "demo-gold"] and len(chart(at, "fig_grouped")["data"]) == 12  # the others still drawn
    at.run()  # not tried again until asked
    assert [w.value for w in at.warning if "nosuch" in w.value] and chart(at, "fig_grouped")
