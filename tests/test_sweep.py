"""Threshold sweeps: one pass equals separate runs at each threshold."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tiny import TinyVL, make_example

from vlexplore import registry
from vlexplore.cli import main
from vlexplore.engine import diagnose_dataset
from vlexplore.protocol import AblationSettings
from vlexplore.records import ExampleSet
from vlexplore.sweep import parse_thresholds, sweep_dataset, sweep_phrase, sweep_summary

THRESHOLDS = parse_thresholds("0.9:0.0:0.1")


@pytest.fixture(scope="module")
def demo():
    return registry.load_model("demo"), registry.load_dataset("demo")


def test_parse_thresholds():
    assert THRESHOLDS == (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)
    assert parse_thresholds("0.0:0.5:0.25") == (0.0, 0.25, 0.5)
    assert parse_thresholds("0.5, 0.2,0.5") == (0.5, 0.2)
    with pytest.raises(ValueError, match="START:STOP:STEP"):
        parse_thresholds("0.9:0.0:-0.1")
    with pytest.raises(ValueError, match="START:STOP:STEP"):
        parse_thresholds("high")
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\)"):
        parse_thresholds("1.0:0.5:0.1")


def test_sweep_equals_separate_runs_at_each_threshold(demo):
    model, dataset = demo
    sweep = sweep_dataset(model, dataset, THRESHOLDS, limit=24, progress=False)
    assert len(sweep) == 24 * len(THRESHOLDS)
    for threshold in THRESHOLDS:
        settings = AblationSettings(threshold=threshold)
        separate = list(diagnose_dataset(model, dataset, settings, limit=24, progress=False))
        rows = sweep[sweep["threshold"] == threshold]
        assert len(rows) == len(separate)
        for (_, row), result in zip(rows.iterrows(), separate, strict=True):
            assert (row["example_id"], row["phrase_index"]) == (result.example_id, result.phrase_index)
            assert row["n_aligned"] == result.n_aligned
            for condition in ("none", "object", "all"):
                assert row[f"mlm_bits_{condition}"] == pytest.approx(
                    getattr(result, f"mlm_bits_{condition}"), abs=1e-4
                ), (threshold, condition, result.example_id)
    # the sweep is not flat: Object moves with the threshold on this data
    summary = sweep_summary(sweep)
    assert list(summary["threshold"]) == list(THRESHOLDS)
    assert summary["mlm_bits_object"].max() - summary["mlm_bits_object"].min() > 0.05
    assert summary["share_aligned"].is_monotonic_increasing  # lower thresholds align more
    assert summary["mlm_bits_none"].nunique() == 1 and summary["mlm_bits_all"].nunique() == 1


def test_only_distinct_aligned_sets_are_run():
    model = TinyVL()
    examples = ExampleSet("tiny", [make_example(seed) for seed in range(3)])
    model.calls = 0
    sweep = sweep_dataset(model, examples, THRESHOLDS, batch_size=100, progress=False)
    assert model.calls == 1  # one forward for every phrase and every threshold
    expected_rows = 0
    for _, phrase_rows in sweep.groupby(["example_id", "phrase_index"]):
        n = int(phrase_rows["n_regions"].iloc[0])
        sets = {a for a in phrase_rows["aligned"]} - {"", "|".join(map(str, range(n)))}
        expected_rows += 2 + len(sets)  # None, All, one Object row per distinct non-trivial set
    assert model.last_batch.size == expected_rows
    empty = sweep[sweep["n_aligned"] == 0]
    assert (empty["mlm_bits_object"] == empty["mlm_bits_none"]).all()


def test_one_phrase_sweep_lists_the_regions_that_join(demo):
    model, dataset = demo
    average = dataset.average_region_feature()
    one = sweep_phrase(model, dataset[0], 0, THRESHOLDS, average_feature=average)
    whole = sweep_dataset(model, dataset, THRESHOLDS, limit=1, progress=False)
    np.testing.assert_allclose(one["mlm_bits_object"], whole["mlm_bits_object"], atol=1e-5)
    sets = [set(filter(None, a.split("|"))) for a in one["aligned"]]
    assert all(earlier <= later for earlier, later in zip(sets, sets[1:], strict=False))


def test_pixel_models_are_refused():
    class Pixels(TinyVL):
        input_kind = "pixels"
        name = "pixels"

    with pytest.raises(ValueError, match="needs a region model"):
        sweep_dataset(Pixels(), [make_example(0)], THRESHOLDS, progress=False)


def test_cli_sweep_writes_one_row_per_threshold(tmp_path, capsys):
    assert main(["diagnose", "--model", "demo", "--dataset", "demo", "--limit", "6", "--quiet",
                 "--sweep", "0.8:0.2:0.3", "--out", str(tmp_path)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    summary = pd.read_csv(tmp_path / "sweep.csv")
    assert list(summary["threshold"]) == [0.8, 0.5, 0.2]
    assert len(pd.read_csv(tmp_path / "sweep_phrases.csv")) == 18
    assert main(["diagnose", "--model", "demo", "--dataset", "demo", "--limit", "6", "--quiet", "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert summary.loc[1, "mlm_bits_object"] == pytest.approx(single["vis4lang"]["object"], abs=1e-4)
    assert "0.50" in printed
    assert main(["diagnose", "--model", "demo", "--sweep", "0.9:0.1"]) == 2
    assert "START:STOP:STEP" in capsys.readouterr().err


def test_join_thresholds_names_the_highest_threshold_a_region_is_ablated_at():
    from vlexplore.views.figures import join_thresholds, phrase_sweep_figure

    rows = pd.DataFrame({"threshold": [0.9, 0.5, 0.1], "aligned": ["", "2", "2|4"], "phrase": "a dog",
                         "mlm_bits_none": 1.0, "mlm_bits_object": [1.0, 1.5, 2.0], "mlm_bits_all": 3.0,
                         "n_aligned": [0, 1, 2]})  # fmt: skip
    joins = join_thresholds(rows, 5)
    assert joins[2] == 0.5 and joins[4] == 0.1 and np.isnan(joins[[0, 1, 3]]).all()
    text = next(t for t in phrase_sweep_figure(rows).data if t.name == "Object").text
    assert list(text) == ["", "+r2", "+r4"]
