"""The Language tab's two charts as plain specs (no streamlit, no plotly), which the app's
bar-chart component (``views/page/barchart.js``) draws as SVG. They carry what
``figures.token_figure`` and ``figures.topk_figure`` draw for the page (all three conditions
alike), so the first page needs no plotly.js; the plotly figures stay for exports and slides.

A spec is ``{"title", "legend": [{name, colour}], "panels": [...]}``; a panel has a
``title``, ``horizontal`` (bars grow right, categories read top-down), ``categories`` (tick
labels), ``value_title``, ``range`` ([lo, hi]) and ``bars``: one per drawn bar with its
``category`` (index), ``slot`` (place in its group), ``value``, ``colour``, ``text`` (a label
by the bar, or "") and ``hover`` (its tooltip: the exact value).
"""

from __future__ import annotations

import math

from ..engine import Diagnosis
from ..protocol import VIS4LANG
from .figures import (
    CONDITION_COLOURS,
    CONDITION_LABELS,
    GOLD_COLOUR,
    token_labels,
    topk_rows,
    topk_texts,
)

__all__ = ["token_chart_spec", "topk_chart_spec"]


def _panel(title: str, categories: list[str], value_title: str, value_range: list[float],
           horizontal: bool = False) -> dict:
    return {"title": title, "horizontal": horizontal, "categories": categories, "value_title": value_title,
            "range": value_range, "bars": [], "slots": 1}


def _bar(category: int, slot: int, value: float, colour: str, hover: str, text: str = "") -> dict:
    return {"category": category, "slot": slot, "value": float(value), "colour": colour, "text": text,
            "hover": hover}


def token_chart_spec(diagnosis: Diagnosis) -> dict:
    """Per masked sub-token: loss in bits and P(gold), the three conditions side by side."""
    tokens = diagnosis.tokens
    legend = [{"name": CONDITION_LABELS[c], "colour": CONDITION_COLOURS[c]} for c in VIS4LANG]
    labels = token_labels(tokens) if not tokens.empty else []
    loss = _panel("MLM loss (bits, lower = better)", labels, "bits", [0.0, 0.0])
    gold = _panel("P(gold token)", labels, "probability", [0.0, 1.0])
    for slot, condition in enumerate(VIS4LANG):
        rows = tokens[tokens["condition"] == condition].sort_values("token_index")
        name, colour = CONDITION_LABELS[condition], CONDITION_COLOURS[condition]
        for i, (bits, prob, rank, top) in enumerate(zip(rows["mlm_bits"], rows["gold_prob"], rows["gold_rank"],
                                                        rows["top_token"], strict=True)):
            loss["bars"].append(_bar(i, slot, bits, colour, f"{labels[i]}\n{bits:.2f} bits\ngold rank {rank + 1}\n"
                                                            f"top prediction: {top}\n{name}"))
            gold["bars"].append(_bar(i, slot, prob, colour, f"{labels[i]}\nP(gold) {prob:.3f}\n{name}"))
    top = max((b["value"] for b in loss["bars"] if math.isfinite(b["value"])), default=0.0)
    loss["range"] = [0.0, max(top, 1e-6) * 1.05]
    loss["slots"] = gold["slots"] = len(VIS4LANG)
    return {"title": "", "legend": legend, "panels": [loss, gold]}


def topk_chart_spec(diagnosis: Diagnosis, token_index: int = 0) -> dict:
    """The top-k fillers of one masked sub-token in each condition, rank 1 on top, each labelled
    with its probability and its change against None (as ``figures.topk_figure``)."""
    topk = diagnosis.topk
    if topk.empty:
        return {"title": "", "legend": [], "panels": []}
    token_index, rows = topk_rows(topk, token_index)
    top = max(1e-6, float(rows["prob"].max())) * 1.15
    panels = []
    for condition in VIS4LANG:
        part = rows[rows["condition"] == condition].sort_values("rank")
        name = CONDITION_LABELS[condition]
        panel = _panel(name, [str(t) for t in part["predicted"]], "probability", [0.0, top], horizontal=True)
        texts = topk_texts(rows, part, condition)
        for i, (token, p, is_gold, text) in enumerate(zip(part["predicted"], part["prob"], part["is_gold"], texts,
                                                          strict=True)):
            colour = GOLD_COLOUR if is_gold else CONDITION_COLOURS[condition]
            panel["bars"].append(_bar(i, 0, p, colour, f"{token}: {p:.3f}\n{name}", text))
        panels.append(panel)
    gold = rows["token"].iloc[0]
    return {"title": f"Top predictions for masked token {token_index + 1} (gold: {gold}; green = gold)",
            "legend": [], "panels": panels}
