"""Plotly figures of a diagnosis and of a dataset run (no streamlit: usable in notebooks).

Every per-example figure shows all three conditions of its side; the selected one is
drawn solid and outlined, the others faded, so a toggle changes emphasis, not data.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.colors as pcolors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..engine import Diagnosis
from ..models.base import VLModel
from ..protocol import LANG4VIS, VIS4LANG
from . import overlay
from .text import FUNCTION_WORDS

__all__ = [
    "CONDITION_LABELS",
    "CONDITION_COLOURS",
    "token_figure",
    "topk_figure",
    "region_kl_figure",
    "class_distribution_figure",
    "region_change",
    "heat_figure",
    "noise_floor_bits",
    "dataset_figure",
    "effect_table",
    "sweep_figure",
    "phrase_sweep_figure",
    "join_thresholds",
    "sweep_regions_figure",
    "attention_map_figure",
    "object_effect_figure",
    "attention_layers_figure",
    "models_figure",
    "default_token",
    "for_slides",
]

CONDITION_LABELS = {"none": "None", "object": "Object", "phrase": "Phrase", "all": "All"}
CONDITION_COLOURS = {"none": "#7c8aa0", "object": "#f59e0b", "phrase": "#f59e0b", "all": "#ef4444"}
FADED = 0.45
PAPER_COLOUR = "#94a3b8"
GOLD_COLOUR = "#16a34a"  # the gold token among the top predictions


def _style(condition: str, selected: str | None) -> dict:
    """A condition's bars: the ``selected`` one outlined and the others faded; all alike when None
    (the page's charts, which compare the three conditions and stay put when the shown one changes)."""
    if selected is None:
        return dict(marker=dict(color=CONDITION_COLOURS[condition]), name=CONDITION_LABELS[condition])
    chosen = condition == selected
    return dict(
        marker=dict(color=CONDITION_COLOURS[condition], opacity=1.0 if chosen else FADED,
                    line=dict(width=2.5 if chosen else 0, color="#2563eb")),
        name=CONDITION_LABELS[condition] + (" (shown)" if chosen else ""),
    )


def _layout(fig: go.Figure, height: int, title: str = "") -> go.Figure:
    fig.update_layout(
        height=height, title=dict(text=title, font=dict(size=14)) if title else None,
        margin=dict(l=8, r=8, t=48 if title else 28, b=8), barmode="group",
        legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0),
    )
    return fig


def _prob(p: float, signed: bool = False) -> str:
    """Probabilities as 0.42, or 3.1e-05 when tiny (an untrained model's are)."""
    text = f"{p:+.2f}" if signed else f"{p:.2f}"
    if p != 0 and abs(p) < 0.01:
        text = f"{p:+.1e}" if signed else f"{p:.1e}"
    return text


def token_labels(tokens: pd.DataFrame) -> list[str]:
    first = tokens[tokens["condition"] == tokens["condition"].iloc[0]].sort_values("token_index")
    return [f"{i + 1}. {t}" for i, t in zip(first["token_index"], first["token"], strict=True)]


