"""Bad command lines get one clear line and exit code 2; a bug is an "internal error" (exit 1)
with its traceback logged; --json and --quiet say and show what they promise."""

from __future__ import annotations

import json
import re

import pytest

from tests.flickr_fixture import write_entities, write_tsv
from vlexplore import cli, registry


@pytest.fixture(autouse=True)
def tiny_registry(monkeypatch):
    monkeypatch.setitem(registry.MODELS, "tiny", registry.ModelEntry("tiny:load_tiny", "test model"))
    monkeypatch.setitem(registry.DATASETS, "tinyset", registry.DatasetEntry("tiny:load_tiny_set", "test set"))


def _run(capsys, *args) -> tuple[int, str, str]:
    try:
        code = cli.main(["diagnose", "--model", "tiny", "--dataset", "tinyset", "--quiet", *args])
    except SystemExit as exit_:  # argparse refuses an option value
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args, message", [
    (["--threads", "-1"], "--threads: must be at least 1, got -1"),
    (["--limit", "-1"], "--limit: must be at least 1, got -1"),
    (["--limit", "0"], "--limit: must be at least 1, got 0"),
    (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
    (["--threshold", "1e400"], "--threshold: must be between 0 and 1"),
])  # fmt: skip
def test_out_of_range_options_are_refused(capsys, args, message):
    code, _, err = _run(capsys, *args)
    assert code == 2 and message in err


def test_out_naming_an_existing_file_is_refused_before_the_run(capsys, tmp_path):
    (tmp_path / "taken").write_text("x")
    code, out, err = _run(capsys, "--out", str(tmp_path / "taken"))
    assert code == 2 and "is an existing file; --out names a folder" in err and out == ""
    assert err.count("\n") == 1


def test_dataset_option_it_does_not_take_is_named(capsys):
    code = cli.main(["diagnose", "--model", "tiny", "--dataset", "demo", "--features", "x.tsv", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "dataset 'demo' does not take features" in err and "Traceback" not in err


def test_internal_error_is_reported_and_logged(capsys, monkeypatch, tmp_path):
    def broken(name, **options):
        raise RuntimeError("boom in a loader")

    monkeypatch.setattr(registry, "load_dataset", broken)
    monkeypatch.setenv("VLEXPLORE_LOG", str(tmp_path / "log" / "errors.log"))
    code, _, err = _run(capsys)
    assert code == 1
    assert "internal error: RuntimeError: boom in a loader" in err and "report it" in err
    assert f"attach the log file {tmp_path / 'log' / 'errors.log'}" in err and "Traceback" not in err
    assert "issue tracker" in err and err.count("\n") == 1
    logged = (tmp_path / "log" / "errors.log").read_text()
    assert "Traceback" in logged and "boom in a loader" in logged and "argv=" in logged


def test_json_lists_the_skipped_phrases(capsys):
    code, out, _ = _run(capsys, "--json")
    summary = json.loads(out)
    assert code == 0 and summary["skipped"] == [] and summary["n"] == 6


def test_empty_split_says_so(capsys, tmp_path):
    root = write_entities(tmp_path / "entities")
    (root / "val.txt").write_text("")
    code = cli.main(["diagnose", "--model", "tiny", "--dataset", f"flickr30k:{root}", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "val.txt is empty" in err and "0 skipped" not in err


def test_non_utf8_split_names_the_file(capsys, tmp_path):
    root = write_entities(tmp_path / "entities")
    (root / "val.txt").write_bytes("1000\ncaf\xe9\n".encode("latin-1"))
    code = cli.main(["diagnose", "--model", "tiny", "--dataset", f"flickr30k:{root}", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and f"{root / 'val.txt'} is not UTF-8 text" in err


def test_quiet_hides_the_features_bar(capsys, tmp_path):
    root = write_entities(tmp_path / "entities")
    features = write_tsv(tmp_path / "f.tsv")
    for quiet in (False, True):
        cli.main(["diagnose", "--model", "demo", "--dataset", f"flickr30k:{root}", "--features",
                  str(features), "--limit", "1", *(["--quiet"] if quiet else [])])
        err = capsys.readouterr().err
        assert ("features f.tsv" in err) is not quiet, err[-300:]


def test_a_multi_line_model_load_error_is_one_line(capsys, tmp_path):
    """The VOLTA key check lists its findings on indented lines; the CLI prints one line."""
    import torch

    checkpoint = tmp_path / "pytorch_model_9.bin"
    torch.save({"bert.not_a_volta_weight": torch.zeros(2)}, checkpoint)
    code = cli.main(["diagnose", "--model", "volta:uniter", "--checkpoint", str(checkpoint),
                     "--dataset", "tinyset", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert re.search(rf"{re.escape(str(checkpoint))} does not fit volta:uniter: \d+ missing keys: ", err)  # its lines, joined
    assert "; 1 unexpected keys: bert.not_a_volta_weight; Use a VOLTA pretraining checkpoint" in err
