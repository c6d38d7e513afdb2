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
from .. import charts, export, figures, overlay, sources
from .. import examples as ex
from ..state import Key, format_box, parse_box, selection_box
from ..text import baseline_caption, literal, model_line
from . import barchart, picture, session
from .figcache import once
from .picker import show

LABEL = figures.CONDITION_LABELS
VISION_TAB = "Vision (MRC-KL)"  # app.RESULT_TABS' label of the tab that shows a region's classes
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
    phrase_labels: list[str] = field(default_factory=list)  # the phrase choices, as the edited caption reads
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
    view.phrase_labels = phrase_labels(example)
    view.image = read_picture(view.edited or example, view.messages)
    if view.edited is not None:
        flag_unknown_words(view)
        diagnose_edited(view)
    return view


def phrase_labels(example: Example) -> list[str]:
    """The phrase choices as the caption being edited reads them (an edit inside a phrase
    renames it; a phrase the edit removed says so)."""
    caption = " ".join(str(st.session_state.get(Key.CAPTION_INPUT, "")).split())
    relocated = ex.relocate_phrases(example, caption) if caption and caption != example.caption \
        else example.phrases
    return [(now.text if now is not None else f"{old.text} (not in the caption)")
            + ("" if len(old.boxes) else " (no box)") for old, now in zip(example.phrases, relocated, strict=True)]


def flag_unknown_words(view: ExampleView) -> None:
    """Words the model cannot spell are said before any score is read (they become [UNK])."""
    edited, model = view.edited, view.model
    unknown = ex.unknown_words(getattr(model, "tokenizer", None), edited.caption)
    if not unknown:
        return
    own = set(edited.phrases[view.phrase_index].text.split())
    in_phrase = [w for w in unknown if w in own]
    others = [w for w in unknown if w not in own]
    vocabulary = f"{st.session_state[Key.MODEL]}'s vocabulary"
    if in_phrase:
        view.edit_messages.append(("warning", f"{', '.join(map(repr, in_phrase))} not in {vocabulary}: the model "
                                              "sees an unknown-word token there, so its loss on these words "
                                              "measures nothing. Use words the model knows."))
    if others:
        view.edit_messages.append(("info", f"{', '.join(map(repr, others))} not in {vocabulary}: the model reads "
                                           "an unknown-word token in their place."))


def read_picture(example: Example, messages: list) -> np.ndarray:
    """The example's image, or a blank canvas of its size (with a warning) when the file cannot be read."""
    try:
        return overlay.example_image(example)
    except ValueError as error:
        messages.append(("warning", f"{error}; drawing on a blank canvas of the image's size."))
        return overlay.example_image(replace(example, image=None, image_path=None))


def apply_box_selection(example: Example) -> None:
    """A box dragged on the picture becomes the phrase's box inputs."""
    s = st.session_state
    box = selection_box(picture.event(Key.IMAGE_SELECT, "box"), example.image_size)
    if box is not None and box != s.get(Key.APPLIED_SELECTION):
        s[Key.APPLIED_SELECTION] = box
        s[Key.REDRAW] = True
        for key, value in zip(Key.BOX_INPUTS, parse_box(box), strict=True):
            s[key] = float(value)


