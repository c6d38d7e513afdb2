"""A folder of checkpoints runs as one family: one run per seed, rows with a seed column."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vlexplore import registry
from vlexplore.assets import DEMO_DIR
from vlexplore.cli import main
from vlexplore.diagnostics import results_frame
from vlexplore.engine import diagnose_dataset
from vlexplore.seeds import checkpoint_family, family_spread, family_summary, run_family, seed_label


def seed_folders(root: Path) -> Path:
    """The two shipped built-in checkpoints as two "seeds", VOLTA's one-folder-per-seed layout."""
    for seed, name in (("s1", "demo"), ("s2", "demo-gold")):
        folder = root / f"ctrl_demo_{seed}"
        folder.mkdir(parents=True)
        for suffix in (".safetensors", ".json"):
            shutil.copy(DEMO_DIR / f"{name}{suffix}", folder / f"{name}{suffix}")
    return root


def test_seed_labels_and_layouts(tmp_path):
    assert seed_label("ctrl_uniter_s73") == "s73" and seed_label("pytorch_model_9") == "pytorch_model_9"
    family = checkpoint_family(seed_folders(tmp_path / "nested"))
    assert [(seed, path.name) for seed, path in family] == [("s1", "demo.safetensors"), ("s2", "demo-gold.safetensors")]
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("uniter_s0.bin", "uniter_s42.bin", "notes.txt"):
        (flat / name).write_bytes(b"x")
    assert [seed for seed, _ in checkpoint_family(flat)] == ["s0", "s42"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no checkpoint"):
        checkpoint_family(tmp_path / "empty")
    (tmp_path / "nested" / "ctrl_demo_s1" / "other.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="keep one per seed folder"):
        checkpoint_family(tmp_path / "nested")


def test_a_family_equals_separate_runs_of_each_seed(tmp_path):
    folder = seed_folders(tmp_path)
    dataset = registry.load_dataset("demo")
    frame = run_family("demo", folder, dataset, limit=12, progress=False)
    assert list(frame.columns[:2]) == ["seed", "checkpoint"] and sorted(frame["seed"].unique()) == ["s1", "s2"]
    for seed, path in checkpoint_family(folder):
        alone = results_frame(diagnose_dataset(registry.load_model("demo", checkpoint=str(path)), dataset,
                                               limit=12, progress=False))  # fmt: skip
        ours = frame[frame["seed"] == seed].reset_index(drop=True)
        for column in ("mlm_bits_none", "mlm_bits_object", "mrc_kl_bits_phrase"):
            np.testing.assert_allclose(ours[column], alone[column], rtol=1e-6)
    summary = family_summary(frame)
    spread = family_spread(summary).set_index(["metric", "condition"])
    per_seed = summary[(summary["metric"] == "MLM") & (summary["condition"] == "object")]["bits"]
    assert spread.loc[("MLM", "object"), "mean"] == pytest.approx(per_seed.mean())
    assert spread.loc[("MLM", "object"), "sd"] == pytest.approx(per_seed.std(ddof=1)) and spread["seeds"].eq(2).all()


def test_cli_runs_a_folder_as_a_family(tmp_path, capsys):
    folder = seed_folders(tmp_path / "seeds")
    out = tmp_path / "out"
    assert main(["diagnose", "--model", "demo", "--dataset", "demo", "--checkpoint", str(folder), "--limit", "6",
                 "--quiet", "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "2 seeds" in printed and "\ns1 " in printed and "\ns2 " in printed and "mean ± sd" in printed
    phrases = pd.read_csv(out / "phrases.csv")
    assert len(phrases) == 12 and set(phrases["seed"]) == {"s1", "s2"}
    assert len(json.loads((out / "summary.json").read_text())["spread"]) == 6
    assert main(["diagnose", "--model", "demo", "--checkpoint", str(folder), "--sweep", "0.5,0.1"]) == 2
    assert "give --checkpoint a file" in capsys.readouterr().err
