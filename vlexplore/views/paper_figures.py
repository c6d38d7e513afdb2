"""The paper's figures, drawn from the authors' tables, with the user's own runs beside them.

Published values come from ``vlexplore.paper.published`` (never typed here); each published
point carries ``customdata`` = (table file, row, column) so that it can be traced back to
the number it shows. Runs (``vlexplore.runs``) are drawn solid and labelled "(your run)";
the published bars are hatched and labelled "(paper)".

May import: paper, views.figures (no streamlit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from ..paper import SUBSETS, architectures, main_seeds, published
from .figures import CONDITION_COLOURS, CONDITION_LABELS, PAPER_COLOUR, _layout

__all__ = [
    "RUN_TAG",
    "PAPER_TAG",
    "PUBLISHED",
    "RUN_NAME",
    "main_figure",
    "threshold_figure",
    "seed_figure",
    "labelmatch_figure",
    "mrc_xe_figure",
    "FIGURES",
    "paper_figures",
    "write_figures",
]

PAPER_TAG = " (paper)"
RUN_TAG = " (your run)"
SIDES = {
    "vis4lang": ("MLM", ("none", "object", "all"), "Vision-for-language: MLM (bits)"),
    "lang4vis": ("MRC-KL", ("none", "phrase", "all"), "Language-for-vision: MRC-KL (bits)"),
}
THRESHOLD_STEPS = tuple(round(0.9 - 0.1 * i, 1) for i in range(10))  # 0.9 ... 0.0
RUN_NAME = "run name"  # the annotations that name a run above its bars
RUN_COLOURS = ("#2563eb", "#16a34a", "#db2777", "#0891b2", "#7c3aed", "#ca8a04")
_HOVER_PAPER = "%{x}: %{y:.3f}<br>%{customdata[3]}, published<br>%{customdata[0]}, row %{customdata[1]}<extra></extra>"


def _paper(paper: pd.DataFrame | None) -> pd.DataFrame:
    return published() if paper is None else paper


def _main_rows(paper: pd.DataFrame, subset: str, metric: str) -> pd.DataFrame:
    """The released models' main rows (no variant, no seed suffix) of one table column."""
    rows = paper[(paper["subset"] == subset) & (paper["metric"] == metric) & (paper["variant"] == "")
                 & paper["seed"].isna() & paper["model"].isin(architectures(paper))]
    return rows[(rows["condition"] != "object") | (rows["threshold"] == 0.5)]


def _custom(rows: pd.DataFrame) -> list[list]:
    """(table file, row, column, model name) of each published point."""
    return [[t, int(r), m, n] for t, r, m, n in zip(rows["table"], rows["row"], rows["metric"], rows["name"], strict=True)]


def _run_label(run: str) -> str:
    return run.replace(" · ", "<br>") + "<br>" + RUN_TAG.strip()


def _first(fig: go.Figure, name: str) -> bool:
    """Whether no trace of that name is in the legend yet (one legend entry per name)."""
    return not any(t.name == name and t.showlegend is not False for t in fig.data)


def _finish(fig: go.Figure, height: int, title: str, tickangle: int = -35) -> go.Figure:
    _layout(fig, height, title)
    fig.update_layout(margin=dict(t=90, b=16), title=dict(y=0.98, yanchor="top"),
                      legend=dict(y=-0.3), font=dict(size=12))
    fig.update_xaxes(tickangle=tickangle, automargin=True)
    fig.update_annotations(font=dict(size=13), selector=lambda a: a.name != RUN_NAME)  # the subplot titles
    return fig


PUBLISHED = ("all", "matching", "none")  # which published models a bar figure draws beside the runs


def _categories(paper_models: list[str], runs: pd.DataFrame | None) -> list[str]:
    """The x axis of a bar figure: each published model, the runs of that model right after it,
    then the runs of models the paper did not publish, in their order."""
    labels = {} if runs is None else {_run_label(r): m for r, m in zip(runs["run"], runs["model"], strict=True)}
    order = []
    for model in paper_models:
        order += [model, *(label for label, arch in labels.items() if arch == model)]
    return order + [label for label in labels if label not in order]