def token_figure(diagnosis: Diagnosis, selected: str | None = "object", height: int = 320) -> go.Figure:
    """Per masked sub-token: loss in bits and P(gold) under None / Object / All (``selected``
    emphasised; None: all alike)."""
    tokens = diagnosis.tokens
    fig = make_subplots(rows=1, cols=2, subplot_titles=("MLM loss (bits, lower = better)", "P(gold token)"),
                        horizontal_spacing=0.12)
    if tokens.empty:
        return _layout(fig, height)
    labels = token_labels(tokens)
    for condition in VIS4LANG:
        rows = tokens[tokens["condition"] == condition].sort_values("token_index")
        style = _style(condition, selected)
        fig.add_trace(go.Bar(x=labels, y=rows["mlm_bits"], legendgroup=condition, **style,
                             customdata=np.stack([rows["gold_rank"] + 1, rows["top_token"]], axis=1),
                             hovertemplate="%{x}<br>%{y:.2f} bits<br>gold rank %{customdata[0]}<br>"
                                           "top prediction: %{customdata[1]}<extra>" + CONDITION_LABELS[condition] + "</extra>"),
                      row=1, col=1)
        fig.add_trace(go.Bar(x=labels, y=rows["gold_prob"], legendgroup=condition, showlegend=False,
                             **style, hovertemplate="%{x}<br>P(gold) %{y:.3f}<extra>" + CONDITION_LABELS[condition] + "</extra>"),
                      row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    return _layout(fig, height)


def topk_rows(topk: pd.DataFrame, token_index: int) -> tuple[int, pd.DataFrame]:
    """The masked sub-token shown (``token_index`` clipped to those there) and its top-k rows."""
    positions = sorted(topk["position"].unique())
    token_index = min(max(token_index, 0), len(positions) - 1)
    return token_index, topk[topk["position"] == positions[token_index]]


def topk_texts(rows: pd.DataFrame, part: pd.DataFrame, condition: str) -> list[str]:
    """Each filler's probability, and its change against None (none when outside None's top-k)."""
    none = rows[rows["condition"] == "none"].set_index("predicted")["prob"]
    change = [p - none[t] if t in none.index else math.nan for t, p in zip(part["predicted"], part["prob"], strict=True)]
    return [_prob(p) + ("" if condition == "none" or math.isnan(d) else f" ({_prob(d, True)})")
            for p, d in zip(part["prob"], change, strict=True)]


def topk_figure(diagnosis: Diagnosis, token_index: int = 0, selected: str | None = "object",
                height: int = 300) -> go.Figure:
    """The model's top-k fillers for one masked sub-token in each condition, with the change
    of each filler's probability against None (blank when it was outside None's top-k)."""
    topk = diagnosis.topk
    fig = make_subplots(rows=1, cols=len(VIS4LANG), horizontal_spacing=0.14,
                        subplot_titles=[CONDITION_LABELS[c] + (" (shown)" if c == selected else "")
                                        for c in VIS4LANG])
    if topk.empty:
        return _layout(fig, height)
    token_index, rows = topk_rows(topk, token_index)
    for col, condition in enumerate(VIS4LANG, start=1):
        part = rows[rows["condition"] == condition].sort_values("rank", ascending=False)
        text = topk_texts(rows, part, condition)
        colours = [GOLD_COLOUR if g else CONDITION_COLOURS[condition] for g in part["is_gold"]]
        fig.add_trace(go.Bar(
            x=part["prob"], y=part["predicted"], orientation="h", text=text, textposition="auto",
            marker=dict(color=colours, opacity=1.0 if selected in (None, condition) else FADED),
            showlegend=False, name=CONDITION_LABELS[condition],
            hovertemplate="%{y}: %{x:.3f}<extra>" + CONDITION_LABELS[condition] + "</extra>",
        ), row=1, col=col)
        fig.update_xaxes(range=[0, max(1e-6, float(rows["prob"].max())) * 1.15], row=1, col=col)
    gold = rows["token"].iloc[0]
    return _layout(fig, height, f"Top predictions for masked token {token_index + 1} (gold: {gold}; green = gold)")


def region_kl_figure(diagnosis: Diagnosis, selected: str | None = "phrase", height: int = 320) -> go.Figure:
    """MRC-KL (bits) at each scored region under None / Phrase / All; aligned regions starred."""
    regions = diagnosis.regions
    fig = go.Figure()
    if regions.empty:
        return _layout(fig, height, "No region scores")
    first = regions[regions["condition"] == LANG4VIS[0]].sort_values("region")
    labels = [f"r{r}" + ("*" if a else "") + ("T" if t else "")
              for r, a, t in zip(first["region"], first["aligned"], first["target"], strict=True)]
    for condition in LANG4VIS:
        rows = regions[regions["condition"] == condition].sort_values("region")
        fig.add_trace(go.Bar(
            x=labels, y=rows["mrc_kl_bits"], **_style(condition, selected),
            customdata=np.stack([rows["model_top_class"], rows["detector_top_class"]], axis=1),
            hovertemplate="%{x}: %{y:.3f} bits<br>model: %{customdata[0]}<br>detector: %{customdata[1]}"
                          "<extra>" + CONDITION_LABELS[condition] + "</extra>",
        ))
    fig.update_yaxes(title_text="MRC-KL (bits)", rangemode="tozero")
    return _layout(fig, height, "MRC-KL per region (* aligned: zeroed in all three conditions; T: the scored target)")


def class_distribution_figure(diagnosis: Diagnosis, region: int | None = None, selected: str | None = "phrase",
                              k: int = 8, height: int = 320, *, model: VLModel) -> go.Figure:
    """At one region, the two distributions MRC-KL compares: the detector's, expressed over the
    model's classes (``model.detector_targets``: LXMERT drops the background class of the
    detector's 1,601 and renormalises), beside the model's prediction under each
    language-for-vision condition; the detector's top-k classes are shown."""
    fig = go.Figure()
    regions = diagnosis.example.regions
    positions = list(np.asarray(diagnosis.region_positions).tolist())
    if region is None:
        region = diagnosis.alignment.target
    if region is None or region not in positions or regions is None or regions.cls_prob is None \
            or model.region_class_names is None:
        return _layout(fig, height, "No class distribution at this region")
    column = positions.index(region)
    names = model.region_class_names
    target = model.detector_targets(regions.cls_prob[region][None], regions.class_names)[0]
    order = np.argsort(-target, kind="stable")[:k]
    labels = [names[i] for i in order]
    fig.add_trace(go.Bar(y=labels, x=target[order], orientation="h", name="detector (target)",
                         marker=dict(color=PAPER_COLOUR, pattern=dict(shape="/"))))
    for condition in LANG4VIS:
        probs = diagnosis.region_probs.get(condition)
        if probs is not None:
            fig.add_trace(go.Bar(y=labels, x=probs[column][order], orientation="h", **_style(condition, selected)))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, height, f"Classes at region r{region}: detector vs model (what MRC-KL compares)")


