"""The paper's figures: every published number drawn is the authors' table entry it came from."""

import csv
import math
import re

import numpy as np
import pandas as pd
import pytest
from tiny import load_tiny, load_tiny_set

from vlexplore import cli, paper
from vlexplore.assets import PAPER_RESULTS
from vlexplore.diagnostics import paper_results, results_frame, summarize
from vlexplore.engine import diagnose_dataset
from vlexplore.runs import paper_architecture, read_run, run_frame
from vlexplore.views import paper_figures


def raw_tables() -> dict[tuple[str, int, str], float]:
    """Every number of the shipped tables, parsed with the csv module (not pandas)."""
    values = {}
    for file in paper.TABLES.values():
        with open(PAPER_RESULTS / file, newline="") as handle:
            reader = csv.reader(handle, delimiter="\t")
            header = next(reader)
            for line in reader:
                for column, text in zip(header[3:], line[3:], strict=True):
                    if text:
                        values[file, int(line[0]), column] = float(text)
    return values


RAW = raw_tables()


@pytest.fixture(scope="module")
def runs():
    results = list(diagnose_dataset(load_tiny(), load_tiny_set(), progress=False))
    return results, run_frame(results_frame(results), "tiny · run1", "tiny", 0.5)


def test_the_published_frame_is_the_tables():
    frame = paper.published()
    assert len(frame) == len(RAW)
    for table, row, metric, value in zip(frame["table"], frame["row"], frame["metric"], frame["value"], strict=True):
        assert RAW[table, row, metric] == value
    assert paper.architectures() == ("LXMERT", "ViLBERT", "VL-BERT", "VisualBERT", "UNITER")
    thresholds = frame[(frame["name"] == "UNITER") & (frame["condition"] == "object")]["threshold"]
    assert sorted(thresholds) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    seeds = frame[(frame["model"] == "UNITER") & frame["seed"].notna()]["seed"].unique()
    assert len(seeds) == 10


def test_headline_and_main_seeds_agree_with_the_authors_headline_table():
    path = PAPER_RESULTS / "headline.tsv"
    shipped = pd.read_csv(path, sep="\t", comment="#").set_index("model")
    derived = paper.headline().pivot_table(index="model", columns=["metric", "condition"], values="bits")
    for model, line in shipped.iterrows():
        for column, value in line.items():
            side, condition = column.split("_")
            metric = "MLM" if side == "mlm" else "MRC-KL"
            assert round(derived.loc[model, (metric, condition)], 3) == pytest.approx(value, abs=1e-9), (model, column)
    stated = dict(re.findall(r"([\w-]+) s(\d+)", path.read_text().split("main seeds:")[1].split(")")[0]))
    assert paper.main_seeds() == {m: int(s) for m, s in stated.items()}
    assert paper_results().equals(paper.headline())  # one place: the app's bars read the same frame


def drawn_paper_points(fig):
    for trace in fig.data:
        if trace.meta and trace.meta.get("source") == "paper":
            for y, custom in zip(trace.y, trace.customdata, strict=True):
                yield float(y), custom


@pytest.mark.parametrize("name", list(paper_figures.FIGURES))
def test_every_published_number_drawn_equals_its_table(name, runs):
    fig = paper_figures.FIGURES[name](runs=runs[1])
    points = list(drawn_paper_points(fig))
    expected = {"main": 5 * 6, "thresholds": 5 * 12, "seeds": 5 * 10 * 6, "labelmatch": 3 * 5 * 3,
                "mrc_xe": 3 * 5 * 3}[name]
    assert len(points) == expected
    for y, (table, row, metric, *_) in points:
        assert y == RAW[table, int(row), metric], (table, row, metric)


def test_the_threshold_sweep_is_the_released_models_and_none_all_ends():
    fig = paper_figures.threshold_figure()
    lines = {t.name: t for t in fig.data if t.meta and t.meta.get("source") == "paper"}
    assert set(lines) == {f"{m} (paper)" for m in paper.architectures()}
    uniter = lines["UNITER (paper)"]
    assert list(uniter.x) == ["None", "0.9", "0.8", "0.7", "0.6", "0.5", "0.4", "0.3", "0.2", "0.1", "0.0", "All"]
    assert uniter.y[0] < uniter.y[5] < uniter.y[-1]


