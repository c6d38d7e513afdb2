"""One example: ``compute`` makes every library call (cached) without drawing; the section
functions then draw what it found, in page order: image and caption (with the editors),
condition toggles, scores, the tabs, export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import streamlit as st

from ...engine import Diagnosis
from ...models.base import VLModel
from ...protocol import LANG4VIS, VIS4LANG
from ...records import Example
from .. import examples as ex
from .. import figures, overlay
from ..state import Key, format_box, parse_box, selection_box
from ..text import baseline_caption, literal
from . import session
from .picker import show

LABEL = figures.CONDITION_LABELS
IMAGE_COLUMN_PX = 440


@dataclass
class ExampleView:
    """Everything the example page draws, computed before any of it is drawn."""

    example: Example  # as picked
    model: VLModel | None = None
    edited: Example | None = None  # with the user's edits; None when an edit is refused
    phrase_index: int = 0  # the chosen phrase in ``edited``
    image: np.ndarray | None = None
    diagnosis: Diagnosis | None = None
    edit_messages: list[tuple[str, str]] = field(default_factory=list)  # under the editors
    messages: list[tuple[str, str]] = field(default_factory=list)  # under the image

    @property
    def regions_model(self) -> bool:
        return self.model is not None and self.model.input_kind == "regions"


# ---------------------------------------------------------------- compute
def compute(example: Example) -> ExampleView:
    """Model, edits, baseline and the six conditions of the chosen phrase (cached calls)."""
    view = ExampleView(example)
    try:
        view.model = session.get_model(session.model_source())
    except ValueError as error:
        view.messages.append(("error", str(error)))
        needs_checkpoint = st.session_state[Key.MODEL].startswith("volta:") and not session.current_state().checkpoint
        view.messages.append(("info", "Type the path of its checkpoint (pytorch_model_9.bin) under the model in "
                                      "the sidebar." if needs_checkpoint else "Pick another model in the sidebar."))
        return view
    apply_box_selection(example)
    view.edited, view.phrase_index = edit(example, view.edit_messages)
    view.image = picture(view.edited or example, view.messages)
    if view.edited is not None:
        diagnose_edited(view)
    return view


def picture(example: Example, messages: list) -> np.ndarray:
    """The example's image, or a blank canvas of its size (with a warning) when the file cannot be read."""
    try:
        return overlay.example_image(example)
    except ValueError as error:
        messages.append(("warning", f"{error}; drawing on a blank canvas of the image's size."))
        return overlay.example_image(replace(example, image=None, image_path=None))


def apply_box_selection(example: Example) -> None:
    """A box dragged on the image (plotly box-select) becomes the phrase's box inputs."""
    s = st.session_state
    box = selection_box(s.get(Key.IMAGE_SELECT), example.image_size)
    if box is not None and box != s.get(Key.APPLIED_SELECTION):
        s[Key.APPLIED_SELECTION] = box
        s[Key.REDRAW] = True
        for key, value in zip(Key.BOX_INPUTS, parse_box(box), strict=True):
            s[key] = float(value)


def seed_editors(example: Example) -> None:
    """Start the editors from the example (or from the link's edits) where they are empty."""
    s = st.session_state
    s.setdefault(Key.CAPTION_INPUT, s[Key.CAPTION_EDIT] or example.caption)
    if s.pop(Key.PICK_PHRASE, False) or int(s[Key.PHRASE]) >= len(example.phrases):
        s[Key.PHRASE] = (example.diagnosable_phrases() or [0])[0]
    chosen = example.phrases[int(s[Key.PHRASE])]
    width, height = example.image_size
    gold = chosen.boxes[0] if len(chosen.boxes) else np.array([0, 0, width - 1, height - 1])
    for key, value in zip(Key.BOX_INPUTS, gold, strict=True):
        s.setdefault(key, float(value))
    if s[Key.BOX_EDIT] and Key.REDRAW not in s:
        try:
            for key, value in zip(Key.BOX_INPUTS, parse_box(s[Key.BOX_EDIT]), strict=True):
                s[key] = float(value)
            s[Key.REDRAW] = True
        except ValueError:
            pass


