"""Aggregates over per-phrase results, as tidy frames and the CLI's summary dict.

May import: assets, protocol, engine, paper (never views, app or cli).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from .engine import PhraseResult
from .paper import headline
from .protocol import LANG4VIS, VIS4LANG, protocol_label

__all__ = [
    "results_frame",
    "RunningSummary",
    "write_results_csv",
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


class _Mean:
    """A running mean of the finite values added (compensated sum: no drift over 10^5 terms)."""

    def __init__(self) -> None:
        self.total, self.compensation, self.count = 0.0, 0.0, 0

    def add(self, value: float) -> None:
        if math.isnan(value):
            return
        total = self.total + value
        if abs(self.total) >= abs(value):
            self.compensation += (self.total - total) + value
        else:
            self.compensation += (value - total) + self.total
        self.total, self.count = total, self.count + 1

    @property
    def value(self) -> float:
        return (self.total + self.compensation) / self.count if self.count else math.nan


class RunningSummary:
    """``summarize`` and ``label_agreement`` one result at a time, in memory that does not grow.

    A dataset run streams its rows (to a CSV, say) and adds each here, so that nothing holds
    every result at once.
    """

    def __init__(self, ks: tuple[int, ...] = (1, 3, 5)) -> None:
        self.ks = ks
        self.n = self.n_lang4vis = self.n_labelled = 0
        self.vis4lang = {c: _Mean() for c in VIS4LANG}
        self.lang4vis = {c: _Mean() for c in LANG4VIS}
        self.baselines: set[str] = set()
        self.departures: set[str] = set()
        self.lang4vis_notes: set[str] = set()  # why MRC-KL is n/a, in words
        self.hits = dict.fromkeys(ks, 0)

    def add(self, result: PhraseResult) -> None:
        self.n += 1
        for c in VIS4LANG:
            self.vis4lang[c].add(getattr(result, f"mlm_bits_{c}"))
        if not math.isnan(result.mrc_kl_bits_none):
            self.n_lang4vis += 1
            for c in LANG4VIS:
                self.lang4vis[c].add(getattr(result, f"mrc_kl_bits_{c}"))
        self.baselines.add(result.baseline)
        self.departures.update(result.departures)
        if result.lang4vis_note:
            self.lang4vis_notes.add(result.lang4vis_note)
        if result.label and result.detector_top_classes:
            self.n_labelled += 1
            for k in self.ks:
                self.hits[k] += result.label in result.detector_top_classes[:k]

    def summary(self) -> dict:
        """What ``summarize`` returns for the results added so far."""
        departures = sorted(self.departures)
        return {
            "n": self.n,
            "n_lang4vis": self.n_lang4vis,
            "vis4lang": {c: mean.value for c, mean in self.vis4lang.items()},
            "lang4vis": {c: mean.value for c, mean in self.lang4vis.items()},
            "baseline": ", ".join(sorted(self.baselines)),
            # why MRC-KL is n/a (no phrase had a Language-for-Vision readout), in words
            "lang4vis_note": "; ".join(sorted(self.lang4vis_notes)) if self.n and not self.n_lang4vis else "",
            "is_paper": self.n > 0 and not departures,
            "departures": departures,
        }

    def label_agreement(self) -> dict:
        """What ``label_agreement`` returns for the results added so far."""
        out = {"n": self.n_labelled}
        for k in self.ks:
            out[f"top{k}"] = self.hits[k] / self.n_labelled if self.n_labelled else math.nan
        return out


def _running(results: Iterable[PhraseResult], ks: tuple[int, ...] = (1, 3, 5)) -> RunningSummary:
    running = RunningSummary(ks)
    for result in results:
        running.add(result)
    return running


def summarize(results: Iterable[PhraseResult]) -> dict:
    """The aggregate diagnostic: mean bits per condition.

    ``n`` counts phrases scored for vision-for-language; ``n_lang4vis`` those with a
    target region (and a region head), over which MRC-KL is averaged. ``baseline`` names
    the replacement(s) used; ``is_paper`` is true only when every phrase followed the
    paper's protocol, and ``departures`` lists every way any phrase did not.
    """
    return _running(results).summary()


def write_results_csv(results: Iterable[PhraseResult], path: str | Path) -> Iterator[PhraseResult]:
    """Pass ``results`` through, writing each as a row of ``path`` as it comes.

    Columns and values are those of ``results_frame(...).to_csv(index=False)`` (NaN as an
    empty cell). The file is created with the first result, so a run that scores nothing
    leaves none behind.
    """
    handle, writer = None, None
    try:
        for result in results:
            row = {k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in result.as_dict().items()}
            if writer is None:
                handle = open(path, "w", newline="")  # noqa: SIM115 (closed in finally, the stream may stop early)
                writer = csv.DictWriter(handle, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
            yield result
    finally:
        if handle is not None:
            handle.close()


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
    return _running(results, ks).label_agreement()


def paper_results() -> pd.DataFrame:
    """The paper's main figure (bits, Flickr30k Entities val), tidy like ``summary_frame``:
    read from the authors' tables by ``vlexplore.paper.headline``."""
    return headline()


def format_table(summary: dict, model: str = "") -> str:
    """The paper's table layout: MLM None/Object/All and MRC-KL None/Phrase/All, in bits."""
    v, lang = summary["vis4lang"], summary["lang4vis"]
    header = f"{'model':<16} {'MLM None':>9} {'Object':>8} {'All':>8} {'MRC-KL None':>12} {'Phrase':>8} {'All':>8} {'n':>7}"
    mrc = [f"{lang[c]:.3f}" if not math.isnan(lang[c]) else "n/a" for c in LANG4VIS]
    row = (
        f"{model:<16} {v['none']:>9.3f} {v['object']:>8.3f} {v['all']:>8.3f} "
        f"{mrc[0]:>12} {mrc[1]:>8} {mrc[2]:>8} {summary['n']:>7d}"
    )
    note = ""
    if summary.get("n_lang4vis", summary["n"]) == 0:
        reason = summary.get("lang4vis_note") or "no phrase had a target region and a region head"
        note = f"\n(MRC-KL n/a: {reason})"
    elif summary.get("n_lang4vis", summary["n"]) != summary["n"]:
        note = f"\n(MRC-KL over the {summary['n_lang4vis']} phrases with an aligned target region)"
    if summary.get("is_paper"):
        protocol = "protocol: paper"
    else:
        protocol = "WARNING: " + protocol_label(summary.get("departures") or ["departures not recorded"])
    return f"{header}\n{row}{note}\n(bits; lower is better; baseline: {summary.get('baseline') or 'unknown'})\n{protocol}"