def seed_editors(example: Example, messages: list) -> None:
    """Start the editors from the example (or from the link's edits) where they are empty."""
    s = st.session_state
    s.setdefault(Key.CAPTION_INPUT, s[Key.CAPTION_EDIT] or example.caption)
    picked = s.pop(Key.PICK_PHRASE, False)
    if not picked and int(s[Key.PHRASE]) >= len(example.phrases):
        messages.append(("warning", f"There is no phrase {int(s[Key.PHRASE])} in this example (it has "
                                    f"{len(example.phrases)}); showing its first phrase with a box."))
    if picked or int(s[Key.PHRASE]) >= len(example.phrases):
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
    seed_editors(example, messages)
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
        view.diagnosis = session.get_diagnosis(key, view.model, edited, view.phrase_index, settings, baseline,
                                               precision=session.current_state().precision)
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
def image_section(view: ExampleView, column_px: int = IMAGE_COLUMN_PX, max_px: int = 480,
                  font_px: int | None = None) -> None:
    """The picture with gold boxes, regions, what is replaced and the MRC target; drag to redraw
    the phrase's box, click a region to see its classes.
    ``column_px``: the column's width; the picture is as tall as it is there, at most ``max_px``;
    ``font_px``: its labels at least this large (presenter mode)."""
    label_px = max(font_px or 0, 11)
    if view.edited is None:
        picture.draw(overlay.picture_spec(view.image, view.example.phrases,
                                          height=image_height(view.example, column_px, max_px)), Key.IMAGE_PLAIN)
        return
    edited, diagnosis, shown = view.edited, view.diagnosis, st.session_state[Key.VIS4LANG]
    height = image_height(edited, column_px, max_px)
    if diagnosis is None:
        spec = overlay.picture_spec(view.image, edited.phrases, view.phrase_index,
                                    edited.regions.boxes if edited.regions is not None else None,
                                    height=height, font_px=label_px, drag=True)
        picture.draw(spec, Key.IMAGE_SELECT)
    else:
        keep = None if view.regions_model else view_cells(view, diagnosis)  # a widget: drawn every run
        spec = once("image", diagnosis, lambda: result_image(view, shown, keep, height, label_px),
                    shown, height, label_px, None if keep is None else keep.tobytes())
        picture.draw(spec, Key.IMAGE_SELECT, on_region=lambda: pick_region(diagnosis))
    st.caption(f"Gold boxes in the phrase colours · grey: detector regions · dashed outline: replaced under "
               f"**{LABEL[shown]}** · dotted: MRC target. Drag a rectangle to redraw the phrase's box"
               + ("; click a region to see its classes (Vision tab)." if spec["clickable"] else "."))


def result_image(view: ExampleView, shown: str, keep: np.ndarray | None, height: int, font_px: int) -> dict:
    """The picture with what ``shown`` replaces outlined; ``keep``: for pixel models, the
    patches of the view the user picked (only the replaced ones are drawn). The regions with
    class scores are clickable."""
    diagnosis, edited = view.diagnosis, view.edited
    boxes, ablated = diagnosis.unit_boxes, diagnosis.ablated[("vis4lang", shown)]
    if keep is not None:
        boxes, ablated = boxes[keep & ablated], np.ones(int((keep & ablated).sum()), bool)
    scored = scored_regions(diagnosis) if keep is None else []
    return overlay.picture_spec(view.image, edited.phrases, view.phrase_index, boxes, ablated,
                                diagnosis.alignment.target if view.regions_model else None,
                                height=height, font_px=font_px, clickable=scored, drag=True)


def pick_region(diagnosis: Diagnosis) -> None:
    """A region clicked on the picture becomes the Vision tab's region (its classes), and that tab opens."""
    region = picture.event(Key.IMAGE_SELECT, "region")
    if region in scored_regions(diagnosis):
        st.session_state[Key.CLASS_REGION] = region
        st.session_state[Key.RESULT_TAB] = VISION_TAB


def view_cells(view: ExampleView, diagnosis: Diagnosis) -> np.ndarray:
    """(P,) the patches of the view the user picked, for models that see the picture as tiles
    plus a global view (their cells overlap on the picture, so one view is drawn at a time)."""
    views = np.array(view.model.patch_views(view.edited.image_size))
    names = list(dict.fromkeys(views.tolist()))
    if len(names) < 2:
        return np.ones(len(views), bool)
    s, ablated = st.session_state, diagnosis.ablated[("vis4lang", "object")]
    if s.get(Key.PATCH_VIEW) not in names:  # open on the first view that loses something
        s[Key.PATCH_VIEW] = next((n for n in names if ablated[views == n].any()), names[0])
    st.segmented_control("Image tokens of", names, key=Key.PATCH_VIEW, required=True,
                         help="The model sees the picture as tiles (row by row) and a downscaled global "
                              "view; each image token is one cell of one of them.")
    return views == s[Key.PATCH_VIEW]


def image_height(example: Example, column_px: int = IMAGE_COLUMN_PX, max_px: int = 480) -> int:
    """Plot height that fits the picture's aspect in the left column (no empty band)."""
    width, height = example.image_size
    return int(min(max_px, max(240, column_px * height / width)))