def region_change(diagnosis: Diagnosis, condition: str) -> np.ndarray:
    """Per region (all regions of the image): MRC-KL under ``condition`` minus under None."""
    regions = diagnosis.regions
    n = len(diagnosis.unit_boxes)
    out = np.full(n, np.nan)
    if regions.empty:
        return out
    table = regions.pivot_table(index="region", columns="condition", values="mrc_kl_bits")
    if condition not in table or "none" not in table:
        return out
    delta = table[condition] - table["none"]
    out[delta.index.to_numpy(dtype=int)] = delta.to_numpy()
    return out


HEAT_MIN_RANGE_BITS = 0.25  # the change map's colour scale reaches at least this far either way


def noise_floor_bits(diagnosis: Diagnosis) -> float:
    """The MRC-KL change that masking words causes where they do not refer: twice the RMS of the
    Phrase − None change at the regions not aligned with the phrase (0 when none is scored)."""
    change = region_change(diagnosis, "phrase")
    aligned = np.zeros(len(change), bool)
    aligned[np.asarray(list(diagnosis.alignment.aligned), dtype=int)] = True
    control = change[~aligned & np.isfinite(change)]
    return float(2 * np.sqrt(np.mean(control**2))) if control.size else 0.0


def heat_figure(diagnosis: Diagnosis, image: np.ndarray, condition: str = "phrase",
                height: int = 380) -> go.Figure:
    """The image with each region tinted by its MRC-KL change against None (red = worse), on a
    symmetric scale of at least ±``HEAT_MIN_RANGE_BITS``; changes within the noise floor are
    not drawn, so a near-zero effect looks like one."""
    change = region_change(diagnosis, condition)
    floor = noise_floor_bits(diagnosis)
    shown = np.where(np.abs(change) > floor, change, np.nan)
    heat = overlay.region_heat(diagnosis.unit_boxes, shown, diagnosis.example.image_size)
    finite = np.abs(change[np.isfinite(change)])
    scale = max(HEAT_MIN_RANGE_BITS, float(finite.max()) if finite.size else 0.0)
    return overlay.image_figure(
        image, diagnosis.example.phrases, diagnosis.phrase_index, heat=heat, heat_range=scale,
        heat_title=f"{CONDITION_LABELS[condition]} − None (bits); |change| ≤ {floor:.3f} not drawn",
        height=height,
    )


