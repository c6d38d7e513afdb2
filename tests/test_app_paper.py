"""The whole-set view's paper figures and the positive control, driven with Streamlit's AppTest."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from vlexplore import paper, registry
from vlexplore.diagnostics import summarize
from vlexplore.engine import diagnose_dataset

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def tiny_registry(monkeypatch):
    monkeypatch.setitem(registry.MODELS, "tiny", registry.ModelEntry("tiny:load_tiny", "test model"))
    monkeypatch.setitem(registry.DATASETS, "tinyset", registry.DatasetEntry("tiny:load_tiny_set", "test set"))


def start(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"view": "dataset", **query})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def numbers(y) -> list[float]:
    """A trace's y as plain floats (plotly may encode arrays as base64 typed arrays)."""
    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.dtype(y["dtype"])).tolist()
    return list(y)


def charts(at) -> dict[str, dict]:
    return {e.proto.id: json.loads(e.proto.spec) for e in at.get("plotly_chart")}


def test_whole_set_view_shows_the_paper_figures_with_this_run_beside_them():
    at = start(model="tiny", dataset="tinyset")
    found = {key: spec for key, spec in charts(at).items() if "paper_figure_" in key}
    assert len(found) == 5
    main = next(spec for key, spec in found.items() if "paper_figure_main" in key)
    published = paper.published().set_index(["table", "row", "metric"])["value"]
    paper_traces = [t for t in main["data"] if t.get("meta", {}).get("source") == "paper"]
    assert len(paper_traces) == 6  # None, Object, All (MLM); None, Phrase, All (MRC-KL)
    for trace in paper_traces:
        drawn = numbers(trace["y"])
        assert drawn == [published[c[0], c[1], c[2]] for c in trace["customdata"]]
    runs = [t for t in main["data"] if t.get("meta", {}).get("source") == "run"]
    assert runs and all("(your run)" in t["name"] for t in runs)
    from tiny import load_tiny, load_tiny_set

    summary = summarize(diagnose_dataset(load_tiny(), load_tiny_set(), progress=False))
    mlm_none = next(t for t in runs if t["meta"] == {"source": "run", "subset": "all", "metric": "MLM",
                                                      "condition": "none", "run": "tiny · tinyset", "model": "tiny"})
    assert numbers(mlm_none["y"]) == pytest.approx([summary["vis4lang"]["none"]], abs=1e-6)


def test_the_positive_control_shows_language_use_against_gold_labels():
    at = start(model="demo-lang", dataset="demo-lang", region_labels="gold")
    assert at.radio(key="region_labels").value == "gold"
    spec = next(spec for key, spec in charts(at).items() if "dataset_chart" in key)
    run = {t["xaxis"]: t for t in spec["data"] if t["name"] == "demo-lang (this run)"}
    values = numbers(run["x2"]["y"])
    none, phrase, everything = values
    assert phrase - none >= 0.3 and everything - none >= 0.3, values
    at.radio(key="region_labels").set_value("silver").run()  # the paper's setting: silver labels
    assert not at.error and at.session_state["region_labels"] == "silver"
