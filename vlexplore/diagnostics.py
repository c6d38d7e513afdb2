"""Aggregates over per-phrase results, as tidy frames and the CLI's summary dict.

May import: assets, protocol, engine, paper (never views, app or cli).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .engine import PhraseResult
from .paper import headline
from .protocol import LANG4VIS, VIS4LANG, protocol_label

__all__ = [
    "results_frame",
    "summarize",
    "summary_frame",
    "label_agreement",
    "paper_results",
    "format_table",
]

def results_frame(results: Iterable[PhraseResult]) -> pd.DataFrame:
    """One row per phrase (wide: the six scores as columns)."""
    rows = [r.as_dict() for r in results]
    if not rows:
        return pd.DataFrame(columns=[*PhraseResult.__dataclass_fields__, "is_paper"])
    return pd.DataFrame(rows)


def _mean(values) -> float:
    values = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    return float(values.mean()) if values.size else math.nan


def summarize(results: Iterable[PhraseResult]) -> dict:
    """The aggregate diagnostic: mean bits per condition.

    ``n`` counts phrases scored for vision-for-language; ``n_lang4vis`` those with a
    target region (and a region head), over which MRC-KL is averaged. ``baseline`` names
    the replacement(s) used; ``is_paper`` is true only when every phrase followed the
    paper's protocol, and ``departures`` lists every way any phrase did not.
    """
    results = list(results)
    l4v = [r for r in results if not math.isnan(r.mrc_kl_bits_none)]
    departures = sorted({d for r in results for d in r.departures})
    return {
        "n": len(results),
        "n_lang4vis": len(l4v),
        "vis4lang": {c: _mean(getattr(r, f"mlm_bits_{c}") for r in results) for c in VIS4LANG},
        "lang4vis": {c: _mean(getattr(r, f"mrc_kl_bits_{c}") for r in l4v) for c in LANG4VIS},
        "baseline": ", ".join(sorted({r.baseline for r in results})),
        "is_paper": bool(results) and not departures,
        "departures": departures,
    }


def summary_frame(summary: dict, model: str = "") -> pd.DataFrame:
    """Tidy: one row per (side, condition) with the mean bits, for plotting."""
    rows = []
    for side, metric in (("vis4lang", "MLM"), ("lang4vis", "MRC-KL")):
        for condition, value in summary[side].items():
            rows.append({"model": model, "side": side, "metric": metric, "condition": condition, "bits": value})
    return pd.DataFrame(rows)


def label_agreement(results: Iterable[PhraseResult], ks: tuple[int, ...] = (1, 3, 5)) -> dict:
    """How often the detector's top-k classes at the target region contain the gold label.

    Only phrases with a gold label and a target region count (the paper's LabelMatch subset).
    """
    scored = [r for r in results if r.label and r.detector_top_classes]
    out = {"n": len(scored)}
    for k in ks:
        hits = sum(r.label in r.detector_top_classes[:k] for r in scored)
        out[f"top{k}"] = hits / len(scored) if scored else math.nan
    return out


def paper_results() -> pd.DataFrame:
    """The paper's main figure (bits, Flickr30k Entities val), tidy like ``summary_frame``:
    read from the authors' tables by ``vlexplore.paper.headline``."""
    return headline()


def format_table(summary: dict, model: str = "") -> str:
    """The paper's table layout: MLM None/Object/All and MRC-KL None/Phrase/All, in bits."""
    v, lang = summary["vis4lang"], summary["lang4vis"]
    header = f"{'model':<16} {'MLM None':>9} {'Object':>8} {'All':>8} {'MRC-KL None':>12} {'Phrase':>8} {'All':>8} {'n':>7}"
    row = (
        f"{model:<16} {v['none']:>9.3f} {v['object']:>8.3f} {v['all']:>8.3f} "
        f"{lang['none']:>12.3f} {lang['phrase']:>8.3f} {lang['all']:>8.3f} {summary['n']:>7d}"
    )
    note = ""
    if summary.get("n_lang4vis", summary["n"]) != summary["n"]:
        note = f"\n(MRC-KL over the {summary['n_lang4vis']} phrases with an aligned target region)"
    if summary.get("is_paper"):
        protocol = "protocol: paper"
    else:
        protocol = "WARNING: " + protocol_label(summary.get("departures") or ["departures not recorded"])
    return f"{header}\n{row}{note}\n(bits; lower is better; baseline: {summary.get('baseline') or 'unknown'})\n{protocol}"