def caption_section(view: ExampleView) -> None:
    """The editors (caption, phrase, other words, redrawn box), then the caption in colour."""
    s = st.session_state
    st.text_input("Caption (edit to see what the model does with other words)", key=Key.CAPTION_INPUT)
    if phrase_choice(view):
        with st.expander("Other words, or redraw the box", expanded=bool(s.get(Key.REDRAW) or s[Key.WORDS])):
            st.text_input("Ablate other words of the caption (with this phrase's box)", key=Key.WORDS,
                          placeholder="e.g. walks", help="Leave empty to ablate the phrase itself.")
            st.toggle("Redraw the box (drag on the image, or type)", key=Key.REDRAW)
            if s[Key.REDRAW]:
                with st.form(Key.BOX_FORM, border=False):  # one run per box, not one per field
                    for column, key in zip(st.columns(4), Key.BOX_INPUTS, strict=True):
                        column.number_input(key[-2:], key=key, step=1.0, format="%.0f")
                    st.form_submit_button("Apply box", help="Or press Enter in a field.")
    show(view.edit_messages)
    coloured_caption(view)


def phrase_choice(view: ExampleView) -> bool:
    """The phrase radio (as the edited caption reads); False when the example has no phrase."""
    labels, s = view.phrase_labels, st.session_state
    if labels:
        # sent to the browser every run: it holds the chosen option's label, which a caption edit
        # renames, and would show no choice at all under the new label otherwise
        s[Key.PHRASE] = int(s[Key.PHRASE])
        st.radio("Phrase", list(range(len(labels))), key=Key.PHRASE, horizontal=True,
                 on_change=session.phrase_changed, format_func=lambda i: literal(labels[i]))  # phrases are user text
    return bool(labels)


def coloured_caption(view: ExampleView) -> None:
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
    causal = view.model.readout == "causal"
    c1, c2, c3 = st.columns(3)
    change_metric(c1, "Phrase NLL" if causal else "MLM loss", shown_v4l, v4l, 2)
    if math.isnan(l4v[shown_l4v]):
        c2.metric("MRC-KL", "n/a", help=not_scored_reason(diagnosis))
    else:
        change_metric(c2, "MRC-KL", shown_l4v, l4v, 3)
    units = "Aligned regions" if view.regions_model else "Image tokens under the box"
    c3.metric(units, f"{len(diagnosis.alignment.aligned)} of {len(diagnosis.unit_boxes)}")
    if math.isnan(l4v[shown_l4v]):
        st.caption(f"MRC-KL n/a: {not_scored_reason(diagnosis)}.")
    st.caption("Arrows: change against None (red = worse prediction).")
    if view.model.readout_note:
        st.caption(view.model.readout_note)
    st.caption(baseline_caption(diagnosis.baseline.source))  # the one this result used, as it records it


def change_metric(column, name: str, shown: str, scores: dict, digits: int) -> None:
    """A score in bits with its change against None; a change that rounds to zero has no arrow."""
    delta, colour, arrow = None, "inverse", "auto"
    if shown != "none":
        change = scores[shown] - scores["none"]
        delta = f"{change:+.{digits}f}"
        if float(delta) == 0:
            delta, colour, arrow = f"{0:.{digits}f} (no change)", "off", "off"
    column.metric(f"{name}, {LABEL[shown]}", f"{scores[shown]:.{digits}f} bits", delta=delta,
                  delta_color=colour, delta_arrow=arrow)


def not_scored_reason(diagnosis: Diagnosis) -> str:
    """Why the headline MRC-KL has no value for this phrase, in words."""
    if diagnosis.lang4vis_note:
        return diagnosis.lang4vis_note
    settings = diagnosis.settings
    if diagnosis.alignment.target is None:
        return (f"no detector region overlaps the phrase's box by more than {settings.threshold:g} "
                f"({settings.alignment.upper()}), so there is no target region to score")
    return "the model gave no region prediction at the target region"


def model_section(view: ExampleView) -> None:
    """One line naming the model for what it is, with the paper linked."""
    st.caption(model_line(st.session_state[Key.MODEL], getattr(view.model, "description", ""),
                          st.session_state[Key.MODEL] in sources.BUILTIN_MODELS))