def _grouped_bars(fig: go.Figure, paper: pd.DataFrame, runs: pd.DataFrame | None, subset: str, metric: str,
                  conditions: tuple[str, ...], row: int, col: int, published: str = "all") -> None:
    """One panel of the paper's bar figure: per model, one bar per condition (published bars
    hatched); each run's bars, one trace per run and condition, right after its published model.
    ``published``: every released model ("all"), only those a run is of ("matching"), or "none"."""
    if published not in PUBLISHED:
        raise ValueError(f"published={published!r}: choose one of {', '.join(PUBLISHED)}")
    mine = pd.DataFrame(columns=["run", "model"]) if runs is None else runs
    mine = mine[(mine["subset"] == subset) & (mine["metric"] == metric)] if not mine.empty else mine
    models = [m for m in architectures(paper) if published == "all" or (published == "matching"
                                                                       and m in set(mine["model"]))]
    rows = _main_rows(paper, subset, metric)
    for condition in conditions:
        part = rows[rows["condition"] == condition].set_index("model").reindex(models).dropna(subset=["value"])
        if part.empty:
            continue
        name = CONDITION_LABELS[condition] + PAPER_TAG
        fig.add_trace(go.Bar(
            x=list(part.index), y=part["value"], name=name,
            legendgroup=f"paper-{condition}", showlegend=_first(fig, name), offsetgroup=condition,
            marker=dict(color=CONDITION_COLOURS[condition], opacity=0.55, pattern=dict(shape="/")),
            customdata=_custom(part.reset_index()), hovertemplate=_HOVER_PAPER,
            meta={"source": "paper", "subset": subset, "metric": metric, "condition": condition},
        ), row=row, col=col)
    fig.update_xaxes(categoryorder="array", categoryarray=_categories(models, mine), row=row, col=col)
    for run, part in mine.groupby("run", sort=False):
        label = _run_label(run)  # the run's name is its bars' x tick: labelled on the figure itself
        for condition in conditions:
            bar = part[(part["condition"] == condition) & np.isfinite(part["value"].astype(float))]
            if bar.empty:
                continue
            name = CONDITION_LABELS[condition] + RUN_TAG
            fig.add_trace(go.Bar(
                x=[label], y=bar["value"].tolist(), name=name,
                legendgroup=f"run-{condition}", showlegend=_first(fig, name), offsetgroup=condition,
                marker=dict(color=CONDITION_COLOURS[condition], line=dict(width=2, color="#1e293b")),
                customdata=np.stack([bar["n"]], axis=1),
                hovertemplate="%{x}: %{y:.3f} bits (n=%{customdata[0]})<extra></extra>",
                meta={"source": "run", "subset": subset, "metric": metric, "condition": condition, "run": run,
                      "model": bar["model"].iloc[0]},
            ), row=row, col=col)
        values = part.loc[part["condition"].isin(conditions), "value"].astype(float)
        if np.isfinite(values).any():  # the model's name above its group, readable where the ticks crowd
            fig.add_annotation(x=label, y=float(values.max()), text=run.split(" · ")[0], name=RUN_NAME,
                               showarrow=False, yanchor="bottom", yshift=2, font=dict(size=11, color="#1e293b"),
                               row=row, col=col)
    drawn = [v for t in fig.select_traces(row=row, col=col) for v in t.y if v is not None and np.isfinite(v)]
    if drawn and not mine.empty:  # room above the tallest bar for its run's name
        fig.update_yaxes(range=[0, 1.15 * max(drawn)], row=row, col=col)