def test_the_main_seed_is_starred():
    fig = paper_figures.seed_figure()
    mains = paper.main_seeds()
    for trace in fig.data:
        if trace.meta and trace.meta.get("source") == "paper":
            stars = [c[4] for c, s in zip(trace.customdata, trace.marker.symbol, strict=True) if s == "star"]
            assert stars == [f"seed {mains[trace.meta['model']]} (main)"]


def test_runs_are_drawn_beside_the_paper_and_labelled(runs):
    results, frame = runs
    summary = summarize(results)
    mine = frame[frame["subset"] == "all"].set_index(["metric", "condition"])["value"]
    for condition, value in summary["vis4lang"].items():
        assert mine["MLM", condition] == pytest.approx(value)
    for condition, value in summary["lang4vis"].items():
        assert mine["MRC-KL", condition] == pytest.approx(value)
    fig = paper_figures.main_figure(runs=frame)
    drawn = [t for t in fig.data if t.meta and t.meta.get("source") == "run"]
    assert len(drawn) == 6 and all("(your run)" in t.name for t in drawn)
    assert all(x == "tiny<br>run1<br>(your run)" for t in drawn for x in t.x)
    by_condition = {(t.meta["metric"], t.meta["condition"]): t.y[0] for t in drawn}
    assert by_condition["MLM", "object"] == pytest.approx(summary["vis4lang"]["object"])
    assert by_condition["MRC-KL", "all"] == pytest.approx(summary["lang4vis"]["all"])


def test_labelmatch_subsets_of_a_run(runs):
    results, frame = runs
    table = results_frame(results)
    labelled = table[(table["label"] != "") & np.isfinite(table["mrc_kl_bits_none"])]
    agree = labelled[[c.split("|")[0] == lab for c, lab in zip(labelled["detector_top_classes"], labelled["label"], strict=True)]]
    got = frame.set_index(["subset", "metric", "condition"])
    for subset, rows in (("labelmatch", labelled), ("labelmatch-agree", agree)):
        assert got.loc[(subset, "MRC-KL", "none"), "n"] == len(rows)
        expected = rows["mrc_kl_bits_none"].mean() if len(rows) else math.nan
        assert got.loc[(subset, "MRC-KL", "none"), "value"] == pytest.approx(expected, nan_ok=True)


def test_model_specs_map_to_the_published_architectures():
    assert paper_architecture("volta:vl-bert") == "VL-BERT"
    assert paper_architecture("volta:uniter") == "UNITER"
    assert paper_architecture("demo") == "demo"


def test_cli_writes_png_and_html_with_runs(tmp_path, monkeypatch, capsys):
    from vlexplore import registry

    monkeypatch.setitem(registry.MODELS, "tiny", registry.ModelEntry("tiny:load_tiny", "test model"))
    monkeypatch.setitem(registry.DATASETS, "tinyset", registry.DatasetEntry("tiny:load_tiny_set", "test set"))
    run = tmp_path / "run"
    assert cli.main(["diagnose", "--model", "tiny", "--dataset", "tinyset", "--out", str(run), "--quiet"]) == 0
    out = tmp_path / "figures"
    assert cli.main(["figures", "--out", str(out), "--runs", str(run), "--quiet"]) == 0
    for name in paper_figures.FIGURES:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        html = (out / f"{name}.html").read_text()
        assert "(paper)" in html and "(your run)" in html
    assert (out / "plotly.min.js").is_file()  # offline HTML
    frame = read_run(run)
    assert set(frame["run"]) == {"tiny · run"}


def test_cli_figures_bad_runs_folder(tmp_path, capsys):
    assert cli.main(["figures", "--out", str(tmp_path / "f"), "--runs", str(tmp_path), "--format", "html"]) == 2
    err = capsys.readouterr().err
    assert "phrases.csv" in err and "vlexplore diagnose --out" in err