def edit(example: Example, messages: list) -> tuple[Example | None, int]:
    """The example with the caption, words and box the editors hold, and the index of the
    chosen phrase in it (None, 0 when an edit is refused)."""
    s = st.session_state
    if not example.phrases:
        messages.append(("warning", "This example has no phrase."))
        return None, 0
    seed_editors(example)
    caption = s[Key.CAPTION_INPUT]
    box = [s[key] for key in Key.BOX_INPUTS] if s.get(Key.REDRAW) else None
    s[Key.BOX_EDIT] = format_box(box) if box is not None else ""
    s[Key.CAPTION_EDIT] = caption if caption != example.caption else ""
    try:
        edited, index, notes = ex.edit_example(
            example, int(s[Key.PHRASE]), caption=caption if caption != example.caption else None, box=box,
            phrase_text=s[Key.WORDS].strip() or None)
    except ValueError as error:
        messages.append(("error", str(error)))
        return None, 0
    messages.extend(("caption", note) for note in notes)
    return edited, index


def diagnose_edited(view: ExampleView) -> None:
    edited, s = view.edited, st.session_state
    settings = session.current_state().settings()
    baseline = session.ablation_baseline(settings, edited.regions.features if edited.regions is not None else None)
    key = f"{session.model_source()}|{session.dataset_source()}|{ex.fingerprint(edited)}|{view.phrase_index}" \
          f"|{baseline.source}"
    try:
        view.diagnosis = session.get_diagnosis(key, view.model, edited, view.phrase_index, settings, baseline)
    except (ValueError, RuntimeError) as error:  # RuntimeError: a model that does not fit these inputs
        view.messages.append(("error", str(error)))
        if view.regions_model and edited.regions is None and s[Key.DATASET].startswith("flickr30k:"):
            view.messages.append(("info", "Type the path of the examples' region features under the "
                                          "examples in the sidebar."))
        return
    view.messages.extend(("warning", warning) for warning in view.diagnosis.warnings)
    if view.diagnosis.lang4vis_note:
        view.messages.append(("info", view.diagnosis.lang4vis_note))


# ---------------------------------------------------------------- draw, in page order
def image_section(view: ExampleView) -> None:
    """The picture with gold boxes, regions, what is replaced and the MRC target; drag to redraw."""
    if view.edited is None:
        st.plotly_chart(overlay.image_figure(view.image, view.example.phrases), key=Key.IMAGE_PLAIN,
                        config={"displaylogo": False})
        return
    edited, diagnosis, shown = view.edited, view.diagnosis, st.session_state[Key.VIS4LANG]
    height = image_height(edited)
    if diagnosis is None:
        fig = overlay.image_figure(view.image, edited.phrases, view.phrase_index,
                                   edited.regions.boxes if edited.regions is not None else None,
                                   selectable=True, height=height)
    else:
        boxes, ablated = diagnosis.unit_boxes, diagnosis.ablated[("vis4lang", shown)]
        if not view.regions_model:  # pixel models: draw only the patches that are replaced
            boxes, ablated = boxes[ablated], np.ones(int(ablated.sum()), bool)
        fig = overlay.image_figure(view.image, edited.phrases, view.phrase_index, boxes, ablated,
                                   diagnosis.alignment.target if view.regions_model else None,
                                   selectable=True, height=height)
    st.plotly_chart(fig, key=Key.IMAGE_SELECT, on_select="rerun", selection_mode="box",
                    config={"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d"]})
    st.caption(f"Gold boxes in the phrase colours · grey: detector regions · dashed red: replaced under "
               f"**{LABEL[shown]}** · dotted: MRC target. Drag a rectangle to redraw the phrase's box.")