def main_figure(paper: pd.DataFrame | None = None, runs: pd.DataFrame | None = None,
                height: int = 440, published: str = "all") -> go.Figure:
    """The paper's main figure: MLM None/Object/All and MRC-KL None/Phrase/All per model.

    ``runs`` may hold several runs (``runs.read_runs``, ``compare.runs_frame``): each is a group
    of its own, named on the x axis, right after the published bars of the model it runs (a
    ``volta:uniter`` run beside UNITER); ``published`` picks which published models are drawn
    ("all", "matching": only the runs' own, "none")."""
    paper = _paper(paper)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=[SIDES[s][2] for s in ("vis4lang", "lang4vis")])
    for col, side in enumerate(("vis4lang", "lang4vis"), start=1):
        metric, conditions, _ = SIDES[side]
        _grouped_bars(fig, paper, runs, "all", metric, conditions, 1, col, published)
    fig.update_yaxes(rangemode="tozero")
    return _finish(fig, height, "Cross-modal input ablation, Flickr30k Entities val (paper) and your runs")


def threshold_figure(paper: pd.DataFrame | None = None, runs: pd.DataFrame | None = None,
                     models: tuple[str, ...] | None = None, height: int = 520) -> go.Figure:
    """MLM as the Object threshold falls from 0.9 to 0.0, between None and All, per model.

    The published tables give no share of aligned regions per threshold; runs do (their mean
    number of aligned regions per phrase), drawn in the lower panel."""
    paper = _paper(paper)
    models = models or architectures(paper)
    steps = ["None", *(f"{t:.1f}" for t in THRESHOLD_STEPS), "All"]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.08,
                        subplot_titles=("MLM (bits) by Object threshold (IoT >)",
                                        "Your runs: aligned regions per phrase (not in the published tables)"))
    rows = paper[(paper["subset"] == "all") & (paper["metric"] == "MLM") & paper["seed"].isna()]
    released = architectures(paper)
    for name in models:
        part = rows[rows["name"] == name]
        if part.empty:
            continue
        labels = np.where(part["condition"] == "object", part["threshold"].map(lambda t: f"{t:.1f}"),
                          part["condition"].map(lambda c: CONDITION_LABELS.get(c, c)))
        part = part.assign(step=labels).set_index("step").reindex(steps).dropna(subset=["value"])
        fig.add_trace(go.Scatter(
            x=list(part.index), y=part["value"], mode="lines+markers", name=name + PAPER_TAG,
            line=dict(dash="solid" if name in released else "dot"), marker=dict(size=6),
            customdata=_custom(part), hovertemplate=_HOVER_PAPER,
            meta={"source": "paper", "subset": "all", "metric": "MLM", "model": name},
        ), row=1, col=1)
    if runs is not None and not runs.empty:
        mine = runs[(runs["subset"] == "all") & (runs["metric"] == "MLM")]
        for k, (run, part) in enumerate(mine.groupby("run", sort=False)):
            colour = RUN_COLOURS[k % len(RUN_COLOURS)]
            labels = [f"{t:.1f}" if c == "object" else CONDITION_LABELS[c]
                      for c, t in zip(part["condition"], part["threshold"], strict=True)]
            fig.add_trace(go.Scatter(
                x=labels, y=part["value"], mode="markers", name=_run_label(run),
                marker=dict(symbol="diamond", size=12, color=colour, line=dict(width=1.5, color="#1e293b")),
                hovertemplate="%{x}: %{y:.3f} bits<extra>" + _run_label(run) + "</extra>",
                meta={"source": "run", "metric": "MLM", "run": run},
            ), row=1, col=1)
            objects = part[part["condition"] == "object"]
            fig.add_trace(go.Bar(
                x=[f"{t:.1f}" for t in objects["threshold"]], y=objects["aligned_per_phrase"],
                name=_run_label(run) + ": aligned regions", showlegend=False, marker=dict(color=colour),
                hovertemplate="threshold %{x}: %{y:.2f} aligned regions per phrase<extra></extra>",
                meta={"source": "run", "metric": "aligned_per_phrase", "run": run},
            ), row=2, col=1)
    else:
        fig.add_annotation(text="add runs (vlexplore figures --runs DIR ...) at several thresholds to see "
                                "how many regions each one ablates", xref="x2 domain", yref="y2 domain",
                           x=0.5, y=0.5, showarrow=False, font=dict(color="#64748b"))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=steps)
    return _finish(fig, height, "Threshold sweep: ablating every region with IoT above the threshold", 0)


