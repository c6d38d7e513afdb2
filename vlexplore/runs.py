"""The user's own runs as tidy frames shaped like the published ones (``vlexplore.paper``).

A run is what ``vlexplore diagnose --out DIR`` writes (``phrases.csv``, one row per phrase,
and ``summary.json`` with the model and settings), or the per-phrase results of
``engine.diagnose_dataset`` in memory. The same means as ``diagnostics.summarize``, and the
paper's LabelMatch subsets, so a run can be drawn beside the published numbers.

May import: paper.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .paper import architectures

__all__ = ["RUN_COLUMNS", "paper_architecture", "run_frame", "read_run", "read_runs"]

RUN_COLUMNS = ["run", "subset", "side", "metric", "model", "condition", "threshold", "value", "n",
               "aligned_per_phrase"]


def paper_architecture(model: str) -> str:
    """The published architecture a model spec runs ('volta:vl-bert' -> 'VL-BERT'), or the spec."""
    name = model.rpartition(":")[2]
    key = name.lower().replace("-", "").replace("_", "")
    for arch in architectures():
        if key == arch.lower().replace("-", ""):
            return arch
    return model


def _top_class(classes) -> str:
    return str(classes).split("|")[0] if isinstance(classes, str) and classes else ""


def run_frame(phrases: pd.DataFrame, run: str, model: str = "", threshold: float = 0.5) -> pd.DataFrame:
    """One run's means (bits) per subset, side and condition, from its per-phrase rows
    (``diagnostics.results_frame`` or a ``phrases.csv``)."""
    labels = phrases["label"].fillna("").astype(str)
    top = phrases["detector_top_classes"].map(_top_class)
    lang = np.isfinite(phrases["mrc_kl_bits_none"].astype(float))
    subsets = {
        "all": lang,
        "labelmatch": lang & (labels != ""),
        "labelmatch-agree": lang & (labels != "") & (top == labels),
    }
    arch = paper_architecture(model) if model else run
    aligned = float(phrases["n_aligned"].mean()) if len(phrases) else math.nan
    rows = []
    for condition in ("none", "object", "all"):
        values = phrases[f"mlm_bits_{condition}"].astype(float)
        rows.append([run, "all", "vis4lang", "MLM", arch, condition,
                     threshold if condition == "object" else math.nan, float(values.mean()), len(values), aligned])
    for subset, keep in subsets.items():
        for condition in ("none", "phrase", "all"):
            values = phrases.loc[keep, f"mrc_kl_bits_{condition}"].astype(float)
            mean = float(values.mean()) if len(values) else math.nan
            rows.append([run, subset, "lang4vis", "MRC-KL", arch, condition, threshold, mean, len(values), aligned])
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def read_run(directory: str | Path, name: str | None = None) -> pd.DataFrame:
    """A ``vlexplore diagnose --out DIR`` folder as a ``run_frame``."""
    directory = Path(directory)
    phrases_path, summary_path = directory / "phrases.csv", directory / "summary.json"
    for path in (phrases_path, summary_path):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: --runs takes folders written by `vlexplore diagnose --out DIR`"
            )
    meta = json.loads(summary_path.read_text())
    phrases = pd.read_csv(phrases_path, keep_default_na=False, na_values=[""])
    needed = {"label", "detector_top_classes", "n_aligned", "mlm_bits_none", "mrc_kl_bits_none"}
    missing = sorted(needed - set(phrases.columns))
    if missing:
        raise ValueError(f"{phrases_path}: no column {missing[0]!r}; was it written by `vlexplore diagnose --out`?")
    model = str(meta.get("model", ""))
    threshold = float(meta.get("settings", {}).get("threshold", 0.5))
    return run_frame(phrases, name or f"{model} · {directory.name}", model, threshold)


def read_runs(directories) -> pd.DataFrame:
    """Several run folders, one frame (``run`` tells them apart)."""
    frames = [read_run(d) for d in directories]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RUN_COLUMNS)