def dataset_figure(summary_frame: pd.DataFrame, paper: pd.DataFrame | None = None, model: str = "this run",
                   height: int = 380) -> go.Figure:
    """The paper's figure layout: MLM bits and MRC-KL bits by condition, this run beside the
    published numbers (clearly labelled, hatched). Bars carry (side, condition) as customdata
    so a click can list the phrases behind a bar."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("Vision-for-language: MLM (bits)", "Language-for-vision: MRC-KL (bits)"))
    for col, (side, conditions) in enumerate((("vis4lang", VIS4LANG), ("lang4vis", LANG4VIS)), start=1):
        rows = summary_frame[summary_frame["side"] == side].set_index("condition").reindex(list(conditions))
        fig.add_trace(go.Bar(
            x=[CONDITION_LABELS[c] for c in conditions], y=rows["bits"], name=model, legendgroup="run",
            showlegend=col == 1, marker=dict(color=[CONDITION_COLOURS[c] for c in conditions]),
            customdata=[[side, c] for c in conditions], text=[f"{v:.3f}" for v in rows["bits"]],
            textposition="outside", offsetgroup="run", constraintext="none", cliponaxis=False,
            textfont=dict(size=12),
            hovertemplate="%{x}: %{y:.3f} bits<extra>" + model + "</extra>",
        ), row=1, col=col)
        if paper is not None and not paper.empty:
            for i, (name, part) in enumerate(paper[paper["side"] == side].groupby("model", sort=False)):
                part = part.set_index("condition").reindex(list(conditions))
                fig.add_trace(go.Bar(
                    x=[CONDITION_LABELS[c] for c in conditions], y=part["bits"], name=f"{name} (paper)",
                    legendgroup=f"paper-{name}", showlegend=col == 1, offsetgroup=f"paper-{i}",
                    marker=dict(color=PAPER_COLOUR, opacity=0.35 + 0.12 * i, pattern=dict(shape="/")),
                    text=[name] * len(conditions), textposition="auto", textangle=-90,  # named on the bar
                    textfont=dict(size=11), cliponaxis=False, constraintext="none",
                    customdata=[[side, c] for c in conditions],  # a click lists this run's phrases
                    hovertemplate="%{x}: %{y:.3f} bits<extra>" + f"{name}, published (Flickr30k val)" + "</extra>",
                ), row=1, col=col)
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(clickmode="event+select")
    return _layout(fig, height)


def effect_table(results: pd.DataFrame, side: str, condition: str) -> pd.DataFrame:
    """The phrases behind one bar, largest effect first: the condition's bits minus None's."""
    metric = "mlm_bits" if side == "vis4lang" else "mrc_kl_bits"
    value = results[f"{metric}_{condition}"]
    table = results.assign(bits=value, effect=value - results[f"{metric}_none"])
    table = table[np.isfinite(table["bits"])]
    order = table["bits"] if condition == "none" else table["effect"]  # None: the hardest first
    table = table.assign(_order=order).sort_values("_order", ascending=False).drop(columns="_order")
    return table[["example_id", "phrase_index", "phrase", "bits", "effect"]].reset_index(drop=True)


def _threshold_axis(fig: go.Figure, **where) -> None:
    fig.update_xaxes(title_text="alignment threshold (Object ablates regions with overlap > t)",
                     autorange="reversed", dtick=0.1, **where)


def sweep_figure(summary: pd.DataFrame, model: str = "this run", height: int = 380) -> go.Figure:
    """A threshold sweep of a whole set (``sweep_summary``): MLM bits under None, Object and All
    as the threshold falls, and below it the mean share of an image's regions aligned."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    for condition in VIS4LANG:
        fig.add_trace(go.Scatter(
            x=summary["threshold"].tolist(), y=summary[f"mlm_bits_{condition}"].tolist(), name=CONDITION_LABELS[condition],
            mode="lines+markers" if condition == "object" else "lines",
            line=dict(color=CONDITION_COLOURS[condition], width=3 if condition == "object" else 1.5,
                      dash="solid" if condition == "object" else "dash"),
            hovertemplate="t = %{x:.2f}: %{y:.3f} bits<extra>" + CONDITION_LABELS[condition] + "</extra>",
        ), row=1, col=1)
    fig.add_trace(go.Bar(
        x=summary["threshold"].tolist(), y=summary["share_aligned"].tolist(), name="regions aligned", showlegend=False,
        marker=dict(color=CONDITION_COLOURS["object"], opacity=0.5), width=0.06,
        hovertemplate="t = %{x:.2f}: %{y:.1%} of regions aligned<extra></extra>",
    ), row=2, col=1)
    fig.update_yaxes(title_text="MLM (bits)", row=1, col=1)
    fig.update_yaxes(title_text="aligned", tickformat=".0%", rangemode="tozero", row=2, col=1)
    _threshold_axis(fig, row=2, col=1)
    fig.update_xaxes(autorange="reversed", row=1, col=1)
    return _layout(fig, height, f"{model}: Object as the alignment threshold falls")


