import json

import pandas as pd
import pytest

from vlexplore import cli, registry


@pytest.fixture(autouse=True)
def tiny_registry(monkeypatch):
    monkeypatch.setitem(registry.MODELS, "tiny", registry.ModelEntry("tiny:load_tiny", "test model"))
    monkeypatch.setitem(registry.DATASETS, "tinyset", registry.DatasetEntry("tiny:load_tiny_set", "test set"))


def test_diagnose_json(capsys):
    assert cli.main(["diagnose", "--model", "tiny", "--dataset", "tinyset", "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n"] == 6
    assert set(summary["vis4lang"]) == {"none", "object", "all"}
    assert set(summary["lang4vis"]) == {"none", "phrase", "all"}
    assert all(isinstance(v, float) for v in summary["vis4lang"].values())


def test_diagnose_table_and_out(tmp_path, capsys):
    code = cli.main(["diagnose", "--model", "tiny", "--dataset", "tinyset", "--limit", "4",
                     "--threshold", "0.7", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "MLM None" in out and "MRC-KL None" in out
    rows = pd.read_csv(tmp_path / "phrases.csv")
    assert len(rows) == 4
    assert {"mlm_bits_none", "mlm_bits_object", "mrc_kl_bits_phrase"} <= set(rows.columns)
    meta = json.loads((tmp_path / "summary.json").read_text())
    assert meta["settings"]["threshold"] == 0.7 and meta["n"] == 4


def test_unknown_model_is_a_clear_error(capsys):
    assert cli.main(["diagnose", "--model", "nosuch", "--dataset", "tinyset"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nosuch'" in err and "demo" in err


def test_prefix_needs_argument(capsys):
    assert cli.main(["diagnose", "--model", "volta:", "--dataset", "tinyset"]) == 2
    assert "needs an argument" in capsys.readouterr().err


def test_help_lists_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["diagnose", "--help"])
    text = capsys.readouterr().out
    for option in ("--model", "--dataset", "--limit", "--threshold", "--out", "--json"):
        assert option in text


def test_non_paper_baseline_is_never_labelled_paper(tmp_path, capsys):
    assert cli.main(["diagnose", "--model", "tiny", "--dataset", "tinyset", "--quiet", "--baseline", "zero",
                     "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "not the paper's protocol: baseline zero (paper: dataset average)" in out
    assert "protocol: paper" not in out
    rows = pd.read_csv(tmp_path / "phrases.csv")
    assert set(rows["baseline"]) == {"zero"} and not rows["is_paper"].any()
    assert set(rows["departures"]) == {"baseline zero (paper: dataset average)"}
    meta = json.loads((tmp_path / "summary.json").read_text())
    assert meta["baseline"] == "zero" and meta["is_paper"] is False
    assert cli.main(["diagnose", "--model", "tiny", "--dataset", "tinyset", "--quiet", "--json",
                     "--baseline", "zero"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["is_paper"] is False and summary["departures"] == ["baseline zero (paper: dataset average)"]


def test_paper_run_says_so(tmp_path, capsys):
    assert cli.main(["diagnose", "--model", "tiny", "--dataset", "tinyset", "--quiet", "--out", str(tmp_path)]) == 0
    assert "protocol: paper" in capsys.readouterr().out
    rows = pd.read_csv(tmp_path / "phrases.csv")
    assert set(rows["baseline"]) == {"dataset average"} and rows["is_paper"].all()
    assert json.loads((tmp_path / "summary.json").read_text())["is_paper"] is True
