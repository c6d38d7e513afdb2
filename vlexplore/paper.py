"""The paper's published numbers, read from the authors' result tables in assets/paper_results.

Frank, Bugliarello & Elliott (EMNLP 2021) released one table per readout: MLM for
vision-for-language (every model at thresholds 0.9 ... 0.0, pretraining variants, ten seeds)
and MRC-KL / MRC-XE for language-for-vision (all phrases, and the LabelMatch subsets). This
module turns them into one tidy frame so that every figure draws from the same place; no
published number is typed anywhere in vlexplore.

May import: assets.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .assets import PAPER_RESULTS

__all__ = [
    "TABLES",
    "SUBSETS",
    "published",
    "architectures",
    "main_seeds",
    "headline",
]

#: (side, subset) -> the authors' file
TABLES = {
    ("vis4lang", "all"): "val_0.5_vis4lang.tsv",
    ("lang4vis", "all"): "val_0.5_lang4vis.tsv",
    ("lang4vis", "labelmatch"): "val_labelmatch_0.5_lang4vis.tsv",
    ("lang4vis", "labelmatch-agree"): "val_labelmatch-agree_0.5_lang4vis.tsv",
}
#: the phrase subsets of the language-for-vision tables
SUBSETS = {
    "all": "all phrases",
    "labelmatch": "LabelMatch (the phrase names one Visual Genome class)",
    "labelmatch-agree": "LabelMatch-agree (and the detector's top class is that label)",
}
_SEED = re.compile(r"^(?P<name>.+)_s(?P<seed>\d+)$")
_COLUMNS = ["subset", "side", "metric", "name", "model", "variant", "seed", "condition", "threshold", "value",
            "table", "row"]


def _condition(mask: str, side: str) -> tuple[str, float]:
    """The table's Mask column as (condition, threshold): 'None', 'All', 'Phrase' or a threshold."""
    if mask in ("", "nan"):
        return "text-only", np.nan  # BERT baselines: no image at all
    if mask in ("None", "All", "Phrase"):
        return mask.lower(), (0.5 if side == "lang4vis" else np.nan)
    return "object", float(mask)


def _split_name(name: str, architectures: tuple[str, ...]) -> tuple[str, str, float]:
    """'UNITER_s73' -> ('UNITER', '', 73); 'UNITER-thr04' -> ('UNITER', 'thr04', nan)."""
    seed = np.nan
    match = _SEED.match(name)
    if match:
        name, seed = match["name"], float(match["seed"])
    for arch in sorted(architectures, key=len, reverse=True):
        if name == arch or name.startswith((arch + "_", arch + "-")):
            return arch, name[len(arch) + 1:], seed
    return name, "", seed


def _read_table(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", index_col=0, dtype={"Model": str, "Mask": str}, keep_default_na=False)
    missing = {"Model", "Mask"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: not one of the authors' tables (no column {sorted(missing)[0]!r})")
    return table


@lru_cache(maxsize=4)
def _published(directory: str) -> pd.DataFrame:
    directory = Path(directory)
    tables = {}
    for key, file in TABLES.items():
        path = directory / file
        if not path.is_file():
            raise FileNotFoundError(f"the published table {path} is missing; restore assets/paper_results")
        tables[key] = _read_table(path)
    seeded = {_SEED.match(n)["name"] for t in tables.values() for n in t["Model"] if _SEED.match(n)}
    architectures = tuple(sorted(seeded))
    rows = []
    for (side, subset), table in tables.items():
        metrics = [c for c in table.columns if c not in ("Model", "Mask")]
        for row, line in table.iterrows():
            model, variant, seed = _split_name(line["Model"], architectures)
            condition, threshold = _condition(line["Mask"], side)
            for metric in metrics:
                value = pd.to_numeric(line[metric], errors="coerce")
                if np.isfinite(value):
                    rows.append([subset, side, metric, line["Model"], model, variant, seed, condition,
                                 threshold, float(value), TABLES[side, subset], int(row)])
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame.attrs["architectures"] = architectures
    return frame


def published(directory: str | Path = PAPER_RESULTS) -> pd.DataFrame:
    """Every published number, one row each.

    Columns: ``subset`` (all, labelmatch, labelmatch-agree), ``side`` (vis4lang, lang4vis),
    ``metric`` (MLM, MRC-KL, MRC-XE, MRC-XE-VG, as the tables name them), ``name`` (the
    table's model name), ``model`` (the architecture), ``variant`` (pretraining variant, ''
    for the released model), ``seed`` (NaN unless the row is one of the seed runs),
    ``condition`` (none, object, phrase, all; text-only for the BERT baselines),
    ``threshold`` (the Object threshold; 0.5 for language-for-vision) and ``value``
    (bits for MLM and MRC-KL; MRC-XE as the authors report it); ``table`` and ``row`` say
    where the number stands (the file and its first, unnamed column).
    """
    return _published(str(Path(directory).resolve())).copy()


def architectures(frame: pd.DataFrame | None = None) -> tuple[str, ...]:
    """The five released architectures, in the tables' order (LXMERT, ViLBERT, ...)."""
    frame = published() if frame is None else frame
    seeded = frame[frame["seed"].notna()]
    return tuple(dict.fromkeys(seeded["model"]))


def main_seeds(frame: pd.DataFrame | None = None) -> dict[str, int]:
    """Which seed each architecture's main rows come from: the seed run whose MLM and MRC-KL
    values lie closest to the main model's (the tables do not say it in a column)."""
    frame = published() if frame is None else frame
    seeds = {}
    for arch in architectures(frame):
        rows = frame[(frame["model"] == arch) & (frame["variant"] == "") & (frame["subset"] == "all")]
        main = rows[rows["seed"].isna()].set_index(["metric", "condition", "threshold"])["value"]
        gaps = {}
        for seed, part in rows[rows["seed"].notna()].groupby("seed"):
            values = part.set_index(["metric", "condition", "threshold"])["value"]
            shared = values.index.intersection(main.index)
            gaps[int(seed)] = float(np.abs(values[shared] - main[shared]).max())
        seeds[arch] = min(gaps, key=gaps.get)
    return seeds


def headline(frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's main figure, tidy like ``diagnostics.summary_frame``: per architecture (main
    seed) MLM None/Object(0.5)/All and MRC-KL None/Phrase/All, in bits."""
    frame = published() if frame is None else frame
    main = frame[(frame["subset"] == "all") & (frame["variant"] == "") & frame["seed"].isna()
                 & frame["metric"].isin(["MLM", "MRC-KL"])]
    main = main[main["model"].isin(architectures(frame))]
    main = main[(main["condition"] != "object") | (main["threshold"] == 0.5)]
    order = {("vis4lang", c): i for i, c in enumerate(("none", "object", "all"))}
    order.update({("lang4vis", c): 3 + i for i, c in enumerate(("none", "phrase", "all"))})
    models = {m: i for i, m in enumerate(architectures(frame))}
    main = main.assign(_order=[models[m] * 10 + order[(s, c)] for m, s, c in zip(main["model"], main["side"], main["condition"], strict=True)])
    main = main.sort_values("_order")
    return pd.DataFrame({
        "model": main["model"].to_numpy(), "side": main["side"].to_numpy(), "metric": main["metric"].to_numpy(),
        "condition": main["condition"].to_numpy(), "bits": main["value"].to_numpy(),
    })