def messages_section(view: ExampleView) -> None:
    """What went wrong or needs saying: model, image, diagnosis (under the image)."""
    show(view.messages)


def chosen_token(diagnosis: Diagnosis) -> tuple[int, int]:
    """The masked token whose predictions are shown (the most telling one until the user picks),
    and how many there are."""
    tokens, s = diagnosis.tokens, st.session_state
    n_tokens = int(tokens["token_index"].max()) + 1 if not tokens.empty else 1
    if s.get(Key.TOKEN_INDEX) not in range(n_tokens):
        s[Key.TOKEN_INDEX] = figures.default_token(tokens)
    return int(s[Key.TOKEN_INDEX] or 0), n_tokens


def scored_regions(diagnosis: Diagnosis) -> list[int]:
    """The regions with class scores (the Vision tab's choices), in order."""
    return sorted(diagnosis.regions["region"].unique().tolist()) if not diagnosis.regions.empty else []


def chosen_region(diagnosis: Diagnosis) -> tuple[int, list[int], set[int]]:
    """The region whose classes are shown (the MRC target until the user picks), the scored
    regions and the target(s), as the bars mark them."""
    scored = scored_regions(diagnosis)
    targets = set(diagnosis.regions.loc[diagnosis.regions["target"], "region"].tolist())
    default = next((r for r in scored if r in targets), scored[0])
    region = st.session_state.get(Key.CLASS_REGION)
    return (region if region in scored else default), scored, targets


def language_figures(view: ExampleView, token: int) -> dict:
    """Per-token MLM loss and the top predictions for ``token`` (built once). They compare the
    three conditions alike, so switching the shown one leaves them as they are: the browser
    redraws only the picture and the scores (a changed plotly chart is a new chart there)."""
    diagnosis = view.diagnosis
    return {"tokens": once("tokens", diagnosis, lambda: figures.token_figure(diagnosis, None)),
            "top predictions": once("top predictions", diagnosis,
                                    lambda: figures.topk_figure(diagnosis, token, None), token)}


def vision_figures(view: ExampleView, region: int) -> dict:
    """MRC-KL per region and the classes at ``region`` (the three conditions alike, as above), and
    the change map of the shown condition (built once); empty when the phrase has no region scores."""
    diagnosis, shown = view.diagnosis, st.session_state[Key.LANG4VIS]
    if diagnosis.regions.empty:
        return {}
    changed = shown if shown != "none" else "phrase"
    return {"region KL": once("region KL", diagnosis, lambda: figures.region_kl_figure(diagnosis, None)),
            "classes": once("classes", diagnosis, lambda: figures.class_distribution_figure(
                diagnosis, region, None, model=view.model), region),
            "change map": once("change map", diagnosis,
                               lambda: figures.heat_figure(diagnosis, view.image, changed, height=360), changed)}


def result_figures(view: ExampleView) -> dict:
    """Both sides' figures as their tabs would draw them, for the export when those tabs are closed."""
    figs = language_figures(view, chosen_token(view.diagnosis)[0])
    if not view.diagnosis.regions.empty:
        figs |= vision_figures(view, chosen_region(view.diagnosis)[0])
    return figs


def language_tab(view: ExampleView) -> None:
    """Per-token MLM loss, and the top predictions for one masked token, as SVG bars; their
    plotly figures are built only when the export asks for them (``result_figures``)."""
    tokens = view.diagnosis.tokens
    token, n_tokens = chosen_token(view.diagnosis)
    diagnosis = view.diagnosis
    barchart.draw(once("tokens chart", diagnosis, lambda: charts.token_chart_spec(diagnosis)), Key.FIG_TOKENS)
    label = "Phrase token (predicted from its left context)" if view.model.readout == "causal" else "Masked token"
    names = dict(zip(tokens["token_index"], tokens["token"], strict=True))  # a frame lookup per option cost ~1 ms
    st.radio(label, list(range(n_tokens)), horizontal=True, key=Key.TOKEN_INDEX, format_func=names.get)
    barchart.draw(once("top predictions chart", diagnosis, lambda: charts.topk_chart_spec(diagnosis, token), token),
                  Key.FIG_TOPK)