def image_height(example: Example, column_px: int = IMAGE_COLUMN_PX) -> int:
    """Plot height that fits the picture's aspect in the left column (no empty band)."""
    width, height = example.image_size
    return int(min(480, max(240, column_px * height / width)))


def caption_section(view: ExampleView) -> None:
    """The editors (caption, phrase, other words, redrawn box), then the caption in colour."""
    s, example = st.session_state, view.example
    st.text_input("Caption (edit to see what the model does with other words)", key=Key.CAPTION_INPUT)
    phrases = example.phrases
    if phrases:
        st.radio("Phrase", list(range(len(phrases))), key=Key.PHRASE, horizontal=True,
                 on_change=session.phrase_changed,
                 format_func=lambda i: literal(phrases[i].text) + ("" if len(phrases[i].boxes) else " (no box)"))
        with st.expander("Other words, or redraw the box", expanded=bool(s.get(Key.REDRAW) or s[Key.WORDS])):
            st.text_input("Ablate other words of the caption (with this phrase's box)", key=Key.WORDS,
                          placeholder="e.g. walks", help="Leave empty to ablate the phrase itself.")
            st.toggle("Redraw the box (drag on the image, or type)", key=Key.REDRAW)
            if s[Key.REDRAW]:
                for column, key in zip(st.columns(4), Key.BOX_INPUTS, strict=True):
                    column.number_input(key[-2:], key=key, step=1.0, format="%.0f")
    show(view.edit_messages)
    if view.edited is not None:
        st.markdown(overlay.caption_html(view.edited.caption, view.edited.phrases, view.phrase_index),
                    unsafe_allow_html=True)


def toggles_section(view: ExampleView) -> None:
    has_lang4vis = view.diagnosis is not None and not view.diagnosis.regions.empty
    st.segmented_control("Regions replaced (MLM)", VIS4LANG, key=Key.VIS4LANG, required=True,
                         format_func=LABEL.get,
                         help="Vision-for-language: which regions are replaced while the phrase is masked.")
    st.segmented_control("Words masked (MRC-KL)", LANG4VIS, key=Key.LANG4VIS, required=True,
                         format_func=LABEL.get, disabled=not has_lang4vis,
                         help="Language-for-vision: which words are masked while the phrase's regions are zeroed.")


def scores_section(view: ExampleView) -> None:
    """The two scores of the shown conditions against None, the aligned regions, the baseline."""
    diagnosis, s = view.diagnosis, st.session_state
    if diagnosis is None:
        return
    v4l, l4v = diagnosis.scores["vis4lang"], diagnosis.scores["lang4vis"]
    shown_v4l, shown_l4v = s[Key.VIS4LANG], s[Key.LANG4VIS]
    c1, c2, c3 = st.columns(3)
    c1.metric(f"MLM loss, {LABEL[shown_v4l]}", f"{v4l[shown_v4l]:.2f} bits", delta_color="inverse",
              delta=None if shown_v4l == "none" else f"{v4l[shown_v4l] - v4l['none']:+.2f}")
    if math.isnan(l4v[shown_l4v]):
        c2.metric("MRC-KL", "n/a")
    else:
        c2.metric(f"MRC-KL, {LABEL[shown_l4v]}", f"{l4v[shown_l4v]:.3f} bits", delta_color="inverse",
                  delta=None if shown_l4v == "none" else f"{l4v[shown_l4v] - l4v['none']:+.3f}")
    c3.metric("Aligned regions", f"{len(diagnosis.alignment.aligned)} of {len(diagnosis.unit_boxes)}")
    st.caption("Arrows: change against None (red = worse prediction).")
    st.caption(baseline_caption(diagnosis.baseline.source))  # the one this result used, as it records it


def messages_section(view: ExampleView) -> None:
    """What went wrong or needs saying: model, image, diagnosis (under the image)."""
    show(view.messages)