def join_thresholds(rows: pd.DataFrame, n_regions: int) -> np.ndarray:
    """Per region, the highest swept threshold at which the phrase's Object condition ablates
    it (NaN: never within the sweep). ``rows``: one phrase's ``sweep_phrase`` frame."""
    out = np.full(n_regions, np.nan)
    for threshold, aligned in sorted(zip(rows["threshold"], rows["aligned"], strict=True)):
        for region in filter(None, str(aligned).split("|")):
            out[int(region)] = threshold  # ascending, so the highest threshold is written last
    return out


def phrase_sweep_figure(rows: pd.DataFrame, height: int = 320) -> go.Figure:
    """One phrase's sweep: Object bits at each threshold, and which regions join at each step."""
    rows = rows.sort_values("threshold", ascending=False)
    joined, seen = [], set()
    for aligned in rows["aligned"]:
        regions = [r for r in filter(None, str(aligned).split("|")) if r not in seen]
        seen.update(regions)
        joined.append(" ".join(f"r{r}" for r in regions))
    fig = go.Figure()
    for condition in ("none", "all"):
        fig.add_trace(go.Scatter(
            x=rows["threshold"].tolist(), y=rows[f"mlm_bits_{condition}"].tolist(), mode="lines", name=CONDITION_LABELS[condition],
            line=dict(color=CONDITION_COLOURS[condition], dash="dash", width=1.5),
            hovertemplate="%{y:.3f} bits<extra>" + CONDITION_LABELS[condition] + "</extra>",
        ))
    fig.add_trace(go.Scatter(
        x=rows["threshold"].tolist(), y=rows["mlm_bits_object"].tolist(), mode="lines+markers+text", name="Object",
        text=[f"+{j}" if j else "" for j in joined], textposition="top center", textfont=dict(size=10),
        line=dict(color=CONDITION_COLOURS["object"], width=3), customdata=rows["n_aligned"].tolist(),
        hovertemplate="t = %{x:.2f}: %{y:.3f} bits, %{customdata} regions ablated<extra>Object</extra>",
    ))
    fig.update_yaxes(title_text="MLM (bits)")
    _threshold_axis(fig)
    phrase = rows["phrase"].iloc[0] if len(rows) else ""
    return _layout(fig, height, f"\u201c{phrase}\u201d: Object as the threshold falls (+ regions that join)")


def sweep_regions_figure(diagnosis: Diagnosis, image: np.ndarray, rows: pd.DataFrame,
                         height: int = 380) -> go.Figure:
    """The image with each region the sweep ablates outlined in the colour of the threshold at
    which it joins (dark: already at a high threshold; light: only at a low one)."""
    boxes = diagnosis.unit_boxes
    joins = join_thresholds(rows, len(boxes))
    fig = overlay.image_figure(image, diagnosis.example.phrases, diagnosis.phrase_index, region_boxes=boxes,
                               height=height)
    colours = pcolors.sample_colorscale("Viridis", [float(t) for t in np.nan_to_num(1 - joins)])
    for region in np.argsort(-np.nan_to_num(joins, nan=-1.0)):
        if np.isnan(joins[region]):
            continue
        x1, y1, x2, y2 = (float(v) for v in boxes[region])
        fig.add_trace(go.Scatter(
            x=[x1, x2, x2, x1, x1], y=[y1, y1, y2, y2, y1], mode="lines", line=dict(color=colours[region], width=2.5),
            name=f"r{region} joins at t = {joins[region]:.2f}", showlegend=False,
            hovertemplate=f"r{region}: ablated from t = {joins[region]:.2f} down<extra></extra>",
        ))
    return fig


