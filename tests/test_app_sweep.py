"""The threshold sweep on the page: the whole set (on demand) and the chosen phrase."""

import json

import numpy as np
import pytest
from test_app import MODEL, chart, start, tiny_registry  # noqa: F401  (the fixture registers the tiny model)
from tiny import load_tiny_set

from vlexplore.sweep import sweep_dataset, sweep_summary
from vlexplore.views.page.sweep import THRESHOLDS

pytest.importorskip("streamlit")


def test_the_phrase_sweep_shows_which_regions_join():
    at = start()
    assert not at.error
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