def vision_tab(view: ExampleView) -> dict:
    """MRC-KL per region, the class distributions it compared, and the change map."""
    diagnosis, shown = view.diagnosis, st.session_state[Key.LANG4VIS]
    if diagnosis.regions.empty:
        st.info(diagnosis.lang4vis_note or "No region scores for this phrase.")
        return {}
    region, scored, targets = chosen_region(diagnosis)
    figs = vision_figures(view, region)
    st.plotly_chart(figs["region KL"], key=Key.FIG_REGIONS)
    c1, c2 = st.columns(2)
    with c1:
        default = next((r for r in scored if r in targets), scored[0])
        st.selectbox("Region", scored, index=scored.index(default), key=Key.CLASS_REGION,
                     format_func=lambda r: f"r{r}" + (" (target)" if r in targets else ""))
        st.plotly_chart(figs["classes"], key=Key.FIG_CLASSES)
    with c2:
        changed = shown if shown != "none" else "phrase"
        floor, moved = once("noise floor", diagnosis, lambda: beyond_noise(diagnosis, changed), changed)
        st.markdown(f"Per-region MRC-KL change, **{LABEL[changed]} − None**, in bits (red: worse without "
                    f"words; white: no change). Changes within the noise floor "
                    f"({floor:.3f} bits: twice the RMS change at regions the "
                    f"phrase does not refer to) are not drawn.")
        st.plotly_chart(figs["change map"], key=Key.FIG_HEAT)
        if not moved:
            st.caption("No region changes by more than the noise floor: the words do not move this model's "
                       "region predictions.")
    return figs


def beyond_noise(diagnosis: Diagnosis, changed: str) -> tuple[float, bool]:
    """The noise floor in bits, and whether any region's change under ``changed`` exceeds it."""
    floor = figures.noise_floor_bits(diagnosis)
    change = np.abs(figures.region_change(diagnosis, changed))
    return floor, bool(np.any(change[np.isfinite(change)] > floor))


def tables_tab(view: ExampleView) -> dict:
    diagnosis = view.diagnosis
    st.dataframe(diagnosis.tokens[["token", "condition", "mlm_bits", "gold_prob", "gold_rank", "top_token"]],
                 hide_index=True, height=220)
    if not diagnosis.regions.empty:
        st.dataframe(diagnosis.regions[["region", "condition", "mrc_kl_bits", "aligned", "target",
                                        "model_top_class", "detector_top_class"]], hide_index=True, height=220)
    return {"tokens": diagnosis.tokens, "topk": diagnosis.topk, "regions": diagnosis.regions}


def export_section(figs: dict, tables: dict, stem: str) -> None:
    """CSV tables, one figure as HTML or PNG (slide-sized, labels fitted), or all of it in a zip."""
    export.warm_renderer(prime=True)  # the first PNG must not wait for kaleido's browser to start
    st.markdown("**Export** (figures at 1600x900 for slides, large type)")
    for column, (name, frame) in zip(st.columns(len(tables)), tables.items(), strict=True):
        column.download_button(f"{name} table (CSV)", lambda frame=frame: frame.to_csv(index=False).encode(),
                               export.file_name(stem, name, ext="csv"), "text/csv", key=Key.csv_button(name),
                               disabled=frame.empty)
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2], vertical_alignment="bottom")
    name = c1.selectbox("Figure", list(figs), key=Key.EXPORT_FIGURE)
    fig = figs[name]
    c2.download_button("HTML", lambda: export.html_bytes(fig), export.file_name(stem, name, ext="html"),
                       "text/html", key=Key.HTML_EXPORT)
    c3.download_button("PNG", lambda: export.png_bytes(fig), export.file_name(stem, name, ext="png"),
                       "image/png", key=Key.PNG_EXPORT, help="Rendered when you click (under a second).")
    c4.download_button("Export all for this phrase (zip)", lambda: export.phrase_zip(figs, tables, stem),
                       export.file_name(stem, "all", ext="zip"), "application/zip", key=Key.ZIP_EXPORT,
                       help="Every figure as PNG and HTML, and every table as CSV.")
