"""Models side by side: one phrase under several models, what each takes in memory, and several
models' whole-set runs grouped like the paper's main figure."""

from __future__ import annotations

import pytest
from tiny import TinyVL

from vlexplore import paper, registry
from vlexplore.compare import compare_models, memory_bytes, runs_frame, scores_frame
from vlexplore.diagnostics import summarize
from vlexplore.engine import diagnose, diagnose_dataset
from vlexplore.records import ExampleSet
from vlexplore.runs import RUN_COLUMNS
from vlexplore.views import paper_figures


def test_each_model_scores_the_phrase_as_alone_and_a_misfit_is_reported():
    dataset = registry.load_dataset("demo")
    average = dataset.average_region_feature()
    models = {"demo": registry.load_model("demo"), "demo-gold": registry.load_model("demo-gold"), "tiny": TinyVL()}
    done, failed = compare_models(models, dataset[0], 0, average_feature=average)
    assert set(done) == {"demo", "demo-gold"} and "tiny" in failed and "8-d" in failed["tiny"]
    scores = scores_frame(done)
    assert len(scores) == 12
    for name in done:
        alone = diagnose(models[name], dataset[0], 0, average_feature=average)
        mine = scores[scores["model"] == name].set_index(["side", "condition"])["bits"]
        for side in ("vis4lang", "lang4vis"):
            for condition, bits in alone.scores[side].items():
                assert mine[(side, condition)] == pytest.approx(bits, abs=1e-6)


def test_memory_counts_weights_and_buffers_once():
    demo = registry.load_model("demo")
    network = demo.network
    expected = sum(p.numel() * p.element_size() for p in network.parameters())
    expected += sum(b.numel() * b.element_size() for b in network.buffers())
    assert memory_bytes(demo) == expected
    tiny = TinyVL()  # several modules as attributes, the MLM decoder among them
    parts = [tiny.words, tiny.positions, tiny.image, tiny.location, tiny.layer, tiny.mlm, tiny.mrc]
    assert memory_bytes(tiny) == sum(p.numel() * 4 for part in parts for p in part.parameters())


@pytest.fixture(scope="module")
def two_runs():
    """demo and demo-gold on the first examples of the built-in world (the paper's baseline)."""
    full = registry.load_dataset("demo")
    examples = ExampleSet("demo", full.examples[:10])
    average = full.average_region_feature()
    return {name: list(diagnose_dataset(registry.load_model(name), examples, progress=False, average_feature=average))
            for name in ("demo", "demo-gold")}


def test_the_runs_frame_holds_each_models_summary(two_runs):
    frame = runs_frame(two_runs, "demo")
    assert list(frame.columns) == RUN_COLUMNS
    assert list(dict.fromkeys(frame["run"])) == ["demo · demo", "demo-gold · demo"]
    for name, results in two_runs.items():
        summary = summarize(results)
        mine = frame[(frame["run"] == f"{name} · demo") & (frame["subset"] == "all")].set_index(["side", "condition"])
        for side in ("vis4lang", "lang4vis"):
            for condition, bits in summary[side].items():
                assert mine.loc[(side, condition), "value"] == pytest.approx(bits, abs=1e-9)
        assert mine.loc[("vis4lang", "none"), "n"] == summary["n"]
        assert mine.loc[("lang4vis", "none"), "n"] == summary["n_lang4vis"]
    assert set(runs_frame({"volta:uniter": two_runs["demo"]})["model"]) == {"UNITER"}  # beside its published bars
    assert runs_frame({}).empty


def test_the_main_figure_groups_several_runs_each_named_on_the_axis(two_runs):
    summaries = {name: summarize(results) for name, results in two_runs.items()}
    fig = paper_figures.main_figure(runs=runs_frame(two_runs, "demo"))
    mine = [t for t in fig.data if t.meta and t.meta["source"] == "run"]
    for name, summary in summaries.items():
        label = f"{name}<br>demo<br>(your run)"
        traces = [t for t in mine if t.meta["run"] == f"{name} · demo"]
        assert len(traces) == 6 and all(list(t.x) == [label] for t in traces)  # the x tick names the model
        for t in traces:
            side = "vis4lang" if t.meta["metric"] == "MLM" else "lang4vis"
            assert t.y[0] == pytest.approx(summary[side][t.meta["condition"]], abs=1e-9)
    released = list(paper.architectures())
    for axis in (fig.layout.xaxis, fig.layout.xaxis2):  # the paper's five, then each run in order
        assert list(axis.categoryarray) == [*released, "demo<br>demo<br>(your run)", "demo-gold<br>demo<br>(your run)"]
    names = [(a.text, a.x, a.xref) for a in fig.layout.annotations if a.name == paper_figures.RUN_NAME]
    assert names == [(name, f"{name}<br>demo<br>(your run)", xref) for xref in ("x", "x2")
                     for name in ("demo", "demo-gold")]  # each model named above its own bars, in both panels
    published = {t.meta["condition"] for t in fig.data if t.meta["source"] == "paper" and t.meta["metric"] == "MLM"}
    assert published == {"none", "object", "all"}


def test_a_run_of_a_published_model_stands_beside_its_published_bars(two_runs):
    runs = runs_frame({"volta:uniter": two_runs["demo"], "demo-gold": two_runs["demo-gold"]})
    fig = paper_figures.main_figure(runs=runs, published="matching")
    assert list(fig.layout.xaxis.categoryarray) == [
        "UNITER", "volta:uniter<br>(your run)", "demo-gold<br>(your run)"]
    headline = paper.headline().set_index(["model", "side", "condition"])["bits"]
    drawn = [t for t in fig.data if t.meta["source"] == "paper"]
    assert len(drawn) == 6 and all(list(t.x) == ["UNITER"] for t in drawn)
    for t in drawn:
        side = "vis4lang" if t.meta["metric"] == "MLM" else "lang4vis"
        assert t.y[0] == headline["UNITER", side, t.meta["condition"]]
    bare = paper_figures.main_figure(runs=runs, published="none")
    assert not [t for t in bare.data if t.meta["source"] == "paper"] and len(bare.data) == 12
    with pytest.raises(ValueError, match="published='some'.*all, matching, none"):
        paper_figures.main_figure(runs=runs, published="some")