def language_tab(view: ExampleView) -> dict:
    """Per-token MLM loss, and the top predictions for one masked token."""
    diagnosis, shown = view.diagnosis, st.session_state[Key.VIS4LANG]
    figs = {"tokens": figures.token_figure(diagnosis, shown)}
    st.plotly_chart(figs["tokens"], key=Key.FIG_TOKENS)
    tokens = diagnosis.tokens
    n_tokens = int(tokens["token_index"].max()) + 1 if not tokens.empty else 1
    token = st.radio("Masked token", list(range(n_tokens)), horizontal=True, key=Key.TOKEN_INDEX,
                     format_func=lambda i: tokens[tokens.token_index == i].token.iloc[0])
    figs["top predictions"] = figures.topk_figure(diagnosis, int(token or 0), shown)
    st.plotly_chart(figs["top predictions"], key=Key.FIG_TOPK)
    return figs


def vision_tab(view: ExampleView) -> dict:
    """MRC-KL per region, the class distributions it compared, and the change map."""
    diagnosis, shown = view.diagnosis, st.session_state[Key.LANG4VIS]
    if diagnosis.regions.empty:
        st.info(diagnosis.lang4vis_note or "No region scores for this phrase.")
        return {}
    figs = {"region KL": figures.region_kl_figure(diagnosis, shown)}
    st.plotly_chart(figs["region KL"], key=Key.FIG_REGIONS)
    c1, c2 = st.columns(2)
    with c1:
        scored = sorted(diagnosis.regions["region"].unique().tolist())
        target = diagnosis.alignment.target
        region = st.selectbox("Region", scored, index=scored.index(target) if target in scored else 0,
                              format_func=lambda r: f"r{r}" + (" (target)" if r == target else ""),
                              key=Key.CLASS_REGION)
        figs["classes"] = figures.class_distribution_figure(diagnosis, region, shown, model=view.model)
        st.plotly_chart(figs["classes"], key=Key.FIG_CLASSES)
    with c2:
        changed = shown if shown != "none" else "phrase"
        figs["change map"] = figures.heat_figure(diagnosis, view.image, changed, height=360)
        st.markdown(f"Per-region MRC-KL change, **{LABEL[changed]} − None** (red: worse without words)")
        st.plotly_chart(figs["change map"], key=Key.FIG_HEAT)
    return figs


def tables_tab(view: ExampleView) -> dict:
    diagnosis = view.diagnosis
    st.dataframe(diagnosis.tokens[["token", "condition", "mlm_bits", "gold_prob", "gold_rank", "top_token"]],
                 hide_index=True, height=220)
    if not diagnosis.regions.empty:
        st.dataframe(diagnosis.regions[["region", "condition", "mrc_kl_bits", "aligned", "target",
                                        "model_top_class", "detector_top_class"]], hide_index=True, height=220)
    return {"tokens": diagnosis.tokens, "topk": diagnosis.topk, "regions": diagnosis.regions}


def export_section(figs: dict, tables: dict, stem: str) -> None:
    st.markdown("**Export**")
    for column, (name, frame) in zip(st.columns(len(tables)), tables.items(), strict=True):
        column.download_button(f"{name} table (CSV)", frame.to_csv(index=False).encode(), f"{stem}_{name}.csv",
                               "text/csv", key=Key.csv_button(name), disabled=frame.empty)
    c1, c2, c3 = st.columns([2, 1, 1])
    name = c1.selectbox("Figure", list(figs), key=Key.EXPORT_FIGURE)
    fig = figs[name]
    c2.download_button("HTML", lambda: fig.to_html(include_plotlyjs=True, full_html=True).encode(),
                       f"{stem}_{name}.html", "text/html", key=Key.HTML_EXPORT)
    c3.download_button("PNG", lambda: fig.to_image(format="png", width=1200, height=fig.layout.height or 500,
                                                   scale=2),
                       f"{stem}_{name}.png", "image/png", key=Key.PNG_EXPORT,
                       help="Rendered by kaleido when you click (a few seconds).")