def _last_layer(frame: pd.DataFrame, layer: int | None) -> int:
    return int(frame["layer"].max()) if layer is None else int(layer)


def attention_map_figure(frame: pd.DataFrame, diagnosis: Diagnosis, image: np.ndarray, layer: int | None = None,
                         height: int = 360) -> go.Figure:
    """The image with each region tinted by the masked phrase's attention to it (mean over heads,
    one layer: the last by default). ``frame``: ``vlexplore.attention.phrase_attention``."""
    layer = _last_layer(frame, layer)
    rows = frame[(frame["layer"] == layer) & (frame["head"] == -1) & (frame["key"] == "region")]
    mass = np.full(len(diagnosis.unit_boxes), np.nan)
    mass[rows["region"].to_numpy(dtype=int)] = rows["mass"].to_numpy()
    heat = overlay.region_heat(diagnosis.unit_boxes, mass, diagnosis.example.image_size)
    fig = overlay.image_figure(image, diagnosis.example.phrases, diagnosis.phrase_index, heat=heat,
                               heat_title="attention", height=height)
    fig.update_traces(selector=dict(type="heatmap"), colorscale="Blues", reversescale=False, zmid=None, zmin=0,
                      hovertemplate="attention %{z:.3f}<extra></extra>")
    name = rows["layer_name"].iloc[0] if len(rows) else f"layer {layer}"
    return _layout(fig, height, f"Attention of the masked phrase to each region ({name}, mean over heads)")


def object_effect_figure(diagnosis: Diagnosis, image: np.ndarray, height: int = 360) -> go.Figure:
    """The image with the regions Object ablates (dashed), titled with what it costs the phrase."""
    ablated = diagnosis.ablated.get(("vis4lang", "object"))
    fig = overlay.image_figure(image, diagnosis.example.phrases, diagnosis.phrase_index,
                               region_boxes=diagnosis.unit_boxes, ablated=ablated, height=height)
    scores = diagnosis.scores["vis4lang"]
    effect = scores["object"] - scores["none"]
    return _layout(fig, height, f"Object ablation: MLM {effect:+.3f} bits against None "
                                f"({int(np.sum(ablated)) if ablated is not None else 0} regions replaced)")


def attention_layers_figure(frame: pd.DataFrame, height: int = 340) -> go.Figure:
    """Left: per layer, where the masked phrase's attention goes (mean over heads): aligned
    regions, other regions, the whole-image row, the text. Right: the last layer per head."""
    last = _last_layer(frame, None)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.1,
                        subplot_titles=("Attention mass per layer (mean over heads)",
                                        "Last layer, per head: attention to each region"))
    mean = frame[frame["head"] == -1]
    parts = {
        "aligned regions": mean[(mean["key"] == "region") & mean["aligned"]],
        "other regions": mean[(mean["key"] == "region") & ~mean["aligned"]],
        "whole image": mean[mean["key"] == "global"],
        "text": mean[mean["key"] == "text"],
    }
    colours = {"aligned regions": CONDITION_COLOURS["object"], "other regions": "#fcd34d",
               "whole image": "#94a3b8", "text": "#cbd5e1"}
    layers = sorted(mean["layer"].unique())
    names = [mean[mean["layer"] == i]["layer_name"].iloc[0] for i in layers]
    for label, part in parts.items():
        totals = part.groupby("layer")["mass"].sum().reindex(layers, fill_value=0.0)
        fig.add_trace(go.Bar(x=names, y=totals.tolist(), name=label, marker=dict(color=colours[label]),
                             hovertemplate="%{x}: %{y:.3f}<extra>" + label + "</extra>"), row=1, col=1)
    heads = frame[(frame["layer"] == last) & (frame["head"] >= 0) & (frame["key"] == "region")]
    table = heads.pivot_table(index="head", columns="region", values="mass")
    aligned = set(heads[heads["aligned"]]["region"].tolist())
    fig.add_trace(go.Heatmap(
        z=table.to_numpy().tolist(), x=[f"r{r}" + ("*" if r in aligned else "") for r in table.columns],
        y=[f"head {h}" for h in table.index], colorscale="Blues", showscale=False,
        hovertemplate="%{y}, %{x}: %{z:.3f}<extra></extra>",
    ), row=1, col=2)
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig = _layout(fig, height)
    fig.update_layout(barmode="stack")  # after _layout, which groups bars
    return fig