def _jitter(count: int, width: float = 0.28) -> np.ndarray:
    return np.linspace(-width, width, count) if count > 1 else np.zeros(count)


def seed_figure(paper: pd.DataFrame | None = None, runs: pd.DataFrame | None = None,
                height: int = 560) -> go.Figure:
    """Every published seed as a point per model and condition; the main seed starred."""
    paper = _paper(paper)
    models = list(architectures(paper))
    mains = main_seeds(paper)
    extra = []
    if runs is not None and not runs.empty:
        extra = [m for m in dict.fromkeys(runs["model"]) if m not in models]
    positions = {m: i for i, m in enumerate(models + extra)}
    panels = [(side, c) for side in ("vis4lang", "lang4vis") for c in SIDES[side][1]]
    fig = make_subplots(rows=2, cols=3, horizontal_spacing=0.06, vertical_spacing=0.16,
                        subplot_titles=[f"{SIDES[s][0]} {CONDITION_LABELS[c]}" for s, c in panels])
    seeded = paper[(paper["subset"] == "all") & paper["seed"].notna() & (paper["variant"] == "")]
    seeded = seeded[(seeded["condition"] != "object") | (seeded["threshold"] == 0.5)]
    for k, (side, condition) in enumerate(panels):
        row, col = k // 3 + 1, k % 3 + 1
        metric = SIDES[side][0]
        for model in models:
            part = seeded[(seeded["model"] == model) & (seeded["metric"] == metric)
                          & (seeded["condition"] == condition)].sort_values("seed")
            if part.empty:
                continue
            is_main = (part["seed"] == mains[model]).to_numpy()
            x = positions[model] + _jitter(len(part))
            fig.add_trace(go.Scatter(
                x=x, y=part["value"], mode="markers", name="published seeds" + PAPER_TAG,
                legendgroup="seeds", showlegend=False,
                marker=dict(symbol=np.where(is_main, "star", "circle"), size=np.where(is_main, 15, 8),
                            color=np.where(is_main, "#f59e0b", PAPER_COLOUR), line=dict(width=1, color="#334155")),
                customdata=[[*c, f"seed {int(s)}" + (" (main)" if m else "")]
                            for c, s, m in zip(_custom(part), part["seed"], is_main, strict=True)],
                hovertemplate="%{y:.3f}<br>%{customdata[3]}, %{customdata[4]}<br>%{customdata[0]}, row "
                              "%{customdata[1]}<extra></extra>",
                meta={"source": "paper", "subset": "all", "metric": metric, "condition": condition, "model": model},
            ), row=row, col=col)
        if runs is None or runs.empty:
            continue
        mine = runs[(runs["subset"] == "all") & (runs["metric"] == metric) & (runs["condition"] == condition)
                    & ((runs["condition"] != "object") | (runs["threshold"] == 0.5))]  # the paper's setting
        for model, part in mine.groupby("model", sort=False):
            fig.add_trace(go.Scatter(
                x=positions[model] + _jitter(len(part), 0.15), y=part["value"], mode="markers",
                name="your runs", legendgroup="runs", showlegend=k == 0,
                marker=dict(symbol="diamond", size=11, color="#2563eb", line=dict(width=1.5, color="#1e293b")),
                text=[_run_label(r) for r in part["run"]], hovertemplate="%{text}: %{y:.3f}<extra></extra>",
                meta={"source": "run", "metric": metric, "condition": condition, "model": model},
            ), row=row, col=col)
    fig.update_xaxes(tickvals=list(positions.values()), ticktext=list(positions), range=[-0.6, len(positions) - 0.4])
    for name, symbol, colour in (("published seeds (paper)", "circle", PAPER_COLOUR),
                                 ("main seed (the paper's bars)", "star", "#f59e0b")):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, legendgroup="seeds",
                                 marker=dict(symbol=symbol, size=12, color=colour)), row=1, col=1)
    return _finish(fig, height, "Seed spread: every published seed of each model (star: the main seed)", 0)