def models_figure(scores: pd.DataFrame, height: int = 360) -> go.Figure:
    """One phrase's six scores under several models, bars grouped by condition as in the paper.
    ``scores``: ``vlexplore.compare.scores_frame``."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("Vision-for-language: MLM (bits)", "Language-for-vision: MRC-KL (bits)"))
    palette = ["#2563eb", "#f59e0b", "#16a34a", "#9333ea", "#ef4444", "#0891b2"]
    for i, (name, part) in enumerate(scores.groupby("model", sort=False)):
        for col, (side, conditions) in enumerate((("vis4lang", VIS4LANG), ("lang4vis", LANG4VIS)), start=1):
            rows = part[part["side"] == side].set_index("condition").reindex(list(conditions))
            fig.add_trace(go.Bar(
                x=[CONDITION_LABELS[c] for c in conditions], y=rows["bits"].tolist(), name=name, legendgroup=name,
                showlegend=col == 1, marker=dict(color=palette[i % len(palette)]),
                hovertemplate="%{x}: %{y:.3f} bits<extra>" + name + "</extra>",
            ), row=1, col=col)
    fig.update_yaxes(rangemode="tozero")
    return _layout(fig, height, "This phrase under each model")


def default_token(tokens: pd.DataFrame) -> int:
    """The masked sub-token to open the top predictions on: the phrase's most informative
    content word, i.e. the one whose loss the image changes most (All − None, in bits), skipping
    function words ("a", "the", ...) unless the phrase has nothing else."""
    if tokens.empty:
        return 0
    table = tokens.pivot_table(index=["token_index", "token"], columns="condition", values="mlm_bits")
    gain = (table["all"] - table["none"]) if {"all", "none"} <= set(table.columns) else table.iloc[:, 0]
    gain = gain.reset_index(name="gain")
    content = gain[~gain["token"].str.lower().isin(FUNCTION_WORDS) & gain["token"].str.isalnum()]
    chosen = content if not content.empty else gain
    return int(chosen.sort_values("gain", ascending=False, kind="stable")["token_index"].iloc[0])


def for_slides(fig: go.Figure, font_px: int = 16, margin_px: int | None = None) -> go.Figure:
    """A copy of ``fig`` for a projector or a slide: every text at least ``font_px`` (titles,
    subplot titles, ticks, legend, bar labels) and, with ``margin_px``, margins that leave room
    for the axis labels (axes grow their margins to fit their tick labels)."""
    fig = go.Figure(fig)
    fig.update_layout(font=dict(size=font_px))
    if fig.layout.title and fig.layout.title.text:
        fig.update_layout(title_font_size=font_px + 2)
    for annotation in fig.layout.annotations:  # subplot titles and badges
        annotation.font.size = max(font_px, annotation.font.size or 0)
    fig.update_traces(textfont_size=font_px, selector=dict(type="bar"))
    fig.update_xaxes(automargin=True, tickfont_size=font_px)
    fig.update_yaxes(automargin=True, tickfont_size=font_px)
    if margin_px is not None:
        top = margin_px + (font_px * 2 if fig.layout.title and fig.layout.title.text else 0)
        fig.update_layout(margin=dict(l=margin_px, r=margin_px, t=top, b=margin_px))
    return fig