def labelmatch_figure(paper: pd.DataFrame | None = None, runs: pd.DataFrame | None = None,
                      height: int = 440) -> go.Figure:
    """MRC-KL on all phrases and on the LabelMatch and LabelMatch-agree subsets."""
    paper = _paper(paper)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.06,
                        subplot_titles=["all phrases", "LabelMatch", "LabelMatch-agree"])
    for col, subset in enumerate(SUBSETS, start=1):
        _grouped_bars(fig, paper, runs, subset, "MRC-KL", SIDES["lang4vis"][1], 1, col)
    fig.update_yaxes(rangemode="tozero")
    return _finish(fig, height, "MRC-KL (bits) on the LabelMatch subsets: the phrase names one Visual Genome "
                                "class (LabelMatch), and the detector's top class is that label (-agree)")


def mrc_xe_figure(paper: pd.DataFrame | None = None, runs: pd.DataFrame | None = None,
                  height: int = 440) -> go.Figure:
    """MRC-XE, the authors' alternative readout, beside MRC-KL; runs are drawn where they have it
    (vlexplore computes MRC-KL only, so today they show in the MRC-KL panel)."""
    paper = _paper(paper)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.06,
                        subplot_titles=("MRC-KL (bits), all phrases", "MRC-XE, all phrases",
                                        "MRC-XE-VG, LabelMatch"))
    conditions = SIDES["lang4vis"][1]
    _grouped_bars(fig, paper, runs, "all", "MRC-KL", conditions, 1, 1)
    _grouped_bars(fig, paper, runs, "all", "MRC-XE", conditions, 1, 2)
    _grouped_bars(fig, paper, runs, "labelmatch", "MRC-XE-VG", conditions, 1, 3)
    fig.update_yaxes(rangemode="tozero")
    return _finish(fig, height, "Language-for-vision readouts: KL against the detector, and the cross-entropies "
                                "of the authors' tables (their units)")


#: file stem -> figure function, in the order the CLI and the app show them
FIGURES = {
    "main": main_figure,
    "thresholds": threshold_figure,
    "seeds": seed_figure,
    "labelmatch": labelmatch_figure,
    "mrc_xe": mrc_xe_figure,
}


def paper_figures(runs: pd.DataFrame | None = None, paper: pd.DataFrame | None = None) -> dict[str, go.Figure]:
    """Every figure, by name."""
    paper = _paper(paper)
    return {name: function(paper, runs) for name, function in FIGURES.items()}


def write_figures(figures: dict[str, go.Figure], out: str | Path, formats: tuple[str, ...] = ("png", "html"),
                  width: int = 1200) -> list[Path]:
    """Write each figure as ``NAME.png`` (kaleido, which drives Chrome or Chromium) and
    ``NAME.html`` (offline: plotly.min.js is written once beside them)."""
    unknown = sorted(set(formats) - {"png", "html"})
    if unknown:
        raise ValueError(f"formats: unknown format {unknown[0]!r}; choose png and/or html")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if "html" in formats:
        for name, fig in figures.items():
            fig.write_html(out / f"{name}.html", include_plotlyjs="directory")
            written.append(out / f"{name}.html")
    if "png" in formats:
        paths = [out / f"{name}.png" for name in figures]
        try:
            pio.write_images(list(figures.values()), paths, width=width,
                             height=[fig.layout.height for fig in figures.values()])
        except Exception as error:  # kaleido raises its own types when no browser starts
            raise RuntimeError(
                f"PNG export failed ({type(error).__name__}: {error}); kaleido needs Chrome or Chromium "
                "(e.g. /usr/bin/chromium, or `plotly_get_chrome`); use --format html to skip PNGs"
            ) from error
        written += paths
    return written
